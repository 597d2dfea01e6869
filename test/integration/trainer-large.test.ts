// The trainer at the Qwen2.5-Coder-0.5B shape (random weights, real tokenizer; see
// test/support/largeModel.ts): the tfjs forward pass through the streamed engine against ONNX
// Runtime on every logit of the full 24-layer model, LoRA gradients against central finite
// differences, and 30 LoRA steps after which greedy `restem sample` on the saved merged model
// reproduces a training program.
// The gradient and training checks use the first LAYERS of the 24 layers at full widths
// (hidden 896, 14/2 heads, FFN 4864, vocabulary 151936) to keep CI time reasonable; the
// streamed engine treats every layer alike, so more layers only cost time.

import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadTokenizer, parseModelConfig, readSafetensors } from "../../src/model";
import type { ModelConfig, WeightMap } from "../../src/model/types";
import { initBackend } from "../../src/trainer/backend";
import { initLoraAdapters, loraSettings } from "../../src/trainer/lora";
import { packBatch, type TrainExample } from "../../src/trainer/loss";
import { StreamedDecoder } from "../../src/trainer/streamed/engine";
import { buildHostWeights } from "../../src/trainer/streamed/hostWeights";
import { adapterVariables, trainStreamed } from "../../src/trainer/streamed/trainLarge";
import { resolveTrainOptions, saveTrainedModel } from "../../src/trainer/train";
import { ensureRandomModel, largeModelSkipReason, restemBin } from "../support/largeModel";

const SHAPE = "qwen2.5-coder-0.5b";
const LAYERS = 2;
const PROGRAMS = ["def add(a, b):\n    return a + b\n", "print(sum(map(int, input().split())))\n", "for i in range(3):\n    print(i)\n"];

function peakRssGiB(): string {
  return (process.resourceUsage().maxRSS / 1024 ** 2).toFixed(2);
}

/** The first `layers` layers of the cached model (full widths) and their config. */
async function truncatedModel(dir: string, layers: number): Promise<{ config: ModelConfig; weights: WeightMap }> {
  const raw = JSON.parse(await fs.readFile(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const config = parseModelConfig({ ...raw, num_hidden_layers: layers, max_window_layers: layers }, `${SHAPE} (${layers} layers)`);
  const names = new Set(["model.embed_tokens.weight", "model.norm.weight"]);
  for (let layer = 0; layer < layers; layer++) {
    for (const suffix of ["input_layernorm.weight", "post_attention_layernorm.weight"]) names.add(`model.layers.${layer}.${suffix}`);
    for (const m of ["q_proj", "k_proj", "v_proj", "o_proj"]) names.add(`model.layers.${layer}.self_attn.${m}.weight`);
    for (const m of ["q_proj", "k_proj", "v_proj"]) names.add(`model.layers.${layer}.self_attn.${m}.bias`);
    for (const m of ["gate_proj", "up_proj", "down_proj"]) names.add(`model.layers.${layer}.mlp.${m}.weight`);
  }
  const { tensors } = await readSafetensors(path.join(dir, "model.safetensors"), names);
  return { config, weights: tensors };
}

function logitsOf(engine: "onnx" | "tfjs", dir: string, ids: number[], cache: string): Float32Array {
  const started = Date.now();
  const out = execFileSync(process.execPath, [restemBin(), "forward", "--model", dir, "--ids", ids.join(","), "--engine", engine, "--onnx-cache", cache], {
    maxBuffer: 64 * 1024 * 1024,
    encoding: "utf8",
  });
  console.log(`      ${engine} forward: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return Float32Array.from(JSON.parse(out) as number[]);
}

describe(`trainer at the ${SHAPE} shape (streamed engine)`, function () {
  this.timeout(30 * 60 * 1000);
  let dir = "";

  before(async function () {
    const reason = largeModelSkipReason(16);
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = ensureRandomModel(SHAPE);
    await initBackend("wasm");
  });

  it("tfjs forward matches ONNX Runtime within 1e-3 on every logit (all 24 layers)", () => {
    const ids = [151643, 750, 7640, 1600, 8810, 1155, 11, 293, 1648, 262, 470, 264, 488, 293, 198];
    const cache = path.join(os.tmpdir(), "restem-large-onnx");
    const tfjs = logitsOf("tfjs", dir, ids, cache);
    const onnx = logitsOf("onnx", dir, ids, cache);
    assert.equal(tfjs.length, 151936);
    let worst = 0;
    let zeros = 0;
    for (let i = 0; i < tfjs.length; i++) {
      worst = Math.max(worst, Math.abs(tfjs[i] - onnx[i]));
      if (tfjs[i] === 0) zeros++;
    }
    console.log(`      max |tfjs - onnx| = ${worst.toExponential(2)}; exact zeros ${zeros}`);
    assert.ok(worst < 1e-3, `max difference ${worst}`);
    assert.ok(zeros < 10);
  });

  it(`LoRA adapter gradients match central finite differences (${LAYERS} layers at full widths)`, async () => {
    const { config, weights } = await truncatedModel(dir, LAYERS);
    const tokenizer = await loadTokenizer(dir);
    const lora = loraSettings(8, 16);
    const adapters = initLoraAdapters(config, lora, 5);
    // Non-zero B so that A's gradient is not zero either.
    for (const [name, t] of adapters) if (name.endsWith("lora_B.weight")) t.data.forEach((_, i) => (t.data[i] = 0.02 * Math.sin(i * 1.3 + name.length)));
    const params = adapterVariables(config, lora, adapters);
    const decoder = new StreamedDecoder(buildHostWeights(config, weights), lora);
    const promptIds = await tokenizer.encode("# add two numbers\n");
    const completionIds = await tokenizer.encode(PROGRAMS[0], { addSpecialTokens: false });
    const batch = packBatch([{ promptIds, completionIds, reward: 1 }], 256);
    const { loss, grads } = decoder.lossAndGradients(batch, batch.completionTokens, params);
    const lossAt = (): number => decoder.lossAndGradients(batch, batch.completionTokens, params, false).loss;
    // Probe the largest entries of three adapters: q_proj A and B of layer 0, down_proj B of the last layer.
    const probes = [0, 1, params.length - 1];
    const h = 2e-3;
    for (const index of probes) {
      const g = grads[index].dataSync() as Float32Array;
      let best = 0;
      for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
      const original = Float32Array.from(params[index].dataSync() as Float32Array);
      const at = (delta: number): number => {
        const v = Float32Array.from(original);
        v[best] += delta;
        params[index].assign(tf.tensor(v, params[index].shape));
        return lossAt();
      };
      const estimate = (at(h) - at(-h)) / (2 * h);
      params[index].assign(tf.tensor(original, params[index].shape));
      console.log(`      adapter ${index} entry ${best}: analytic ${g[best].toExponential(4)} finite-difference ${estimate.toExponential(4)}`);
      assert.ok(Math.abs(estimate - g[best]) <= 0.02 * Math.abs(g[best]) + 2e-4, `adapter ${index}: ${g[best]} vs ${estimate}`);
    }
    assert.ok(Number.isFinite(loss));
    tf.dispose([...grads, ...params]);
    decoder.dispose();
    console.log(`      peak RSS ${peakRssGiB()} GiB`);
  });

  it(`30 LoRA steps on 3 short programs lower the loss and greedy decoding reproduces one (${LAYERS} layers)`, async () => {
    const { config, weights } = await truncatedModel(dir, LAYERS);
    const tokenizer = await loadTokenizer(dir);
    const eos = config.eosTokenIds[0];
    const prompt = await tokenizer.encode("# program\n");
    const examples: TrainExample[] = [];
    for (const program of PROGRAMS) examples.push({ promptIds: prompt, completionIds: [...(await tokenizer.encode(program, { addSpecialTokens: false })), eos], reward: 1 });
    // Each step sees the three programs; the prompt is shared, so only the first token tells them apart.
    const options = resolveTrainOptions({ epochs: 30, batchSize: 3, lr: 3e-3, warmupSteps: 2, weightDecay: 0, seed: 1, padId: eos });
    const started = Date.now();
    const result = await trainStreamed(config, weights, examples, options, loraSettings(16, 32));
    const seconds = (Date.now() - started) / 1000;
    const first = result.history[0].loss;
    const last = result.history[result.history.length - 1].loss;
    console.log(`      ${result.steps} steps in ${seconds.toFixed(0)} s; loss ${first.toFixed(3)} -> ${last.toFixed(3)}; peak RSS ${peakRssGiB()} GiB`);
    assert.equal(result.steps, 30);
    assert.ok(last < first / 4, `loss ${first} -> ${last}`);
    // Greedy `restem sample` (ONNX Runtime) from the saved merged model.
    const out = path.join(await fs.mkdtemp(path.join(os.tmpdir(), "restem-large-")), "merged");
    await saveTrainedModel(out, config, result, { tokenizerFrom: dir });
    const sampled = execFileSync(
      process.execPath,
      [restemBin(), "sample", "--model", out, "--prompt", "# program\n", "--temperature", "0", "--max-new-tokens", "24", "--json", "--onnx-cache", path.join(out, "..", "onnx")],
      { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
    );
    const text = (JSON.parse(sampled.trim().split("\n")[0]) as { text: string }).text;
    console.log(`      greedy restem sample: ${JSON.stringify(text)}`);
    await fs.rm(path.dirname(out), { recursive: true, force: true });
    assert.ok(PROGRAMS.includes(text), `greedy output ${JSON.stringify(text)} is none of the training programs`);
  });
});

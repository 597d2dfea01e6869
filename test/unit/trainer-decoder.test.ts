// The trainer's TensorFlow.js decoder against the float64 reference forward pass (tiny Llama
// and Qwen2 configs: GQA and MHA, tied/untied embeddings, biases, llama3 RoPE scaling), padded
// batches, tfjsForward, and LoRA: merged weights equal the unmerged adapter path, and adapters
// save in the PEFT layout.

import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { readSafetensors } from "../../src/model";
import { activeBackendName, initBackend } from "../../src/trainer/backend";
import { TfDecoder, tfjsForward } from "../../src/trainer/decoder";
import { initLoraAdapters, loraSettings, mergeLora, saveLoraAdapter } from "../../src/trainer/lora";
import { referenceLogits } from "../support/referenceDecoder";
import { LLAMA3_SCALING, maxAbsDiff, tinyConfig, tinyWeights, type TinyConfigOptions } from "../support/tinyModel";
import { decoderLogits, useBackend } from "./trainer-support";

const CASES: Array<[string, TinyConfigOptions]> = [
  ["llama GQA untied", {}],
  ["llama MHA tied, attention+mlp bias", { numKvHeads: 4, tieWordEmbeddings: true, attentionBias: true, mlpBias: true }],
  ["llama 1 KV head, llama3 rope scaling", { numKvHeads: 1, ropeScaling: LLAMA3_SCALING, ropeTheta: 500000 }],
  ["qwen2 GQA tied (q/k/v bias)", { architecture: "qwen2", tieWordEmbeddings: true }],
  ["qwen2 untied, head_dim != hidden/heads", { architecture: "qwen2", headDim: 16, numHeads: 4, numKvHeads: 2 }],
];

const IDS = [1, 7, 22, 5, 31, 9, 40, 3, 17, 2, 11, 29];

describe("trainer decoder (tfjs)", () => {
  before(async () => {
    await initBackend();
  });

  it("runs on the wasm backend here (tfjs-node absent)", () => {
    assert.equal(activeBackendName(), "wasm");
  });

  for (const [name, options] of CASES) {
    it(`matches the float64 reference: ${name}`, async () => {
      await useBackend("wasm");
      const config = tinyConfig(options);
      const weights = tinyWeights(config, 11);
      const decoder = new TfDecoder(config, weights, { trainable: false });
      try {
        const got = decoderLogits(decoder, IDS);
        const want = referenceLogits(config, weights, IDS);
        const worst = Math.max(...want.map((row, t) => maxAbsDiff(row, got[t])));
        assert.ok(worst < 1e-4, `max |tfjs - reference| = ${worst}`);
      } finally {
        decoder.dispose();
      }
    });
  }

  it("gives each row of a right-padded batch the logits of the row alone", () => {
    const config = tinyConfig({ architecture: "qwen2" });
    const weights = tinyWeights(config, 5);
    const decoder = new TfDecoder(config, weights, { trainable: false });
    try {
      const short = [1, 9, 4, 30];
      const padded = [...short, 0, 0, 0, 0, 0, 0, 0, 0];
      const ids = tf.tensor2d([...IDS, ...padded], [2, IDS.length], "int32");
      const mask = tf.tensor2d([...IDS.map(() => 1), ...padded.map((_, i) => (i < short.length ? 1 : 0))], [2, IDS.length]);
      for (const useMask of [false, true]) {
        const logits = decoder.forward(ids, useMask ? mask : undefined);
        const flat = logits.dataSync() as Float32Array;
        logits.dispose();
        const v = config.vocabSize;
        const want = referenceLogits(config, weights, short);
        for (let t = 0; t < short.length; t++) {
          const row = flat.slice((IDS.length + t) * v, (IDS.length + t + 1) * v);
          assert.ok(maxAbsDiff(row, want[t]) < 1e-4, `position ${t} (mask ${useMask})`);
        }
      }
      tf.dispose([ids, mask]);
    } finally {
      decoder.dispose();
    }
  });

  it("tfjsForward returns the last position's logits", () => {
    const config = tinyConfig({ tieWordEmbeddings: true });
    const weights = tinyWeights(config, 8);
    const got = tfjsForward(config, weights, IDS);
    const want = referenceLogits(config, weights, IDS);
    assert.equal(got.length, config.vocabSize);
    assert.ok(maxAbsDiff(got, want[want.length - 1]) < 1e-4);
  });

  it("agrees with the plain cpu backend", async () => {
    const config = tinyConfig({ architecture: "qwen2" });
    const weights = tinyWeights(config, 4);
    const run = async (backend: "wasm" | "cpu"): Promise<Float32Array[]> => {
      await useBackend(backend);
      const decoder = new TfDecoder(config, weights, { trainable: false });
      const logits = decoderLogits(decoder, IDS);
      decoder.dispose();
      return logits;
    };
    const cpu = await run("cpu");
    const wasm = await run("wasm");
    assert.ok(Math.max(...cpu.map((row, t) => maxAbsDiff(row, wasm[t]))) < 1e-4);
  });

  it("round-trips weights through exportWeights unchanged", () => {
    const config = tinyConfig();
    const weights = tinyWeights(config, 2);
    const decoder = new TfDecoder(config, weights);
    const exported = decoder.exportWeights();
    decoder.dispose();
    assert.deepEqual([...exported.keys()].sort(), [...weights.keys()].sort());
    for (const [name, tensor] of weights) {
      assert.deepEqual(exported.get(name)?.shape, tensor.shape, name);
      assert.equal(maxAbsDiff(exported.get(name)?.data ?? [], tensor.data), 0, name);
    }
  });

  it("leaves the decoder usable after exportWeights (validation exports mid-training)", () => {
    const config = tinyConfig();
    const decoder = new TfDecoder(config, tinyWeights(config, 3));
    const before = decoderLogits(decoder, [1, 2, 3]);
    decoder.exportWeights();
    decoder.exportWeights();
    const after = decoderLogits(decoder, [1, 2, 3]);
    decoder.dispose();
    assert.equal(maxAbsDiff(before.flatMap((row) => [...row]), after.flatMap((row) => [...row])), 0);
  });
});

describe("trainer LoRA", () => {
  before(async () => {
    await useBackend("wasm");
  });

  /** Adapters with non-zero B, so the update is visible. */
  function nonTrivialAdapters(config: ReturnType<typeof tinyConfig>, rank: number) {
    const settings = loraSettings(rank, 16, ["q_proj", "v_proj", "o_proj", "down_proj", "gate_proj"]);
    const adapters = initLoraAdapters(config, settings, 3);
    for (const [name, tensor] of adapters) {
      if (name.includes("lora_B")) tensor.data.forEach((_, i) => (tensor.data[i] = Math.sin(i * 0.37 + name.length) * 0.05));
    }
    return { settings, adapters };
  }

  it("merged weights give the same logits as the unmerged adapter path", () => {
    const config = tinyConfig({ architecture: "qwen2" });
    const weights = tinyWeights(config, 6);
    const { settings, adapters } = nonTrivialAdapters(config, 4);
    const adapted = new TfDecoder(config, weights, { lora: settings, adapters });
    const unmerged = decoderLogits(adapted, IDS);
    const exported = adapted.exportWeights();
    adapted.dispose();
    const merged = mergeLora(weights, adapters, settings);
    const plain = new TfDecoder(config, merged, { trainable: false });
    const mergedLogits = decoderLogits(plain, IDS);
    plain.dispose();
    const base = referenceLogits(config, weights, IDS);
    assert.ok(Math.max(...unmerged.map((row, t) => maxAbsDiff(row, mergedLogits[t]))) < 1e-4);
    assert.ok(Math.max(...unmerged.map((row, t) => maxAbsDiff(row, base[t]))) > 1e-3, "the adapters change the output");
    // The decoder's own merge (exportWeights) equals mergeLora.
    for (const [name, tensor] of merged) assert.ok(maxAbsDiff(tensor.data, exported.get(name)?.data ?? []) < 1e-5, name);
  });

  it("a fresh adapter (B = 0) leaves the model unchanged and trains only A and B", () => {
    const config = tinyConfig();
    const weights = tinyWeights(config, 6);
    const settings = loraSettings(2);
    const decoder = new TfDecoder(config, weights, { lora: settings, loraSeed: 1 });
    const got = decoderLogits(decoder, IDS);
    assert.equal(decoder.trainableVariables().length, 2 * 7 * config.numLayers);
    decoder.dispose();
    const want = referenceLogits(config, weights, IDS);
    assert.ok(Math.max(...want.map((row, t) => maxAbsDiff(row, got[t]))) < 1e-4);
  });

  it("saves adapters alone in the PEFT layout", async () => {
    const config = tinyConfig();
    const { settings, adapters } = nonTrivialAdapters(config, 2);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-lora-"));
    try {
      await saveLoraAdapter(dir, adapters, settings, { baseModel: "tiny" });
      const adapterConfig = JSON.parse(await fs.readFile(path.join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
      assert.equal(adapterConfig.peft_type, "LORA");
      assert.equal(adapterConfig.task_type, "CAUSAL_LM");
      assert.equal(adapterConfig.r, 2);
      assert.equal(adapterConfig.lora_alpha, 16);
      assert.deepEqual(adapterConfig.target_modules, ["q_proj", "v_proj", "o_proj", "down_proj", "gate_proj"]);
      const saved = await readSafetensors(path.join(dir, "adapter_model.safetensors"));
      const a = saved.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
      assert.deepEqual(a?.shape, [2, config.hiddenSize]);
      const b = saved.tensors.get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight");
      assert.deepEqual(b?.shape, [config.hiddenSize, 2]);
      assert.equal(saved.tensors.size, adapters.size);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

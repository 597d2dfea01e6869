// The model stack end to end through the `restem` CLI, as separate processes:
//   * `forward --engine onnx` and `forward --engine tfjs` give the same logits (< 1e-4)
//     for random-weight Llama (GQA, untied head, biases) and Qwen2 (tied) checkpoints;
//   * `train` on a few programs drives their NLL down, and greedy `sample` from the trained
//     directory reproduces the training programs.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import { REPO_ROOT } from "./support";

const TOKENIZER = path.join(REPO_ROOT, "test/fixtures/model/tiny-tokenizer");

function restem(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function writeRandomModel(dir: string, raw: Record<string, unknown>, seed: number): Promise<void> {
  const config = parseModelConfig(raw, path.join(dir, "config.json"));
  await saveModelDirectory(dir, config, randomWeights(config, seed, 0.08), { dtype: "F32", tokenizerFrom: TOKENIZER });
}

const LLAMA = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  attention_bias: true,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 512,
  tie_word_embeddings: false,
  bos_token_id: 510,
  eos_token_id: 509,
};

const QWEN2 = { ...LLAMA, architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", tie_word_embeddings: true, attention_bias: undefined };

describe("model stack through the CLI: ONNX Runtime, TensorFlow.js, train then sample", function () {
  this.timeout(600_000);
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-model-stack-"));
  });
  after(async () => rm(scratch, { recursive: true, force: true }));

  for (const [name, raw] of [["llama", LLAMA], ["qwen2", QWEN2]] as const) {
    it(`forward: the ONNX and tfjs engines agree for ${name}`, async () => {
      const dir = path.join(scratch, name);
      await writeRandomModel(dir, raw, 11);
      const ids = "1,17,300,42,509,7,88,250";
      const onnx = await restem("forward", "--model", dir, "--ids", ids, "--engine", "onnx");
      const tfjs = await restem("forward", "--model", dir, "--ids", ids, "--engine", "tfjs");
      assert.equal(onnx.code, 0, onnx.stderr);
      assert.equal(tfjs.code, 0, tfjs.stderr);
      const a = JSON.parse(onnx.stdout) as number[];
      const b = JSON.parse(tfjs.stdout) as number[];
      assert.equal(a.length, 512);
      const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      assert.ok(diff < 1e-4, `max abs diff ${diff}`);
    });
  }

  it("train drives the NLL down and greedy sample reproduces the training programs", async () => {
    const base = path.join(scratch, "base");
    await writeRandomModel(base, QWEN2, 5);
    const examples = [
      { prompt: "# add two numbers\n", completion: "a, b = map(int, input().split())\nprint(a + b)\n" },
      { prompt: "# reverse a line\n", completion: "print(input()[::-1])\n" },
      { prompt: "# largest of a list\n", completion: "xs = list(map(int, input().split()))\nprint(max(xs))\n" },
    ];
    const data = path.join(scratch, "data.jsonl");
    await writeFile(data, examples.map((e) => JSON.stringify({ ...e, reward: 1 })).join("\n") + "\n");
    const trained = path.join(scratch, "trained");
    const train = await restem("train", "--model", base, "--data", data, "--out", trained, "--full", "--epochs", "150", "--lr", "0.01", "--batch", "3");
    assert.equal(train.code, 0, train.stderr);
    const losses = [...train.stderr.matchAll(/^step \d+ epoch \d+ loss ([\d.]+)/gm)].map((m) => Number(m[1]));
    assert.ok(losses.length >= 100, `expected a loss per step, got ${losses.length}`);
    assert.ok(losses.at(-1)! < losses[0] / 20, `loss went from ${losses[0]} to ${losses.at(-1)}`);
    for (const { prompt, completion } of examples) {
      const sample = await restem("sample", "--model", trained, "--prompt", prompt, "-n", "1", "--temperature", "0", "--max-new-tokens", "48", "--json", "--seed", "1");
      assert.equal(sample.code, 0, sample.stderr);
      const line = JSON.parse(sample.stdout.trim().split("\n")[0]) as { text: string };
      assert.equal(line.text, completion, `prompt ${JSON.stringify(prompt)}`);
    }
  });
});

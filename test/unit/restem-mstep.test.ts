// The M-step with the real trainer (TensorFlow.js, no Docker): the weights it returns are the
// ones the validation hook scored best ("while reward improves on D_val"), validation stops
// after `patience` rounds without a new best, and saveWeightsDir writes a complete model
// directory atomically.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadModelWeights, parseModelConfig, randomWeights, saveModelDirectory, type ModelConfig, type WeightMap } from "../../src/model";
import { DEFAULT_CONFIG, hasModelFiles, runMStep, saveWeightsDir } from "../../src/restem";
import { copyTaskExamples, useBackend } from "./trainer-support";

const RAW = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
  bos_token_id: 1,
  eos_token_id: 2,
};

function sameWeights(a: WeightMap, b: WeightMap): boolean {
  if (a.size !== b.size) return false;
  for (const [name, tensor] of a) {
    const other = b.get(name);
    if (!other || other.data.length !== tensor.data.length) return false;
    for (let i = 0; i < tensor.data.length; i++) if (Math.abs(tensor.data[i] - other.data[i]) > 1e-7) return false;
  }
  return true;
}

describe("restem M-step with the real trainer", function () {
  this.timeout(120_000);
  let dir: string;
  let config: ModelConfig;

  before(async () => {
    await useBackend("wasm");
    dir = await mkdtemp(path.join(os.tmpdir(), "restem-mstep-"));
    config = parseModelConfig(RAW, path.join(dir, "base", "config.json"));
    await saveModelDirectory(path.join(dir, "base"), config, randomWeights(config, 3, 0.1), { dtype: "F32" });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const options = { ...DEFAULT_CONFIG.mstep, epochs: 4, batchSize: 4, lr: 0.01, patience: 4 };
  const examples = copyTaskExamples(8, RAW.vocab_size);

  it("returns the checkpoint the validation reward scored best, not the last one", async () => {
    const scores = [0.2, 0.9, 0.1, 0.3];
    const seen: WeightMap[] = [];
    const { result, stopping } = await runMStep({
      config,
      startDir: path.join(dir, "base"),
      examples,
      options,
      seed: 0,
      validate: async (weights, index) => {
        seen.push(weights);
        return scores[index];
      },
    });
    assert.equal(seen.length, 4, "validated after every epoch");
    assert.equal(stopping.bestIndex, 1);
    assert.equal(result.bestScore, 0.9);
    assert.ok(sameWeights(result.weights, seen[1]), "the epoch-2 weights are returned");
    assert.ok(!sameWeights(result.weights, seen[3]), "not the last epoch's");
    assert.ok(!sameWeights(result.weights, await loadModelWeights(path.join(dir, "base"))), "training changed the weights");

    await saveWeightsDir(path.join(dir, "out", "weights"), config, result, path.join(dir, "base"));
    assert.ok(await hasModelFiles(path.join(dir, "out", "weights")));
    assert.deepEqual(await readdir(path.join(dir, "out")), ["weights"], "no .partial directory left");
    assert.ok(sameWeights(await loadModelWeights(path.join(dir, "out", "weights")), seen[1]));
  });

  it("stops validating after `patience` rounds without a new best and keeps the best", async () => {
    const scores = [0.5, 0.4, 0.3, 0.9];
    const seen: WeightMap[] = [];
    const { result, stopping } = await runMStep({
      config,
      startDir: path.join(dir, "base"),
      examples,
      options: { ...options, patience: 2 },
      seed: 0,
      validate: async (weights, index) => {
        seen.push(weights);
        return scores[index];
      },
    });
    assert.equal(seen.length, 3, "the fourth validation is skipped");
    assert.equal(stopping.stopped, true);
    assert.ok(sameWeights(result.weights, seen[0]));
  });

  it("without validation problems trains to the end", async () => {
    const { result, stopping } = await runMStep({ config, startDir: path.join(dir, "base"), examples, options: { ...options, epochs: 1 }, seed: 0, validate: null });
    assert.equal(stopping.count, 0);
    assert.equal(result.steps, 2);
  });
});

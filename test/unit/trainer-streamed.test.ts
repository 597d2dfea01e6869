// The streamed engine (src/trainer/streamed/) against the in-heap decoder on tiny models: the
// same last-position logits, the same loss and the same LoRA adapter gradients (within 1e-5),
// with the vocabulary cut into several chunks so the online log-sum-exp path is exercised.

import * as assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { parseModelConfig } from "../../src/model";
import type { ModelConfig, WeightMap } from "../../src/model/types";
import { TfDecoder } from "../../src/trainer/decoder";
import { initLoraAdapters, loraSettings, type LoraSettings } from "../../src/trainer/lora";
import { batchLoss, packBatch, type TrainExample } from "../../src/trainer/loss";
import { StreamedDecoder } from "../../src/trainer/streamed/engine";
import { buildHostWeights } from "../../src/trainer/streamed/hostWeights";
import { StreamedParallel } from "../../src/trainer/streamed/parallel";
import { checkStreamedMemory, fullFineTuneFits, needsStreaming, parameterCount, streamedMemoryPlan } from "../../src/trainer/streamed/policy";
import { adapterVariables, trainStreamed } from "../../src/trainer/streamed/trainLarge";
import { resolveTrainOptions } from "../../src/trainer/train";
import { maxAbsDiff, tinyConfig, tinyWeights } from "../support/tinyModel";
import { decoderLogits, useBackend } from "./trainer-support";

const EXAMPLES: TrainExample[] = [
  { promptIds: [1, 5, 9], completionIds: [12, 7, 30, 2], reward: 1 },
  { promptIds: [1, 22], completionIds: [3, 41, 2], reward: 0.5 },
];

/** Adapters with non-zero B (fresh ones have B = 0, which would hide half the gradient). */
function liveAdapters(config: ModelConfig, lora: LoraSettings): WeightMap {
  const adapters = initLoraAdapters(config, lora, 3);
  let i = 0;
  for (const [name, tensor] of adapters) if (name.endsWith("lora_B.weight")) tensor.data.forEach((_, j) => (tensor.data[j] = 0.05 * Math.sin(++i * 0.7)));
  return adapters;
}

const CONFIGS: Array<[string, ModelConfig]> = [
  ["qwen2, tied embeddings", tinyConfig({ architecture: "qwen2", tieWordEmbeddings: true, numLayers: 3 })],
  ["llama, untied lm_head, mlp bias", tinyConfig({ mlpBias: true, numHeads: 4, numKvHeads: 1 })],
];

describe("streamed engine vs the in-heap decoder (wasm)", () => {
  before(async () => {
    await useBackend("wasm");
  });

  for (const [label, config] of CONFIGS) {
    it(`${label}: same last-position logits`, () => {
      const weights = tinyWeights(config, 11);
      const ids = [1, 7, 30, 12, 5, 44, 2];
      const reference = new TfDecoder(config, weights, { trainable: false });
      const expected = decoderLogits(reference, ids)[ids.length - 1];
      reference.dispose();
      const streamed = new StreamedDecoder(buildHostWeights(config, weights, { vocabChunk: 10 }), null);
      const actual = streamed.lastLogits(ids);
      streamed.dispose();
      assert.ok(maxAbsDiff(expected, actual) < 1e-5, `max diff ${maxAbsDiff(expected, actual)}`);
    });

    it(`${label}: same loss and LoRA gradients`, () => {
      const weights = tinyWeights(config, 12);
      const lora = loraSettings(4, 8, ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"]);
      const adapters = liveAdapters(config, lora);
      const batch = packBatch(EXAMPLES, 64);
      const normaliser = batch.completionTokens;
      const reference = new TfDecoder(config, weights, { lora, adapters });
      const params = reference.trainableVariables();
      const { value, grads } = tf.variableGrads(() => batchLoss(reference, batch, normaliser), [...params]);
      const expectedLoss = value.dataSync()[0];
      const expectedGrads = params.map((p) => Float32Array.from(grads[p.name].dataSync() as Float32Array));
      tf.dispose([value, ...Object.values(grads)]);

      const streamed = new StreamedDecoder(buildHostWeights(config, weights, { vocabChunk: 7, shared: true }), lora);
      const result = streamed.lossAndGradients(batch, normaliser, params);
      streamed.dispose();
      reference.dispose();
      assert.ok(Math.abs(result.loss - expectedLoss) < 1e-5, `loss ${result.loss} vs ${expectedLoss}`);
      assert.equal(result.grads.length, expectedGrads.length);
      result.grads.forEach((g, i) => {
        const diff = maxAbsDiff(expectedGrads[i], g.dataSync() as Float32Array);
        assert.ok(diff < 1e-5, `gradient ${i} differs by ${diff}`);
      });
      tf.dispose(result.grads);
    });
  }

  it("a worker on the shared weights gives the same loss and gradients as one thread", async () => {
    const config = tinyConfig({ architecture: "qwen2", tieWordEmbeddings: true });
    const weights = tinyWeights(config, 13);
    const lora = loraSettings(4, 8);
    const params = adapterVariables(config, lora, liveAdapters(config, lora));
    const host = buildHostWeights(config, weights, { shared: true, vocabChunk: 16 });
    const decoder = new StreamedDecoder(host, lora);
    const batch = packBatch([...EXAMPLES, { promptIds: [1, 8], completionIds: [9, 10, 11, 2], reward: 1 }], 64);
    const alone = decoder.lossAndGradients(batch, batch.completionTokens, params);
    const parallel = await StreamedParallel.start(2, host, lora, params.map((p) => [...p.shape]), "wasm");
    assert.ok(parallel, "worker script missing (build first)");
    try {
      const shared = await parallel.gradients(decoder, params, [batch], batch.completionTokens);
      assert.ok(Math.abs(shared.loss - alone.loss) < 1e-5, `loss ${shared.loss} vs ${alone.loss}`);
      shared.grads.forEach((g, i) => assert.ok(maxAbsDiff(g.dataSync(), alone.grads[i].dataSync()) < 1e-6, `gradient ${i}`));
      tf.dispose(shared.grads);
    } finally {
      await parallel.close();
      tf.dispose([...alone.grads, ...params]);
      decoder.dispose();
    }
  });

  it("trainStreamed runs the loop with a worker and returns merged weights and adapters", async () => {
    const config = tinyConfig({ architecture: "qwen2", tieWordEmbeddings: true });
    const weights = tinyWeights(config, 13);
    const options = resolveTrainOptions({ epochs: 2, batchSize: 2, lr: 1e-2, workers: 2, seed: 2 });
    const result = await trainStreamed(config, weights, EXAMPLES, options, loraSettings(4, 8));
    assert.equal(result.steps, 2);
    assert.ok(result.history.every((s) => Number.isFinite(s.loss) && s.loss > 0));
    assert.equal(result.weights.size, weights.size);
    assert.ok(result.adapters && result.adapters.size === 2 * 7 * config.numLayers);
  });
});

describe("streamed engine: size policy and memory preflight", () => {
  const qwen = (hidden: number, ffn: number, layers: number, heads: number): ModelConfig =>
    parseModelConfig(
      {
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        vocab_size: 151936,
        hidden_size: hidden,
        intermediate_size: ffn,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: 2,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        max_position_embeddings: 32768,
        tie_word_embeddings: true,
      },
      "test config",
    );

  it("streams and defaults to LoRA at the 0.5B shape, not for tiny models", () => {
    const half = qwen(896, 4864, 24, 14);
    assert.equal(parameterCount(half), 494032768);
    assert.ok(needsStreaming(half) && !fullFineTuneFits(half));
    assert.ok(!needsStreaming(tinyConfig()) && fullFineTuneFits(tinyConfig()));
  });

  it("refuses the 1.5B shape with the numbers when memory is short", () => {
    const big = qwen(1536, 8960, 28, 12);
    const plan = streamedMemoryPlan(big, 2);
    assert.ok(plan.total > 16 * 1024 ** 3);
    assert.throws(() => checkStreamedMemory(big, 2, 16 * 1024 ** 3), /1544M-parameter.*transposed weight copies .* GiB.*16\.0 GiB is available/);
    assert.doesNotThrow(() => checkStreamedMemory(big, 1, 64 * 1024 ** 3));
  });
});

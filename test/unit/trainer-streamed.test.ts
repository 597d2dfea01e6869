// The streamed engine (src/trainer/streamed/) against the in-heap decoder on tiny models: the
// same last-position logits, the same loss and the same LoRA adapter gradients (within 1e-5),
// with the vocabulary cut into several chunks so the online log-sum-exp path is exercised.

import * as assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig, WeightMap } from "../../src/model/types";
import { TfDecoder } from "../../src/trainer/decoder";
import { initLoraAdapters, loraSettings, type LoraSettings } from "../../src/trainer/lora";
import { batchLoss, packBatch, type TrainExample } from "../../src/trainer/loss";
import { StreamedDecoder } from "../../src/trainer/streamed/engine";
import { buildHostWeights } from "../../src/trainer/streamed/hostWeights";
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
});

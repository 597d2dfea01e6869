// Gradients of the trainer: the UnsortedSegmentSum kernel it adds to the wasm backend (against
// a hand computation and against the cpu backend's kernel through the embedding lookup's
// gradient), the registered gradient functions through a whole decoder (wasm vs cpu), and a
// central-difference check of the full loss gradient on a tiny model.

import * as assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { TfDecoder } from "../../src/trainer/decoder";
import { batchLoss, packBatch, type TrainExample } from "../../src/trainer/loss";
import { maxAbsDiff, tinyConfig, tinyWeights } from "../support/tinyModel";
import { finiteDifferences, sampleCoordinates, useBackend } from "./trainer-support";

const EXAMPLES: TrainExample[] = [
  { promptIds: [1, 5, 9], completionIds: [12, 7, 30, 2], reward: 1 },
  { promptIds: [1, 22], completionIds: [3, 41, 2], reward: 0.5 },
];

describe("trainer kernels on wasm", () => {
  before(async () => {
    await useBackend("wasm");
  });

  it("UnsortedSegmentSum scatter-adds rows (hand computation)", () => {
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, -1], "int32"), 4);
    assert.deepEqual(out.shape, [4, 2]);
    assert.deepEqual([...out.dataSync()], [3, 4, 0, 0, 6, 8, 0, 0]);
    const ints = tf.unsortedSegmentSum(tf.tensor1d([1, 2, 3], "int32"), tf.tensor1d([1, 1, 0], "int32"), 2);
    assert.equal(ints.dtype, "int32");
    assert.deepEqual([...ints.dataSync()], [3, 3]);
    tf.dispose([x, out, ints]);
  });

  it("gives the embedding lookup's gradient as the cpu backend does", async () => {
    const gradient = async (backend: "wasm" | "cpu"): Promise<Float32Array> => {
      await useBackend(backend);
      const table = tf.tensor2d(Array.from({ length: 24 }, (_, i) => i * 0.1), [6, 4]);
      const weights = tf.tensor3d(Array.from({ length: 40 }, (_, i) => Math.cos(i)), [2, 5, 4]);
      const ids = tf.tensor2d([0, 3, 3, 5, 1, 3, 0, 0, 2, 5], [2, 5], "int32");
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.gather(t, tf.reshape(ids, [-1])), [2, 5, 4]), weights)))(table);
      const data = Float32Array.from(g.dataSync() as Float32Array);
      tf.dispose([table, weights, ids, g]);
      return data;
    };
    const cpu = await gradient("cpu");
    const wasm = await gradient("wasm");
    assert.ok(maxAbsDiff(cpu, wasm) < 1e-6);
    // Row 4 is never looked up; row 3 three times.
    assert.deepEqual([...wasm.slice(16, 20)], [0, 0, 0, 0]);
  });
});

describe("trainer loss gradient", () => {
  /** d(loss)/d(each trainable) on one backend, as plain arrays by variable order. */
  async function lossGradients(backend: "wasm" | "cpu"): Promise<Float32Array[]> {
    await useBackend(backend);
    const config = tinyConfig({ architecture: "qwen2" });
    const decoder = new TfDecoder(config, tinyWeights(config, 9));
    const batch = packBatch(EXAMPLES, 64);
    const { value, grads } = tf.variableGrads(() => batchLoss(decoder, batch, batch.completionTokens), decoder.trainableVariables());
    const arrays = decoder.trainableVariables().map((v) => Float32Array.from(grads[v.name].dataSync() as Float32Array));
    tf.dispose([value, ...Object.values(grads)]);
    decoder.dispose();
    return arrays;
  }

  it("matches between wasm (custom matmul gradients) and cpu (tfjs's own)", async () => {
    const wasm = await lossGradients("wasm");
    const cpu = await lossGradients("cpu");
    assert.equal(wasm.length, cpu.length);
    wasm.forEach((g, i) => assert.ok(maxAbsDiff(g, cpu[i]) < 1e-5, `variable ${i}: ${maxAbsDiff(g, cpu[i])}`));
  });

  it("matches central finite differences on a tiny model", async () => {
    await useBackend("wasm");
    // Float32 only: a small model (loss ~ 4) and h = 1e-2 keep rounding error (~1e-7 * 4 / 2h)
    // well under the tolerance while the truncation error O(h^2) stays small too.
    const config = tinyConfig({ hiddenSize: 16, numHeads: 2, numKvHeads: 1, intermediateSize: 24, numLayers: 2, vocabSize: 48, tieWordEmbeddings: true });
    const decoder = new TfDecoder(config, tinyWeights(config, 21));
    const batch = packBatch(EXAMPLES, 64);
    const lossValue = (): number => {
      const loss = batchLoss(decoder, batch, batch.completionTokens);
      const v = loss.dataSync()[0];
      loss.dispose();
      return v;
    };
    const variables = decoder.trainableVariables();
    const { value, grads } = tf.variableGrads(() => batchLoss(decoder, batch, batch.completionTokens), variables);
    const analytic = new Map(variables.map((v) => [v.name, Float32Array.from(grads[v.name].dataSync() as Float32Array)]));
    tf.dispose([value, ...Object.values(grads)]);
    let checked = 0;
    let worstRelative = 0;
    variables.forEach((variable, index) => {
      const coordinates = sampleCoordinates(variable.size, 3, 100 + index);
      const numeric = finiteDifferences(variable, coordinates, 1e-2, lossValue);
      const exact = analytic.get(variable.name) ?? new Float32Array();
      coordinates.forEach((c, j) => {
        const error = Math.abs(numeric[j] - exact[c]);
        worstRelative = Math.max(worstRelative, error / (Math.abs(exact[c]) + 1e-2));
        assert.ok(error < 2e-3 + 2e-2 * Math.abs(exact[c]), `${variable.name}[${c}]: analytic ${exact[c]} vs numeric ${numeric[j]}`);
        checked++;
      });
    });
    decoder.dispose();
    assert.ok(checked > 30, `checked ${checked} coordinates (worst relative error ${worstRelative})`);
  });
});

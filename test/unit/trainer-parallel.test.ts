// Speed paths of the trainer that must not change its numbers: the wasm heap-view batched
// product (against tf.matMul on the cpu backend), row shards of a packed batch (their losses
// add up to the batch's), data-parallel gradients from worker threads (against in-process
// gradients) and whole training runs with and without workers.

import * as assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { TfDecoder } from "../../src/trainer/decoder";
import { batchLoss, packBatch, type PackedBatch, type TrainExample } from "../../src/trainer/loss";
import { DataParallel, workerScriptPath } from "../../src/trainer/parallel";
import { localGradients, shardBatches } from "../../src/trainer/shards";
import { train } from "../../src/trainer/train";
import { batchedMatMul, wasmViewsAvailable } from "../../src/trainer/wasmKernels";
import { maxAbsDiff, tinyConfig, tinyWeights } from "../support/tinyModel";
import { copyTaskExamples, useBackend } from "./trainer-support";

const EXAMPLES: TrainExample[] = [
  { promptIds: [1, 5, 9], completionIds: [12, 7, 30, 2], reward: 1 },
  { promptIds: [1, 22], completionIds: [3, 41, 2], reward: 0.5 },
  { promptIds: [1, 8, 8, 3], completionIds: [40, 2], reward: 1 },
  { promptIds: [1, 17], completionIds: [6, 6, 6, 6, 2], reward: 2 },
  { promptIds: [1, 4], completionIds: [9, 2], reward: 0 },
];

function lossValue(decoder: TfDecoder, batch: PackedBatch, normaliser: number): number {
  const loss = batchLoss(decoder, batch, normaliser);
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}

describe("trainer wasm batched product", () => {
  it("equals tf.matMul on the cpu backend, matrix by matrix", async () => {
    const a = Array.from({ length: 3 * 5 * 4 }, (_, i) => Math.sin(i));
    const b = Array.from({ length: 3 * 4 * 6 }, (_, i) => Math.cos(i * 0.7));
    const product = (): Float32Array => {
      const out = tf.tidy(() => {
        const at = tf.tensor3d(a, [3, 5, 4]);
        const bt = tf.tensor3d(b, [3, 4, 6]);
        return wasmViewsAvailable() ? batchedMatMul(at, bt) : tf.matMul(at, bt);
      });
      const values = Float32Array.from(out.dataSync() as Float32Array);
      out.dispose();
      return values;
    };
    await useBackend("cpu");
    const expected = product();
    await useBackend("wasm");
    assert.ok(wasmViewsAvailable(), "the wasm backend exposes the internals the view kernel needs");
    const tensorsBefore = tf.memory().numTensors;
    const actual = product();
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(actual.length, 3 * 5 * 6);
    assert.ok(maxAbsDiff(actual, expected) < 1e-5);
  });
});

describe("trainer row shards", () => {
  const config = tinyConfig();
  const weights = tinyWeights(config, 5);

  before(async () => {
    await useBackend("wasm");
  });

  it("splits rows evenly, keeps token counts and the loss adds up", () => {
    const decoder = new TfDecoder(config, weights, { trainable: false });
    try {
      const batch = packBatch(EXAMPLES, 64);
      const shards = shardBatches([batch], 2);
      assert.deepEqual(
        shards.map((pieces) => pieces.map((p) => p.batch)),
        [[2], [3]],
      );
      const pieces = shards.flat();
      assert.equal(pieces.reduce((n, p) => n + p.completionTokens, 0), batch.completionTokens);
      assert.equal(pieces.reduce((n, p) => n + p.realTokens, 0), batch.realTokens);
      const whole = lossValue(decoder, batch, batch.completionTokens);
      const parts = pieces.reduce((sum, p) => sum + lossValue(decoder, p, batch.completionTokens), 0);
      assert.ok(Math.abs(whole - parts) < 1e-5, `${whole} vs ${parts}`);
      // More parts than rows: empty parts stay empty; reward-0 rows are dropped.
      const fine = shardBatches([batch], 7);
      assert.equal(fine.length, 7);
      assert.equal(fine.flat().length, 4);
    } finally {
      decoder.dispose();
    }
  });
});

describe("trainer data parallelism", function () {
  this.timeout(120000);
  const config = tinyConfig();
  const weights = tinyWeights(config, 6);

  before(async function () {
    if (workerScriptPath() === null) this.skip();
    await useBackend("wasm");
  });

  for (const replicas of [2, 3]) {
    it(`gives the in-process gradients with ${replicas} replicas (within 1e-5)`, async () => {
      const decoder = new TfDecoder(config, weights);
      const params = decoder.trainableVariables();
      const batches = [packBatch(EXAMPLES.slice(0, 3), 64), packBatch(EXAMPLES.slice(3), 64)];
      const normaliser = batches.reduce((n, b) => n + b.completionTokens, 0);
      const parallel = await DataParallel.start(replicas, { config, weights: [...weights], lora: null, backend: "wasm" }, params.length);
      assert.ok(parallel);
      try {
        // Move the weights off their initial values first: the workers must use the sent ones.
        tf.tidy(() => params.forEach((p, i) => p.assign(tf.add(p, tf.mul(tf.sin(tf.onesLike(p)), 0.01 * (i % 3))))));
        const single = localGradients(decoder, params, batches, normaliser);
        const split = await parallel.gradients(decoder, params, batches, normaliser);
        assert.ok(Math.abs(single.loss - split.loss) < 1e-5);
        params.forEach((p, i) => {
          const diff = maxAbsDiff(single.grads[i].dataSync(), split.grads[i].dataSync());
          assert.ok(diff < 1e-5, `${p.name}: ${diff}`);
        });
        tf.dispose([...single.grads, ...split.grads]);
      } finally {
        await parallel.close();
        decoder.dispose();
      }
    });
  }

  it("trains to the same weights with 2 workers as in-process (full and LoRA)", async () => {
    const small = tinyConfig({ vocabSize: 16, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 64, numLayers: 2 });
    const start = tinyWeights(small, 4);
    const data = copyTaskExamples(8, small.vocabSize, 3);
    for (const lora of [null, 4]) {
      const options = { epochs: 2, batchSize: 3, gradAccumSteps: 2, lr: 1e-2, warmupSteps: 1, loraRank: lora };
      const inProcess = await train(small, start, data, { ...options, workers: 1 });
      const parallel = await train(small, start, data, { ...options, workers: 2 });
      assert.equal(parallel.steps, inProcess.steps);
      parallel.history.forEach((info, i) => assert.ok(Math.abs(info.loss - inProcess.history[i].loss) < 1e-4, `step ${i + 1} loss`));
      for (const [name, tensor] of inProcess.weights) {
        const diff = maxAbsDiff(parallel.weights.get(name)?.data ?? [], tensor.data);
        assert.ok(diff < 1e-4, `${lora ? "LoRA " : ""}${name}: ${diff}`);
      }
    }
  });
});

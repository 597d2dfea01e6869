// The trainer's loss, optimizer and loop: only completion tokens count (prompt and padding are
// masked, the reward scales the loss), AdamW / clipping / schedule against hand computations,
// and short training runs on a tiny copy task that drive the NLL down, keep the best weights
// for a validation hook and save a model directory that loads back.

import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadModelWeights } from "../../src/model";
import { TfDecoder, tfjsForward } from "../../src/trainer/decoder";
import { batchLoss, bucketBatches, meanCompletionNll, packBatch, type TrainExample } from "../../src/trainer/loss";
import { AdamW, clipByGlobalNorm, learningRateAt } from "../../src/trainer/optim";
import { saveTrainedModel, train } from "../../src/trainer/train";
import { referenceLogits } from "../support/referenceDecoder";
import { maxAbsDiff, tinyConfig, tinyWeights } from "../support/tinyModel";
import { argmax, copyTaskExamples, useBackend } from "./trainer-support";

function lossOf(decoder: TfDecoder, examples: TrainExample[], normaliser = 1): number {
  const loss = batchLoss(decoder, packBatch(examples, 64), normaliser);
  const value = loss.dataSync()[0];
  loss.dispose();
  return value;
}

/** -sum of log p(completion token) from the reference logits. */
function referenceNll(config: ReturnType<typeof tinyConfig>, weights: ReturnType<typeof tinyWeights>, e: TrainExample): number {
  const ids = [...e.promptIds, ...e.completionIds];
  const logits = referenceLogits(config, weights, ids.slice(0, -1));
  let nll = 0;
  for (let t = e.promptIds.length - 1; t < ids.length - 1; t++) {
    const row = logits[t];
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0)) + max;
    nll -= row[ids[t + 1]] - logSum;
  }
  return nll;
}

describe("trainer loss masking", () => {
  const config = tinyConfig();
  const weights = tinyWeights(config, 3);
  let decoder: TfDecoder;
  const a: TrainExample = { promptIds: [1, 5, 9, 3], completionIds: [12, 7, 2], reward: 1 };
  const b: TrainExample = { promptIds: [1, 22, 8, 8, 8, 8, 3], completionIds: [3, 41, 40, 39, 2], reward: 1 };

  before(async () => {
    await useBackend("wasm");
    decoder = new TfDecoder(config, weights, { trainable: false });
  });
  after(() => decoder.dispose());

  it("packs targets only on completion tokens and pads to the right", () => {
    const batch = packBatch([a, b], 64);
    assert.equal(batch.seqLen, 11);
    assert.equal(batch.completionTokens, 8);
    // Row 0: positions 3..5 predict the completion; prompt positions and padding weigh 0.
    assert.deepEqual([...batch.weights.slice(0, 11)], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual([...batch.targets.slice(3, 6)], [12, 7, 2]);
    assert.deepEqual([...batch.attentionMask.slice(0, 11)], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it("is the summed completion NLL (prompt tokens are not scored)", () => {
    assert.ok(Math.abs(lossOf(decoder, [a]) - referenceNll(config, weights, a)) < 1e-3);
  });

  it("does not change with padding or with the other examples in the batch", () => {
    const together = lossOf(decoder, [a, b]);
    assert.ok(Math.abs(together - (lossOf(decoder, [a]) + lossOf(decoder, [b]))) < 1e-3);
    // Padding ids are arbitrary: a different pad id gives the same loss.
    const padded = batchLoss(decoder, packBatch([a, b], 64, 47), 1);
    assert.ok(Math.abs(padded.dataSync()[0] - together) < 1e-4);
    padded.dispose();
  });

  it("scales with the reward; reward-0 examples add nothing", () => {
    const base = lossOf(decoder, [a]);
    assert.ok(Math.abs(lossOf(decoder, [{ ...a, reward: 2.5 }]) - 2.5 * base) < 1e-3);
    assert.ok(Math.abs(lossOf(decoder, [a, { ...b, reward: 0 }]) - base) < 1e-3);
    assert.equal(packBatch([a, { ...b, reward: 0 }], 64).completionTokens, 3);
  });

  it("truncates long prompts from the left, keeping the completion", () => {
    const batch = packBatch([b], 6);
    assert.equal(batch.seqLen, 6);
    assert.deepEqual([...batch.targets.slice(1)], [3, 41, 40, 39, 2]);
  });

  it("buckets examples of similar length", () => {
    const examples = [3, 9, 1, 8, 2, 7].map((n) => ({ promptIds: [1], completionIds: new Array<number>(n).fill(4), reward: 1 }));
    const batches = bucketBatches(examples, 2).map((group) => group.map((e) => e.completionIds.length));
    assert.deepEqual(batches, [
      [1, 2],
      [3, 7],
      [8, 9],
    ]);
  });
});

describe("trainer optimizer pieces", () => {
  before(async () => {
    await useBackend("wasm");
  });

  it("AdamW takes the decoupled-decay step of the formula", () => {
    const p = tf.variable(tf.tensor2d([[1, -2]]));
    const optimizer = new AdamW([p], { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.5 });
    const g = tf.tensor2d([[0.5, 0.25]]);
    optimizer.step([g], 0.1);
    optimizer.step([g], 0.1);
    // With a constant gradient, bias-corrected m/sqrt(v) = sign(g) exactly (up to eps).
    let expected = [1, -2];
    for (let step = 0; step < 2; step++) expected = expected.map((x) => x * (1 - 0.1 * 0.5) - 0.1);
    assert.ok(maxAbsDiff(p.dataSync(), expected) < 1e-5);
    optimizer.dispose();
    tf.dispose([p, g]);
  });

  it("clips by the global norm", () => {
    const grads = [tf.tensor1d([3, 0]), tf.tensor1d([0, 4])];
    const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
    assert.ok(Math.abs(norm - 5) < 1e-5);
    assert.ok(maxAbsDiff([...clipped[0].dataSync(), ...clipped[1].dataSync()], [0.6, 0, 0, 0.8]) < 1e-5);
    const small = [tf.tensor1d([0.3])];
    assert.equal(clipByGlobalNorm(small, 1).grads[0], small[0]);
    tf.dispose([...clipped, ...small]);
  });

  it("warms up linearly, then decays to the floor", () => {
    const s = { lr: 1, warmupSteps: 4, totalSteps: 14, decay: "cosine" as const, minLrRatio: 0.1 };
    assert.deepEqual([0, 1, 2, 3].map((i) => learningRateAt(i, s)), [0.25, 0.5, 0.75, 1]);
    assert.ok(Math.abs(learningRateAt(9, s) - 0.55) < 1e-12); // half-way: (1 + 0.1) / 2
    assert.ok(Math.abs(learningRateAt(14, s) - 0.1) < 1e-12);
    assert.ok(Math.abs(learningRateAt(9, { ...s, decay: "linear" }) - 0.55) < 1e-12);
    assert.equal(learningRateAt(20, { ...s, decay: "constant" }), 1);
  });
});

describe("trainer loop", function () {
  this.timeout(60000);
  const config = tinyConfig({ vocabSize: 16, hiddenSize: 32, numHeads: 4, numKvHeads: 2, intermediateSize: 64, numLayers: 2 });
  const data = copyTaskExamples(6, config.vocabSize, 7);

  before(async () => {
    await useBackend("wasm");
  });

  it("drives the completion NLL down and greedy decoding reproduces a training completion", async () => {
    const weights = tinyWeights(config, 1);
    const before = new TfDecoder(config, weights, { trainable: false });
    const initialNll = meanCompletionNll(before, data);
    before.dispose();
    const losses: number[] = [];
    const result = await train(config, weights, data, { epochs: 150, batchSize: 3, lr: 1e-2, warmupSteps: 10, weightDecay: 0 }, {
      onStep: (info) => {
        assert.ok(Number.isFinite(info.loss) && info.tokensPerSecond > 0 && info.gradNorm >= 0 && info.lr > 0);
        losses.push(info.loss);
      },
    });
    assert.equal(result.steps, 300);
    const after = new TfDecoder(config, result.weights, { trainable: false });
    const finalNll = meanCompletionNll(after, data);
    after.dispose();
    assert.ok(finalNll < 0.1 && finalNll < initialNll / 10, `NLL ${initialNll} -> ${finalNll}`);
    // Greedy decoding with the tfjs forward pass reproduces the first example's completion.
    const example = data[0];
    const ids = [...example.promptIds];
    for (let i = 0; i < example.completionIds.length; i++) ids.push(argmax(tfjsForward(config, result.weights, ids)));
    assert.deepEqual(ids.slice(example.promptIds.length), example.completionIds);
  });

  it("trains LoRA adapters with gradient accumulation and keeps the best validated weights", async () => {
    const weights = tinyWeights(config, 2);
    const scores: number[] = [];
    const result = await train(config, weights, data, { epochs: 6, batchSize: 2, gradAccumSteps: 2, loraRank: 4, lr: 2e-2, evalInterval: 1 }, {
      // A validation score that peaks at step 3, so the weights of step 3 must come back.
      validate: (decoder) => {
        assert.ok(decoder instanceof TfDecoder, "the in-heap trainer validates its own decoder");
        const score = 0 - Math.abs(scores.length + 1 - 3);
        scores.push(meanCompletionNll(decoder, data));
        return score;
      },
    });
    assert.equal(result.steps, 12);
    assert.equal(result.bestScore, 0);
    assert.ok(result.adapters && result.adapters.size === 2 * 7 * config.numLayers);
    assert.ok(scores[scores.length - 1] < scores[0], `LoRA NLL ${scores[0]} -> ${scores[scores.length - 1]}`);
    const restored = new TfDecoder(config, result.weights, { trainable: false });
    assert.ok(Math.abs(meanCompletionNll(restored, data) - scores[2]) < 1e-4, "best (step 3) weights returned");
    restored.dispose();

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-train-"));
    try {
      const withRaw = { ...config, raw: { architectures: ["LlamaForCausalLM"], model_type: "llama" } };
      await saveTrainedModel(dir, withRaw, result);
      const entries = (await fs.readdir(dir)).sort();
      assert.deepEqual(entries, ["adapter", "config.json", "model.safetensors"]);
      assert.deepEqual((await fs.readdir(path.join(dir, "adapter"))).sort(), ["adapter_config.json", "adapter_model.safetensors"]);
      const loaded = await loadModelWeights(dir);
      for (const [name, tensor] of result.weights) assert.equal(maxAbsDiff(loaded.get(name)?.data ?? [], tensor.data), 0, name);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

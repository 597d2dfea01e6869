// Training examples, padding-aware batching and the ReST-EM loss.
//
// An example is a prompt, a model-generated completion (the program) and its reward. The
// M-step maximises J = sum_i r_i log p(y_i | x_i); as a loss to minimise, per optimizer step:
//
//   loss = - sum_i r_i * sum_{t in completion_i} log p(y_i,t | x_i, y_i,<t)  /  N
//
// where N is the number of completion tokens of the step's examples with a non-zero reward
// (so examples with reward 0 neither contribute nor dilute, and with binary rewards the loss
// is the mean NLL per kept program token). Prompt tokens and padding carry weight 0. Scaling
// every reward by c scales the loss by c.

import * as tf from "@tensorflow/tfjs-core";
import type { TfDecoder } from "./decoder";

export interface TrainExample {
  promptIds: number[];
  completionIds: number[];
  reward: number;
}

/** A right-padded batch: inputs, next-token targets and per-target loss weights. */
export interface PackedBatch {
  batch: number;
  seqLen: number;
  /** [batch * seqLen] input ids (padding: padId). */
  ids: Int32Array;
  /** [batch * seqLen] the token each position predicts (0 where unweighted). */
  targets: Int32Array;
  /** [batch * seqLen] reward on completion targets, 0 on prompt and padding. */
  weights: Float32Array;
  /** [batch * seqLen] 1 for real tokens, 0 for padding. */
  attentionMask: Float32Array;
  /** Completion tokens of examples with non-zero reward (the loss normaliser's share). */
  completionTokens: number;
  /** Real (non-padding) input tokens, for throughput. */
  realTokens: number;
}

/**
 * The token sequence an example is trained on, at most maxLen + 1 tokens (inputs are all
 * but the last): prompt tokens are dropped from the left first, then the completion's tail.
 */
export function trainingSequence(example: TrainExample, maxLen: number): { tokens: number[]; promptLen: number } {
  let prompt = example.promptIds;
  let completion = example.completionIds;
  const budget = maxLen + 1;
  if (completion.length > budget - 1) completion = completion.slice(0, budget - 1);
  if (prompt.length + completion.length > budget) prompt = prompt.slice(prompt.length - (budget - completion.length));
  return { tokens: [...prompt, ...completion], promptLen: prompt.length };
}

/** Checks ids against the vocabulary and the reward for finiteness; throws naming the problem. */
export function validateExample(example: TrainExample, vocabSize: number): void {
  if (example.completionIds.length === 0) throw new Error("empty completion");
  for (const id of [...example.promptIds, ...example.completionIds]) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`token id ${id} outside the vocabulary [0, ${vocabSize})`);
  }
  if (!Number.isFinite(example.reward)) throw new Error(`reward ${example.reward} is not a finite number`);
}

/** Packs examples into one right-padded batch of width max(len) (≤ maxLen). */
export function packBatch(examples: readonly TrainExample[], maxLen: number, padId = 0): PackedBatch {
  const sequences = examples.map((e) => trainingSequence(e, maxLen));
  const seqLen = Math.max(1, ...sequences.map((s) => s.tokens.length - 1));
  const size = examples.length * seqLen;
  const ids = new Int32Array(size).fill(padId);
  const targets = new Int32Array(size);
  const weights = new Float32Array(size);
  const attentionMask = new Float32Array(size);
  let completionTokens = 0;
  let realTokens = 0;
  sequences.forEach(({ tokens, promptLen }, row) => {
    const reward = examples[row].reward;
    const offset = row * seqLen;
    for (let t = 0; t < tokens.length - 1; t++) {
      ids[offset + t] = tokens[t];
      attentionMask[offset + t] = 1;
      realTokens++;
      // Position t predicts tokens[t + 1]; it counts when that token is part of the completion.
      if (t + 1 >= promptLen) {
        targets[offset + t] = tokens[t + 1];
        weights[offset + t] = reward;
        if (reward !== 0) completionTokens++;
      }
    }
  });
  return { batch: examples.length, seqLen, ids, targets, weights, attentionMask, completionTokens, realTokens };
}

/**
 * Groups examples into batches of similar length (less padding): sort by length, cut into
 * runs of batchSize, then shuffle the order of the batches (when `random` is given).
 */
export function bucketBatches(examples: readonly TrainExample[], batchSize: number, random?: () => number): TrainExample[][] {
  const order = examples.map((e, i) => ({ e, i, len: e.promptIds.length + e.completionIds.length }));
  // Shuffle before the stable sort so equal lengths mix across epochs.
  if (random) shuffleInPlace(order, random);
  order.sort((a, b) => a.len - b.len);
  const batches: TrainExample[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize).map((o) => o.e));
  if (random) shuffleInPlace(batches, random);
  return batches;
}

export function shuffleInPlace<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/**
 * The weighted loss of one packed batch divided by `normaliser` (the step's completion token
 * count). Only positions with a non-zero weight go through lm_head. Returns a scalar.
 */
export function batchLoss(decoder: TfDecoder, batch: PackedBatch, normaliser: number): tf.Scalar {
  const rows: number[] = [];
  for (let i = 0; i < batch.weights.length; i++) if (batch.weights[i] !== 0) rows.push(i);
  if (rows.length === 0) return tf.scalar(0);
  const vocab = decoder.config.vocabSize;
  // Dense [rows, vocab] matrix holding each row's weight at its target token.
  const targetWeights = new Float32Array(rows.length * vocab);
  rows.forEach((position, r) => (targetWeights[r * vocab + batch.targets[position]] = batch.weights[position]));
  return tf.tidy(() => {
    const ids = tf.tensor2d(batch.ids, [batch.batch, batch.seqLen], "int32");
    const hidden = decoder.hidden(ids); // [b*s, h]; right padding needs no key mask
    const selected = tf.gather(hidden, tf.tensor1d(Int32Array.from(rows), "int32")) as tf.Tensor2D; // [rows, h]
    const logProbs = tf.logSoftmax(decoder.logitsFromHidden(selected)); // [rows, vocab]
    const weighted = tf.sum(tf.mul(logProbs, tf.tensor2d(targetWeights, [rows.length, vocab])));
    return tf.div(tf.neg(weighted), normaliser) as tf.Scalar;
  });
}

/** Sum over completion tokens of log p (no reward weighting) for one example: for evaluation. */
export function completionLogProb(decoder: TfDecoder, example: TrainExample, maxLen = 1 << 20): number {
  const batch = packBatch([{ ...example, reward: 1 }], maxLen);
  const loss = tf.tidy(() => batchLoss(decoder, batch, 1));
  const value = loss.dataSync()[0];
  loss.dispose();
  return -value;
}

/** Mean NLL per completion token over examples (reward ignored), in batches. */
export function meanCompletionNll(decoder: TfDecoder, examples: readonly TrainExample[], batchSize = 8, maxLen = 1 << 20): number {
  let total = 0;
  let tokens = 0;
  for (const group of bucketBatches(examples, batchSize)) {
    const batch = packBatch(
      group.map((e) => ({ ...e, reward: 1 })),
      maxLen,
    );
    const loss = tf.tidy(() => batchLoss(decoder, batch, 1));
    total += loss.dataSync()[0];
    tokens += batch.completionTokens;
    loss.dispose();
  }
  return tokens === 0 ? 0 : total / tokens;
}

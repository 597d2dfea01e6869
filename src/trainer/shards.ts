// The gradient computation of one optimizer step, and how it splits for data parallelism.
//
// A step's loss is a sum over its packed micro-batches, each divided by the same normaliser
// (the step's completion-token count, see loss.ts), and every micro-batch's loss is a sum over
// its rows. So the rows can be cut into shards, each shard's gradient computed on its own
// (in this thread or in a worker, see parallel.ts) and the gradients added: the result is the
// single-process gradient up to float rounding. This file holds the shard cutting, the
// in-process gradient of a list of batches and the messages exchanged with gradient workers.

import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig, WeightTensor } from "../model/types";
import type { TrainerBackendName } from "./backend";
import type { TfDecoder } from "./decoder";
import type { LoraSettings } from "./lora";
import { batchLoss, type PackedBatch } from "./loss";

/** Rows [start, end) of a packed batch, with its token counts recomputed. */
export function batchRows(batch: PackedBatch, start: number, end: number): PackedBatch {
  const from = start * batch.seqLen;
  const to = end * batch.seqLen;
  const weights = batch.weights.slice(from, to);
  const attentionMask = batch.attentionMask.slice(from, to);
  let completionTokens = 0;
  let realTokens = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] !== 0) completionTokens++;
    if (attentionMask[i] !== 0) realTokens++;
  }
  return {
    batch: end - start,
    seqLen: batch.seqLen,
    ids: batch.ids.slice(from, to),
    targets: batch.targets.slice(from, to),
    weights,
    attentionMask,
    completionTokens,
    realTokens,
  };
}

/**
 * Cuts every batch into `parts` row ranges of near-equal size and returns, per part, the
 * pieces it computes (empty pieces and pieces without weighted tokens are left out).
 */
export function shardBatches(batches: readonly PackedBatch[], parts: number): PackedBatch[][] {
  const shards: PackedBatch[][] = Array.from({ length: parts }, () => []);
  for (const batch of batches) {
    for (let part = 0; part < parts; part++) {
      const start = Math.floor((part * batch.batch) / parts);
      const end = Math.floor(((part + 1) * batch.batch) / parts);
      if (end <= start) continue;
      const piece = batchRows(batch, start, end);
      if (piece.completionTokens > 0) shards[part].push(piece);
    }
  }
  return shards;
}

/** Summed loss and gradients (aligned with `params`) of `batches`, each loss / normaliser. */
export interface LocalGradients {
  loss: number;
  grads: tf.Tensor[];
}

/** Forward/backward over `batches` in this thread, accumulating gradients (zeros if none). */
export function localGradients(decoder: TfDecoder, params: readonly tf.Variable[], batches: readonly PackedBatch[], normaliser: number): LocalGradients {
  let grads: tf.Tensor[] = params.map((p) => tf.zerosLike(p));
  let loss = 0;
  for (const batch of batches) {
    if (batch.completionTokens === 0) continue;
    const { value, grads: named } = tf.variableGrads(() => batchLoss(decoder, batch, normaliser), [...params]);
    loss += value.dataSync()[0];
    const summed = params.map((p, i) => (named[p.name] ? tf.add(grads[i], named[p.name]) : grads[i]));
    tf.dispose([value, ...grads.filter((g, i) => summed[i] !== g), ...Object.values(named)]);
    grads = summed;
  }
  return { loss, grads };
}

/** What a gradient worker needs to build its replica of the decoder. */
export interface WorkerInit {
  config: ModelConfig;
  /** The decoder's starting weights (HF layout); the trainables are overwritten every step. */
  weights: Array<[string, WeightTensor]>;
  lora: LoraSettings | null;
  backend: TrainerBackendName;
}

export type ToWorker =
  | { kind: "init"; init: WorkerInit }
  | { kind: "gradients"; id: number; values: Float32Array[]; batches: PackedBatch[]; normaliser: number }
  | { kind: "close" };

export type FromWorker =
  | { kind: "ready"; trainables: number }
  | { kind: "gradients"; id: number; loss: number; grads: Float32Array[] }
  | { kind: "error"; message: string };

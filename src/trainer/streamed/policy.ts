// When the trainer streams a model's weights through the wasm heap instead of holding them in
// it, and when it trains LoRA adapters instead of every weight. One source for these sizes.
//
// The in-heap decoder keeps every weight in the wasm heap (at most 4 GiB) and XNNPACK packs a
// second copy of each fully-connected weight it multiplies by, so F32 weights of more than about
// 1.5 GiB cannot run there (the 0.5B model's 2 GB fails with XNNPACK status 6, out of memory).
// Full fine-tuning needs weights, gradients and two AdamW moments: about 5x the weights.

import type { ModelConfig } from "../../model/types";
import { expectedWeightShapes } from "../../model/weights";

const GIB = 1024 ** 3;

/** Largest F32 weight total the in-heap decoder is given (weights + XNNPACK copies < 4 GiB). */
export const IN_HEAP_WEIGHT_BYTES = 1.5 * GIB;

/**
 * Above this many parameters LoRA is the default (`restem train` without --full, a run's
 * mstep.loraAboveParams default): full fine-tuning holds weights, gradients, two AdamW moments and
 * XNNPACK's packed copies, about 5x the F32 weights, in every replica's 4 GiB heap.
 */
export const LORA_DEFAULT_ABOVE_PARAMS = 100_000_000;

/** LoRA rank used when a model is too large for full fine-tuning and none is asked for. */
export const DEFAULT_LARGE_MODEL_LORA_RANK = 8;

/** Parameters of the model described by `config` (from the expected HF weight shapes). */
export function parameterCount(config: ModelConfig): number {
  let total = 0;
  for (const shape of expectedWeightShapes(config).values()) total += shape.reduce((a, b) => a * b, 1);
  return total;
}

/** Whether the model's weights must be streamed (held outside the wasm heap). */
export function needsStreaming(config: ModelConfig): boolean {
  return 4 * parameterCount(config) > IN_HEAP_WEIGHT_BYTES;
}

/** Whether full fine-tuning fits; above this size LoRA is the default. */
export function fullFineTuneFits(config: ModelConfig): boolean {
  return parameterCount(config) <= LORA_DEFAULT_ABOVE_PARAMS;
}

/** Host memory the streamed LoRA trainer adds on top of the loaded F32 weights, by part (bytes). */
export interface StreamedMemoryPlan {
  /** Transposed copies of every projection and the chunked output matrix (hostWeights.ts). */
  transposed: number;
  /** The SharedArrayBuffer copy of the weights that gradient workers read (replicas > 1). */
  shared: number;
  /** The wasm heaps, one per replica (a layer's weights, XNNPACK copies, activations). */
  heaps: number;
  /** The merged projections written at the end (W + alpha/r B A). */
  merged: number;
  total: number;
}

/** Bytes of the wasm heap one streamed replica grows to (measured at the 0.5B shape, seq 256). */
export const STREAMED_HEAP_BYTES = 1.5 * GIB;

export function streamedMemoryPlan(config: ModelConfig, replicas: number): StreamedMemoryPlan {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const f = config.intermediateSize;
  const projections = 4 * config.numLayers * (2 * q * h + 2 * kv * h + 3 * f * h);
  const transposed = projections + 4 * config.vocabSize * h;
  const shared = replicas > 1 ? 4 * parameterCount(config) : 0;
  const heaps = replicas * STREAMED_HEAP_BYTES;
  const total = transposed + shared + heaps + projections;
  return { transposed, shared, heaps, merged: projections, total };
}

/** Throws, with the numbers, when the streamed trainer would need more memory than `availableBytes`. */
export function checkStreamedMemory(config: ModelConfig, replicas: number, availableBytes: number): void {
  const plan = streamedMemoryPlan(config, replicas);
  if (plan.total <= availableBytes) return;
  const gib = (bytes: number): string => `${(bytes / GIB).toFixed(1)} GiB`;
  const single = replicas > 1 ? ` (with one replica, workers 1: ${gib(streamedMemoryPlan(config, 1).total)})` : "";
  throw new Error(
    `not enough memory to train a ${(parameterCount(config) / 1e6).toFixed(0)}M-parameter model with LoRA: beyond the loaded weights it needs ${gib(plan.total)} ` +
      `(transposed weight copies ${gib(plan.transposed)}, shared copy for ${replicas} replicas ${gib(plan.shared)}, wasm heaps ${gib(plan.heaps)}, merged output ${gib(plan.merged)})${single}, ` +
      `and ${gib(availableBytes)} is available; free memory, use fewer workers or a machine with more memory`,
  );
}

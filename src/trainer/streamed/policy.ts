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

/** Largest F32 weight total for full fine-tuning (weights, gradients, moments, packed copies). */
export const FULL_FINE_TUNE_WEIGHT_BYTES = 0.6 * GIB;

/** LoRA rank used when a model is too large for full fine-tuning and none is asked for. */
export const DEFAULT_LARGE_MODEL_LORA_RANK = 16;

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
  return 4 * parameterCount(config) <= FULL_FINE_TUNE_WEIGHT_BYTES;
}

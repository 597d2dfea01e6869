// `restem forward --engine tfjs` for models whose weights do not fit the wasm heap: the
// streamed engine's last-position logits, checked so a failing backend op is an error (a
// kernel that fails inside XNNPACK leaves its output at zero instead of throwing).

import type { ModelConfig, WeightMap } from "../../model/types";
import { StreamedDecoder } from "./engine";
import { buildHostWeights } from "./hostWeights";

/** Throws when logits are non-finite or mostly exact zeros (what a failed kernel leaves). */
export function checkLogits(logits: Float32Array, what: string): void {
  let zeros = 0;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (!Number.isFinite(v)) throw new Error(`${what}: logit ${i} is ${v}; the tfjs backend computed a non-finite value`);
    if (v === 0) zeros++;
  }
  if (logits.length > 16 && zeros > logits.length / 2) {
    throw new Error(`${what}: ${zeros} of ${logits.length} logits are exactly 0, so a backend kernel failed (out of memory?); try --engine onnx`);
  }
}

/** Last-position logits of `ids` with weights streamed a layer at a time. */
export function streamedForward(config: ModelConfig, weights: WeightMap, ids: readonly number[]): Float32Array {
  const decoder = new StreamedDecoder(buildHostWeights(config, weights), null);
  try {
    const logits = decoder.lastLogits(ids);
    checkLogits(logits, "tfjs forward (streamed)");
    return logits;
  } finally {
    decoder.dispose();
  }
}

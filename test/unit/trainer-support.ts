// Test helpers for the trainer's unit tests: backend switching, logits of a tfjs decoder as
// plain arrays, a tiny copy-task dataset and a central-difference gradient probe.

import * as tf from "@tensorflow/tfjs-core";
import { initBackend, registerCpuBackend, type TrainerBackendName } from "../../src/trainer/backend";
import type { TfDecoder } from "../../src/trainer/decoder";
import type { TrainExample } from "../../src/trainer/loss";
import { fixtureRandom } from "../support/tinyModel";

/** Switches tfjs to `name` ("wasm" or "cpu"), initialising it on first use. */
export async function useBackend(name: TrainerBackendName): Promise<void> {
  if (name === "cpu") registerCpuBackend();
  await initBackend(name);
  if (tf.getBackend() !== name) await tf.setBackend(name);
}

/** Logits of `ids` (one sequence) as one Float32Array [vocab] per position. */
export function decoderLogits(decoder: TfDecoder, ids: number[]): Float32Array[] {
  const logits = decoder.forward(tf.tensor2d(ids, [1, ids.length], "int32"));
  const flat = logits.dataSync() as Float32Array;
  logits.dispose();
  const vocab = decoder.config.vocabSize;
  return ids.map((_, t) => flat.slice(t * vocab, (t + 1) * vocab));
}

/** Argmax of a logit vector. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * A tiny deterministic dataset: prompt [bos, a, b, sep], completion = a short function of
 * the prompt (a, b, a+b mod k, eos), so a small model can learn it.
 */
export function copyTaskExamples(count: number, vocabSize: number, seed = 1): TrainExample[] {
  const random = fixtureRandom(seed);
  const k = vocabSize - 4; // tokens 4..vocab-1 are content; 1 = bos, 2 = eos, 3 = separator
  const examples: TrainExample[] = [];
  for (let i = 0; i < count; i++) {
    const a = Math.floor(random() * k);
    const b = Math.floor(random() * k);
    examples.push({
      promptIds: [1, 4 + a, 4 + b, 3],
      completionIds: [4 + b, 4 + a, 4 + ((a + b) % k), 2],
      reward: 1,
    });
  }
  return examples;
}

/**
 * Central differences (f(x + h) - f(x - h)) / 2h of `loss` with respect to chosen
 * coordinates of `variable`, restoring the variable afterwards.
 */
export function finiteDifferences(variable: tf.Variable, coordinates: number[], h: number, loss: () => number): number[] {
  const original = Float32Array.from(variable.dataSync() as Float32Array);
  const set = (data: Float32Array): void => {
    const t = tf.tensor(data, variable.shape);
    variable.assign(t);
    t.dispose();
  };
  const estimates = coordinates.map((index) => {
    const plus = Float32Array.from(original);
    plus[index] += h;
    set(plus);
    const up = loss();
    const minus = Float32Array.from(original);
    minus[index] -= h;
    set(minus);
    const down = loss();
    return (up - down) / (2 * h);
  });
  set(original);
  return estimates;
}

/** Evenly spread, seeded coordinates of a tensor of `size` elements. */
export function sampleCoordinates(size: number, count: number, seed: number): number[] {
  const random = fixtureRandom(seed);
  const picks = new Set<number>();
  while (picks.size < Math.min(count, size)) picks.add(Math.floor(random() * size));
  return [...picks];
}

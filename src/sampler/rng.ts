// Seeded randomness for reproducible sampling, and the token samplers that consume it.
//
// Each sample of a generation run draws from its own stream, seeded from (run seed, sample
// index), so sample i is the same whether it was generated alone or in a batch of 64, and
// whatever order rows finish and leave the batch.

/** A 32-bit generator (mulberry32): small, fast and good enough for picking tokens. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1), with 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Mixes a run seed and a stream index into a well-spread 32-bit seed (splitmix32-style). */
export function deriveSeed(seed: number, stream: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b9) + Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
  return (z ^ (z >>> 15)) >>> 0;
}

/** A fresh seed when the caller gave none (reported back so the run can be repeated). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 4294967296) >>> 0;
}

/** Picks one token id from processed logits [vocab]. */
export interface TokenSampler {
  sample(logits: Float32Array, rng: Rng): number;
}

/** Argmax; the first index wins ties. Used when temperature is 0. */
export class GreedySampler implements TokenSampler {
  sample(logits: Float32Array): number {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
}

/**
 * Draws from softmax(logits); -Infinity entries (removed by top-k / top-p) have probability 0.
 * Computed in float64 with the max subtracted, so large logits do not overflow.
 */
export class MultinomialSampler implements TokenSampler {
  sample(logits: Float32Array, rng: Rng): number {
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) throw new Error("every token was filtered out of the distribution");
    if (max === Infinity) return new GreedySampler().sample(logits);
    const weights = new Float64Array(logits.length);
    let total = 0;
    for (let i = 0; i < logits.length; i++) {
      const w = logits[i] === -Infinity ? 0 : Math.exp(logits[i] - max);
      weights[i] = w;
      total += w;
    }
    const target = rng.next() * total;
    let cumulative = 0;
    let last = -1;
    for (let i = 0; i < weights.length; i++) {
      if (weights[i] === 0) continue;
      cumulative += weights[i];
      last = i;
      if (target < cumulative) return i;
    }
    return last; // rounding left target at the very end
  }
}

/** Softmax of a logits row in float64 (used by top-p and by tests). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  if (max === -Infinity) return out;
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += out[i] = logits[i] === -Infinity ? 0 : Math.exp(logits[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= total;
  return out;
}

// Optimisation pieces of the trainer: AdamW (Adam with decoupled weight decay, Loshchilov &
// Hutter 2019), global-norm gradient clipping and the learning-rate schedule (linear warmup,
// then cosine or linear decay to a floor), each small enough to test on its own.

import * as tf from "@tensorflow/tfjs-core";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled decay: p -= lr * weightDecay * p, applied to matrices only (not norms, biases). */
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

/** AdamW over a fixed list of variables; moments live in tf variables of their own. */
export class AdamW {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly decays: boolean[];
  private t = 0;

  constructor(
    private readonly params: readonly tf.Variable[],
    private readonly options: AdamWOptions = DEFAULT_ADAMW,
  ) {
    this.m = params.map((p) => tf.variable(tf.zerosLike(p), false));
    this.v = params.map((p) => tf.variable(tf.zerosLike(p), false));
    // nanoGPT's rule: weight-decay tensors of rank >= 2 (matrices, embeddings, LoRA factors).
    this.decays = params.map((p) => p.rank >= 2);
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** One update with gradients aligned to the parameter list, at learning rate lr. */
  step(grads: readonly tf.Tensor[], lr: number): void {
    this.t += 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const correction1 = 1 - Math.pow(beta1, this.t);
    const correction2 = 1 - Math.pow(beta2, this.t);
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g = grads[i];
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        // p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)
        const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), eps));
        const decayed = this.decays[i] && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      });
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/** sqrt(sum of squares) over all gradients. */
export function globalNorm(grads: readonly tf.Tensor[]): number {
  const norm = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
  const value = norm.dataSync()[0];
  norm.dispose();
  return value;
}

/**
 * Scales gradients so their global norm is at most maxNorm (no-op when maxNorm <= 0 or the
 * norm is already within it). Returns the new tensors (inputs are disposed if replaced) and
 * the norm before clipping.
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): { grads: tf.Tensor[]; norm: number } {
  const norm = globalNorm(grads);
  if (!(maxNorm > 0) || !(norm > maxNorm) || !Number.isFinite(norm)) return { grads, norm };
  const scale = maxNorm / (norm + 1e-6);
  const clipped = grads.map((g) => tf.mul(g, scale));
  tf.dispose(grads);
  return { grads: clipped, norm };
}

export interface ScheduleOptions {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Steps of linear warmup from 0 (well, lr / warmupSteps) to lr. */
  warmupSteps: number;
  /** Total optimizer steps; decay ends here. */
  totalSteps: number;
  /** Shape of the decay after warmup. */
  decay: "cosine" | "linear" | "constant";
  /** Floor of the decay as a fraction of lr. */
  minLrRatio: number;
}

/** Learning rate at optimizer step `step` (0-based). */
export function learningRateAt(step: number, s: ScheduleOptions): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.decay === "constant") return s.lr;
  const minLr = s.lr * s.minLrRatio;
  const decaySteps = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, Math.max(0, (step - s.warmupSteps) / decaySteps));
  const coefficient = s.decay === "cosine" ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return minLr + coefficient * (s.lr - minLr);
}

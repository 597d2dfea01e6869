// Tensor building blocks of the trainer's decoder: matrix products with gradients that stay
// on XNNPACK's fast path in the wasm backend, RMSNorm and rotary position embeddings.
//
// Why custom matmul gradients: the wasm backend runs tf.matMul through XNNPACK only when the
// product is a single (batch 1) matrix with neither operand transposed; a transposed operand
// or a batch of matrices falls back to a naive loop about 15x slower. tf.matMul's built-in
// gradient uses transposeA/transposeB products, so on wasm every backward matmul would be slow.
// mm/bmm below compute their gradients with explicit transposes and plain products instead,
// and split batched products into per-matrix ones. Other backends use tf.matMul as is.

import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../model/types";
import { batchedMatMul, wasmViewsAvailable } from "./wasmKernels";

type Input = tf.Tensor | tf.GradSaveFunc;

function useFastPathWorkaround(): boolean {
  return tf.getBackend() === "wasm";
}

/** Cached int32 index tensors [i], for picking one matrix out of a batch with tf.gather. */
const batchIndices: tf.Tensor1D[] = [];
function batchIndex(i: number): tf.Tensor1D {
  while (batchIndices.length <= i) batchIndices.push(tf.keep(tf.tensor1d([batchIndices.length], "int32")));
  return batchIndices[i];
}

/**
 * [batch, m, k] x [batch, k, n] as per-matrix untransposed products (XNNPACK path on wasm).
 * The view kernel of wasmKernels.ts runs them on the inputs' heap memory in one call; where its
 * backend internals are missing, the matrices are picked with gather and the products concatenated.
 */
function batchedProduct(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] === 1) return tf.matMul(a, b);
  if (wasmViewsAvailable()) return batchedMatMul(a, b);
  const products: tf.Tensor3D[] = [];
  for (let i = 0; i < a.shape[0]; i++) products.push(tf.matMul(tf.gather(a, batchIndex(i)), tf.gather(b, batchIndex(i))));
  return tf.concat(products, 0);
}

const transpose2d = (x: tf.Tensor2D): tf.Tensor2D => tf.transpose(x, [1, 0]);
const transpose3d = (x: tf.Tensor3D): tf.Tensor3D => tf.transpose(x, [0, 2, 1]);

const mmWithGrad = tf.customGrad((...args: Input[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      // dA = dY B^T; dB = A^T dY, transposing whichever of A or dY is smaller.
      const da = tf.matMul(dy2, transpose2d(sb));
      const db = sa.shape[1] <= dy2.shape[1] ? tf.matMul(transpose2d(sa), dy2) : transpose2d(tf.matMul(transpose2d(dy2), sa));
      return [da, db];
    },
  };
});

const bmmWithGrad = tf.customGrad((...args: Input[]) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: batchedProduct(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor3D, tf.Tensor3D];
      const dy3 = dy as tf.Tensor3D;
      // dA = dY B^T; dB = A^T dY, transposing whichever of A or dY is smaller (as in mm).
      const da = batchedProduct(dy3, transpose3d(sb));
      const db = sa.shape[2] <= dy3.shape[2] ? batchedProduct(transpose3d(sa), dy3) : transpose3d(batchedProduct(transpose3d(dy3), sa));
      return [da, db];
    },
  };
});

/** a [m, k] x b [k, n] → [m, n], differentiable in both. */
export function mm(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return useFastPathWorkaround() ? (mmWithGrad(a, b) as tf.Tensor2D) : tf.matMul(a, b);
}

/** a [batch, m, k] x b [batch, k, n] → [batch, m, n], differentiable in both. */
export function bmm(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return useFastPathWorkaround() ? (bmmWithGrad(a, b) as tf.Tensor3D) : tf.matMul(a, b);
}

/**
 * a [m, k] x c [k, n] where c is a constant (no gradient wanted for it): the backward pass
 * computes only dA = dY cT, with cT = c^T given precomputed.
 */
export function mmConstant(a: tf.Tensor2D, c: tf.Tensor2D, cT: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: Input[]) => {
    const [x] = args as [tf.Tensor2D];
    return { value: tf.matMul(x, c), gradFunc: (dy: tf.Tensor) => [tf.matMul(dy as tf.Tensor2D, cT)] };
  });
  return f(a) as tf.Tensor2D;
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. x [..., h], weight [h]. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
}

/** inv_freq[i] = theta^(-2i/headDim), with Llama 3.1 ("llama3") band rescaling when configured. */
export function inverseFrequencies(config: ModelConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(config.ropeTheta, (-2 * i) / config.headDim);
  const scaling = config.ropeScaling;
  if (scaling === null) return inv;
  const lowFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
  const highFreqWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowFreqWavelen) {
      inv[i] /= scaling.factor; // long wavelengths: fully interpolated
    } else if (wavelen >= highFreqWavelen) {
      // medium band: blend of interpolated and original frequency
      const smooth = (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
      inv[i] = ((1 - smooth) * inv[i]) / scaling.factor + smooth * inv[i];
    } // short wavelengths keep their frequency
  }
  return inv;
}

/** Rotary tables for positions 0..seqLen-1 plus the rotate_half matrix, kept per length. */
export class RotaryEmbedding {
  private readonly inv: Float64Array;
  private readonly cache = new Map<number, { cos: tf.Tensor3D; sin: tf.Tensor3D }>();
  /** rotate_half(x) = [-x2, x1] = x R, with R [d, d]; and R^T for the backward pass. */
  private readonly rotate: tf.Tensor2D;
  private readonly rotateT: tf.Tensor2D;

  constructor(private readonly headDim: number, config: ModelConfig) {
    this.inv = inverseFrequencies(config);
    const half = headDim / 2;
    const r = new Float32Array(headDim * headDim);
    for (let j = 0; j < half; j++) {
      r[(j + half) * headDim + j] = -1; // out[j] = -x[j + half]
      r[j * headDim + j + half] = 1; // out[j + half] = x[j]
    }
    this.rotate = tf.keep(tf.tensor2d(r, [headDim, headDim]));
    this.rotateT = tf.keep(transpose2d(this.rotate));
  }

  /** cos/sin [seqLen, 1, headDim], broadcast over heads (HF: cat(freqs, freqs)). */
  private tables(seqLen: number): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
    let entry = this.cache.get(seqLen);
    if (!entry) {
      const d = this.headDim;
      const cos = new Float32Array(seqLen * d);
      const sin = new Float32Array(seqLen * d);
      for (let t = 0; t < seqLen; t++) {
        for (let i = 0; i < d; i++) {
          const angle = t * this.inv[i % (d / 2)];
          cos[t * d + i] = Math.cos(angle);
          sin[t * d + i] = Math.sin(angle);
        }
      }
      entry = { cos: tf.keep(tf.tensor3d(cos, [seqLen, 1, d])), sin: tf.keep(tf.tensor3d(sin, [seqLen, 1, d])) };
      this.cache.set(seqLen, entry);
    }
    return entry;
  }

  /** x [batch, seq, heads, headDim] → x cos + rotate_half(x) sin, positions 0..seq-1. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [batch, seq, heads, d] = x.shape;
    const { cos, sin } = this.tables(seq);
    const rotated = mmConstant(tf.reshape(x, [batch * seq * heads, d]), this.rotate, this.rotateT);
    return tf.add(tf.mul(x, cos), tf.mul(tf.reshape(rotated, [batch, seq, heads, d]), sin));
  }

  dispose(): void {
    this.rotate.dispose();
    this.rotateT.dispose();
    for (const { cos, sin } of this.cache.values()) tf.dispose([cos, sin]);
    this.cache.clear();
  }
}

/** Additive causal mask [rows, seq] for `groups` query blocks of seq rows each: 0 or -1e9. */
export function causalMask(seq: number, groups: number): tf.Tensor2D {
  const mask = new Float32Array(groups * seq * seq);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < seq; i++) {
      const row = (g * seq + i) * seq;
      for (let j = i + 1; j < seq; j++) mask[row + j] = -1e9;
    }
  }
  return tf.tensor2d(mask, [groups * seq, seq]);
}

/** The causal masks of one decoder, built once per (sequence length, query groups) and kept. */
export class CausalMasks {
  private readonly masks = new Map<number, tf.Tensor2D>();

  get(seq: number, groups: number): tf.Tensor2D {
    const key = seq * 1024 + groups;
    let mask = this.masks.get(key);
    if (!mask) {
      mask = tf.keep(causalMask(seq, groups));
      this.masks.set(key, mask);
    }
    return mask;
  }

  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}

/**
 * Grouped-query attention on projected, rotated heads: q [b, s, nH, d], k and v [b, s, nKV, d] →
 * [b*s, nH*d], before the output projection. GQA without repeating K/V: the `group` query heads of
 * one KV head are stacked along rows, so every product is one batched [rows, d] x [d, s]. 1/sqrt(d)
 * is folded into q; `keyMask` [b, 1, s] adds key padding where batches are padded.
 */
export function groupedAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, masks: CausalMasks, keyMask: tf.Tensor | null): tf.Tensor2D {
  const [batch, seq, numHeads, d] = q.shape as [number, number, number, number];
  const numKvHeads = k.shape[2] as number;
  const group = numHeads / numKvHeads;
  // q → [b, nKV, group, s, d] → [b*nKV, group*s, d]; k → K^T [b*nKV, d, s]; v → [b*nKV, s, d].
  const qg = tf.reshape(tf.transpose(tf.reshape(tf.mul(q, 1 / Math.sqrt(d)), [batch, seq, numKvHeads, group, d]), [0, 2, 3, 1, 4]), [
    batch * numKvHeads,
    group * seq,
    d,
  ]) as tf.Tensor3D;
  const kt = tf.reshape(tf.transpose(k, [0, 2, 3, 1]), [batch * numKvHeads, d, seq]) as tf.Tensor3D;
  const vg = tf.reshape(tf.transpose(v, [0, 2, 1, 3]), [batch * numKvHeads, seq, d]) as tf.Tensor3D;
  // scores [b*nKV, group*s, s] + causal mask (+ key padding mask [b, 1, s]).
  let scores: tf.Tensor = tf.add(bmm(qg, kt), masks.get(seq, group));
  if (keyMask) scores = tf.reshape(tf.add(tf.reshape(scores, [batch, numKvHeads * group * seq, seq]), keyMask), scores.shape);
  const probs = tf.softmax(scores) as tf.Tensor3D;
  // out [b*nKV, group*s, d] → [b, nKV, group, s, d] → [b*s, nH*d]
  const out = tf.reshape(bmm(probs, vg), [batch, numKvHeads, group, seq, d]);
  return tf.reshape(tf.transpose(out, [0, 3, 1, 2, 4]), [batch * seq, numHeads * d]) as tf.Tensor2D;
}

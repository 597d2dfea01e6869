// Plain-TypeScript reference forward pass of a Llama / Qwen2 decoder in Float64 arithmetic, for
// tiny configs only: the ground truth that the ONNX graph (src/sampler) and the TensorFlow.js
// trainer (src/trainer) are compared against. Written straight from the Hugging Face modelling
// code (RMSNorm, rotate_half RoPE with optional llama3 scaling, GQA, SiLU-gated MLP), with no
// shared code with the implementations it checks.

import type { ModelConfig, WeightMap } from "../../src/model/types";

type Vec = Float64Array;

function weight(weights: WeightMap, name: string, shape: number[]): Float32Array {
  const tensor = weights.get(name);
  if (!tensor) throw new Error(`reference decoder: missing weight ${name}`);
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`reference decoder: ${name} has shape [${tensor.shape}], expected [${shape}]`);
  }
  return tensor.data;
}

function optionalBias(weights: WeightMap, name: string, present: boolean, size: number): Float32Array | null {
  return present ? weight(weights, name, [size]) : null;
}

/** y = x W^T + b for a PyTorch Linear weight W: [out, in]. */
function linear(x: Vec, w: Float32Array, out: number, bias: Float32Array | null): Vec {
  const inDim = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let acc = bias ? bias[o] : 0;
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) acc += x[i] * w[row + i];
    y[o] = acc;
  }
  return y;
}

function rmsNorm(x: Vec, w: Float32Array, eps: number): Vec {
  let meanSquare = 0;
  for (let i = 0; i < x.length; i++) meanSquare += x[i] * x[i];
  meanSquare /= x.length;
  const inv = 1 / Math.sqrt(meanSquare + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * inv * w[i];
  return y;
}

/** inv_freq[i] = theta^(-2i/headDim), rescaled per band when rope_scaling is llama3. */
export function referenceInverseFrequencies(config: ModelConfig): Vec {
  const half = config.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / config.headDim);
  const scaling = config.ropeScaling;
  if (!scaling) return inv;
  const lowWavelen = scaling.originalMaxPositionEmbeddings / scaling.lowFreqFactor;
  const highWavelen = scaling.originalMaxPositionEmbeddings / scaling.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / inv[i];
    if (wavelen > lowWavelen) {
      inv[i] = inv[i] / scaling.factor;
    } else if (wavelen >= highWavelen) {
      const smooth =
        (scaling.originalMaxPositionEmbeddings / wavelen - scaling.lowFreqFactor) /
        (scaling.highFreqFactor - scaling.lowFreqFactor);
      inv[i] = ((1 - smooth) * inv[i]) / scaling.factor + smooth * inv[i];
    }
  }
  return inv;
}

/** In place on one head's slice: x*cos + rotate_half(x)*sin, rotate_half(x) = [-x2, x1]. */
function applyRope(x: Vec, offset: number, headDim: number, position: number, inv: Vec): void {
  const half = headDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * inv[i];
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const x1 = x[offset + i];
    const x2 = x[offset + half + i];
    x[offset + i] = x1 * cos - x2 * sin;
    x[offset + half + i] = x2 * cos + x1 * sin;
  }
}

export interface ReferenceOptions {
  /** Position of each token (default 0..n-1), as the position_ids input of the ONNX graph. */
  positions?: number[];
}

/**
 * Logits at every position of `ids` (causal attention over the whole sequence), one
 * Float32Array [vocab] per position.
 */
export function referenceLogits(
  config: ModelConfig,
  weights: WeightMap,
  ids: number[],
  options: ReferenceOptions = {},
): Float32Array[] {
  const { hiddenSize: h, numHeads, numKvHeads, headDim, intermediateSize: f, vocabSize: v } = config;
  const n = ids.length;
  const positions = options.positions ?? ids.map((_, i) => i);
  const inv = referenceInverseFrequencies(config);
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);

  const embed = weight(weights, "model.embed_tokens.weight", [v, h]);
  // hidden: n vectors of [h]
  let hidden: Vec[] = ids.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= v) throw new Error(`reference decoder: token ${id} out of range`);
    return Float64Array.from(embed.subarray(id * h, (id + 1) * h));
  });

  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    const bias = config.attentionBias;
    const wq = weight(weights, `${p}.self_attn.q_proj.weight`, [numHeads * headDim, h]);
    const wk = weight(weights, `${p}.self_attn.k_proj.weight`, [numKvHeads * headDim, h]);
    const wv = weight(weights, `${p}.self_attn.v_proj.weight`, [numKvHeads * headDim, h]);
    const wo = weight(weights, `${p}.self_attn.o_proj.weight`, [h, numHeads * headDim]);
    const bq = optionalBias(weights, `${p}.self_attn.q_proj.bias`, bias, numHeads * headDim);
    const bk = optionalBias(weights, `${p}.self_attn.k_proj.bias`, bias, numKvHeads * headDim);
    const bv = optionalBias(weights, `${p}.self_attn.v_proj.bias`, bias, numKvHeads * headDim);
    const ln1 = weight(weights, `${p}.input_layernorm.weight`, [h]);
    const ln2 = weight(weights, `${p}.post_attention_layernorm.weight`, [h]);

    // q: n x [numHeads*headDim], k/v: n x [numKvHeads*headDim]
    const normed = hidden.map((x) => rmsNorm(x, ln1, config.rmsNormEps));
    const q = normed.map((x) => linear(x, wq, numHeads * headDim, bq));
    const k = normed.map((x) => linear(x, wk, numKvHeads * headDim, bk));
    const vals = normed.map((x) => linear(x, wv, numKvHeads * headDim, bv));
    for (let t = 0; t < n; t++) {
      for (let head = 0; head < numHeads; head++) applyRope(q[t], head * headDim, headDim, positions[t], inv);
      for (let head = 0; head < numKvHeads; head++) applyRope(k[t], head * headDim, headDim, positions[t], inv);
    }

    const next: Vec[] = [];
    for (let t = 0; t < n; t++) {
      const context = new Float64Array(numHeads * headDim);
      for (let head = 0; head < numHeads; head++) {
        const kvHead = Math.floor(head / group);
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[t][head * headDim + d] * k[s][kvHead * headDim + d];
          scores[s] = dot * scale;
          max = Math.max(max, scores[s]);
        }
        let total = 0;
        for (let s = 0; s <= t; s++) total += scores[s] = Math.exp(scores[s] - max);
        for (let s = 0; s <= t; s++) {
          const weightS = scores[s] / total;
          for (let d = 0; d < headDim; d++) context[head * headDim + d] += weightS * vals[s][kvHead * headDim + d];
        }
      }
      const attn = linear(context, wo, h, null);
      const residual = new Float64Array(h);
      for (let i = 0; i < h; i++) residual[i] = hidden[t][i] + attn[i];
      next.push(residual);
    }
    hidden = next;

    const mb = config.mlpBias;
    const wg = weight(weights, `${p}.mlp.gate_proj.weight`, [f, h]);
    const wu = weight(weights, `${p}.mlp.up_proj.weight`, [f, h]);
    const wd = weight(weights, `${p}.mlp.down_proj.weight`, [h, f]);
    const bg = optionalBias(weights, `${p}.mlp.gate_proj.bias`, mb, f);
    const bu = optionalBias(weights, `${p}.mlp.up_proj.bias`, mb, f);
    const bd = optionalBias(weights, `${p}.mlp.down_proj.bias`, mb, h);
    hidden = hidden.map((x) => {
      const normedX = rmsNorm(x, ln2, config.rmsNormEps);
      const gate = linear(normedX, wg, f, bg);
      const up = linear(normedX, wu, f, bu);
      const act = new Float64Array(f);
      for (let i = 0; i < f; i++) act[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
      const down = linear(act, wd, h, bd);
      const y = new Float64Array(h);
      for (let i = 0; i < h; i++) y[i] = x[i] + down[i];
      return y;
    });
  }

  const finalNorm = weight(weights, "model.norm.weight", [h]);
  const head = config.tieWordEmbeddings ? embed : weight(weights, "lm_head.weight", [v, h]);
  return hidden.map((x) => Float32Array.from(linear(rmsNorm(x, finalNorm, config.rmsNormEps), head, v, null)));
}

/** Greedy continuation by full recomputation: the slow, obviously-right decoding loop. */
export function referenceGreedy(config: ModelConfig, weights: WeightMap, prompt: number[], steps: number): number[] {
  const ids = [...prompt];
  const generated: number[] = [];
  for (let step = 0; step < steps; step++) {
    const logits = referenceLogits(config, weights, ids);
    const last = logits[logits.length - 1];
    let best = 0;
    for (let i = 1; i < last.length; i++) if (last[i] > last[best]) best = i;
    ids.push(best);
    generated.push(best);
  }
  return generated;
}

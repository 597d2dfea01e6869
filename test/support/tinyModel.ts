// Test-only fixtures for the sampler: hand-built tiny Llama / Qwen2 ModelConfigs and seeded
// random WeightMaps in the Hugging Face layout. They stand in for src/model's config parser and
// random initialiser, so the sampler's tests run without a checkpoint on disk.

import type { ModelConfig, RopeScaling, WeightMap } from "../../src/model/types";

export interface TinyConfigOptions {
  architecture?: "llama" | "qwen2";
  vocabSize?: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numLayers?: number;
  numHeads?: number;
  numKvHeads?: number;
  headDim?: number;
  tieWordEmbeddings?: boolean;
  attentionBias?: boolean;
  mlpBias?: boolean;
  ropeTheta?: number;
  ropeScaling?: RopeScaling | null;
  rmsNormEps?: number;
  eosTokenIds?: number[];
}

/** A small decoder config, Llama by default; Qwen2 implies q/k/v biases as in transformers. */
export function tinyConfig(options: TinyConfigOptions = {}): ModelConfig {
  const architecture = options.architecture ?? "llama";
  const hiddenSize = options.hiddenSize ?? 32;
  const numHeads = options.numHeads ?? 4;
  const numKvHeads = options.numKvHeads ?? 2;
  const headDim = options.headDim ?? hiddenSize / numHeads;
  return {
    architecture,
    architectureClass: architecture === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM",
    vocabSize: options.vocabSize ?? 48,
    hiddenSize,
    intermediateSize: options.intermediateSize ?? 64,
    numLayers: options.numLayers ?? 2,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: options.rmsNormEps ?? 1e-6,
    ropeTheta: options.ropeTheta ?? 10000,
    ropeScaling: options.ropeScaling ?? null,
    maxPositionEmbeddings: 2048,
    tieWordEmbeddings: options.tieWordEmbeddings ?? false,
    attentionBias: options.attentionBias ?? architecture === "qwen2",
    mlpBias: options.mlpBias ?? false,
    bosTokenId: 1,
    eosTokenIds: options.eosTokenIds ?? [2],
    padTokenId: null,
    raw: {},
  };
}

/** Llama 3.1-style scaling with a small original context so all three frequency bands occur. */
export const LLAMA3_SCALING: RopeScaling = {
  ropeType: "llama3",
  factor: 8,
  lowFreqFactor: 1,
  highFreqFactor: 4,
  originalMaxPositionEmbeddings: 64,
};

/** Deterministic 32-bit generator (mulberry32) for fixtures; independent of src/sampler/rng. */
export function fixtureRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every weight name with its Hugging Face shape, in a fixed order. */
export function tinyWeightShapes(config: ModelConfig): Array<[string, number[]]> {
  const { hiddenSize: h, numHeads, numKvHeads, headDim, intermediateSize: f, vocabSize: v } = config;
  const shapes: Array<[string, number[]]> = [["model.embed_tokens.weight", [v, h]]];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    shapes.push([`${p}.input_layernorm.weight`, [h]]);
    shapes.push([`${p}.self_attn.q_proj.weight`, [numHeads * headDim, h]]);
    shapes.push([`${p}.self_attn.k_proj.weight`, [numKvHeads * headDim, h]]);
    shapes.push([`${p}.self_attn.v_proj.weight`, [numKvHeads * headDim, h]]);
    if (config.attentionBias) {
      shapes.push([`${p}.self_attn.q_proj.bias`, [numHeads * headDim]]);
      shapes.push([`${p}.self_attn.k_proj.bias`, [numKvHeads * headDim]]);
      shapes.push([`${p}.self_attn.v_proj.bias`, [numKvHeads * headDim]]);
    }
    shapes.push([`${p}.self_attn.o_proj.weight`, [h, numHeads * headDim]]);
    shapes.push([`${p}.post_attention_layernorm.weight`, [h]]);
    shapes.push([`${p}.mlp.gate_proj.weight`, [f, h]]);
    shapes.push([`${p}.mlp.up_proj.weight`, [f, h]]);
    shapes.push([`${p}.mlp.down_proj.weight`, [h, f]]);
    if (config.mlpBias) {
      shapes.push([`${p}.mlp.gate_proj.bias`, [f]]);
      shapes.push([`${p}.mlp.up_proj.bias`, [f]]);
      shapes.push([`${p}.mlp.down_proj.bias`, [h]]);
    }
  }
  shapes.push(["model.norm.weight", [h]]);
  if (!config.tieWordEmbeddings) shapes.push(["lm_head.weight", [v, h]]);
  return shapes;
}

/**
 * Seeded random weights: matrices uniform in ±sqrt(3 / fanIn) * scale (unit-variance outputs),
 * biases small, norm weights around 1 so the RMSNorm scale matters.
 */
export function tinyWeights(config: ModelConfig, seed: number, scale = 1): WeightMap {
  const random = fixtureRandom(seed);
  const weights: WeightMap = new Map();
  for (const [name, shape] of tinyWeightShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (name.endsWith("norm.weight")) {
      for (let i = 0; i < size; i++) data[i] = 0.8 + 0.4 * random();
    } else if (name.endsWith(".bias")) {
      for (let i = 0; i < size; i++) data[i] = (random() - 0.5) * 0.2;
    } else {
      const fanIn = shape[shape.length - 1];
      const bound = Math.sqrt(3 / fanIn) * scale * (name.includes("embed") ? 2 : 1);
      for (let i = 0; i < size; i++) data[i] = (random() * 2 - 1) * bound;
    }
    weights.set(name, { shape: [...shape], data });
  }
  return weights;
}

/** A copy of `weights` with every value moved by a seeded small step, as a training step would. */
export function perturbWeights(weights: WeightMap, seed: number, step = 0.05): WeightMap {
  const random = fixtureRandom(seed);
  const next: WeightMap = new Map();
  for (const [name, tensor] of weights) {
    const data = new Float32Array(tensor.data.length);
    for (let i = 0; i < data.length; i++) data[i] = tensor.data[i] + (random() - 0.5) * 2 * step;
    next.set(name, { shape: [...tensor.shape], data });
  }
  return next;
}

/** Largest absolute elementwise difference between two equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

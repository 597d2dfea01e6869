// The weight tensors a Llama/Qwen2 decoder needs, by Hugging Face name and shape: the
// expected layout for a ModelConfig, a validator that reports every missing, unexpected
// or misshapen tensor at once, and deterministic random weights for tests and demos.

import type { ModelConfig, WeightMap, WeightTensor } from "./types";

/** Buffers some older checkpoints carry that hold no learned parameters; ignored by validation. */
const IGNORABLE_SUFFIXES = [".rotary_emb.inv_freq"];

/** How many names an error lists before summarising the rest as a count. */
const LISTED_NAMES = 5;

/** The product of a shape's dimensions (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

function layerShapes(config: ModelConfig, layer: number): Array<[string, number[]]> {
  const prefix = `model.layers.${layer}`;
  const { hiddenSize: hidden, intermediateSize: inter, headDim } = config;
  const queryWidth = config.numHeads * headDim;
  const keyValueWidth = config.numKvHeads * headDim;
  const shapes: Array<[string, number[]]> = [
    [`${prefix}.input_layernorm.weight`, [hidden]],
    [`${prefix}.self_attn.q_proj.weight`, [queryWidth, hidden]],
    [`${prefix}.self_attn.k_proj.weight`, [keyValueWidth, hidden]],
    [`${prefix}.self_attn.v_proj.weight`, [keyValueWidth, hidden]],
  ];
  if (config.attentionBias) {
    shapes.push(
      [`${prefix}.self_attn.q_proj.bias`, [queryWidth]],
      [`${prefix}.self_attn.k_proj.bias`, [keyValueWidth]],
      [`${prefix}.self_attn.v_proj.bias`, [keyValueWidth]],
    );
  }
  shapes.push(
    [`${prefix}.self_attn.o_proj.weight`, [hidden, queryWidth]],
    [`${prefix}.post_attention_layernorm.weight`, [hidden]],
    [`${prefix}.mlp.gate_proj.weight`, [inter, hidden]],
    [`${prefix}.mlp.up_proj.weight`, [inter, hidden]],
    [`${prefix}.mlp.down_proj.weight`, [hidden, inter]],
  );
  if (config.mlpBias) {
    shapes.push(
      [`${prefix}.mlp.gate_proj.bias`, [inter]],
      [`${prefix}.mlp.up_proj.bias`, [inter]],
      [`${prefix}.mlp.down_proj.bias`, [hidden]],
    );
  }
  return shapes;
}

/** Every tensor the model needs, in checkpoint order, with its [rows, columns] (or [width]) shape. */
export function expectedWeightShapes(config: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  shapes.set("model.embed_tokens.weight", [config.vocabSize, config.hiddenSize]);
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const [name, shape] of layerShapes(config, layer)) {
      shapes.set(name, shape);
    }
  }
  shapes.set("model.norm.weight", [config.hiddenSize]);
  if (!config.tieWordEmbeddings) {
    shapes.set("lm_head.weight", [config.vocabSize, config.hiddenSize]);
  }
  return shapes;
}

/** True for RMSNorm scales, which start at one rather than random. */
export function isNormWeight(name: string): boolean {
  return name.endsWith("layernorm.weight") || name === "model.norm.weight";
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** "a, b, c, d, e and 7 more" */
function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LISTED_NAMES).join(", ");
  const hidden = names.length - LISTED_NAMES;
  return hidden > 0 ? `${shown} and ${hidden} more` : shown;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dimension, i) => dimension === b[i]);
}

/** Human-readable problems with `weights` for `config`; empty when they fit exactly. */
export function weightProblems(config: ModelConfig, weights: WeightMap): string[] {
  const expected = expectedWeightShapes(config);
  const missing = [...expected.keys()].filter((name) => !weights.has(name));
  const unexpected = [...weights.keys()].filter(
    (name) => !expected.has(name) && !IGNORABLE_SUFFIXES.some((suffix) => name.endsWith(suffix)),
  );
  const mismatched: string[] = [];
  for (const [name, tensor] of weights) {
    const shape = expected.get(name);
    if (shape !== undefined && !sameShape(shape, tensor.shape)) {
      mismatched.push(`${name} is ${formatShape(tensor.shape)}, expected ${formatShape(shape)}`);
    } else if (shape !== undefined && tensor.data.length !== elementCount(tensor.shape)) {
      mismatched.push(`${name} holds ${tensor.data.length} values for shape ${formatShape(tensor.shape)}`);
    }
  }
  const problems: string[] = [];
  if (missing.length > 0) {
    problems.push(`${missing.length} missing tensor(s): ${listNames(missing)}`);
  }
  if (unexpected.length > 0) {
    problems.push(`${unexpected.length} unexpected tensor(s): ${listNames(unexpected)}`);
  }
  if (mismatched.length > 0) {
    problems.push(`${mismatched.length} shape mismatch(es): ${listNames(mismatched)}`);
  }
  return problems;
}

/** Throws one Error naming `source` and listing every problem when `weights` do not fit `config`. */
export function validateWeights(config: ModelConfig, weights: WeightMap, source: string): void {
  const problems = weightProblems(config, weights);
  if (problems.length > 0) {
    throw new Error(
      `${source}: weights do not match the ${config.architectureClass} configuration:\n  ${problems.join("\n  ")}`,
    );
  }
}

/** mulberry32: a small, fast 32-bit PRNG; returns uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), state | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples by the Box-Muller transform over `uniform`. */
export function gaussianSampler(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 - u is in (0, 1]: no log(0)
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** FNV-1a hash of a string, to give each tensor its own random stream. */
function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** The seed of one tensor's stream: independent of which other tensors exist. */
function tensorSeed(seed: number, name: string): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ hashName(name)) >>> 0;
}

export interface RandomWeightOptions {
  /** Standard deviation of noise added to the RMSNorm scales (which are otherwise exactly 1). */
  normNoise?: number;
}

/** One tensor filled with `center` + `scale` * N(0, 1), drawn from its own seeded stream. */
function randomTensor(shape: number[], seed: number, center: number, scale: number): WeightTensor {
  const data = new Float32Array(elementCount(shape));
  if (scale !== 0) {
    const gaussian = gaussianSampler(mulberry32(seed));
    for (let i = 0; i < data.length; i++) {
      data[i] = center + scale * gaussian();
    }
  } else {
    data.fill(center);
  }
  return { shape: [...shape], data };
}

/**
 * Deterministic random weights for `config`: N(0, scale²) for matrices and biases, RMSNorm
 * scales at 1 (+ N(0, normNoise²)). Each tensor depends only on (seed, name), so a model
 * with more layers shares its first layers with a smaller one.
 */
export function randomWeights(
  config: ModelConfig,
  seed: number,
  scale = 0.02,
  options: RandomWeightOptions = {},
): WeightMap {
  const weights: WeightMap = new Map();
  for (const [name, shape] of expectedWeightShapes(config)) {
    weights.set(name, randomWeightTensor(name, shape, seed, scale, options));
  }
  return weights;
}

/**
 * The one tensor `name` of randomWeights(config, seed, scale, options), drawn alone, so a large
 * model can be generated and written a tensor at a time (scripts/make-random-model.mjs).
 */
export function randomWeightTensor(
  name: string,
  shape: number[],
  seed: number,
  scale = 0.02,
  options: RandomWeightOptions = {},
): WeightTensor {
  const streamSeed = tensorSeed(seed, name);
  return isNormWeight(name)
    ? randomTensor(shape, streamSeed, 1, options.normNoise ?? 0)
    : randomTensor(shape, streamSeed, 0, scale);
}

// Types shared by the model directory reader (src/model), the ONNX sampler (src/sampler)
// and the TensorFlow.js trainer (src/trainer): a decoder's configuration and its weights,
// named and shaped as in the Hugging Face layout.

export type Architecture = "llama" | "qwen2";

/** A Llama- or Qwen2-family decoder, normalised from config.json. */
export interface ModelConfig {
  architecture: Architecture;
  /** The class named in config.json, e.g. "LlamaForCausalLM". */
  architectureClass: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Key/value heads (GQA); equals numHeads without grouping. */
  numKvHeads: number;
  /** Per-head width: config.head_dim, else hiddenSize / numHeads. */
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Llama 3.1-style rope_scaling ({rope_type: "llama3", ...}) or null; other kinds are refused. */
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  /** q/k/v projections have biases (always for Qwen2; attention_bias for Llama). */
  attentionBias: boolean;
  /** Llama's mlp_bias: gate/up/down projections have biases. */
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The raw config.json object, written back unchanged with saved weights. */
  raw: Record<string, unknown>;
}

export interface RopeScaling {
  ropeType: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Storage dtypes restem reads and writes. */
export type StorageDType = "F32" | "F16" | "BF16";

/** One weight tensor in float32, row-major, named as in Hugging Face checkpoints. */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/** All weights of a model by Hugging Face name (e.g. "model.layers.0.self_attn.q_proj.weight"). */
export type WeightMap = Map<string, WeightTensor>;

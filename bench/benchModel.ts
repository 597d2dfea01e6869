// The model every bench measures: the ~3M-parameter Llama config the issues name
// (hidden 256, 4 layers, 8 heads, 4 KV heads, FFN 704, vocab 512), random weights.
import type { ModelConfig } from "../src/model/types";

export const BENCH_LLAMA: ModelConfig = {
  architecture: "llama",
  architectureClass: "LlamaForCausalLM",
  vocabSize: 512,
  hiddenSize: 256,
  intermediateSize: 704,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 32,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  ropeScaling: null,
  maxPositionEmbeddings: 2048,
  tieWordEmbeddings: false,
  attentionBias: false,
  mlpBias: false,
  bosTokenId: null,
  eosTokenIds: [],
  padTokenId: null,
  raw: {},
  };

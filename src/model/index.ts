// The public API of src/model: Hugging Face model directories for Llama- and Qwen2-family
// decoders (config.json, safetensors weights, tokenizer.json), for the sampler, the trainer
// and the CLI. Import from "src/model" rather than from the individual files.

export type { Architecture, ModelConfig, RopeScaling, StorageDType, WeightMap, WeightTensor } from "./types";
export { loadModelConfig, parseModelConfig, parseRopeScaling, SUPPORTED_ARCHITECTURES } from "./config";
export {
  elementCount,
  expectedWeightShapes,
  gaussianSampler,
  isNormWeight,
  mulberry32,
  randomWeights,
  randomWeightTensor,
  validateWeights,
  weightProblems,
} from "./weights";
export type { RandomWeightOptions } from "./weights";
export {
  bfloat16ToNumber,
  DTYPE_BYTES,
  float16ToNumber,
  numberToBFloat16,
  numberToFloat16,
} from "./dtype";
export {
  parseSafetensorsHeader,
  readSafetensors,
  readSafetensorsHeader,
  writeFileAtomic,
  writeSafetensors,
} from "./safetensors";
export type { SafetensorsContents, SafetensorsEntry, SafetensorsHeader } from "./safetensors";
export {
  loadModelWeights,
  planShards,
  saveModelDirectory,
  saveModelWeights,
  shardFileName,
  SINGLE_WEIGHTS_FILE,
  TOKENIZER_FILES,
  WEIGHTS_INDEX_FILE,
} from "./checkpoint";
export type { SaveModelDirectoryOptions, SaveWeightsOptions, ShardIndex } from "./checkpoint";
export { loadTokenizer } from "./tokenizer";
export type { DecodeOptions, EncodeOptions, ModelTokenizer } from "./tokenizer";
export {
  GENERATION_CONFIG_FILE,
  loadGenerationConfig,
  parseGenerationConfig,
  resolveSpecialTokens,
} from "./generationConfig";
export type {
  ExplicitSpecialTokens,
  GenerationConfig,
  ResolvedSpecialTokens,
  SamplingDefaults,
  SpecialTokenInputs,
} from "./generationConfig";
export {
  CHAT_TEMPLATE_FILE,
  ChatTemplate,
  chatTemplateTextOf,
  endOfTurnTokenId,
  loadChatTemplate,
  specialTokenTextsOf,
  TOKENIZER_CONFIG_FILE,
} from "./chatTemplate";
export type { ChatMessage, ChatRole, ChatTrainingText, RenderOptions, SpecialTokenTexts } from "./chatTemplate";

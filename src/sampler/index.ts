// The public API of src/sampler: export a decoder to ONNX (graph + external weights), open it
// with ONNX Runtime, and sample N completions per prompt with a shared prefill and a KV cache.
// Import from "src/sampler" rather than from the individual files.
//
//   const files = await ensureOnnxModel(modelDir, config, () => loadModelWeights(modelDir));
//   const session = await OnnxDecoderSession.create(files.modelPath, config, { threads: 4 });
//   const { tokens, texts } = await generate(session, tokenizer, promptIds, {
//     numSamples: 8, temperature: 0.7, topP: 0.95, maxNewTokens: 256, stop: ["\n\n\n"], seed: 1,
//   });
//   await session.release();
//
// After a training step, updateOnnxWeights(files.dir, config, newWeights) rewrites only
// model.onnx.data; open a new session to use the new weights.

export { generate, generateWithoutCache } from "./generation";
export type { GenerationOptions, GenerationProgress, GenerationResult, TokenizerLike } from "./generation";
export {
  buildLogitsProcessors,
  LogitsProcessorList,
  MinNewTokensLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
} from "./logitsProcessors";
export type { LogitsProcessor, ProcessorContext, ProcessorOptions } from "./logitsProcessors";
export { deriveSeed, GreedySampler, MultinomialSampler, randomSeed, Rng, softmax } from "./rng";
export type { TokenSampler } from "./rng";
export {
  buildStoppingCriteria,
  EosTokenCriteria,
  MaxNewTokensCriteria,
  StoppingCriteriaList,
  StopStringCriteria,
} from "./stopping";
export type { FinishReason, SequenceState, StopDecision, StoppingCriterion, StoppingOptions } from "./stopping";
export {
  argmaxRow,
  emptyKvCache,
  leftPadBatch,
  logitsAt,
  onesMask,
  positionRange,
  selectKvRows,
  tileKvCache,
} from "./kvCache";
export type { DecoderDims, KvCache } from "./kvCache";
export {
  checkpointStamp,
  ensureOnnxModel,
  isOnnxExportCurrent,
  MANIFEST_FILE,
  ONNX_MODEL_FILE,
  onnxCacheDir,
  onnxConfigKey,
  onnxModelFiles,
  onnxWeightsStamp,
  updateOnnxWeights,
  writeOnnxModel,
} from "./onnxExport";
export type { EnsureOnnxOptions, OnnxModelFiles, WriteOptions } from "./onnxExport";
export {
  buildDecoderGraph,
  EXTERNAL_DATA_FILE,
  GRAPH_FORMAT_VERSION,
  ONNX_OPSET,
  pastKeyName,
  pastValueName,
  presentKeyName,
  presentValueName,
  ropeInverseFrequencies,
  weightLayout,
} from "./onnxGraph";
export type { LayoutEntry, WeightLayout } from "./onnxGraph";
export { cudaAvailability, OnnxDecoderSession, withDecoderSession } from "./session";
export type { DecoderInputs, DecoderOutputs, DecoderRunner, ExecutionProvider, SessionOptions } from "./session";

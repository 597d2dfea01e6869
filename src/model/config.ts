// Reads a Hugging Face config.json for a Llama- or Qwen2-family decoder into restem's
// normalised ModelConfig, applying the transformers defaults and refusing, with a message
// naming the file and the field, anything the sampler and trainer would get wrong.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Architecture, ModelConfig, RopeScaling } from "./types";

/** The config.json classes restem understands, by architecture. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  LlamaForCausalLM: "llama",
  Qwen2ForCausalLM: "qwen2",
};

const CLASS_BY_MODEL_TYPE: Readonly<Record<Architecture, string>> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
};

/** transformers' defaults for fields real configs sometimes leave out. */
const DEFAULT_MAX_POSITIONS: Readonly<Record<Architecture, number>> = { llama: 2048, qwen2: 32768 };
const DEFAULT_RMS_NORM_EPS = 1e-6;
const DEFAULT_ROPE_THETA = 10000;

type JsonObject = Record<string, unknown>;

/** Where a value came from, so every error names the file and the field. */
interface FieldContext {
  file: string;
  raw: JsonObject;
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function fieldError(context: FieldContext, field: string, problem: string): Error {
  return new Error(`${context.file}: "${field}" ${problem}`);
}

function describe(value: unknown): string {
  return value === undefined ? "missing" : JSON.stringify(value);
}

/** A required (or defaulted) integer >= `minimum`. */
function readInteger(context: FieldContext, field: string, minimum: number, fallback?: number): number {
  const value = context.raw[field] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < minimum) {
    const wanted = minimum === 1 ? "a positive integer" : `an integer >= ${minimum}`;
    throw fieldError(context, field, `must be ${wanted} (got ${describe(context.raw[field])})`);
  }
  return value;
}

/** A positive finite number, defaulted when absent or null. */
function readPositiveNumber(context: FieldContext, field: string, fallback: number): number {
  const value = context.raw[field] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw fieldError(context, field, `must be a positive number (got ${describe(context.raw[field])})`);
  }
  return value;
}

function readBoolean(context: FieldContext, field: string, fallback: boolean): boolean {
  const value = context.raw[field] ?? fallback;
  if (typeof value !== "boolean") {
    throw fieldError(context, field, `must be true or false (got ${describe(context.raw[field])})`);
  }
  return value;
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** A token id or null (absent). */
function readOptionalTokenId(context: FieldContext, field: string): number | null {
  const value = context.raw[field];
  if (value === undefined || value === null) {
    return null;
  }
  if (!isTokenId(value)) {
    throw fieldError(context, field, `must be a non-negative integer token id or null (got ${describe(value)})`);
  }
  return value;
}

/** eos_token_id: a token id, a list of them, or absent. */
function readTokenIdList(context: FieldContext, field: string): number[] {
  const value = context.raw[field];
  if (value === undefined || value === null) {
    return [];
  }
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every(isTokenId)) {
    throw fieldError(context, field, `must be a token id or a list of token ids (got ${describe(value)})`);
  }
  return [...new Set(ids)];
}

/** The architecture from architectures[0], falling back to model_type. */
export function resolveArchitecture(raw: JsonObject, file: string): { architecture: Architecture; architectureClass: string } {
  const supportedList = Object.keys(SUPPORTED_ARCHITECTURES).join(", ");
  const classes = raw["architectures"];
  if (Array.isArray(classes) && classes.length > 0) {
    const architectureClass = classes[0];
    const architecture = typeof architectureClass === "string" ? SUPPORTED_ARCHITECTURES[architectureClass] : undefined;
    if (typeof architectureClass !== "string" || architecture === undefined) {
      throw new Error(
        `${file}: architecture ${describe(architectureClass)} is not supported; restem reads ${supportedList}`,
      );
    }
    return { architecture, architectureClass };
  }
  const modelType = raw["model_type"];
  if (modelType === "llama" || modelType === "qwen2") {
    return { architecture: modelType, architectureClass: CLASS_BY_MODEL_TYPE[modelType] };
  }
  throw new Error(
    `${file}: no "architectures" and model_type ${describe(modelType)} is not supported; ` +
      `restem reads ${supportedList} (model_type "llama" or "qwen2")`,
  );
}

/** rope_scaling: null, {rope_type: "default"} (no scaling) or Llama 3.1's {rope_type: "llama3", ...}. */
export function parseRopeScaling(value: unknown, file: string): RopeScaling | null {
  if (value === undefined || value === null) {
    return null;
  }
  if (!isJsonObject(value)) {
    throw new Error(`${file}: "rope_scaling" must be an object or null (got ${describe(value)})`);
  }
  const context: FieldContext = { file: `${file}: rope_scaling`, raw: value };
  const kind = value["rope_type"] ?? value["type"];
  if (kind === "default") {
    return null;
  }
  if (kind !== "llama3") {
    throw new Error(`${file}: "rope_scaling" type ${describe(kind)} is unsupported; restem supports only "llama3"`);
  }
  const scaling: RopeScaling = {
    ropeType: "llama3",
    factor: readPositiveNumber(context, "factor", Number.NaN),
    lowFreqFactor: readPositiveNumber(context, "low_freq_factor", Number.NaN),
    highFreqFactor: readPositiveNumber(context, "high_freq_factor", Number.NaN),
    originalMaxPositionEmbeddings: readInteger(context, "original_max_position_embeddings", 1),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    throw new Error(
      `${file}: "rope_scaling" needs high_freq_factor > low_freq_factor ` +
        `(got ${scaling.highFreqFactor} and ${scaling.lowFreqFactor})`,
    );
  }
  return scaling;
}

/** Attention geometry: heads, kv heads and head width, cross-checked against hidden_size. */
function readAttentionShape(context: FieldContext, hiddenSize: number): { numHeads: number; numKvHeads: number; headDim: number } {
  const numHeads = readInteger(context, "num_attention_heads", 1);
  const numKvHeads = readInteger(context, "num_key_value_heads", 1, numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw fieldError(
      context,
      "num_key_value_heads",
      `(${numKvHeads}) must divide num_attention_heads (${numHeads})`,
    );
  }
  if (context.raw["head_dim"] !== undefined && context.raw["head_dim"] !== null) {
    return { numHeads, numKvHeads, headDim: readInteger(context, "head_dim", 1) };
  }
  if (hiddenSize % numHeads !== 0) {
    throw fieldError(
      context,
      "hidden_size",
      `(${hiddenSize}) must be a multiple of num_attention_heads (${numHeads}) when head_dim is not given`,
    );
  }
  return { numHeads, numKvHeads, headDim: hiddenSize / numHeads };
}

/** Features restem's sampler and trainer do not implement, refused rather than silently ignored. */
function refuseUnsupportedFeatures(context: FieldContext): void {
  const activation = context.raw["hidden_act"];
  if (activation !== undefined && activation !== "silu") {
    throw fieldError(context, "hidden_act", `${describe(activation)} is unsupported; restem supports only "silu"`);
  }
  if (context.raw["use_sliding_window"] === true) {
    throw fieldError(context, "use_sliding_window", "true is unsupported; restem uses full attention");
  }
}

/** Bias flags: Qwen2 always has q/k/v biases and no MLP biases; Llama reads both flags. */
function readBiases(context: FieldContext, architecture: Architecture): { attentionBias: boolean; mlpBias: boolean } {
  if (architecture === "qwen2") {
    return { attentionBias: true, mlpBias: false };
  }
  return {
    attentionBias: readBoolean(context, "attention_bias", false),
    mlpBias: readBoolean(context, "mlp_bias", false),
  };
}

/** Normalises a parsed config.json; `file` names it in every error. */
export function parseModelConfig(json: unknown, file: string): ModelConfig {
  if (!isJsonObject(json)) {
    throw new Error(`${file}: expected a JSON object (got ${Array.isArray(json) ? "an array" : describe(json)})`);
  }
  const context: FieldContext = { file, raw: json };
  const { architecture, architectureClass } = resolveArchitecture(json, file);
  refuseUnsupportedFeatures(context);
  const hiddenSize = readInteger(context, "hidden_size", 1);
  return {
    architecture,
    architectureClass,
    vocabSize: readInteger(context, "vocab_size", 1),
    hiddenSize,
    intermediateSize: readInteger(context, "intermediate_size", 1),
    numLayers: readInteger(context, "num_hidden_layers", 1),
    ...readAttentionShape(context, hiddenSize),
    rmsNormEps: readPositiveNumber(context, "rms_norm_eps", DEFAULT_RMS_NORM_EPS),
    ropeTheta: readPositiveNumber(context, "rope_theta", DEFAULT_ROPE_THETA),
    ropeScaling: parseRopeScaling(json["rope_scaling"], file),
    maxPositionEmbeddings: readInteger(context, "max_position_embeddings", 1, DEFAULT_MAX_POSITIONS[architecture]),
    tieWordEmbeddings: readBoolean(context, "tie_word_embeddings", false),
    ...readBiases(context, architecture),
    bosTokenId: readOptionalTokenId(context, "bos_token_id"),
    eosTokenIds: readTokenIdList(context, "eos_token_id"),
    padTokenId: readOptionalTokenId(context, "pad_token_id"),
    raw: json,
  };
}

/** Reads and normalises `dir`/config.json. */
export async function loadModelConfig(dir: string): Promise<ModelConfig> {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new Error(`${file}: cannot read the model configuration (${(error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseModelConfig(json, file);
}

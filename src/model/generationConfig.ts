// Reads a model directory's generation_config.json (the checkpoint's own generation
// defaults: end-of-sequence ids, padding and beginning-of-sequence ids, sampling defaults)
// and resolves the special ids restem generates and trains with, by one documented
// precedence: restem's explicit settings > generation_config.json > config.json >
// tokenizer_config.json's token texts. Every malformed field is an error naming the file
// and the field; nothing malformed is silently skipped. See docs/model-files.md.

import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";

export const GENERATION_CONFIG_FILE = "generation_config.json";

/** The sampling defaults a checkpoint ships; each is undefined when the file leaves it out. */
export interface SamplingDefaults {
  doSample?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
}

/** generation_config.json, normalised. `undefined` means "the file does not say". */
export interface GenerationConfig {
  /** The file it came from, for messages and the run's record. */
  file: string;
  /** eos_token_id as a deduplicated list (a single id becomes a one-element list). */
  eosTokenIds?: number[];
  /** pad_token_id; null when the file sets it to null. */
  padTokenId?: number | null;
  /** bos_token_id; null when the file sets it to null. */
  bosTokenId?: number | null;
  sampling: SamplingDefaults;
}

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function fieldError(file: string, field: string, wanted: string, value: unknown): Error {
  return new Error(`${file}: "${field}" must be ${wanted} (got ${JSON.stringify(value)})`);
}

function readIdList(raw: JsonObject, file: string, field: string): number[] | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  const ids = Array.isArray(value) ? value : [value];
  if (ids.length === 0 || !ids.every(isTokenId)) {
    throw fieldError(file, field, "a token id or a non-empty list of token ids", value);
  }
  return [...new Set(ids)];
}

function readOptionalId(raw: JsonObject, file: string, field: string): number | null | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return value as undefined | null;
  if (!isTokenId(value)) throw fieldError(file, field, "a non-negative integer token id or null", value);
  return value;
}

function readNumber(raw: JsonObject, file: string, field: string, ok: (n: number) => boolean, wanted: string): number | undefined {
  const value = raw[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) throw fieldError(file, field, wanted, value);
  return value;
}

function readSampling(raw: JsonObject, file: string): SamplingDefaults {
  const sampling: SamplingDefaults = {};
  const doSample = raw["do_sample"];
  if (doSample !== undefined && doSample !== null) {
    if (typeof doSample !== "boolean") throw fieldError(file, "do_sample", "true or false", doSample);
    sampling.doSample = doSample;
  }
  const temperature = readNumber(raw, file, "temperature", (n) => n >= 0, "a number >= 0");
  const topP = readNumber(raw, file, "top_p", (n) => n > 0 && n <= 1, "a number in (0, 1]");
  const topK = readNumber(raw, file, "top_k", (n) => Number.isInteger(n) && n >= 0, "an integer >= 0");
  const maxNewTokens = readNumber(raw, file, "max_new_tokens", (n) => Number.isInteger(n) && n >= 1, "a positive integer");
  const repetitionPenalty = readNumber(raw, file, "repetition_penalty", (n) => n > 0, "a positive number");
  if (temperature !== undefined) sampling.temperature = temperature;
  if (topP !== undefined) sampling.topP = topP;
  if (topK !== undefined) sampling.topK = topK;
  if (maxNewTokens !== undefined) sampling.maxNewTokens = maxNewTokens;
  if (repetitionPenalty !== undefined) sampling.repetitionPenalty = repetitionPenalty;
  return sampling;
}

/** Normalises a parsed generation_config.json; `file` names it in every error. */
export function parseGenerationConfig(json: unknown, file: string): GenerationConfig {
  if (!isJsonObject(json)) {
    throw new Error(`${file}: expected a JSON object (got ${Array.isArray(json) ? "an array" : JSON.stringify(json)})`);
  }
  const config: GenerationConfig = { file, sampling: readSampling(json, file) };
  const eos = readIdList(json, file, "eos_token_id");
  const pad = readOptionalId(json, file, "pad_token_id");
  const bos = readOptionalId(json, file, "bos_token_id");
  if (eos !== undefined) config.eosTokenIds = eos;
  if (pad !== undefined) config.padTokenId = pad;
  if (bos !== undefined) config.bosTokenId = bos;
  return config;
}

/** Reads `dir`/generation_config.json; null when the directory has none. */
export async function loadGenerationConfig(dir: string): Promise<GenerationConfig | null> {
  const file = path.join(dir, GENERATION_CONFIG_FILE);
  if (!existsSync(file)) return null;
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseGenerationConfig(json, file);
}

/** What restem's own configuration says; undefined = not set by the user. */
export interface ExplicitSpecialTokens {
  eosTokenIds?: readonly number[];
  padTokenId?: number;
  bosTokenId?: number | null;
}

/** The special ids from config.json (ModelConfig's fields) and tokenizer_config.json's texts. */
export interface SpecialTokenInputs {
  explicit?: ExplicitSpecialTokens;
  generationConfig: GenerationConfig | null;
  modelConfig: { eosTokenIds: readonly number[]; padTokenId: number | null; bosTokenId: number | null } | null;
  /** tokenizer_config.json's eos_token / pad_token / bos_token, already mapped to ids. */
  tokenizerConfigIds?: { eos?: number; pad?: number; bos?: number };
  /** Extra stop ids, e.g. the chat template's end-of-turn token; appended to the EOS list. */
  extraStopIds?: readonly number[];
}

/** The special ids a run uses, each with where it came from (recorded in the run's config). */
export interface ResolvedSpecialTokens {
  eosTokenIds: number[];
  padTokenId: number | null;
  bosTokenId: number | null;
  sources: { eos: string[]; pad: string; bos: string };
}

/** The first defined candidate, with its source label; null/"none" when none is. */
function firstOf<T>(candidates: ReadonlyArray<[T | null | undefined, string]>): [T | null, string] {
  for (const [value, source] of candidates) if (value !== undefined && value !== null) return [value, source];
  return [null, "none"];
}

/**
 * Resolves EOS, padding and BOS ids. EOS: restem's explicit list replaces everything; otherwise
 * the union, in order, of generation_config.json, config.json, tokenizer_config.json's eos_token
 * and `extraStopIds`. Padding and BOS: the first source that names one, in the same order; padding
 * falls back to the first EOS id (as transformers does when generating).
 */
export function resolveSpecialTokens(inputs: SpecialTokenInputs): ResolvedSpecialTokens {
  const { explicit, generationConfig: generation, modelConfig: model, tokenizerConfigIds: texts } = inputs;
  let eos: number[];
  let eosSources: string[];
  if (explicit?.eosTokenIds !== undefined && explicit.eosTokenIds.length > 0) {
    eos = [...new Set(explicit.eosTokenIds)];
    eosSources = ["restem settings"];
  } else {
    const lists: Array<[readonly number[] | undefined, string]> = [
      [generation?.eosTokenIds, `${GENERATION_CONFIG_FILE} eos_token_id`],
      [model?.eosTokenIds, "config.json eos_token_id"],
      [texts?.eos === undefined ? undefined : [texts.eos], "tokenizer_config.json eos_token"],
      [inputs.extraStopIds, "chat template end of turn"],
    ];
    eos = [];
    eosSources = [];
    for (const [ids, source] of lists) {
      const fresh = (ids ?? []).filter((id) => !eos.includes(id));
      if (fresh.length > 0) {
        eos.push(...fresh);
        eosSources.push(source);
      }
    }
  }
  const [bos, bosSource] =
    explicit?.bosTokenId !== undefined
      ? [explicit.bosTokenId, "restem settings"]
      : firstOf<number>([
          [generation?.bosTokenId, `${GENERATION_CONFIG_FILE} bos_token_id`],
          [model?.bosTokenId, "config.json bos_token_id"],
          [texts?.bos, "tokenizer_config.json bos_token"],
        ]);
  const [pad, padSource] = firstOf<number>([
    [explicit?.padTokenId, "restem settings"],
    [generation?.padTokenId, `${GENERATION_CONFIG_FILE} pad_token_id`],
    [model?.padTokenId, "config.json pad_token_id"],
    [texts?.pad, "tokenizer_config.json pad_token"],
    [eos[0], "first eos id"],
  ]);
  return { eosTokenIds: eos, padTokenId: pad, bosTokenId: bos, sources: { eos: eosSources, pad: padSource, bos: bosSource } };
}

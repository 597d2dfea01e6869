// Loads a model directory's Hugging Face "fast" tokenizer (tokenizer.json) through the
// official `tokenizers` bindings and wraps it in the small interface the sampler and the
// trainer need, with end-of-sequence, beginning-of-sequence and padding ids gathered from
// generation_config.json, config.json and tokenizer_config.json (precedence in
// generationConfig.ts resolveSpecialTokens and docs/model-files.md).

import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import type { Decoder, Tokenizer } from "tokenizers";
import { specialTokenTextsOf, type SpecialTokenTexts } from "./chatTemplate";
import { GENERATION_CONFIG_FILE, parseGenerationConfig, resolveSpecialTokens, type GenerationConfig, type ResolvedSpecialTokens } from "./generationConfig";

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor (e.g. prepend BOS). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked special in tokenizer.json (e.g. <|endoftext|>). Default false. */
  skipSpecialTokens?: boolean;
}

export interface ModelTokenizer {
  /** Token ids of `text`. Asynchronous because the bindings only encode asynchronously. */
  encode(text: string, options?: EncodeOptions): Promise<number[]>;
  /** Text of `ids`, through the tokenizer's own decoder (synchronous). Unknown ids are dropped. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** Size of the vocabulary including added tokens. */
  vocabSize: number;
  /** Every id that ends generation, deduplicated (may be empty). */
  eosTokenIds: number[];
  bosTokenId: number | null;
  /** Padding id: the first source naming one, else the first EOS id, else null. */
  padTokenId: number | null;
  /** Which file each special id came from, for the record. */
  specialTokenSources: ResolvedSpecialTokens["sources"];
  /** Ids of added tokens marked special in tokenizer.json. */
  specialTokenIds: ReadonlySet<number>;
}

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An optional JSON file next to the tokenizer; null when absent. */
async function readOptionalJson(file: string): Promise<JsonObject | null> {
  if (!existsSync(file)) {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(json)) {
    throw new Error(`${file}: expected a JSON object`);
  }
  return json;
}

/** The ids of tokenizer.json's added tokens that are marked special. */
export function specialTokenIdsOf(tokenizerJson: JsonObject): Set<number> {
  const added = tokenizerJson["added_tokens"];
  const ids = new Set<number>();
  if (Array.isArray(added)) {
    for (const token of added) {
      if (isJsonObject(token) && token["special"] === true && typeof token["id"] === "number") {
        ids.add(token["id"]);
      }
    }
  }
  return ids;
}

/** A config.json *_token_id field (a number, a list of numbers, or absent); loadModelConfig checks it strictly. */
function idsFromField(value: unknown): number[] {
  const values = Array.isArray(value) ? value : [value];
  return values.filter((item): item is number => typeof item === "number" && Number.isInteger(item) && item >= 0);
}

/** The files that may name special ids; any may be null. */
export interface SpecialTokenSources {
  generationConfig: GenerationConfig | null;
  modelConfig: JsonObject | null;
  tokenizerConfig: SpecialTokenTexts | null;
}

/** The special ids by the precedence of resolveSpecialTokens (docs/model-files.md). */
export function specialTokensOf(sources: SpecialTokenSources, tokenToId: (token: string) => number | undefined): ResolvedSpecialTokens {
  const model = sources.modelConfig;
  const texts = sources.tokenizerConfig;
  const idOf = (text: string | null | undefined): number | undefined => (text === null || text === undefined ? undefined : tokenToId(text));
  return resolveSpecialTokens({
    generationConfig: sources.generationConfig,
    modelConfig:
      model === null
        ? null
        : {
            eosTokenIds: idsFromField(model["eos_token_id"]),
            padTokenId: idsFromField(model["pad_token_id"])[0] ?? null,
            bosTokenId: idsFromField(model["bos_token_id"])[0] ?? null,
          },
    tokenizerConfigIds: { eos: idOf(texts?.eos_token), pad: idOf(texts?.pad_token), bos: idOf(texts?.bos_token) },
  });
}

/** Reads and checks tokenizer.json's JSON, then has the bindings load it. */
async function loadNativeTokenizer(file: string): Promise<{ native: Tokenizer; json: JsonObject }> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new Error(`${file}: cannot read the tokenizer (${(error as Error).message}); restem needs a Hugging Face tokenizer.json`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: malformed tokenizer.json, not valid JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(json) || !isJsonObject(json["model"])) {
    throw new Error(`${file}: malformed tokenizer.json (no "model" object)`);
  }
  // Loaded on first use, so reading configs and weights never needs the native binding.
  const { Tokenizer: NativeTokenizer } = await import("tokenizers");
  try {
    return { native: NativeTokenizer.fromFile(file), json };
  } catch (error) {
    throw new Error(`${file}: malformed tokenizer.json, the tokenizers library refused it (${(error as Error).message})`);
  }
}

/** Builds the interface around a loaded native tokenizer. */
function wrapTokenizer(native: Tokenizer, specialTokenIds: Set<number>, sources: SpecialTokenSources): ModelTokenizer {
  const decoder: Decoder | null = native.getDecoder();
  const tokenToId = (token: string): number | undefined => native.tokenToId(token) ?? undefined;
  const idToToken = (id: number): string | undefined =>
    Number.isInteger(id) && id >= 0 ? native.idToToken(id) ?? undefined : undefined;
  const special = specialTokensOf(sources, tokenToId);
  return {
    async encode(text: string, options: EncodeOptions = {}): Promise<number[]> {
      const encoding = await native.encode(text, null, { addSpecialTokens: options.addSpecialTokens ?? true });
      return encoding.getIds();
    },
    decode(ids: readonly number[], options: DecodeOptions = {}): string {
      const skip = options.skipSpecialTokens ?? false;
      const tokens: string[] = [];
      for (const id of ids) {
        const token = idToToken(id);
        if (token !== undefined && !(skip && specialTokenIds.has(id))) {
          tokens.push(token);
        }
      }
      return decoder === null ? tokens.join(" ") : decoder.decode(tokens);
    },
    tokenToId,
    idToToken,
    vocabSize: native.getVocabSize(true),
    eosTokenIds: special.eosTokenIds,
    bosTokenId: special.bosTokenId,
    padTokenId: special.padTokenId,
    specialTokenSources: special.sources,
    specialTokenIds,
  };
}

/** Loads `dir`/tokenizer.json and the special-token ids named by the directory's configs. */
export async function loadTokenizer(dir: string): Promise<ModelTokenizer> {
  const file = path.join(dir, "tokenizer.json");
  if (!existsSync(file)) {
    throw new Error(`${dir}: no tokenizer.json (restem needs a Hugging Face "fast" tokenizer file)`);
  }
  const { native, json } = await loadNativeTokenizer(file);
  // generation_config.json and tokenizer_config.json are checked strictly: a malformed id or
  // token is an error naming the file and the field, never skipped.
  const generationFile = path.join(dir, GENERATION_CONFIG_FILE);
  const generationJson = await readOptionalJson(generationFile);
  const tokenizerConfigFile = path.join(dir, "tokenizer_config.json");
  const tokenizerConfig = await readOptionalJson(tokenizerConfigFile);
  const sources: SpecialTokenSources = {
    generationConfig: generationJson === null ? null : parseGenerationConfig(generationJson, generationFile),
    modelConfig: await readOptionalJson(path.join(dir, "config.json")),
    tokenizerConfig: tokenizerConfig === null ? null : specialTokenTextsOf(tokenizerConfig, tokenizerConfigFile),
  };
  return wrapTokenizer(native, specialTokenIdsOf(json), sources);
}

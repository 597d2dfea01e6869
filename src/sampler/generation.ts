// Batched sampling of N completions of one prompt with a KV cache, put together from parts:
// logits processors (logitsProcessors.ts), a token sampler with per-sample seeded streams
// (rng.ts) and stopping criteria (stopping.ts).
//
//   prefill:  input_ids [1, promptLen] -> logits [1, promptLen, vocab], cache [1, kv, promptLen, d]
//   tile:     cache -> [N, kv, promptLen, d]       (the prompt is run once for all N samples)
//   decode:   input_ids [A, 1] + cache [A, kv, len, d] -> logits [A, 1, vocab], cache len + 1
//
// where A is the number of samples still generating: finished rows leave the batch (their cache
// rows are dropped), so late steps cost only what the unfinished samples need.

import { type KvCache, onesMask, positionRange, selectKvRows, tileKvCache } from "./kvCache";
import { buildLogitsProcessors } from "./logitsProcessors";
import { deriveSeed, GreedySampler, MultinomialSampler, randomSeed, Rng, type TokenSampler } from "./rng";
import { type DecoderRunner, wholeSequenceInputs } from "./session";
import { buildStoppingCriteria, EosTokenCriteria, type FinishReason } from "./stopping";

/** The part of a tokenizer generation needs; src/model's tokenizer satisfies it. */
export interface TokenizerLike {
  decode(ids: readonly number[]): string;
  readonly eosTokenIds: readonly number[];
}

export interface GenerationProgress {
  /** Decoding steps done (the first token of every sample is step 1). */
  step: number;
  /** Samples still generating. */
  active: number;
  /** Tokens generated so far over all samples. */
  generatedTokens: number;
  numSamples: number;
}

export interface GenerationOptions {
  /** Completions of the prompt (default 1). */
  numSamples?: number;
  /** 0 = greedy; default 1. */
  temperature?: number;
  /** 0 = off (default). */
  topK?: number;
  /** 1 = off (default). */
  topP?: number;
  repetitionPenalty?: number;
  /** Default 256. */
  maxNewTokens?: number;
  minNewTokens?: number;
  /** Stop strings: a sample ends when its text contains one; the text is cut before it. */
  stop?: string[];
  /** EOS ids (default: the tokenizer's). */
  eosTokenIds?: readonly number[];
  /** Run seed (default: random, reported in the result). */
  seed?: number;
  /**
   * Random stream of the first sample (default 0): sample i draws from stream offset + i, so a
   * run split into chunks of samples reproduces the unsplit run. onToken reports offset + i.
   */
  sampleIndexOffset?: number;
  /** Called for every generated token with the sample's text so far (decoded only when set). */
  onToken?: (sampleIndex: number, tokenId: number, textSoFar: string) => void;
  onProgress?: (progress: GenerationProgress) => void;
}

export interface GenerationResult {
  /** Generated ids per sample (a final EOS token included, as transformers does). */
  tokens: number[][];
  /** Decoded text per sample: EOS excluded, cut before a stop string. */
  texts: string[];
  finishReasons: FinishReason[];
  seed: number;
  /** Decoder runs this call made (1 prefill + decode steps). */
  forwardRuns: number;
  generatedTokens: number;
}

interface Row {
  sample: number;
  tokens: number[];
  text: string;
  rng: Rng;
}

/** Generates `numSamples` completions of `promptIds` sharing one prefill; see the file header. */
export async function generate(
  runner: DecoderRunner,
  tokenizer: TokenizerLike,
  promptIds: number[],
  options: GenerationOptions = {},
): Promise<GenerationResult> {
  const numSamples = options.numSamples ?? 1;
  const maxNewTokens = options.maxNewTokens ?? 256;
  const temperature = options.temperature ?? 1;
  const eosTokenIds = options.eosTokenIds ?? tokenizer.eosTokenIds;
  const seed = options.seed ?? randomSeed();
  const sampleIndexOffset = options.sampleIndexOffset ?? 0;
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new Error(`numSamples must be a positive integer, got ${numSamples}`);
  if (promptIds.length === 0) throw new Error("the prompt has no tokens");
  const { vocabSize } = runner.dims;
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`prompt token ${id} is outside the vocabulary (${vocabSize})`);
  }

  const processors = buildLogitsProcessors({
    temperature,
    topK: options.topK,
    topP: options.topP,
    repetitionPenalty: options.repetitionPenalty,
    minNewTokens: options.minNewTokens,
    eosTokenIds,
  });
  const sampler: TokenSampler = temperature === 0 ? new GreedySampler() : new MultinomialSampler();
  const criteria = buildStoppingCriteria({ maxNewTokens, eosTokenIds, stop: options.stop });
  const eos = new EosTokenCriteria(eosTokenIds);
  const needsText = criteria.needsText || options.onToken !== undefined;
  const decodeText = (tokens: number[]): string => tokenizer.decode(eos.isEos(tokens[tokens.length - 1]) ? tokens.slice(0, -1) : tokens);

  const result: GenerationResult = {
    tokens: Array.from({ length: numSamples }, () => []),
    texts: new Array<string>(numSamples).fill(""),
    finishReasons: new Array<FinishReason>(numSamples).fill("length"),
    seed,
    forwardRuns: 0,
    generatedTokens: 0,
  };

  // Prefill once, batch 1: logits [1, promptLen, vocab], cache [1, kv, promptLen, d].
  const promptLen = promptIds.length;
  const prefill = await runner.forward(wholeSequenceInputs(promptIds));
  result.forwardRuns++;
  const promptLogits = prefill.logits.subarray((promptLen - 1) * vocabSize, promptLen * vocabSize); // [vocab]
  let cache: KvCache = tileKvCache(prefill.present, runner.dims, numSamples); // [N, kv, promptLen, d]
  let stepLogits: Float32Array | null = null; // [A, 1, vocab] after the first decode run

  let rows: Row[] = Array.from({ length: numSamples }, (_, sample) => ({
    sample,
    tokens: [],
    text: "",
    rng: new Rng(deriveSeed(seed, sampleIndexOffset + sample)),
  }));

  for (let step = 1; rows.length > 0; step++) {
    // Pick one token per active row from its logits row.
    const keep: number[] = [];
    const surviving: Row[] = [];
    rows.forEach((row, index) => {
      const logits = stepLogits ? stepLogits.slice(index * vocabSize, (index + 1) * vocabSize) : promptLogits.slice();
      if (processors.length > 0) processors.process(logits, { inputIds: [...promptIds, ...row.tokens], generatedCount: row.tokens.length });
      const token = sampler.sample(logits, row.rng);
      row.tokens.push(token);
      result.generatedTokens++;
      if (needsText) row.text = decodeText(row.tokens);
      const decision = criteria.check({ tokens: row.tokens, text: row.text });
      const text = decision?.text ?? row.text;
      options.onToken?.(sampleIndexOffset + row.sample, token, text);
      if (decision) {
        result.tokens[row.sample] = row.tokens;
        result.texts[row.sample] = decision.text ?? (needsText ? row.text : decodeText(row.tokens));
        result.finishReasons[row.sample] = decision.reason;
      } else {
        keep.push(index);
        surviving.push(row);
      }
    });
    rows = surviving;
    options.onProgress?.({ step, active: rows.length, generatedTokens: result.generatedTokens, numSamples });
    if (rows.length === 0) break;

    // Drop finished rows, then run the newest token of every active row: [A, 1].
    cache = selectKvRows(cache, runner.dims, keep);
    const active = rows.length;
    const output = await runner.forward({
      batch: active,
      seq: 1,
      inputIds: BigInt64Array.from(rows, (row) => BigInt(row.tokens[row.tokens.length - 1])),
      attentionMask: onesMask(active, cache.length + 1),
      positionIds: positionRange(active, cache.length, 1),
      past: cache,
    });
    result.forwardRuns++;
    cache = output.present;
    stepLogits = output.logits;
  }
  return result;
}

/**
 * One-at-a-time generation without a cache: every step re-runs the whole sequence (prompt +
 * tokens so far). The slow baseline the benchmark compares against, and a check in tests.
 */
export async function generateWithoutCache(
  runner: DecoderRunner,
  tokenizer: TokenizerLike,
  promptIds: number[],
  options: GenerationOptions = {},
): Promise<GenerationResult> {
  const numSamples = options.numSamples ?? 1;
  const merged: GenerationResult = {
    tokens: [],
    texts: [],
    finishReasons: [],
    seed: options.seed ?? randomSeed(),
    forwardRuns: 0,
    generatedTokens: 0,
  };
  const { vocabSize } = runner.dims;
  // A runner that ignores the cache it is given and recomputes from the full sequence.
  for (let sample = 0; sample < numSamples; sample++) {
    let sequence = [...promptIds];
    const recompute: DecoderRunner = {
      dims: runner.dims,
      forward: async (inputs) => {
        if (inputs.past) sequence = sequence.concat(Array.from(inputs.inputIds, (id) => Number(id)));
        const n = sequence.length;
        const full = await runner.forward(wholeSequenceInputs(sequence));
        merged.forwardRuns++;
        // The prefill's caller reads position n-1 of [1, n, vocab]; a step's reads [1, 1, vocab].
        const logits = inputs.past ? full.logits.slice((n - 1) * vocabSize, n * vocabSize) : full.logits;
        // Hand back a cache of the right length with no contents; the next call ignores it.
        const present: KvCache = { batch: 1, length: n, keys: [], values: [] };
        return { logits, present };
      },
    };
    const one = await generate(recompute, tokenizer, promptIds, {
      ...options,
      numSamples: 1,
      seed: merged.seed,
      sampleIndexOffset: (options.sampleIndexOffset ?? 0) + sample,
    });
    merged.tokens.push(one.tokens[0]);
    merged.texts.push(one.texts[0]);
    merged.finishReasons.push(one.finishReasons[0]);
    merged.generatedTokens += one.generatedTokens;
  }
  return merged;
}

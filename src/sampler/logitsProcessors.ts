// Logits processors, in the style of transformers.js / Hugging Face generate(): each one edits a
// row of next-token logits [vocab] in place, and a LogitsProcessorList applies them in order.
// Warpers (temperature, top-k, top-p) reshape the distribution; processors such as the
// repetition penalty and min-new-tokens EOS suppression change which tokens are likely at all.

import { softmax } from "./rng";

/** What a processor may look at besides the logits: the tokens generated so far for this row. */
export interface ProcessorContext {
  /** Prompt ids followed by the ids generated so far. */
  inputIds: readonly number[];
  /** How many of inputIds were generated (the rest is the prompt). */
  generatedCount: number;
}

export interface LogitsProcessor {
  /** Edits `logits` [vocab] in place. */
  process(logits: Float32Array, context: ProcessorContext): void;
}

/** Divides logits by the temperature (> 0). Temperature 0 is greedy and needs no processor. */
export class TemperatureLogitsWarper implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`temperature must be a positive number, got ${temperature}`);
  }

  process(logits: Float32Array): void {
    if (this.temperature === 1) return;
    const inv = 1 / this.temperature;
    for (let i = 0; i < logits.length; i++) logits[i] *= inv;
  }
}

/** Keeps the k highest logits (and anything tied with the k-th); the rest become -Infinity. */
export class TopKLogitsWarper implements LogitsProcessor {
  constructor(readonly topK: number) {
    if (!Number.isInteger(topK) || topK < 1) throw new Error(`top-k must be a positive integer, got ${topK}`);
  }

  process(logits: Float32Array): void {
    if (this.topK >= logits.length) return;
    // The k-th largest value: sort a copy descending (vocab-sized; fast enough next to a forward pass).
    const sorted = Float32Array.from(logits).sort().reverse();
    const threshold = sorted[this.topK - 1];
    for (let i = 0; i < logits.length; i++) if (logits[i] < threshold) logits[i] = -Infinity;
  }
}

/**
 * Nucleus sampling: keeps the smallest set of most likely tokens whose probabilities add up to
 * at least topP (always at least `minTokensToKeep`); the rest become -Infinity.
 */
export class TopPLogitsWarper implements LogitsProcessor {
  constructor(
    readonly topP: number,
    readonly minTokensToKeep = 1,
  ) {
    if (!(topP > 0 && topP <= 1)) throw new Error(`top-p must be in (0, 1], got ${topP}`);
  }

  process(logits: Float32Array): void {
    if (this.topP >= 1) return;
    const probs = softmax(logits);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    let cumulative = 0;
    let kept = 0;
    for (; kept < order.length; kept++) {
      if (cumulative >= this.topP && kept >= this.minTokensToKeep) break;
      cumulative += probs[order[kept]];
    }
    for (let i = kept; i < order.length; i++) logits[order[i]] = -Infinity;
  }
}

/**
 * CTRL-style repetition penalty (as in transformers): logits of tokens already in the sequence
 * are divided by the penalty when positive and multiplied by it when negative.
 */
export class RepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  constructor(readonly penalty: number) {
    if (!(penalty > 0)) throw new Error(`repetition penalty must be positive, got ${penalty}`);
  }

  process(logits: Float32Array, context: ProcessorContext): void {
    if (this.penalty === 1) return;
    for (const id of new Set(context.inputIds)) {
      if (id < 0 || id >= logits.length) continue;
      logits[id] = logits[id] > 0 ? logits[id] / this.penalty : logits[id] * this.penalty;
    }
  }
}

/** Forbids the EOS tokens until `minNewTokens` tokens have been generated. */
export class MinNewTokensLogitsProcessor implements LogitsProcessor {
  constructor(
    readonly minNewTokens: number,
    readonly eosTokenIds: readonly number[],
  ) {}

  process(logits: Float32Array, context: ProcessorContext): void {
    if (context.generatedCount >= this.minNewTokens) return;
    for (const id of this.eosTokenIds) if (id >= 0 && id < logits.length) logits[id] = -Infinity;
  }
}

/** Applies processors in order. */
export class LogitsProcessorList implements LogitsProcessor {
  readonly processors: LogitsProcessor[];

  constructor(processors: LogitsProcessor[] = []) {
    this.processors = [...processors];
  }

  push(processor: LogitsProcessor): void {
    this.processors.push(processor);
  }

  process(logits: Float32Array, context: ProcessorContext): void {
    for (const processor of this.processors) processor.process(logits, context);
  }

  get length(): number {
    return this.processors.length;
  }
}

export interface ProcessorOptions {
  /** 0 = greedy (no warpers); default 1. */
  temperature?: number;
  /** 0 or undefined = off. */
  topK?: number;
  /** 1 or undefined = off. */
  topP?: number;
  /** 1 or undefined = off. */
  repetitionPenalty?: number;
  minNewTokens?: number;
  eosTokenIds?: readonly number[];
}

/**
 * The processor chain for the options, in transformers' order: repetition penalty and
 * min-new-tokens first, then temperature, top-k, top-p. Greedy (temperature 0) skips the warpers.
 */
export function buildLogitsProcessors(options: ProcessorOptions): LogitsProcessorList {
  const list = new LogitsProcessorList();
  if (options.repetitionPenalty !== undefined && options.repetitionPenalty !== 1) {
    list.push(new RepetitionPenaltyLogitsProcessor(options.repetitionPenalty));
  }
  if (options.minNewTokens && options.eosTokenIds && options.eosTokenIds.length > 0) {
    list.push(new MinNewTokensLogitsProcessor(options.minNewTokens, options.eosTokenIds));
  }
  const temperature = options.temperature ?? 1;
  if (temperature < 0 || !Number.isFinite(temperature)) throw new Error(`temperature must be >= 0, got ${temperature}`);
  if (temperature === 0) return list;
  if (temperature !== 1) list.push(new TemperatureLogitsWarper(temperature));
  if (options.topK !== undefined && options.topK !== 0) list.push(new TopKLogitsWarper(options.topK));
  if (options.topP !== undefined && options.topP !== 1) list.push(new TopPLogitsWarper(options.topP));
  return list;
}

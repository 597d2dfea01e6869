// Stopping criteria for one generated sequence, in the style of transformers.js: an end-of-
// sequence token, a maximum number of new tokens, and stop strings matched against the decoded
// text (the text is cut where the earliest stop string begins). A StoppingCriteriaList asks
// each criterion in order and reports the first reason to stop.

export type FinishReason = "eos" | "stop" | "length";

/** The state of one sequence after a token was appended. */
export interface SequenceState {
  /** Generated ids so far, the newest last (an EOS token included). */
  tokens: readonly number[];
  /** Decoded text of the generated ids, EOS excluded ("" when no criterion needs text). */
  text: string;
}

export interface StopDecision {
  reason: FinishReason;
  /** For "stop": the text cut before the stop string. */
  text?: string;
}

export interface StoppingCriterion {
  /** Whether the criterion needs decoded text (so generation decodes only when one does). */
  readonly needsText: boolean;
  check(state: SequenceState): StopDecision | null;
}

/** Stops when the newest token is one of the EOS ids. */
export class EosTokenCriteria implements StoppingCriterion {
  readonly needsText = false;
  private readonly ids: Set<number>;

  constructor(eosTokenIds: readonly number[]) {
    this.ids = new Set(eosTokenIds);
  }

  isEos(token: number): boolean {
    return this.ids.has(token);
  }

  check(state: SequenceState): StopDecision | null {
    const last = state.tokens[state.tokens.length - 1];
    return last !== undefined && this.ids.has(last) ? { reason: "eos" } : null;
  }
}

/** Stops once `maxNewTokens` tokens have been generated. */
export class MaxNewTokensCriteria implements StoppingCriterion {
  readonly needsText = false;

  constructor(readonly maxNewTokens: number) {
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`max new tokens must be a positive integer, got ${maxNewTokens}`);
  }

  check(state: SequenceState): StopDecision | null {
    return state.tokens.length >= this.maxNewTokens ? { reason: "length" } : null;
  }
}

/**
 * Stops when the decoded text contains one of the stop strings; the text is truncated at the
 * earliest occurrence (the stop string itself is not kept). Matching is on text, so a stop
 * string that spans several tokens, or a part of one token, is found.
 */
export class StopStringCriteria implements StoppingCriterion {
  readonly needsText = true;
  readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Index where the earliest stop string starts in `text`, or -1. */
  firstStop(text: string): number {
    let earliest = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop);
      if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
    }
    return earliest;
  }

  check(state: SequenceState): StopDecision | null {
    const at = this.firstStop(state.text);
    return at >= 0 ? { reason: "stop", text: state.text.slice(0, at) } : null;
  }
}

/** Criteria in priority order: the first that fires decides the reason. */
export class StoppingCriteriaList {
  readonly criteria: StoppingCriterion[];

  constructor(criteria: StoppingCriterion[] = []) {
    this.criteria = [...criteria];
  }

  push(criterion: StoppingCriterion): void {
    this.criteria.push(criterion);
  }

  get needsText(): boolean {
    return this.criteria.some((c) => c.needsText);
  }

  check(state: SequenceState): StopDecision | null {
    for (const criterion of this.criteria) {
      const decision = criterion.check(state);
      if (decision) return decision;
    }
    return null;
  }
}

export interface StoppingOptions {
  maxNewTokens: number;
  eosTokenIds: readonly number[];
  stop?: readonly string[];
}

/** EOS first (so a final EOS reads as "eos"), then stop strings, then the length limit. */
export function buildStoppingCriteria(options: StoppingOptions): StoppingCriteriaList {
  const list = new StoppingCriteriaList();
  if (options.eosTokenIds.length > 0) list.push(new EosTokenCriteria(options.eosTokenIds));
  if (options.stop && options.stop.some((s) => s.length > 0)) list.push(new StopStringCriteria(options.stop));
  list.push(new MaxNewTokensCriteria(options.maxNewTokens));
  return list;
}

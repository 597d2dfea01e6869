// Sample records and the ReST-EM filter. A sample record is one line of iter-<i>/samples.jsonl
// (or eval.jsonl): one program drawn for one problem, with its sandbox verdict. The filter turns
// an iteration's samples into the M-step's training set: keep correct programs (reward 1),
// drop duplicates (identical after removing trailing whitespace), and keep at most
// maxPerProblem per problem (the paper's cut-off of 10), lowest sample index first.
// Also here: the per-(phase, iteration, problem) seeds that make a resumed run draw the same
// samples, and which sample indices of a problem are still to be drawn.

import { deriveSeed } from "../sampler/rng";
import type { TestResult } from "../sandbox/protocol";

/** How an evaluation sample was decoded. */
export type SamplePhaseKind = "greedy" | "sampled";

/** One line of samples.jsonl / eval.jsonl. */
export interface SampleRecord {
  /** Problem id as in splits.json ("split/id" for problems from split folders). */
  problem_id: string;
  /** Sample index within the problem, 0-based; sample i draws from random stream i. */
  index: number;
  /** The program judged (extracted from the generated text). */
  code: string;
  /** 1 when every test passed, else 0. */
  reward: number;
  /** APPS per-test results: true, false, -1 (runtime error / timeout), single -2 (compile error). */
  results: TestResult[];
  /** The first failure in words, or null. */
  error: string | null;
  /** Milliseconds spent judging. */
  ms: number;
  /** Generated tokens. */
  tokens: number;
  /** Why decoding stopped: "eos", "stop", "length" (or "error"). */
  finish_reason: string;
  /** True when generation or the sandbox failed (not the program): recorded so the run goes on. */
  failed: boolean;
  /**
   * True when the sandbox (Docker), not the program, failed: the record holds the program but
   * no verdict, its reward 0 is no judgement, and it never counts (pass@k, kept set, metrics).
   * A resumed phase judges its program again and appends a new record for the same index.
   * Absent in records written before restem knew the difference: see isSandboxFailure.
   */
  sandbox_failure?: boolean;
  /** Eval records only: "greedy" or "sampled". */
  kind?: SamplePhaseKind;
  /** Eval records only: "test" or "train". */
  split?: string;
}

/** One line of kept.jsonl: a training example of the M-step. */
export interface KeptRecord {
  problem_id: string;
  /** Sample index, or the solutions.json index for SFT. */
  index: number;
  code: string;
  reward: number;
  /** "sample" (ReST-EM) or "human" (SFT on solutions.json). */
  source: "sample" | "human";
}

/** A program in the form duplicates are detected in: trailing whitespace removed per line and at the end. */
export function normaliseProgram(code: string): string {
  return code
    .split("\n")
    .map((line) => line.replace(/\s+$/, ""))
    .join("\n")
    .replace(/\s+$/, "");
}

export interface FilterOptions {
  maxPerProblem: number;
  dedupe: boolean;
}

/**
 * The M-step's training set from one iteration's samples: correct ones, deduplicated per
 * problem, at most maxPerProblem per problem, in (problem first-seen, sample index) order.
 */
export function filterSamples(records: readonly SampleRecord[], options: FilterOptions): KeptRecord[] {
  const byProblem = new Map<string, SampleRecord[]>();
  for (const record of records) {
    if (record.reward <= 0 || record.code.trim() === "" || isSandboxFailure(record)) continue;
    const list = byProblem.get(record.problem_id) ?? [];
    list.push(record);
    byProblem.set(record.problem_id, list);
  }
  const kept: KeptRecord[] = [];
  for (const [problemId, list] of byProblem) {
    const seen = new Set<string>();
    let count = 0;
    for (const record of [...list].sort((a, b) => a.index - b.index)) {
      if (count >= options.maxPerProblem) break;
      const key = normaliseProgram(record.code);
      if (options.dedupe && seen.has(key)) continue;
      seen.add(key);
      kept.push({ problem_id: problemId, index: record.index, code: record.code, reward: record.reward, source: "sample" });
      count += 1;
    }
  }
  return kept;
}

/** The SFT baseline's training set: each problem's human solutions, deduplicated and capped alike. */
export function humanSolutions(problems: readonly { id: string; solutions: string[] }[], options: FilterOptions): KeptRecord[] {
  const records: SampleRecord[] = problems.flatMap((p) =>
    p.solutions.map((code, index) => ({ problem_id: p.id, index, code, reward: 1, results: [], error: null, ms: 0, tokens: 0, finish_reason: "human", failed: false })),
  );
  return filterSamples(records, options).map((k) => ({ ...k, source: "human" as const }));
}

/** Phases that draw samples; each has its own random streams. */
export type SamplingPhase = "estep" | "eval-greedy" | "eval-sampled" | "validation";

const PHASE_CODES: Record<SamplingPhase, number> = { estep: 1, "eval-greedy": 2, "eval-sampled": 3, validation: 4 };

/** FNV-1a hash of a string (a problem id) to 31 bits. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash & 0x7fffffff;
}

/**
 * The generation seed of (run seed, phase, iteration, problem). Sample i of the problem then
 * draws from stream i of it (generate's sampleIndexOffset), so any subset of samples can be
 * redrawn exactly, in any batch.
 */
export function sampleSeed(runSeed: number, phase: SamplingPhase, iteration: number, problemId: string): number {
  const phaseSeed = deriveSeed(runSeed, PHASE_CODES[phase] * 4096 + iteration);
  return deriveSeed(phaseSeed, hashString(problemId));
}

/** Sample indices in [0, total) not in `done`, as contiguous runs [start, count]. */
export function missingRuns(done: ReadonlySet<number>, total: number): Array<{ start: number; count: number }> {
  const runs: Array<{ start: number; count: number }> = [];
  for (let i = 0; i < total; i++) {
    if (done.has(i)) continue;
    const last = runs[runs.length - 1];
    if (last && last.start + last.count === i) last.count += 1;
    else runs.push({ start: i, count: 1 });
  }
  return runs;
}

/** Splits runs into batches of at most `size` samples (generate calls). */
export function batchRuns(runs: ReadonlyArray<{ start: number; count: number }>, size: number): Array<{ start: number; count: number }> {
  const batches: Array<{ start: number; count: number }> = [];
  for (const run of runs) {
    for (let offset = 0; offset < run.count; offset += size) {
      batches.push({ start: run.start + offset, count: Math.min(size, run.count - offset) });
    }
  }
  return batches;
}

/** Whether a record stands for a sandbox failure (also as older restem versions wrote them). */
export function isSandboxFailure(record: Pick<SampleRecord, "failed" | "error"> & { sandbox_failure?: boolean }): boolean {
  return record.sandbox_failure === true || (record.failed && (record.error ?? "").startsWith("sandbox failure"));
}

/**
 * The record in force for each sample: the last one of each (kind, split, problem, index), in
 * first-seen order. A sample judged again after a sandbox failure has two records; the later wins.
 */
export function currentRecords<T extends Pick<SampleRecord, "problem_id" | "index" | "kind" | "split">>(records: readonly T[]): T[] {
  const latest = new Map<string, T>();
  for (const record of records) {
    const key = JSON.stringify([record.kind ?? null, record.split ?? null, record.problem_id, record.index]);
    latest.set(key, record); // a Map keeps a key where it was first set
  }
  return [...latest.values()];
}

/** The records that are verdicts: the ones in force, without sandbox failures. */
export function judgedRecords<T extends SampleRecord>(records: readonly T[]): T[] {
  return currentRecords(records).filter((record) => !isSandboxFailure(record));
}

/** Sample indices already recorded per problem (a resumed phase skips them). */
export function doneIndices(records: readonly { problem_id: string; index: number; kind?: string }[], kind?: string): Map<string, Set<number>> {
  const done = new Map<string, Set<number>>();
  for (const record of records) {
    if (kind !== undefined && record.kind !== kind) continue;
    const set = done.get(record.problem_id) ?? new Set<number>();
    set.add(record.index);
    done.set(record.problem_id, set);
  }
  return done;
}

const OPENING_FENCE = /(^|\n)[ \t]*```[^\n`]*\r?\n/;
const CLOSING_FENCE = /(^|\n)[ \t]*```/;

/**
 * The program in a generated text (either prompt format): the body of the first fenced code
 * block, whatever its language tag; a block left open (the text hit the token limit) runs to
 * the end; a text without a fence is taken whole, less leading blank lines. Anything up to a
 * closing </think> (a reasoning model's thoughts) is dropped first.
 */
export function extractProgram(text: string): string {
  const thinkEnd = text.lastIndexOf("</think>");
  const reply = thinkEnd < 0 ? text : text.slice(thinkEnd + "</think>".length);
  const open = OPENING_FENCE.exec(reply);
  if (open === null) return reply.trim() === "" ? "" : reply.replace(/^\s*\n/, "");
  const body = reply.slice(open.index + open[0].length);
  const close = CLOSING_FENCE.exec(body);
  return close === null ? body : body.slice(0, close.index + close[1].length);
}

// Draw-and-judge, the work behind the E-step, the evaluations and validation: for every
// problem, draw the samples not yet on disk from the policy, judge each in the sandbox and
// append its record (samples.jsonl / eval.jsonl) as soon as its verdict is in. Generation of
// the next batch overlaps judging of the previous one. A failure of one problem or sample to
// generate is recorded as a failed record with reward 0 and the run goes on. A sandbox failure
// (Docker lost past the judge's retry window) is no verdict: the sample is recorded with
// sandbox_failure set, drawing stops, and once the batches in flight are recorded a
// SandboxLostError ends the phase; a resumed phase judges those programs again (without
// redrawing them). Cancellation (AbortSignal) is honoured between batches: the batch being
// judged is still recorded, so nothing is lost.

import type { Problem } from "../problems";
import type { Verdict } from "../sandbox/judge";
import { runProblemId, type PromptBuilder } from "./dataset";
import type { DecodeOptions, Policy, SampleBatch } from "./policy";
import {
  batchRuns,
  currentRecords,
  doneIndices,
  extractProgram,
  isSandboxFailure,
  missingRuns,
  sampleSeed,
  type SamplePhaseKind,
  type SampleRecord,
  type SamplingPhase,
} from "./samples";

/** The sandbox stayed unreachable past the judge's retry window: samples could not be judged. */
export class SandboxLostError extends Error {
  override readonly name = "SandboxLostError";
  constructor(
    readonly reason: string,
    /** Samples recorded as sandbox failures in this phase. */
    readonly unjudged: number,
  ) {
    super(
      `the Docker sandbox was lost (${reason}); ${unjudged} sample${unjudged === 1 ? "" : "s"} could not be judged ` +
        `and are recorded as sandbox failures, not verdicts: they are judged again when the run is resumed`,
    );
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** The reward function: judges one program for one problem (the sandbox Judge in a run). */
export interface Rewarder {
  judge(problem: Problem, code: string): Promise<Verdict>;
}

export interface DrawOptions {
  problems: readonly Problem[];
  samplesPerProblem: number;
  decode: DecodeOptions;
  /** Decoded together per generate call. */
  batchSize: number;
  runSeed: number;
  phase: SamplingPhase;
  iteration: number;
  /** The run's prompt format (APPS few-shot text or the chat template). */
  prompts: PromptBuilder;
  /** Records already on disk (a resumed phase draws only the missing indices). */
  existing: readonly SampleRecord[];
  /** Extra fields stamped on every record (eval: kind and split). */
  tag?: Pick<SampleRecord, "kind" | "split">;
  signal?: AbortSignal;
  /** Called with each new record (the caller appends it to disk); awaited before the phase ends. */
  onRecord: (record: SampleRecord, done: number, total: number) => Promise<void> | void;
  /** Called when a problem fails as a whole (e.g. its prompt cannot be encoded). */
  onProblemError?: (problemId: string, message: string) => Promise<void> | void;
}

/** Batches of generation overlapping judging: at most this many in flight. */
const JUDGE_PIPELINE_DEPTH = 2;

/** A record for a generated (or failed) sample and its verdict. */
export function sampleRecord(
  problemId: string,
  index: number,
  code: string,
  verdict: Pick<Verdict, "passed" | "results" | "error" | "ms"> & { sandboxFailure?: boolean },
  generation: { tokens: number; finishReason: string },
  tag: DrawOptions["tag"],
): SampleRecord {
  return {
    problem_id: problemId,
    index,
    code,
    reward: verdict.passed ? 1 : 0,
    results: verdict.results,
    error: verdict.error,
    ms: Math.round(verdict.ms),
    tokens: generation.tokens,
    finish_reason: generation.finishReason,
    failed: verdict.sandboxFailure === true,
    ...(verdict.sandboxFailure ? { sandbox_failure: true } : {}),
    ...(tag ?? {}),
  };
}

/** A record standing for a sample that could not be generated. */
export function failedRecord(problemId: string, index: number, message: string, tag: DrawOptions["tag"]): SampleRecord {
  return {
    problem_id: problemId,
    index,
    code: "",
    reward: 0,
    results: [],
    error: `generation failed: ${message}`,
    ms: 0,
    tokens: 0,
    finish_reason: "error",
    failed: true,
    ...(tag ?? {}),
  };
}

/**
 * Draws and judges the missing samples of every problem; returns the existing records plus
 * the new ones, and whether it stopped early because of the signal.
 */
export async function drawAndJudge(policy: Policy, rewarder: Rewarder, options: DrawOptions): Promise<{ records: SampleRecord[]; cancelled: boolean }> {
  const kind: SamplePhaseKind | undefined = options.tag?.kind;
  const inForce = currentRecords(options.existing);
  const judged = inForce.filter((r) => !isSandboxFailure(r));
  const rejudge = inForce.filter((r) => isSandboxFailure(r) && (kind === undefined || r.kind === kind));
  const done = doneIndices([...judged, ...rejudge], kind);
  const records: SampleRecord[] = [...judged];
  const total = options.problems.length * options.samplesPerProblem;
  let finished = judged.length;
  const lost: { reason: string | null; count: number } = { reason: null, count: 0 };
  const inFlight: Promise<void>[] = [];
  const record = async (value: SampleRecord): Promise<void> => {
    if (value.sandbox_failure) {
      lost.reason ??= (value.error ?? "").replace(/^sandbox failure: /, "");
      lost.count += 1;
    } else {
      records.push(value);
      finished += 1;
    }
    await options.onRecord(value, finished, total);
  };

  // Programs whose judging the sandbox failed earlier: judged again, not drawn again.
  const byId = new Map(options.problems.map((p) => [runProblemId(p), p] as const));
  await Promise.all(
    rejudge.map(async (old) => {
      const problem = byId.get(old.problem_id);
      if (problem === undefined) return;
      const verdict = await judgeSafely(rewarder, problem, old.code);
      await record(sampleRecord(old.problem_id, old.index, old.code, verdict, { tokens: old.tokens, finishReason: old.finish_reason }, options.tag));
    }),
  );

  for (const problem of options.problems) {
    if (lost.reason !== null) break;
    const problemId = runProblemId(problem);
    const batches = batchRuns(missingRuns(done.get(problemId) ?? new Set(), options.samplesPerProblem), options.batchSize);
    if (batches.length === 0) continue;
    if (options.signal?.aborted) break;
    let promptIds: number[];
    try {
      promptIds = await policy.promptIds(options.prompts.prompt(problem), options.decode.maxNewTokens, {
        addSpecialTokens: !options.prompts.promptHasSpecialTokens,
      });
    } catch (error) {
      const message = (error as Error).message;
      await options.onProblemError?.(problemId, message);
      for (const b of batches) for (let i = b.start; i < b.start + b.count; i++) await record(failedRecord(problemId, i, message, options.tag));
      continue;
    }
    const seed = sampleSeed(options.runSeed, options.phase, options.iteration, problemId);
    for (const batch of batches) {
      if (options.signal?.aborted || lost.reason !== null) break;
      let drawn: SampleBatch | null = null;
      let failure = "";
      try {
        drawn = await policy.sample(promptIds, { ...options.decode, start: batch.start, count: batch.count, seed });
      } catch (error) {
        failure = (error as Error).message;
      }
      if (drawn === null) {
        for (let i = 0; i < batch.count; i++) await record(failedRecord(problemId, batch.start + i, failure, options.tag));
        continue;
      }
      const judging = judgeBatch(problem, problemId, batch.start, drawn, rewarder, options.tag, record);
      inFlight.push(judging);
      if (inFlight.length >= JUDGE_PIPELINE_DEPTH) await inFlight.shift();
    }
  }
  await Promise.all(inFlight);
  if (lost.reason !== null) throw new SandboxLostError(lost.reason, lost.count);
  return { records, cancelled: options.signal?.aborted ?? false };
}

/** The rewarder's verdict; a rewarder that throws is a sandbox failure, never a wrong program. */
async function judgeSafely(rewarder: Rewarder, problem: Problem, code: string): Promise<Pick<Verdict, "passed" | "results" | "error" | "ms" | "sandboxFailure">> {
  try {
    return await rewarder.judge(problem, code);
  } catch (error) {
    return { passed: false, results: [], error: `sandbox failure: ${(error as Error).message}`, ms: 0, sandboxFailure: true };
  }
}

/** Judges one generated batch, recording each sample as its verdict arrives. */
async function judgeBatch(
  problem: Problem,
  problemId: string,
  start: number,
  drawn: SampleBatch,
  rewarder: Rewarder,
  tag: DrawOptions["tag"],
  record: (value: SampleRecord) => Promise<void>,
): Promise<void> {
  await Promise.all(
    drawn.texts.map(async (text, i) => {
      const code = extractProgram(text);
      const generation = { tokens: drawn.tokens[i].length, finishReason: drawn.finishReasons[i] };
      const verdict = await judgeSafely(rewarder, problem, code);
      await record(sampleRecord(problemId, start + i, code, verdict, generation, tag));
    }),
  );
}

/** Greedy pass rate of the policy on `problems` (validation reward); nothing is written. */
export async function greedyPassRate(
  policy: Policy,
  rewarder: Rewarder,
  problems: readonly Problem[],
  options: { decode: DecodeOptions; prompts: PromptBuilder; runSeed: number; iteration: number; signal?: AbortSignal },
): Promise<number> {
  if (problems.length === 0) return 0;
  const { records } = await drawAndJudge(policy, rewarder, {
    problems,
    samplesPerProblem: 1,
    decode: { ...options.decode, temperature: 0 },
    batchSize: 1,
    runSeed: options.runSeed,
    phase: "validation",
    iteration: options.iteration,
    prompts: options.prompts,
    existing: [],
    signal: options.signal,
    onRecord: () => undefined,
  });
  return records.filter((r) => r.reward > 0).length / problems.length;
}

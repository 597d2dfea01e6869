// The ReST-EM loop (Algorithm 1 of Singh et al. 2023), read top to bottom:
//
//   evaluate the base model                                   (iteration 0)
//   for i = 1..I:
//     E-step:  sample N programs per training problem from p_{i-1}; reward each in the sandbox
//     filter:  keep correct programs, deduplicated, at most 10 per problem
//     M-step:  fine-tune the BASE model (restart "base") on them with reward-weighted NLL,
//              keeping the checkpoint with the best greedy reward on D_val
//     evaluate p_i on the test split (and greedily on train, for the train–test gap)
//
// Every piece of work writes its output to the run store and then a phase_done event; a
// resumed run (the same function) starts at the first piece without one and continues partial
// sample files instead of redrawing them. The loop never imports vscode: callers watch it
// through `onEvent` and stop it with an AbortSignal (it stops at the next safe point: between
// sample batches, training steps or phases) and status.json says "cancelled". One process runs
// a run at a time: executeRun takes the run's lock (runLock.ts) before it reads anything and
// releases it when it returns.

import * as fs from "node:fs/promises";
import { loadProblems, type Problem } from "../problems";
import { Judge, MIN_MEMORY_MB } from "../sandbox/judge";
import type { RestemConfig } from "./config";
import { resolveSplit, runProblemId, type PromptBuilder } from "./dataset";
import { EventLog, nextWork, workKey, workPlan, type Phase, type RunListener, type WorkItem } from "./events";
import { runEvaluation } from "./evaluate";
import { estepMetrics, type EStepMetrics, type IterationMetrics, type MStepMetrics } from "./metrics";
import { buildExamples, CancelledError, preflightMStep, runMStep, saveWeightsDir, startCheckpoint } from "./mstep";
import { Policy } from "./policy";
import { doneSummary, iterationRecord, loadStoreState, readIterationMetrics, readRunConfig, readSplits, readStatus, rebuildIterationMetrics, updateStatus, type StoredEvent } from "./runs";
import { assertRunInputs } from "./runInputs";
import { acquireRunLock, type RunLock } from "./runLock";
import { filterSamples, humanSolutions, judgedRecords, type KeptRecord, type SampleRecord } from "./samples";
import { drawAndJudge, greedyPassRate, SandboxLostError, type Rewarder } from "./sampling";
import { JsonlAppender, readJsonl, repairJsonl, runPaths, writeAtomic, writeJsonAtomic, type RunPaths } from "./store";

export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: RunListener;
  /** Opens the reward function (default: the Docker sandbox Judge with the config's settings). */
  openRewarder?: (config: RestemConfig) => Promise<Rewarder & { close(): Promise<void> }>;
  /** The run's lock, already held by this thread (createRunLocked); released when the run returns. */
  lock?: RunLock;
  /** Token of the run's lock handed over by another thread of this process (RunSession's worker adopts it). */
  adoptLock?: string;
}

export interface RunOutcome {
  id: string;
  status: "completed" | "cancelled" | "failed";
  metrics: IterationMetrics[];
}

/** Everything a phase needs. */
interface Context {
  config: RestemConfig;
  paths: RunPaths;
  events: EventLog;
  policy: Policy;
  prompts: PromptBuilder;
  rewarder: Rewarder;
  train: Problem[];
  validation: Problem[];
  test: Problem[];
  byId: Map<string, Problem>;
  stored: StoredEvent[];
  signal?: AbortSignal;
}

/** What a phase returns: its summary for phase_done, or null when it was cancelled. */
type PhaseResult = Record<string, unknown> | null;

/**
 * Runs (or resumes) run `id` in `store` to its end, cancellation or failure. Throws
 * RunLockedError, naming the holder's pid, when another process (or thread) runs it.
 */
export async function executeRun(store: string, id: string, options: ExecuteOptions = {}): Promise<RunOutcome> {
  const paths = runPaths(store, id);
  const lock = options.lock ?? (await lockRun(paths, id, options.adoptLock));
  try {
    return await executeLocked(id, paths, options);
  } finally {
    await lock.release();
  }
}

async function lockRun(paths: RunPaths, id: string, adopt: string | undefined): Promise<RunLock> {
  try {
    return await acquireRunLock(paths.dir, { adopt });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`no run ${id} at ${paths.dir}`);
    throw error;
  }
}

async function executeLocked(id: string, paths: RunPaths, options: ExecuteOptions): Promise<RunOutcome> {
  const config = await readRunConfig(paths);
  const status = await readStatus(paths);
  await rebuildIterationMetrics(paths, config.iterations);
  if (status?.status === "completed") return { id, status: "completed", metrics: await readIterationMetrics(paths, config.iterations) };
  // The base model and problems the run was created with must still be where config.json says.
  await assertRunInputs(config, paths.config, ` (it moved or was deleted since the run was created: put it back, or set this field of ${paths.config} to where it is now, then resume run ${id})`);

  // The problems and the frozen splits.
  const set = await loadProblems(config.problems);
  const byId = new Map(set.problems.map((p) => [runProblemId(p), p] as const));
  const splits = await readSplits(paths);
  const [train, validation, test] = [splits.train, splits.validation, splits.test].map((ids) => resolveSplit(ids, byId).problems);

  // Where to start: the first piece of work without its phase_done event.
  const plan = workPlan(config.iterations, config.variant);
  const { state, events: stored } = await loadStoreState(paths, config.iterations);
  const first = nextWork(plan, state);
  const events = new EventLog(paths.events, options.onEvent);
  if (first === null) return finish(id, paths, events, config, "completed");
  if (stored.length === 0) {
    await events.emit({ type: "run_started", id, iterations: config.iterations, variant: config.variant, problems: set.problems.length, splits: { train: train.length, validation: validation.length, test: test.length } });
  } else {
    await events.emit({ type: "run_resumed", id, iteration: first.iteration, phase: first.phase });
  }
  await updateStatus(paths, { status: "running", current: first, message: null });

  // Opening the sandbox or the model can fail too (Docker down, a broken model): the run is then
  // recorded as failed, like any other error, so that it can be resumed once that is fixed.
  let rewarder: (Rewarder & { close(): Promise<void> }) | null = null;
  let policy: Policy | null = null;
  let current: WorkItem | null = null;
  try {
    rewarder = options.openRewarder ? await options.openRewarder(config) : await openJudge(config, events);
    policy = await Policy.open(config.model, paths.onnx, { threads: config.sampling.threads, device: config.sampling.device });
    const prompts = await policy.openPrompts(config.prompt);
    const ctx: Context = { config, paths, events, policy, prompts, rewarder, train, validation, test, byId, stored, signal: options.signal };
    for (const item of plan.slice(plan.findIndex((w) => workKey(w) === workKey(first)))) {
      if (options.signal?.aborted) break;
      current = item;
      if (state.done.has(workKey(item))) await clearOutputs(paths, item); // recorded, but upstream work was redone
      await updateStatus(paths, { current: item });
      await events.emit({ type: "phase_started", iteration: item.iteration, phase: item.phase, total: phaseTotal(ctx, item.phase) });
      const summary = await runPhase(ctx, item);
      if (summary === null) break;
      await events.emit({ type: "phase_done", iteration: item.iteration, phase: item.phase, summary });
      stored.push({ time: new Date().toISOString(), type: "phase_done", iteration: item.iteration, phase: item.phase, summary });
      current = null;
    }
  } catch (error) {
    if (!(error instanceof CancelledError)) {
      let message = error instanceof Error ? error.message : String(error);
      if (error instanceof SandboxLostError) {
        message = `${message}. Start Docker again (check \`docker info\`), then continue with \`restem resume ${id}\``;
        if (error instanceof Error) error.message = message;
      }
      await events.emit({ type: "run_failed", message });
      await updateStatus(paths, { status: "failed", message });
      await events.flush();
      throw error;
    }
  } finally {
    await policy?.close();
    await rewarder?.close();
  }
  if (options.signal?.aborted || current !== null) {
    await events.emit({ type: "run_cancelled", iteration: current?.iteration ?? 0, phase: current?.phase ?? null });
    return finish(id, paths, events, config, "cancelled");
  }
  await events.emit({ type: "run_completed" });
  return finish(id, paths, events, config, "completed");
}

/** The Docker sandbox judge with the config's settings; what it says while opening goes to the run log. */
function openJudge(config: RestemConfig, events: EventLog): Promise<Judge> {
  const memoryMb = config.judge.memoryMb;
  if (memoryMb !== null && memoryMb < MIN_MEMORY_MB) throw new Error(`judge.memoryMb is ${memoryMb}, below the minimum of ${MIN_MEMORY_MB} MiB`);
  return Judge.open({
    concurrency: config.judge.concurrency ?? undefined,
    strict: config.judge.strict,
    limits: memoryMb === null ? undefined : { memoryBytes: memoryMb * (1 << 20) },
    onLog: (line) => void events.emit({ type: "sandbox", message: line.trimEnd() }),
    onBuildLog: (line) => events.progress({ type: "log", message: `  ${line.trimEnd()}` }),
  });
}

async function finish(id: string, paths: RunPaths, events: EventLog, config: RestemConfig, status: "completed" | "cancelled"): Promise<RunOutcome> {
  await events.flush();
  await updateStatus(paths, { status, message: status === "cancelled" ? "cancelled; `restem resume` continues it" : null });
  return { id, status, metrics: await readIterationMetrics(paths, config.iterations) };
}

function phaseTotal(ctx: Context, phase: Phase): number {
  if (phase === "estep") return ctx.train.length * ctx.config.sampling.samplesPerProblem;
  if (phase === "eval") return ctx.test.length * (1 + ctx.config.evaluation.samples) + (ctx.config.evaluation.trainGreedy ? ctx.train.length : 0);
  return ctx.train.length;
}

/** Deletes what a piece of work wrote, before it is done again. */
async function clearOutputs(paths: RunPaths, item: WorkItem): Promise<void> {
  const iter = paths.iteration(item.iteration);
  const files: Record<Phase, string[]> = { estep: [iter.samples], filter: [iter.kept], mstep: [iter.weights], eval: [iter.eval, iter.metrics] };
  for (const file of files[item.phase]) await fs.rm(file, { recursive: true, force: true });
}

function runPhase(ctx: Context, item: WorkItem): Promise<PhaseResult> {
  switch (item.phase) {
    case "eval":
      return evaluatePhase(ctx, item.iteration);
    case "estep":
      return eStep(ctx, item.iteration);
    case "filter":
      return filterPhase(ctx, item.iteration);
    case "mstep":
      return mStep(ctx, item.iteration);
  }
}

/** The model directory of iteration i: the base model for 0, else iter-i/weights. */
function modelDir(ctx: Context, iteration: number): string {
  return iteration === 0 ? ctx.config.model : ctx.paths.iteration(iteration).weights;
}

/** A sampling phase's record sink: append to disk, then report progress. */
function recordSink(ctx: Context, file: string, iteration: number, phase: Phase): (record: SampleRecord, done: number, total: number) => Promise<void> {
  const appender = new JsonlAppender(file);
  return async (record, done, total) => {
    await appender.append(record);
    ctx.events.progress({ type: "sample_judged", iteration, phase, problem_id: record.problem_id, index: record.index, reward: record.reward, done, total });
  };
}

const problemErrorSink =
  (ctx: Context, iteration: number, phase: Phase) =>
  (problemId: string, message: string): Promise<void> =>
    ctx.events.emit({ type: "problem_error", iteration, phase, problem_id: problemId, message });

/** E-step: N samples per training problem from the previous iteration's policy, each judged. */
async function eStep(ctx: Context, i: number): Promise<PhaseResult> {
  preflightMStep(ctx.policy.config, ctx.config.mstep, i); // refuse now rather than after hours of sampling
  const file = ctx.paths.iteration(i).samples;
  await repairJsonl(file);
  const existing = await readJsonl<SampleRecord>(file);
  await ctx.policy.useModelDir(modelDir(ctx, i - 1));
  const s = ctx.config.sampling;
  const { records, cancelled } = await drawAndJudge(ctx.policy, ctx.rewarder, {
    problems: ctx.train,
    samplesPerProblem: s.samplesPerProblem,
    decode: { temperature: s.temperature, topK: s.topK, topP: s.topP, maxNewTokens: s.maxNewTokens, stop: s.stop },
    batchSize: s.batchSize,
    runSeed: ctx.config.seed,
    phase: "estep",
    iteration: i,
    prompts: ctx.prompts,
    existing,
    signal: ctx.signal,
    onRecord: recordSink(ctx, file, i, "estep"),
    onProblemError: problemErrorSink(ctx, i, "estep"),
  });
  if (cancelled) return null;
  return { samples: records.length, correct: records.filter((r) => r.reward > 0).length };
}

/** Filter: the M-step's training set (kept.jsonl) and the E-step's metrics. */
async function filterPhase(ctx: Context, i: number): Promise<PhaseResult> {
  const iter = ctx.paths.iteration(i);
  let kept: KeptRecord[];
  let metrics: EStepMetrics;
  if (ctx.config.variant === "sft") {
    kept = humanSolutions(ctx.train.map((p) => ({ id: runProblemId(p), solutions: p.solutions })), ctx.config.filter);
    const considered = ctx.train.reduce((sum, p) => sum + p.solutions.length, 0);
    metrics = { ...estepMetrics([], kept.length), problems: ctx.train.length, samples: considered, correct: considered, kept_fraction: considered > 0 ? kept.length / considered : 0 };
  } else {
    // Verdicts only: a sample re-judged after a sandbox failure counts once, a sandbox failure never.
    const records = judgedRecords(await readJsonl<SampleRecord>(iter.samples));
    kept = filterSamples(records, ctx.config.filter);
    metrics = estepMetrics(records, kept.length);
  }
  await writeAtomic(iter.kept, kept.map((k) => JSON.stringify(k) + "\n").join(""));
  return { ...metrics };
}

/** M-step: fine-tune from the start checkpoint on kept.jsonl, validating on D_val. */
async function mStep(ctx: Context, i: number): Promise<PhaseResult> {
  const iter = ctx.paths.iteration(i);
  preflightMStep(ctx.policy.config, ctx.config.mstep, i);
  const started = performance.now();
  const restart = ctx.config.variant === "sft" ? "base" : ctx.config.mstep.restart;
  const startDir = startCheckpoint(i, restart, ctx.config.model, (j) => ctx.paths.iteration(j).weights);
  const kept = await readJsonl<KeptRecord>(iter.kept);
  const { examples } = await buildExamples(kept, ctx.byId, ctx.prompts, ctx.policy);
  const start = startDir === ctx.config.model ? "base" : `iter-${i - 1}`;
  if (examples.length === 0) {
    // Nothing to learn from: this iteration's model is its starting point.
    await copyModelDir(startDir, iter.weights);
    const metrics: MStepMetrics = { start, examples: 0, steps: 0, best_validation_reward: null, validations: 0, final_loss: null, seconds: 0 };
    return { ...metrics };
  }
  const s = ctx.config.sampling;
  const decode = { temperature: 0, topK: 0, topP: 1, maxNewTokens: s.maxNewTokens, stop: s.stop };
  const validate =
    ctx.validation.length === 0
      ? null
      : async (weights: Parameters<Policy["useWeights"]>[0], index: number): Promise<number> => {
          await ctx.policy.useWeights(weights, `validation:${i}:${index}`);
          return greedyPassRate(ctx.policy, ctx.rewarder, ctx.validation, { decode, prompts: ctx.prompts, runSeed: ctx.config.seed, iteration: i, signal: ctx.signal });
        };
  let lastLoss: number | null = null;
  // An M-step always restarts from its start checkpoint, so its step log starts over too.
  await fs.rm(iter.train, { force: true });
  const trainLog = new JsonlAppender(iter.train);
  const { result, stopping } = await runMStep({
    config: ctx.policy.config,
    startDir,
    examples,
    options: ctx.config.mstep,
    seed: ctx.config.seed + i,
    validate,
    signal: ctx.signal,
    onStep: (info) => {
      lastLoss = info.loss;
      ctx.events.progress({ type: "train_step", iteration: i, step: info.step, epoch: info.epoch, loss: info.loss, lr: info.lr, tokensPerSecond: info.tokensPerSecond });
      void trainLog.append({ time: new Date().toISOString(), step: info.step, epoch: info.epoch, loss: info.loss, lr: info.lr, tokens_per_second: info.tokensPerSecond }).catch(() => undefined);
    },
    onValidation: (info) => ctx.events.emit({ type: "validation", iteration: i, step: info.step, score: info.score, best: info.best }),
  });
  await trainLog.flush();
  await saveWeightsDir(iter.weights, ctx.policy.config, result, ctx.config.model);
  const metrics: MStepMetrics = {
    start,
    examples: examples.length,
    steps: result.steps,
    best_validation_reward: stopping.best,
    validations: stopping.count,
    final_loss: lastLoss,
    seconds: (performance.now() - started) / 1000,
  };
  return { ...metrics, lora_rank: result.lora?.rank ?? null };
}

/** Copies a model directory's files (not its ONNX cache) atomically into `dest`. */
async function copyModelDir(source: string, dest: string): Promise<void> {
  const partial = `${dest}.partial`;
  await fs.rm(partial, { recursive: true, force: true });
  await fs.mkdir(partial, { recursive: true });
  for (const entry of await fs.readdir(source, { withFileTypes: true })) {
    if (entry.isFile()) await fs.copyFile(`${source}/${entry.name}`, `${partial}/${entry.name}`);
  }
  await fs.rm(dest, { recursive: true, force: true });
  await fs.rename(partial, dest);
}

/** Evaluation of iteration i's model; writes metrics.json with the iteration's E/M-step summaries. */
async function evaluatePhase(ctx: Context, i: number): Promise<PhaseResult> {
  const iter = ctx.paths.iteration(i);
  await repairJsonl(iter.eval);
  const existing = await readJsonl<SampleRecord>(iter.eval);
  await ctx.policy.useModelDir(modelDir(ctx, i));
  const metrics = await runEvaluation(ctx.policy, ctx.rewarder, {
    test: ctx.test,
    train: ctx.config.evaluation.trainGreedy ? ctx.train : null,
    sampling: ctx.config.sampling,
    evaluation: ctx.config.evaluation,
    prompts: ctx.prompts,
    runSeed: ctx.config.seed,
    iteration: i,
    existing,
    signal: ctx.signal,
    onRecord: recordSink(ctx, iter.eval, i, "eval"),
    onProblemError: problemErrorSink(ctx, i, "eval"),
  });
  if (metrics === null) return null;
  const record = iterationRecord(i, doneSummary(ctx.stored, { iteration: i, phase: "filter" }), doneSummary(ctx.stored, { iteration: i, phase: "mstep" }), { ...metrics });
  await writeJsonAtomic(iter.metrics, record);
  return { ...metrics };
}

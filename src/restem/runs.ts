// Runs as records in the store: creating one (config.json, splits.json, status.json), reading
// back what a run has done (the events, the finished work, the per-iteration metrics, rebuilt
// from the events where metrics.json is missing), status updates, the one rule for the state a
// run is shown in ("interrupted": status running, but no live runner), and the per-run
// summaries behind `restem runs` and the VS Code views.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { loadProblems } from "../problems";
import { assertRunnable, ConfigError, parseConfig, type RestemConfig } from "./config";
import { assignSplits, type SplitIds } from "./dataset";
import { storeStateFrom, type StoreState, type WorkItem } from "./events";
import { summarizeIteration, type EStepMetrics, type EvalMetrics, type IterationMetrics, type IterationSummary, type MStepMetrics } from "./metrics";
import { assertRunInputs } from "./runInputs";
import { acquireRunLock, runLockAlive, type RunLock } from "./runLock";
import { hasModelFiles, listRunIds, newRunId, readJson, readJsonl, runPaths, writeJsonAtomic, type RunPaths, type RunState, type RunStatus } from "./store";

/** A run's config as stored: paths made absolute, so the run can resume from any directory. */
export function absoluteConfig(config: RestemConfig, cwd: string = process.cwd()): RestemConfig {
  return { ...config, problems: path.resolve(cwd, config.problems), model: path.resolve(cwd, config.model) };
}

/**
 * Creates a run: validates the config and the problems and model paths it names, loads the
 * problems once to freeze the splits, and writes config.json, splits.json and status.json.
 * Returns the new id; the run is not locked afterwards (createRunLocked keeps the lock).
 */
export async function createRun(store: string, config: RestemConfig, options: { id?: string; file?: string } = {}): Promise<string> {
  const { id, lock } = await createRunLocked(store, config, options);
  await lock.release();
  return id;
}

/** createRun that returns the run still locked, for executeRun (or another thread) to run it. */
export async function createRunLocked(store: string, config: RestemConfig, options: { id?: string; file?: string } = {}): Promise<{ id: string; lock: RunLock }> {
  const file = options.file ?? "restem.json";
  assertRunnable(config, file);
  const resolved = absoluteConfig(config);
  await assertRunInputs(resolved, file);
  let set;
  try {
    set = await loadProblems(resolved.problems);
  } catch (error) {
    throw new ConfigError(file, [`problems: ${(error as Error).message}`]);
  }
  if (set.problems.length === 0) {
    const first = set.errors[0];
    throw new ConfigError(file, [`problems: no problem of ${resolved.problems} could be loaded${first ? ` (${set.errors.length} skipped; first: ${first.path}: ${first.message})` : ""}`]);
  }
  const splits = assignSplits(set.problems, resolved.splits, file);
  const id = options.id ?? newRunId();
  const paths = runPaths(store, id);
  await fs.mkdir(path.dirname(paths.dir), { recursive: true });
  await fs.mkdir(paths.dir); // fails if the id exists: a run is never created twice
  const lock = await acquireRunLock(paths.dir);
  try {
    await writeJsonAtomic(paths.config, resolved);
    await writeJsonAtomic(paths.splits, splits);
    const now = new Date().toISOString();
    await writeStatus(paths, { id, status: "running", created: now, updated: now, iterations: resolved.iterations, current: null, message: null, pid: process.pid });
  } catch (error) {
    await lock.release();
    throw error;
  }
  return { id, lock };
}

export async function readRunConfig(paths: RunPaths): Promise<RestemConfig> {
  const raw = await readJson<unknown>(paths.config);
  if (raw === null) throw new Error(`no run at ${paths.dir} (config.json is missing)`);
  return parseConfig(raw, paths.config);
}

export async function readSplits(paths: RunPaths): Promise<SplitIds> {
  const splits = await readJson<SplitIds>(paths.splits);
  if (splits === null) throw new Error(`${paths.splits} is missing`);
  return splits;
}

export async function readStatus(paths: RunPaths): Promise<RunStatus | null> {
  return readJson<RunStatus>(paths.status);
}

export async function writeStatus(paths: RunPaths, status: RunStatus): Promise<void> {
  await writeJsonAtomic(paths.status, status);
}

/** Updates status.json (state, current piece of work, message), keeping the rest. */
export async function updateStatus(paths: RunPaths, change: { status?: RunState; current?: WorkItem | null; message?: string | null }): Promise<RunStatus> {
  const previous = await readStatus(paths);
  if (previous === null) throw new Error(`${paths.status} is missing`);
  const next: RunStatus = {
    ...previous,
    status: change.status ?? previous.status,
    current: change.current === undefined ? previous.current : change.current,
    message: change.message === undefined ? previous.message : change.message,
    updated: new Date().toISOString(),
    pid: process.pid,
  };
  await writeStatus(paths, next);
  return next;
}

/** Durable events as stored: time, type and the event's own fields. */
export type StoredEvent = { time: string; type: string; iteration?: number; phase?: string; summary?: Record<string, unknown> } & Record<string, unknown>;

/** What the store says is finished, for resume (see nextWork in events.ts). */
export async function loadStoreState(paths: RunPaths, iterations: number): Promise<{ state: StoreState; events: StoredEvent[] }> {
  const events = await readJsonl<StoredEvent>(paths.events);
  const withWeights: number[] = [];
  for (let i = 1; i <= iterations; i++) if (await hasModelFiles(paths.iteration(i).weights)) withWeights.push(i);
  return { state: storeStateFrom(events, withWeights), events };
}

/** The summary of the latest phase_done event of a piece of work, or null. */
export function doneSummary(events: readonly StoredEvent[], item: WorkItem): Record<string, unknown> | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === "phase_done" && e.iteration === item.iteration && e.phase === item.phase) return e.summary ?? {};
  }
  return null;
}

/** True when process `pid` exists and is not this one (another process may still be running the run). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A status.json pid counts as a live runner when it is this process (an in-process run) or another living one. */
export function runnerPidAlive(pid: number): boolean {
  return pid === process.pid || processAlive(pid);
}

/** A run's state as every view shows it: status.json's, or "interrupted" for a "running" run without a live runner. */
export type ShownRunState = RunState | "interrupted";

/** The one rule behind `restem runs`, the Runs tree and the dashboard (no status.json: interrupted). */
export function shownRunState(status: RunStatus | null, runnerAlive: boolean): ShownRunState {
  if (status === null) return "interrupted";
  if (status.status === "running" && !runnerAlive) return "interrupted";
  return status.status;
}

/**
 * Whether a run has a live runner: its run.lock's holder is alive; without a lock file (a run
 * created but not started yet, or written before locks), whether status.json's pid is alive.
 */
export async function runnerAlive(paths: RunPaths, status: RunStatus | null, pidAlive: (pid: number) => boolean = runnerPidAlive): Promise<boolean> {
  const locked = await runLockAlive(paths.dir);
  if (locked !== null) return locked;
  return status !== null && pidAlive(status.pid);
}

/** One line of `restem runs --json`. */
export interface RunSummary {
  id: string;
  status: ShownRunState | "unknown";
  variant: string | null;
  /** The base model and problem set the run used (absolute paths, from its config.json). */
  model: string | null;
  problems: string | null;
  iterations: IterationSummary[];
  /** Why the run could not be read, or null. */
  error: string | null;
}

/**
 * Iteration i's metrics.json record as the run's events say it: built from the latest
 * phase_done of its evaluation (unless that evaluation started again since) and of its filter
 * and M-step, exactly as the loop writes it. Null when the evaluation is not done.
 */
export function iterationMetricsFromEvents(events: readonly StoredEvent[], i: number): IterationMetrics | null {
  for (let k = events.length - 1; k >= 0; k--) {
    const e = events[k];
    if (e.iteration !== i || e.phase !== "eval") continue;
    if (e.type === "phase_started") return null;
    if (e.type === "phase_done") return iterationRecord(i, doneSummary(events, { iteration: i, phase: "filter" }), doneSummary(events, { iteration: i, phase: "mstep" }), e.summary ?? {});
  }
  return null;
}

/** The metrics.json record of iteration i (one shape for the loop and for rebuilding it). */
export function iterationRecord(i: number, estep: Record<string, unknown> | null, mstep: Record<string, unknown> | null, evaluation: Record<string, unknown>): IterationMetrics {
  return {
    iteration: i,
    model: i === 0 ? "base" : `iter-${i}/weights`,
    estep: i === 0 ? null : (estep as EStepMetrics | null),
    mstep: i === 0 ? null : (mstep as MStepMetrics | null),
    eval: evaluation as unknown as EvalMetrics,
  };
}

/**
 * The metrics of a run, iteration 0 first: each iteration's metrics.json, or, where it is
 * missing or unreadable, the same record rebuilt from events.jsonl (metrics.json is derived
 * data). An unreadable metrics.json that the events cannot replace is an error naming it.
 */
export async function readIterationMetrics(paths: RunPaths, iterations: number): Promise<IterationMetrics[]> {
  const list: IterationMetrics[] = [];
  let events: StoredEvent[] | null = null;
  for (let i = 0; i <= iterations; i++) {
    let metrics: IterationMetrics | null = null;
    let failure: Error | null = null;
    try {
      metrics = await readJson<IterationMetrics>(paths.iteration(i).metrics);
    } catch (error) {
      failure = error as Error;
    }
    if (metrics === null) {
      events ??= await readJsonl<StoredEvent>(paths.events);
      metrics = iterationMetricsFromEvents(events, i);
    }
    if (metrics === null && failure !== null) throw failure;
    if (metrics !== null) list.push(metrics);
  }
  return list;
}

/**
 * Writes every metrics.json that is missing or unreadable but whose record the events hold
 * (byte for byte what the loop wrote). Only the run's lock holder calls it. Returns the iterations rebuilt.
 */
export async function rebuildIterationMetrics(paths: RunPaths, iterations: number): Promise<number[]> {
  const events = await readJsonl<StoredEvent>(paths.events);
  const rebuilt: number[] = [];
  for (let i = 0; i <= iterations; i++) {
    const file = paths.iteration(i).metrics;
    const present = await readJson<IterationMetrics>(file).then(
      (value) => value !== null,
      () => false,
    );
    if (present) continue;
    const record = iterationMetricsFromEvents(events, i);
    if (record === null) continue;
    await writeJsonAtomic(file, record);
    rebuilt.push(i);
  }
  return rebuilt;
}

/** Summaries of every run in a store, oldest first; a run that cannot be read shows "unknown" and why. */
export async function listRuns(store: string): Promise<RunSummary[]> {
  const summaries: RunSummary[] = [];
  for (const id of await listRunIds(store)) {
    const paths = runPaths(store, id);
    const summary: RunSummary = { id, status: "unknown", variant: null, model: null, problems: null, iterations: [], error: null };
    try {
      const status = await readStatus(paths);
      summary.status = shownRunState(status, await runnerAlive(paths, status));
      const config = await readJson<{ iterations?: number; variant?: string; model?: string; problems?: string }>(paths.config);
      summary.variant = typeof config?.variant === "string" ? config.variant : null;
      summary.model = typeof config?.model === "string" ? config.model : null;
      summary.problems = typeof config?.problems === "string" ? config.problems : null;
      const metrics = await readIterationMetrics(paths, config?.iterations ?? status?.iterations ?? 0);
      summary.iterations = metrics.map(summarizeIteration);
    } catch (error) {
      summary.error = (error as Error).message;
    }
    summaries.push(summary);
  }
  return summaries;
}

/** The run id a user gave: a full id, or a unique prefix of one. */
export async function resolveRunId(store: string, given: string): Promise<string> {
  const ids = await listRunIds(store);
  if (ids.includes(given)) return given;
  const matches = ids.filter((id) => id.startsWith(given));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) throw new Error(`no run "${given}" in ${path.resolve(store)} (runs: ${ids.slice(-5).join(", ") || "none"})`);
  throw new Error(`run id "${given}" is ambiguous: ${matches.join(", ")}`);
}

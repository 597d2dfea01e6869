// Runs as records in the store: creating one (config.json, splits.json, status.json), reading
// back what a run has done (the events, the finished work, the per-iteration metrics), status
// updates, and the per-run summaries behind `restem runs` and the VS Code views.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { loadProblems } from "../problems";
import { assertRunnable, parseConfig, type RestemConfig } from "./config";
import { assignSplits, type SplitIds } from "./dataset";
import { storeStateFrom, type StoreState, type WorkItem } from "./events";
import { summarizeIteration, type IterationMetrics, type IterationSummary } from "./metrics";
import { hasModelFiles, listRunIds, newRunId, readJson, readJsonl, runPaths, writeJsonAtomic, type RunPaths, type RunState, type RunStatus } from "./store";

/** A run's config as stored: paths made absolute, so the run can resume from any directory. */
export function absoluteConfig(config: RestemConfig, cwd: string = process.cwd()): RestemConfig {
  return { ...config, problems: path.resolve(cwd, config.problems), model: path.resolve(cwd, config.model) };
}

/**
 * Creates a run: validates the config, loads the problems once to freeze the splits, and
 * writes config.json, splits.json and status.json. Returns the new id.
 */
export async function createRun(store: string, config: RestemConfig, options: { id?: string; file?: string } = {}): Promise<string> {
  const file = options.file ?? "restem.json";
  assertRunnable(config, file);
  const resolved = absoluteConfig(config);
  const set = await loadProblems(resolved.problems);
  const splits = assignSplits(set.problems, resolved.splits, file);
  const id = options.id ?? newRunId();
  const paths = runPaths(store, id);
  await fs.mkdir(path.dirname(paths.dir), { recursive: true });
  await fs.mkdir(paths.dir); // fails if the id exists: a run is never created twice
  await writeJsonAtomic(paths.config, resolved);
  await writeJsonAtomic(paths.splits, splits);
  const now = new Date().toISOString();
  await writeStatus(paths, { id, status: "running", created: now, updated: now, iterations: resolved.iterations, current: null, message: null, pid: process.pid });
  return id;
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

/** True when process `pid` exists (another process may still be running the run). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** One line of `restem runs --json`. */
export interface RunSummary {
  id: string;
  status: RunState | "unknown";
  iterations: IterationSummary[];
}

/** The metrics.json files of a run, iteration 0 first. */
export async function readIterationMetrics(paths: RunPaths, iterations: number): Promise<IterationMetrics[]> {
  const list: IterationMetrics[] = [];
  for (let i = 0; i <= iterations; i++) {
    const metrics = await readJson<IterationMetrics>(paths.iteration(i).metrics);
    if (metrics !== null) list.push(metrics);
  }
  return list;
}

/** Summaries of every run in a store, oldest first; unreadable runs show status "unknown". */
export async function listRuns(store: string): Promise<RunSummary[]> {
  const summaries: RunSummary[] = [];
  for (const id of await listRunIds(store)) {
    const paths = runPaths(store, id);
    try {
      const status = await readStatus(paths);
      const config = await readJson<{ iterations?: number }>(paths.config);
      const metrics = await readIterationMetrics(paths, config?.iterations ?? status?.iterations ?? 0);
      summaries.push({ id, status: status?.status ?? "unknown", iterations: metrics.map(summarizeIteration) });
    } catch {
      summaries.push({ id, status: "unknown", iterations: [] });
    }
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

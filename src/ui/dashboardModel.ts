// The data behind the ReST-EM dashboard webview, read from the run store (docs/run-store.md)
// and shaped for charts: status (with "interrupted" for a dead process), one row per
// iteration (metrics.json, or the phase_done summaries of an iteration still in progress),
// M-step loss and validation curves, throughput, and the live progress reducer fed by the
// engine's in-process events. No vscode import: everything but loadDashboardData is pure and
// takes records already read, so unit tests can feed them directly.

import {
  readIterationMetrics,
  readJson,
  readJsonl,
  readStatus,
  runnerAlive as runLockOrPidAlive,
  runnerPidAlive,
  runPaths,
  shownRunState,
  type IterationMetrics,
  type RunEvent,
  type RunStatus,
  type StoredEvent,
} from "../restem";

/** The run's state as the dashboard shows it: status.json's, or "interrupted" for a dead runner. */
export type DashboardStatus = "running" | "completed" | "cancelled" | "failed" | "interrupted";

/** One iteration's numbers (null where the piece of work has not finished yet). */
export interface IterationRow {
  iteration: number;
  /** True when the iteration's evaluation is finished. */
  evaluated: boolean;
  /** Greedy pass@1 on the test split. */
  testPassAt1: number | null;
  /** Unbiased pass@k on the test split, keyed by k. */
  passAtK: Record<string, number>;
  /** Greedy pass@1 on the training problems. */
  trainPassAt1: number | null;
  /** trainPassAt1 - testPassAt1. */
  trainTestGap: number | null;
  /** E-step: fraction of training problems with a correct sample. */
  estepTrainPassRate: number | null;
  estepSamples: number | null;
  estepErrors: number | null;
  kept: number | null;
  keptFraction: number | null;
  mstepSteps: number | null;
  mstepFinalLoss: number | null;
  mstepBestValidation: number | null;
  mstepSeconds: number | null;
}

export interface LossPoint {
  step: number;
  loss: number;
}

export interface ValidationPoint {
  step: number;
  score: number;
  best: boolean;
}

/** The points of one iteration's curve. */
export interface IterationSeries<Point> {
  iteration: number;
  points: Point[];
}

export interface ThroughputRow {
  iteration: number;
  /** Samples of the finished E-step, its recorded seconds (all attempts), and their ratio. */
  estepSamples: number | null;
  estepSeconds: number | null;
  estepSamplesPerSecond: number | null;
  /** Optimizer steps logged in train.jsonl and their mean tokens per second. */
  trainSteps: number;
  trainTokensPerSecond: number | null;
}

/** Progress of the piece of work running in this process (not persisted by the engine). */
export interface LiveProgress {
  iteration: number;
  phase: string;
  done: number;
  /** Samples to have when the phase is done; 0 when unknown (M-step steps, filter). */
  total: number;
  samplesPerSecond: number | null;
  tokensPerSecond: number | null;
  loss: number | null;
  /** Where the rate is measured from: the phase's start time and the done count before its first sample. */
  rateFrom: { timeMs: number; done: number | null };
}

/** Everything the dashboard page renders (plain JSON). */
export interface DashboardData {
  runId: string;
  status: DashboardStatus;
  variant: string;
  iterations: number;
  current: { iteration: number; phase: string } | null;
  message: string | null;
  created: string | null;
  updated: string | null;
  /** The k of pass@k found in any row, ascending, as strings. */
  passK: string[];
  rows: IterationRow[];
  series: { loss: IterationSeries<LossPoint>[]; validation: IterationSeries<ValidationPoint>[] };
  throughput: ThroughputRow[];
  live?: LiveProgress;
}

/** One line of iter-<i>/train.jsonl. */
export interface TrainLogRecord {
  time: string;
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  tokens_per_second: number;
}

/** What loadDashboardData reads, handed to buildDashboardData. */
export interface DashboardRecords {
  runId: string;
  status: RunStatus | null;
  config: { variant?: unknown; iterations?: unknown } | null;
  metrics: readonly IterationMetrics[];
  events: readonly StoredEvent[];
  /** train.jsonl of iterations 1..I (index 0 is iteration 1). */
  trainLogs: readonly (readonly TrainLogRecord[])[];
  isAlive: (pid: number) => boolean;
}

/** A process id is alive when it is this process (an in-process run) or another living one. */
export const runnerAlive: (pid: number) => boolean = runnerPidAlive;

/**
 * Reads run `runId` of `store` and builds the dashboard data; throws when there is no such run.
 * The runner is alive when run.lock's holder is; without a lock file, `isAlive` judges status.json's pid.
 */
export async function loadDashboardData(store: string, runId: string, isAlive: (pid: number) => boolean = runnerAlive): Promise<DashboardData> {
  const paths = runPaths(store, runId);
  const status = await readStatus(paths);
  const alive = await runLockOrPidAlive(paths, status, isAlive);
  const config = await readJson<{ variant?: unknown; iterations?: unknown }>(paths.config);
  if (status === null && config === null) throw new Error(`no run ${runId} in ${store}`);
  const iterations = configuredIterations(config, status);
  const metrics = await readIterationMetrics(paths, iterations);
  const events = await readJsonl<StoredEvent>(paths.events);
  const trainLogs: TrainLogRecord[][] = [];
  for (let i = 1; i <= iterations; i++) trainLogs.push(await readJsonl<TrainLogRecord>(paths.iteration(i).train));
  return buildDashboardData({ runId, status, config, metrics, events, trainLogs, isAlive: () => alive });
}

/** Assembles the dashboard data from records already read. */
export function buildDashboardData(records: DashboardRecords): DashboardData {
  const iterations = configuredIterations(records.config, records.status);
  const variant = typeof records.config?.variant === "string" ? records.config.variant : "restem";
  const rows = buildIterationRows(records.metrics, records.events, iterations).map((row) => (variant === "sft" ? withoutSampling(row) : row));
  return {
    runId: records.runId,
    status: effectiveStatus(records.status, records.isAlive),
    variant,
    iterations,
    current: records.status?.current ?? null,
    message: records.status?.message ?? null,
    created: records.status?.created ?? null,
    updated: records.status?.updated ?? null,
    passK: passKeys(rows),
    rows,
    series: { loss: buildLossSeries(records.trainLogs), validation: buildValidationSeries(records.events) },
    throughput: buildThroughput(records.events, records.trainLogs, iterations),
  };
}

/** SFT draws no samples: its filter's train pass rate (always 0) means nothing. */
function withoutSampling(row: IterationRow): IterationRow {
  return { ...row, estepTrainPassRate: null };
}

function configuredIterations(config: { iterations?: unknown } | null, status: RunStatus | null): number {
  const fromConfig = config?.iterations;
  if (typeof fromConfig === "number" && Number.isInteger(fromConfig) && fromConfig >= 0) return fromConfig;
  return status?.iterations ?? 0;
}

/** status.json's state, except that "running" with a dead runner is "interrupted" (no status.json: interrupted too): the engine's shownRunState. */
export function effectiveStatus(status: RunStatus | null, isAlive: (pid: number) => boolean): DashboardStatus {
  return shownRunState(status, status !== null && isAlive(status.pid));
}

/** A finite number, or null. */
function finiteOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function objectOrNull(value: unknown): Record<string, unknown> | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** The finite numbers of a {k: value} record. */
function numberRecord(value: unknown): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [key, entry] of Object.entries(objectOrNull(value) ?? {})) {
    const number = finiteOrNull(entry);
    if (number !== null) result[key] = number;
  }
  return result;
}

/** Plan order of a piece of work: iteration 0's eval, then estep < filter < mstep < eval per iteration. */
export function workOrder(iteration: number, phase: string): number {
  const rank: Record<string, number> = { estep: 0, filter: 1, mstep: 2, eval: 3 };
  return iteration * 4 + (rank[phase] ?? 3);
}

/**
 * The summary of every piece of work that counts as done, keyed "iteration:phase": the latest
 * phase_done of each, except that a run_resumed at piece P voids the summaries of P and every
 * piece after it (those are done again; their files were cleared).
 */
export function doneSummaries(events: readonly StoredEvent[]): Map<string, Record<string, unknown>> {
  const done = new Map<string, { order: number; summary: Record<string, unknown> }>();
  for (const event of events) {
    if (typeof event.iteration !== "number" || typeof event.phase !== "string") continue;
    const order = workOrder(event.iteration, event.phase);
    if (event.type === "run_resumed") {
      for (const [key, entry] of done) if (entry.order >= order) done.delete(key);
    } else if (event.type === "phase_done") {
      done.set(`${event.iteration}:${event.phase}`, { order, summary: objectOrNull(event.summary) ?? {} });
    }
  }
  return new Map([...done].map(([key, entry]) => [key, entry.summary]));
}

/** The iterations that have metrics.json or a finished piece of work, ascending. */
function iterationsWithData(metrics: readonly IterationMetrics[], done: Map<string, unknown>, iterations: number): number[] {
  const found = new Set(metrics.map((m) => m.iteration));
  for (const key of done.keys()) found.add(Number(key.split(":")[0]));
  return [...found].filter((i) => Number.isInteger(i) && i >= 0 && i <= Math.max(iterations, 0)).sort((a, b) => a - b);
}

/** One row per iteration with data: metrics.json first, the phase_done summaries where it lacks a part. */
export function buildIterationRows(metrics: readonly IterationMetrics[], events: readonly StoredEvent[], iterations: number): IterationRow[] {
  const done = doneSummaries(events);
  return iterationsWithData(metrics, done, iterations).map((i) => {
    const stored = metrics.find((m) => m.iteration === i) ?? null;
    return iterationRow(i, {
      eval: objectOrNull(stored?.eval) ?? done.get(`${i}:eval`) ?? null,
      estep: objectOrNull(stored?.estep) ?? done.get(`${i}:filter`) ?? null,
      mstep: objectOrNull(stored?.mstep) ?? done.get(`${i}:mstep`) ?? null,
    });
  });
}

/** A row from the eval, E-step (filter) and M-step records of an iteration. */
export function iterationRow(
  iteration: number,
  parts: { eval: Record<string, unknown> | null; estep: Record<string, unknown> | null; mstep: Record<string, unknown> | null },
): IterationRow {
  const { eval: evaluation, estep, mstep } = parts;
  return {
    iteration,
    evaluated: evaluation !== null,
    testPassAt1: finiteOrNull(evaluation?.pass_at_1),
    passAtK: numberRecord(evaluation?.pass_at_k),
    trainPassAt1: finiteOrNull(evaluation?.train_pass_at_1),
    trainTestGap: finiteOrNull(evaluation?.train_test_gap),
    estepTrainPassRate: finiteOrNull(estep?.train_pass_rate),
    estepSamples: finiteOrNull(estep?.samples),
    estepErrors: finiteOrNull(estep?.errors),
    kept: finiteOrNull(estep?.kept),
    keptFraction: finiteOrNull(estep?.kept_fraction),
    mstepSteps: finiteOrNull(mstep?.steps),
    mstepFinalLoss: finiteOrNull(mstep?.final_loss),
    mstepBestValidation: finiteOrNull(mstep?.best_validation_reward),
    mstepSeconds: finiteOrNull(mstep?.seconds),
  };
}

/** Every k of pass@k in the rows, ascending. */
export function passKeys(rows: readonly IterationRow[]): string[] {
  return [...new Set(rows.flatMap((r) => Object.keys(r.passAtK)))].sort((a, b) => Number(a) - Number(b));
}

/** The loss curve of each iteration with logged steps (trainLogs[0] is iteration 1). */
export function buildLossSeries(trainLogs: readonly (readonly TrainLogRecord[])[]): IterationSeries<LossPoint>[] {
  const series: IterationSeries<LossPoint>[] = [];
  trainLogs.forEach((records, index) => {
    const points = records.flatMap((r) => {
      const step = finiteOrNull(r.step);
      const loss = finiteOrNull(r.loss);
      return step === null || loss === null ? [] : [{ step, loss }];
    });
    if (points.length > 0) series.push({ iteration: index + 1, points });
  });
  return series;
}

/** Validation scores per iteration, from `validation` events since the iteration's last M-step start. */
export function buildValidationSeries(events: readonly StoredEvent[]): IterationSeries<ValidationPoint>[] {
  const byIteration = new Map<number, ValidationPoint[]>();
  for (const event of events) {
    if (typeof event.iteration !== "number") continue;
    if (event.type === "phase_started" && event.phase === "mstep") byIteration.set(event.iteration, []);
    if (event.type !== "validation") continue;
    const step = finiteOrNull(event.step);
    const score = finiteOrNull(event.score);
    if (step === null || score === null) continue;
    const points = byIteration.get(event.iteration) ?? [];
    points.push({ step, score, best: event.best === true });
    byIteration.set(event.iteration, points);
  }
  return [...byIteration]
    .filter(([, points]) => points.length > 0)
    .sort(([a], [b]) => a - b)
    .map(([iteration, points]) => ({ iteration, points }));
}

/** Milliseconds since the epoch of an event's ISO time, or null. */
function eventTimeMs(event: { time?: unknown }): number | null {
  const ms = typeof event.time === "string" ? Date.parse(event.time) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Seconds spent in a piece of work over all its attempts: each phase_started until its
 * phase_done, the run's cancel or failure, or (for a killed process) the last event before the
 * next run start. An attempt still open at the end of the log is not counted.
 */
export function phaseSeconds(events: readonly StoredEvent[], iteration: number, phase: string): number {
  let total = 0;
  let openedAt: number | null = null;
  let lastTime: number | null = null;
  const close = (end: number | null): void => {
    if (openedAt !== null && end !== null) total += Math.max(0, end - openedAt);
    openedAt = null;
  };
  for (const event of events) {
    const time = eventTimeMs(event);
    const isThisPiece = event.iteration === iteration && event.phase === phase;
    if (event.type === "run_started" || event.type === "run_resumed") close(lastTime);
    else if (event.type === "phase_done" && isThisPiece) close(time);
    else if (event.type === "run_cancelled" || event.type === "run_failed") close(time);
    if (event.type === "phase_started" && isThisPiece) openedAt = time;
    if (time !== null) lastTime = time;
  }
  return total / 1000;
}

function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** Throughput per iteration 1..I with an E-step or training data. */
export function buildThroughput(events: readonly StoredEvent[], trainLogs: readonly (readonly TrainLogRecord[])[], iterations: number): ThroughputRow[] {
  const done = doneSummaries(events);
  const rows: ThroughputRow[] = [];
  for (let i = 1; i <= iterations; i++) {
    const estepSamples = finiteOrNull(done.get(`${i}:estep`)?.samples);
    const estepSeconds = estepSamples === null ? null : phaseSeconds(events, i, "estep");
    const rates = (trainLogs[i - 1] ?? []).map((r) => finiteOrNull(r.tokens_per_second)).filter((v): v is number => v !== null);
    if (estepSamples === null && rates.length === 0) continue;
    rows.push({
      iteration: i,
      estepSamples,
      estepSeconds,
      estepSamplesPerSecond: estepSamples !== null && estepSeconds !== null && estepSeconds > 0 ? estepSamples / estepSeconds : null,
      trainSteps: rates.length,
      trainTokensPerSecond: mean(rates),
    });
  }
  return rows;
}

/** A fresh live state for a phase that starts (or is first seen) at `timeMs`. */
function startLive(iteration: number, phase: string, total: number, timeMs: number): LiveProgress {
  return { iteration, phase, done: 0, total, samplesPerSecond: null, tokensPerSecond: null, loss: null, rateFrom: { timeMs, done: null } };
}

/** Samples per second since the rate's reference point, or null before any time has passed. */
function samplesRate(rateFrom: LiveProgress["rateFrom"], done: number, timeMs: number): number | null {
  const seconds = (timeMs - rateFrom.timeMs) / 1000;
  if (rateFrom.done === null || seconds <= 0) return null;
  return Math.max(0, done - rateFrom.done) / seconds;
}

/**
 * The live progress after one engine event: phase_started opens a phase (sampling phases
 * carry their total), sample_judged advances done and the samples/s since the phase began,
 * train_step sets the step, loss and tokens/s, phase_done completes the bar, and the end of
 * the run clears it (null). Other events leave it as it is.
 */
export function applyProgress(live: LiveProgress | null, event: RunEvent): LiveProgress | null {
  const timeMs = eventTimeMs(event) ?? live?.rateFrom.timeMs ?? 0;
  switch (event.type) {
    case "phase_started":
      return startLive(event.iteration, event.phase, event.phase === "estep" || event.phase === "eval" ? event.total : 0, timeMs);
    case "sample_judged": {
      const same = live !== null && live.iteration === event.iteration && live.phase === event.phase;
      const base = same ? live : startLive(event.iteration, event.phase, event.total, timeMs);
      const rateFrom = base.rateFrom.done === null ? { timeMs: base.rateFrom.timeMs, done: event.done - 1 } : base.rateFrom;
      return { ...base, done: event.done, total: event.total, rateFrom, samplesPerSecond: samplesRate(rateFrom, event.done, timeMs) };
    }
    case "train_step": {
      const same = live !== null && live.iteration === event.iteration && live.phase === "mstep";
      const base = same ? live : startLive(event.iteration, "mstep", 0, timeMs);
      return { ...base, done: event.step, loss: event.loss, tokensPerSecond: event.tokensPerSecond };
    }
    case "phase_done":
      if (live === null || live.iteration !== event.iteration || live.phase !== event.phase) return live;
      return { ...live, done: live.total > 0 ? live.total : live.done };
    case "run_completed":
    case "run_cancelled":
    case "run_failed":
      return null;
    default:
      return live;
  }
}

/** Messages the page sends to the host. */
export type PageMessage = { type: "ready" } | { type: "refresh" } | { type: "selectRun"; runId: string };

/** Messages the host sends to the page. */
export type HostMessage =
  | { type: "data"; data: DashboardData }
  | { type: "runs"; runIds: string[]; selected: string }
  | { type: "live"; live: LiveProgress | null }
  | { type: "error"; runId: string; message: string };

/** A message from the page, validated; null for anything else. */
export function parsePageMessage(value: unknown): PageMessage | null {
  const message = objectOrNull(value);
  if (message === null) return null;
  if (message.type === "ready" || message.type === "refresh") return { type: message.type };
  if (message.type === "selectRun" && typeof message.runId === "string" && message.runId !== "") return { type: "selectRun", runId: message.runId };
  return null;
}

/** Milliseconds to wait before the next post so that posts are at least `intervalMs` apart. */
export function throttleDelay(lastPostMs: number | null, nowMs: number, intervalMs: number): number {
  if (lastPostMs === null) return 0;
  return Math.max(0, lastPostMs + intervalMs - nowMs);
}

/** The page's HTML: external script and stylesheet only, under a strict CSP with a nonce. */
export function dashboardHtml(parts: { cspSource: string; scriptUri: string; styleUri: string; nonce: string }): string {
  const csp = [
    "default-src 'none'",
    `style-src ${parts.cspSource}`,
    `script-src 'nonce-${parts.nonce}'`,
    `img-src ${parts.cspSource} data:`,
  ].join("; ");
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="UTF-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1.0">',
    `<link rel="stylesheet" href="${parts.styleUri}">`,
    "<title>ReST-EM Dashboard</title>",
    "</head>",
    "<body>",
    '<div id="app"><p class="empty">Loading…</p></div>',
    `<script nonce="${parts.nonce}" src="${parts.scriptUri}"></script>`,
    "</body>",
    "</html>",
  ].join("\n");
}

/** The run id the page saved with vscode.setState (for a webview revived after a restart), or null. */
export function stateRunId(state: unknown): string | null {
  const runId = objectOrNull(state)?.runId;
  return typeof runId === "string" && runId !== "" ? runId : null;
}

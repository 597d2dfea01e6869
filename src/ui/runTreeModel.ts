// The Runs tree as plain data: runs -> iterations -> problems -> samples, read from the run store
// (docs/run-store.md), and how each node is presented (label, description, icon, context value).
// Pure of vscode so that unit tests read a real store with it; src/ui/runsTree.ts turns these
// nodes into TreeItems.

import * as fs from "node:fs/promises";
import { compareNatural } from "../problems";
import {
  judgedRecords,
  listRunIds,
  readIterationMetrics,
  readJson,
  readJsonl,
  readStatus,
  runnerAlive as runLockOrPidAlive,
  runPaths,
  type IterationMetrics,
  type KeptRecord,
  type RunStatus,
  type SampleRecord,
} from "../restem";
import { effectiveStatus, runnerAlive } from "./dashboardModel";

/** A run's state as the user sees it: "interrupted" is a "running" run whose process is gone. */
export type DisplayStatus = "running" | "completed" | "cancelled" | "failed" | "interrupted" | "unknown";

export interface RunNode {
  kind: "run";
  store: string;
  runId: string;
  status: DisplayStatus;
  /** True when this process (the extension host) is executing the run: Stop Run applies. */
  inProcess: boolean;
  variant: string;
  iterations: number;
  current: RunStatus["current"];
  message: string | null;
  created: string | null;
  metrics: IterationMetrics[];
}

export interface IterationNode {
  kind: "iteration";
  store: string;
  runId: string;
  iteration: number;
  metrics: IterationMetrics | null;
  /** "done" when metrics.json exists, "running" when the run works on it now, else "pending". */
  state: "done" | "running" | "pending";
  /** The phase the run is in now when state is "running". */
  phase: string | null;
}

/** Where a sample comes from: the E-step's samples.jsonl or the evaluation's eval.jsonl. */
export type SampleSource = "estep" | "greedy" | "sampled";

export interface ProblemNode {
  kind: "problem";
  store: string;
  runId: string;
  iteration: number;
  problemId: string;
  samples: number;
  correct: number;
  kept: number;
}

export interface SampleNode {
  kind: "sample";
  store: string;
  runId: string;
  iteration: number;
  problemId: string;
  index: number;
  source: SampleSource;
  reward: number;
  kept: boolean;
  error: string | null;
  tokens: number;
  ms: number;
  finishReason: string;
}

export type RunTreeNode = RunNode | IterationNode | ProblemNode | SampleNode;

/** How a node looks: the vscode layer maps `icon` to a ThemeIcon and `contextValue` to menus. */
export interface NodePresentation {
  label: string;
  description: string;
  tooltip: string;
  icon: "pass" | "fail" | "running" | "pending" | "cancelled" | "interrupted" | "kept" | "error" | "run";
  contextValue: string;
  collapsible: boolean;
}

// --- reading -------------------------------------------------------------------------------

/** The dashboard's rule ("running" with a dead pid is "interrupted"); a run without status.json is "unknown" here. */
export function displayStatus(status: RunStatus | null, isAlive: (pid: number) => boolean = runnerAlive): DisplayStatus {
  return status === null ? "unknown" : effectiveStatus(status, isAlive);
}

/** Every run in the store, newest first. `activeRunIds`: runs this process is executing now. */
export async function loadRunNodes(store: string, activeRunIds: ReadonlySet<string> = new Set()): Promise<RunNode[]> {
  const nodes: RunNode[] = [];
  for (const runId of (await listRunIds(store)).reverse()) {
    const paths = runPaths(store, runId);
    try {
      const status = await readStatus(paths);
      const config = await readJson<{ iterations?: number; variant?: string }>(paths.config);
      const iterations = config?.iterations ?? status?.iterations ?? 0;
      const alive = await runLockOrPidAlive(paths, status);
      const shown = activeRunIds.has(runId) ? "running" : displayStatus(status, () => alive);
      nodes.push({
        kind: "run",
        store,
        runId,
        status: shown,
        inProcess: activeRunIds.has(runId),
        variant: config?.variant ?? "restem",
        iterations,
        current: status?.current ?? null,
        message: status?.message ?? null,
        created: status?.created ?? null,
        metrics: await readIterationMetrics(paths, iterations),
      });
    } catch (error) {
      nodes.push({ kind: "run", store, runId, status: "unknown", inProcess: false, variant: "?", iterations: 0, current: null, message: (error as Error).message, created: null, metrics: [] });
    }
  }
  return nodes;
}

/** Iteration 0 (the base model) .. iterations of a run. */
export function iterationNodes(run: RunNode): IterationNode[] {
  const nodes: IterationNode[] = [];
  for (let i = 0; i <= run.iterations; i++) {
    const metrics = run.metrics.find((m) => m.iteration === i) ?? null;
    const working = run.status === "running" && run.current?.iteration === i;
    const state = metrics !== null && !working ? "done" : working ? "running" : "pending";
    nodes.push({ kind: "iteration", store: run.store, runId: run.runId, iteration: i, metrics, state, phase: working ? (run.current?.phase ?? null) : null });
  }
  return nodes;
}

/** An iteration's samples: the E-step's (iterations >= 1) and the evaluation's, with kept marks. */
export async function readIterationSamples(store: string, runId: string, iteration: number): Promise<SampleNode[]> {
  const iter = runPaths(store, runId).iteration(iteration);
  const [estep, evaluation, kept] = await Promise.all([
    readJsonlCached<SampleRecord>(iter.samples),
    readJsonlCached<SampleRecord>(iter.eval),
    readJsonlCached<KeptRecord>(iter.kept),
  ]);
  const keptKeys = new Set(kept.filter((k) => k.source === "sample").map((k) => sampleKey(k.problem_id, k.index)));
  const toNode = (record: SampleRecord, source: SampleSource): SampleNode => ({
    kind: "sample",
    store,
    runId,
    iteration,
    problemId: record.problem_id,
    index: record.index,
    source,
    reward: record.reward,
    kept: source === "estep" && keptKeys.has(sampleKey(record.problem_id, record.index)),
    error: record.error,
    tokens: record.tokens,
    ms: record.ms,
    finishReason: record.finish_reason,
  });
  // Verdicts only: a sample judged again after a sandbox failure shows once, a sandbox failure never.
  return [...judgedRecords(estep).map((r) => toNode(r, "estep")), ...judgedRecords(evaluation).map((r) => toNode(r, r.kind === "greedy" ? "greedy" : "sampled"))];
}

export const sampleKey = (problemId: string, index: number): string => `${problemId}#${index}`;

/** Problems of an iteration with sample, correct and kept counts, in natural id order. */
export function problemNodes(store: string, runId: string, iteration: number, samples: readonly SampleNode[]): ProblemNode[] {
  const byProblem = new Map<string, ProblemNode>();
  for (const sample of samples) {
    let node = byProblem.get(sample.problemId);
    if (!node) {
      node = { kind: "problem", store, runId, iteration, problemId: sample.problemId, samples: 0, correct: 0, kept: 0 };
      byProblem.set(sample.problemId, node);
    }
    node.samples += 1;
    if (sample.reward > 0) node.correct += 1;
    if (sample.kept) node.kept += 1;
  }
  return [...byProblem.values()].sort((a, b) => compareNatural(a.problemId, b.problemId));
}

/** One problem's samples: E-step samples by index, then greedy, then pass@k samples. */
export function samplesOf(samples: readonly SampleNode[], problemId: string): SampleNode[] {
  const order: Record<SampleSource, number> = { estep: 0, greedy: 1, sampled: 2 };
  return samples.filter((s) => s.problemId === problemId).sort((a, b) => order[a.source] - order[b.source] || a.index - b.index);
}

/** JSONL reads cached by (size, mtime): expanding tree nodes of a 10k-sample run stays cheap. */
const jsonlCache = new Map<string, { size: number; mtimeMs: number; records: unknown[] }>();

async function readJsonlCached<T>(file: string): Promise<T[]> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    return [];
  }
  const hit = jsonlCache.get(file);
  if (hit && hit.size === stat.size && hit.mtimeMs === stat.mtimeMs) return hit.records as T[];
  const records = await readJsonl<T>(file);
  if (jsonlCache.size > 64) jsonlCache.clear();
  jsonlCache.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, records });
  return records;
}

// --- presentation --------------------------------------------------------------------------

export const percent = (value: number | null | undefined): string => (value === null || value === undefined ? "-" : `${(value * 100).toFixed(1)}%`);

const PHASE_NAMES: Record<string, string> = { eval: "evaluating", estep: "E-step", filter: "filtering", mstep: "M-step" };

export function phaseName(phase: string): string {
  return PHASE_NAMES[phase] ?? phase;
}

export function presentRun(run: RunNode): NodePresentation {
  const last = run.metrics.at(-1);
  const base = run.metrics.find((m) => m.iteration === 0);
  const parts: string[] = [run.status];
  if (run.status === "running" && run.current) parts.push(`iteration ${run.current.iteration} ${phaseName(run.current.phase)}`);
  if (run.status === "running" && !run.inProcess) parts.push("in another process");
  if (last) parts.push(`pass@1 ${percent(base?.eval.pass_at_1)} → ${percent(last.eval.pass_at_1)}`);
  const icon = run.status === "completed" ? "run" : run.status === "running" ? "running" : run.status === "failed" || run.status === "unknown" ? "error" : run.status === "cancelled" ? "cancelled" : "interrupted";
  const resumable = run.status === "cancelled" || run.status === "failed" || run.status === "interrupted";
  const tooltip = [`Run ${run.runId} (${run.variant}, ${run.iterations} iteration${run.iterations === 1 ? "" : "s"})`, `status: ${run.status}`];
  if (run.created) tooltip.push(`created: ${run.created}`);
  if (run.message) tooltip.push(`message: ${run.message}`);
  return {
    label: run.runId,
    description: parts.join(" · "),
    tooltip: tooltip.join("\n"),
    icon,
    // run.running: executing here (Stop applies); run.running.elsewhere: e.g. the CLI runs it.
    contextValue: `run.${run.status}${resumable ? ".resumable" : ""}${run.status === "running" && !run.inProcess ? ".elsewhere" : ""}`,
    collapsible: true,
  };
}

export function presentIteration(node: IterationNode): NodePresentation {
  const label = node.iteration === 0 ? "iteration 0 (base model)" : `iteration ${node.iteration}`;
  const m = node.metrics;
  const parts: string[] = [];
  if (node.state === "running") parts.push(phaseName(node.phase ?? ""));
  if (m) {
    parts.push(`test pass@1 ${percent(m.eval.pass_at_1)}`);
    for (const [k, v] of Object.entries(m.eval.pass_at_k)) if (k !== "1") parts.push(`pass@${k} ${percent(v)}`);
    if (m.estep) parts.push(`kept ${m.estep.kept}/${m.estep.samples} (${percent(m.estep.kept_fraction)})`);
    if (m.eval.train_test_gap !== null) parts.push(`gap ${percent(m.eval.train_test_gap)}`);
  } else if (node.state === "pending") {
    parts.push("not evaluated yet");
  }
  const tooltip = m
    ? [
        `model: ${m.model}`,
        `greedy test pass@1: ${percent(m.eval.pass_at_1)} on ${m.eval.test_problems} problems`,
        ...Object.entries(m.eval.pass_at_k).map(([k, v]) => `pass@${k} (n=${m.eval.samples}): ${percent(v)}`),
        `train greedy pass@1: ${percent(m.eval.train_pass_at_1)}`,
        ...(m.estep ? [`E-step: ${m.estep.correct}/${m.estep.samples} correct, ${percent(m.estep.train_pass_rate)} of problems solved, ${m.estep.kept} kept`] : []),
        ...(m.mstep ? [`M-step: ${m.mstep.steps} steps from ${m.mstep.start}, final loss ${m.mstep.final_loss?.toFixed(4) ?? "-"}, best validation ${percent(m.mstep.best_validation_reward)}`] : []),
      ].join("\n")
    : label;
  const icon = node.state === "running" ? "running" : node.state === "pending" ? "pending" : "pass";
  return { label, description: parts.join(" · "), tooltip, icon, contextValue: "iteration", collapsible: true };
}

export function presentProblem(node: ProblemNode): NodePresentation {
  const parts = [`${node.correct}/${node.samples} correct`];
  if (node.kept > 0) parts.push(`${node.kept} kept`);
  return {
    label: node.problemId,
    description: parts.join(" · "),
    tooltip: `${node.problemId}, iteration ${node.iteration}: ${node.correct} of ${node.samples} samples pass every test; ${node.kept} kept for the M-step`,
    icon: node.correct > 0 ? "pass" : "fail",
    contextValue: "problem",
    collapsible: true,
  };
}

export function presentSample(node: SampleNode): NodePresentation {
  const label = node.source === "estep" ? `sample ${node.index}` : node.source === "greedy" ? "greedy (evaluation)" : `eval sample ${node.index}`;
  const verdict = node.reward > 0 ? "pass" : "fail";
  const parts = [node.kept ? "accepted" : verdict, `${node.tokens} tokens`];
  if (node.reward <= 0 && node.error) parts.push(firstLine(node.error));
  return {
    label,
    description: parts.join(" · "),
    tooltip: [`${node.problemId} ${label}, iteration ${node.iteration}`, `reward ${node.reward}${node.kept ? " (kept for the M-step)" : ""}`, `finish: ${node.finishReason}, judged in ${node.ms} ms`, ...(node.error ? [`error: ${node.error}`] : [])].join("\n"),
    icon: node.kept ? "kept" : node.reward > 0 ? "pass" : "fail",
    contextValue: node.kept ? "sample.accepted" : "sample",
    collapsible: false,
  };
}

export function presentNode(node: RunTreeNode): NodePresentation {
  switch (node.kind) {
    case "run":
      return presentRun(node);
    case "iteration":
      return presentIteration(node);
    case "problem":
      return presentProblem(node);
    case "sample":
      return presentSample(node);
  }
}

function firstLine(text: string): string {
  const line = text.split("\n")[0];
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

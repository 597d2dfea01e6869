// Unit tests of the ReST-EM dashboard's data (src/ui/dashboardModel.ts): a real run store is
// built with the engine's own writers (createRun on examples/problems, EventLog, JsonlAppender,
// writeJsonAtomic), laid out the way src/restem/loop.ts writes it, and loadDashboardData must
// read back the exact numbers; plus interrupted-run detection, resume bookkeeping, the live
// progress reducer and the page protocol helpers.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {
  countByProblem,
  createRun,
  estepMetrics,
  evalMetrics,
  EventLog,
  filterSamples,
  JsonlAppender,
  parseConfig,
  readSplits,
  readStatus,
  runPaths,
  writeAtomic,
  writeJsonAtomic,
  type EStepMetrics,
  type IterationMetrics,
  type MStepMetrics,
  type RunEvent,
  type RunPaths,
  type SampleRecord,
  type StoredEvent,
} from "../../src/restem";
import {
  applyProgress,
  buildValidationSeries,
  dashboardHtml,
  doneSummaries,
  effectiveStatus,
  loadDashboardData,
  parsePageMessage,
  phaseSeconds,
  stateRunId,
  throttleDelay,
  type LiveProgress,
} from "../../src/ui/dashboardModel";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const START = Date.UTC(2024, 4, 1, 12, 0, 0);

/** A run store under a temp dir with one run on examples/problems (3 train, 1 validation, 2 test). */
async function newRun(store: string): Promise<{ id: string; paths: RunPaths; train: string[]; test: string[] }> {
  const config = parseConfig(
    { problems: path.join(REPO_ROOT, "examples/problems"), model: path.join(REPO_ROOT, "demo/model"), iterations: 2, sampling: { samplesPerProblem: 4 }, evaluation: { passK: [1, 2], samples: 4 } },
    "restem.json",
  );
  const id = await createRun(store, config);
  const paths = runPaths(store, id);
  const splits = await readSplits(paths);
  return { id, paths, train: splits.train, test: splits.test };
}

/** n judged samples per problem, the first `correct[p]` of problem p with reward 1 (distinct programs). */
function judged(problemIds: readonly string[], correct: readonly number[], n: number, tag: Record<string, string> = {}): (SampleRecord & Record<string, unknown>)[] {
  return problemIds.flatMap((problemId, p) =>
    Array.from({ length: n }, (_, index) => ({
      problem_id: problemId,
      index,
      code: `print(${JSON.stringify(problemId)}, ${index})`,
      reward: index < correct[p] ? 1 : 0,
      results: [index < correct[p]],
      error: index < correct[p] ? null : "wrong answer",
      ms: 10,
      tokens: 12,
      finish_reason: "eos",
      failed: false,
      ...tag,
    })),
  );
}

async function appendAll(file: string, records: readonly unknown[]): Promise<void> {
  const appender = new JsonlAppender(file);
  await Promise.all(records.map((r) => appender.append(r)));
  await appender.flush();
}

/** Writes one evaluation (eval.jsonl, metrics.json) as evaluatePhase does; returns its eval metrics. */
async function evaluation(paths: RunPaths, run: { train: string[]; test: string[] }, i: number, counts: { greedyTest: number[]; sampledTest: number[]; greedyTrain: number[] }, parts: Pick<IterationMetrics, "estep" | "mstep">): Promise<Record<string, unknown>> {
  const greedyTest = judged(run.test, counts.greedyTest, 1, { kind: "greedy", split: "test" });
  const sampledTest = judged(run.test, counts.sampledTest, 4, { kind: "sampled", split: "test" });
  const greedyTrain = judged(run.train, counts.greedyTrain, 1, { kind: "greedy", split: "train" });
  await appendAll(paths.iteration(i).eval, [...greedyTest, ...sampledTest, ...greedyTrain]);
  const metrics = evalMetrics(countByProblem(greedyTest), countByProblem(sampledTest), [1, 2], countByProblem(greedyTrain));
  const record: IterationMetrics = { iteration: i, model: i === 0 ? "base" : `iter-${i}/weights`, ...parts, eval: metrics };
  await writeJsonAtomic(paths.iteration(i).metrics, record);
  return { ...metrics };
}

/** E-step and filter of iteration i (samples.jsonl, kept.jsonl); returns the filter's summary. */
async function estepAndFilter(log: EventLog, at: (s: number) => void, paths: RunPaths, train: string[], i: number, correct: number[], seconds: [number, number]): Promise<EStepMetrics> {
  at(seconds[0]);
  await log.emit({ type: "phase_started", iteration: i, phase: "estep", total: train.length * 4 });
  const samples = judged(train, correct, 4);
  await appendAll(paths.iteration(i).samples, samples);
  at(seconds[1]);
  await log.emit({ type: "phase_done", iteration: i, phase: "estep", summary: { samples: samples.length, correct: samples.filter((s) => s.reward > 0).length } });
  await log.emit({ type: "phase_started", iteration: i, phase: "filter", total: train.length });
  const kept = filterSamples(samples, { maxPerProblem: 10, dedupe: true });
  await writeAtomic(paths.iteration(i).kept, kept.map((k) => JSON.stringify(k) + "\n").join(""));
  const summary = estepMetrics(samples, kept.length);
  await log.emit({ type: "phase_done", iteration: i, phase: "filter", summary: { ...summary } });
  return summary;
}

/** The M-step's logged steps (train.jsonl) and validation events, as mStep writes them. */
async function trainSteps(log: EventLog, paths: RunPaths, i: number, losses: number[], tokensPerSecond: number[], validations: [number, number, boolean][]): Promise<void> {
  await log.emit({ type: "phase_started", iteration: i, phase: "mstep", total: 3 });
  const lines = losses.map((loss, s) => ({ time: new Date(START).toISOString(), step: s + 1, epoch: 0, loss, lr: 1e-4, tokens_per_second: tokensPerSecond[s] }));
  await appendAll(paths.iteration(i).train, lines);
  for (const [step, score, best] of validations) await log.emit({ type: "validation", iteration: i, step, score, best });
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", ""]);
  assert.ok(child.pid);
  return child.pid;
}

describe("dashboard model", () => {
  let store: string;
  beforeEach(async () => {
    store = await mkdtemp(path.join(os.tmpdir(), "restem-dashboard-"));
  });
  afterEach(async () => rm(store, { recursive: true, force: true }));

  it("reads a run's rows, curves and throughput from a real store, and sees it was interrupted", async () => {
    const run = await newRun(store);
    const { paths } = run;
    assert.deepEqual([run.train.length, run.test.length], [3, 2]);
    let nowMs = START;
    const at = (seconds: number): void => void (nowMs = START + seconds * 1000);
    const log = new EventLog(paths.events, undefined, () => new Date(nowMs));
    await log.emit({ type: "run_started", id: run.id, iterations: 2, variant: "restem", problems: 6, splits: { train: 3, validation: 1, test: 2 } });

    // Iteration 0: greedy test 1/2, sampled test 2/4 and 0/4, greedy train 1/3.
    await log.emit({ type: "phase_started", iteration: 0, phase: "eval", total: 13 });
    const eval0 = await evaluation(paths, run, 0, { greedyTest: [1, 0], sampledTest: [2, 0], greedyTrain: [1, 0, 0] }, { estep: null, mstep: null });
    await log.emit({ type: "phase_done", iteration: 0, phase: "eval", summary: eval0 });

    // Iteration 1: E-step 100 s -> 106 s (12 samples, 4 correct), M-step of 4 steps, evaluation.
    const filter1 = await estepAndFilter(log, at, paths, run.train, 1, [3, 1, 0], [100, 106]);
    await trainSteps(log, paths, 1, [1.2, 0.9, 0.7, 0.6], [100, 200, 300, 400], [[2, 0.5, true], [4, 0.5, false]]);
    const mstep1: MStepMetrics = { start: "base", examples: 4, steps: 4, best_validation_reward: 0.5, validations: 2, final_loss: 0.6, seconds: 12.5 };
    await log.emit({ type: "phase_done", iteration: 1, phase: "mstep", summary: { ...mstep1 } });
    await log.emit({ type: "phase_started", iteration: 1, phase: "eval", total: 13 });
    const eval1 = await evaluation(paths, run, 1, { greedyTest: [1, 1], sampledTest: [4, 1], greedyTrain: [1, 1, 0] }, { estep: filter1, mstep: mstep1 });
    await log.emit({ type: "phase_done", iteration: 1, phase: "eval", summary: eval1 });

    // Iteration 2: E-step 200 s -> 204 s (12 samples, 7 correct), M-step killed after 2 steps.
    await estepAndFilter(log, at, paths, run.train, 2, [4, 2, 1], [200, 204]);
    await trainSteps(log, paths, 2, [1.0, 0.8], [50, 70], [[1, 0.25, true]]);
    await log.flush();
    const status = await readStatus(paths);
    assert.ok(status);
    await writeJsonAtomic(paths.status, { ...status, current: { iteration: 2, phase: "mstep" }, pid: deadPid() });

    const data = await loadDashboardData(store, run.id);
    assert.deepEqual(JSON.parse(JSON.stringify(data)), data, "plain JSON");
    assert.equal(data.runId, run.id);
    assert.equal(data.status, "interrupted");
    assert.equal(data.variant, "restem");
    assert.equal(data.iterations, 2);
    assert.deepEqual(data.current, { iteration: 2, phase: "mstep" });
    assert.deepEqual(data.passK, ["1", "2"]);
    assert.deepEqual(
      data.rows.map((r) => r.iteration),
      [0, 1, 2],
    );
    const [row0, row1, row2] = data.rows;
    assert.equal(row0.testPassAt1, 0.5);
    assert.equal(row0.passAtK["1"], 0.25);
    assert.ok(Math.abs(row0.passAtK["2"] - 5 / 12) < 1e-12); // (1 - C(2,2)/C(4,2) + 0) / 2
    assert.ok(Math.abs((row0.trainTestGap ?? NaN) - (1 / 3 - 0.5)) < 1e-12);
    assert.equal(row0.kept, null);
    assert.equal(row0.mstepSteps, null);

    assert.equal(row1.testPassAt1, 1);
    assert.deepEqual(row1.passAtK, { "1": 0.625, "2": 0.75 });
    assert.ok(Math.abs((row1.trainPassAt1 ?? NaN) - 2 / 3) < 1e-12);
    assert.ok(Math.abs((row1.estepTrainPassRate ?? NaN) - 2 / 3) < 1e-12);
    assert.equal(row1.kept, 4);
    assert.ok(Math.abs((row1.keptFraction ?? NaN) - 1 / 3) < 1e-12);
    assert.deepEqual([row1.mstepSteps, row1.mstepFinalLoss, row1.mstepBestValidation, row1.mstepSeconds, row1.evaluated], [4, 0.6, 0.5, 12.5, true]);

    // Iteration 2 has no metrics.json yet: its E-step numbers come from the filter's phase_done.
    assert.equal(row2.evaluated, false);
    assert.equal(row2.testPassAt1, null);
    assert.deepEqual([row2.estepTrainPassRate, row2.kept, row2.estepSamples, row2.mstepSteps], [1, 7, 12, null]);
    assert.ok(Math.abs((row2.keptFraction ?? NaN) - 7 / 12) < 1e-12);

    assert.deepEqual(data.series.loss, [
      { iteration: 1, points: [{ step: 1, loss: 1.2 }, { step: 2, loss: 0.9 }, { step: 3, loss: 0.7 }, { step: 4, loss: 0.6 }] },
      { iteration: 2, points: [{ step: 1, loss: 1.0 }, { step: 2, loss: 0.8 }] },
    ]);
    assert.deepEqual(data.series.validation, [
      { iteration: 1, points: [{ step: 2, score: 0.5, best: true }, { step: 4, score: 0.5, best: false }] },
      { iteration: 2, points: [{ step: 1, score: 0.25, best: true }] },
    ]);
    assert.deepEqual(data.throughput, [
      { iteration: 1, estepSamples: 12, estepSeconds: 6, estepSamplesPerSecond: 2, trainSteps: 4, trainTokensPerSecond: 250 },
      { iteration: 2, estepSamples: 12, estepSeconds: 4, estepSamplesPerSecond: 3, trainSteps: 2, trainTokensPerSecond: 60 },
    ]);
    assert.equal(data.live, undefined);
  });

  it("shows a fresh run with no evaluation, and refuses a run that does not exist", async () => {
    const run = await newRun(store);
    const data = await loadDashboardData(store, run.id);
    assert.equal(data.status, "running", "createRun's pid is this process, which is alive");
    assert.deepEqual([data.rows, data.passK, data.series.loss, data.series.validation, data.throughput], [[], [], [], [], []]);
    assert.deepEqual([data.current, data.message, data.iterations], [null, null, 2]);
    await assert.rejects(loadDashboardData(store, "20240101-000000-000-abcd"), /no run 20240101-000000-000-abcd/);
  });

  it("tells a running run from an interrupted one by its process", async () => {
    const run = await newRun(store);
    const status = await readStatus(run.paths);
    assert.ok(status);
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      assert.ok(child.pid);
      await writeJsonAtomic(run.paths.status, { ...status, pid: child.pid });
      assert.equal((await loadDashboardData(store, run.id)).status, "running");
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill();
      await exited;
    }
    assert.equal((await loadDashboardData(store, run.id)).status, "interrupted");
    await writeJsonAtomic(run.paths.status, { ...status, status: "failed", message: "sandbox image missing", pid: deadPid() });
    const failed = await loadDashboardData(store, run.id);
    assert.deepEqual([failed.status, failed.message], ["failed", "sandbox image missing"]);
    const alive = (): boolean => true;
    const dead = (): boolean => false;
    assert.equal(effectiveStatus({ ...status, status: "running" }, alive), "running");
    assert.equal(effectiveStatus({ ...status, status: "running" }, dead), "interrupted");
    assert.equal(effectiveStatus({ ...status, status: "completed" }, dead), "completed");
    assert.equal(effectiveStatus({ ...status, status: "cancelled" }, alive), "cancelled");
  });

  it("drops work that a resume redoes and counts the time of every attempt", () => {
    const t = (s: number): string => new Date(START + s * 1000).toISOString();
    const events: StoredEvent[] = [
      { time: t(0), type: "phase_started", iteration: 1, phase: "estep", total: 10 },
      { time: t(3), type: "problem_error", iteration: 1, phase: "estep", problem_id: "train/1", message: "x" },
      { time: t(100), type: "run_resumed", id: "r", iteration: 1, phase: "estep" },
      { time: t(101), type: "phase_started", iteration: 1, phase: "estep", total: 10 },
      { time: t(103), type: "phase_done", iteration: 1, phase: "estep", summary: { samples: 10, correct: 2 } },
      { time: t(104), type: "phase_done", iteration: 1, phase: "filter", summary: { kept: 2 } },
      { time: t(105), type: "phase_started", iteration: 1, phase: "mstep", total: 3 },
      { time: t(106), type: "validation", iteration: 1, step: 1, score: 0.1, best: true },
      { time: t(107), type: "phase_done", iteration: 1, phase: "mstep", summary: { steps: 1 } },
      { time: t(108), type: "phase_done", iteration: 1, phase: "eval", summary: { pass_at_1: 0.3 } },
      { time: t(200), type: "run_resumed", id: "r", iteration: 1, phase: "mstep" },
      { time: t(201), type: "phase_started", iteration: 1, phase: "mstep", total: 3 },
      { time: t(202), type: "validation", iteration: 1, step: 1, score: 0.4, best: true },
    ];
    assert.deepEqual([...doneSummaries(events).keys()], ["1:estep", "1:filter"]);
    assert.equal(phaseSeconds(events, 1, "estep"), 5); // 3 s before the kill + 2 s after the resume
    assert.equal(phaseSeconds(events, 1, "mstep"), 2); // the open attempt is not counted
    assert.deepEqual(buildValidationSeries(events), [{ iteration: 1, points: [{ step: 1, score: 0.4, best: true }] }]);
  });

  it("applyProgress follows phases, samples and training steps with a rate", () => {
    const at = (s: number): string => new Date(START + s * 1000).toISOString();
    const events: RunEvent[] = [
      { time: at(0), type: "phase_started", iteration: 1, phase: "estep", total: 100 },
      { time: at(2), type: "sample_judged", iteration: 1, phase: "estep", problem_id: "train/1", index: 0, reward: 1, done: 41, total: 100 },
      { time: at(4), type: "sample_judged", iteration: 1, phase: "estep", problem_id: "train/1", index: 1, reward: 0, done: 50, total: 100 },
    ];
    let live: LiveProgress | null = null;
    for (const event of events) live = applyProgress(live, event);
    assert.ok(live);
    assert.deepEqual([live.iteration, live.phase, live.done, live.total], [1, "estep", 50, 100]);
    assert.equal(live.samplesPerSecond, 2.5); // 10 new samples (41st to 50th; 40 existed) in 4 s
    live = applyProgress(live, { time: at(5), type: "phase_done", iteration: 1, phase: "estep", summary: {} });
    assert.equal(live?.done, 100);
    live = applyProgress(live, { time: at(6), type: "log", message: "hello" });
    assert.equal(live?.phase, "estep");
    live = applyProgress(live, { time: at(7), type: "phase_started", iteration: 1, phase: "mstep", total: 3 });
    assert.deepEqual([live?.phase, live?.total, live?.samplesPerSecond], ["mstep", 0, null]);
    live = applyProgress(live, { time: at(8), type: "train_step", iteration: 1, step: 3, epoch: 0, loss: 0.42, lr: 1e-4, tokensPerSecond: 900 });
    assert.deepEqual([live?.done, live?.loss, live?.tokensPerSecond], [3, 0.42, 900]);
    // A sample of a phase never seen starting opens it; its rate needs a second event.
    const fresh = applyProgress(null, { time: at(9), type: "sample_judged", iteration: 2, phase: "eval", problem_id: "test/5", index: 0, reward: 0, done: 7, total: 26 });
    assert.deepEqual([fresh?.iteration, fresh?.phase, fresh?.done, fresh?.total, fresh?.samplesPerSecond], [2, "eval", 7, 26, null]);
    assert.equal(applyProgress(live, { time: at(10), type: "run_completed" }), null);
    assert.equal(applyProgress(live, { time: at(10), type: "run_failed", message: "boom" }), null);
  });

  it("validates page messages, throttles posts and writes a page under a strict CSP", () => {
    assert.deepEqual(parsePageMessage({ type: "ready" }), { type: "ready" });
    assert.deepEqual(parsePageMessage({ type: "selectRun", runId: "x" }), { type: "selectRun", runId: "x" });
    assert.equal(parsePageMessage({ type: "selectRun" }), null);
    assert.equal(parsePageMessage("ready"), null);
    assert.equal(throttleDelay(null, 1000, 250), 0);
    assert.equal(throttleDelay(1000, 1100, 250), 150);
    assert.equal(throttleDelay(1000, 1300, 250), 0);
    assert.equal(stateRunId({ runId: "20240101-000000-000-abcd", data: null }), "20240101-000000-000-abcd");
    assert.equal(stateRunId(undefined), null);
    const page = dashboardHtml({ cspSource: "vscode-resource:", scriptUri: "s.js", styleUri: "s.css", nonce: "abc123" });
    assert.match(page, /content="default-src 'none'; style-src vscode-resource:; script-src 'nonce-abc123'; img-src vscode-resource: data:"/);
    assert.match(page, /<script nonce="abc123" src="s.js"><\/script>/);
    assert.doesNotMatch(page, /style=/);
  });
});

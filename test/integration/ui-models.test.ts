// The extension's view models against a real run store (test/support/uiRunStore.ts: a real
// two-iteration run made through RunSession with Docker, ONNX Runtime and tfjs): the Runs tree
// (runs -> iterations -> problems -> samples, counts, kept marks, descriptions), the diff
// documents (sample, reference, previous iteration's accepted sample), the dashboard data
// (pass@1 rows, loss curves from train.jsonl, throughput) and the run log lines.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadProblems } from "../../src/problems";
import { readJsonl, runPaths, runProblemId, type IterationMetrics, type KeptRecord, type SampleRecord } from "../../src/restem";
import { loadDashboardData } from "../../src/ui/dashboardModel";
import { acceptedSamples, decodeProgramRef, diffSpecsFor, encodeProgramRef, readProgram } from "../../src/ui/sampleDiffModel";
import { formatRunEvent } from "../../src/ui/runSession";
import { iterationNodes, loadRunNodes, presentIteration, presentNode, presentRun, problemNodes, readIterationSamples, samplesOf } from "../../src/ui/runTreeModel";
import { openJudgeOrSkip } from "./support";
import { uiRunStore, type UiRunStore } from "../support/uiRunStore";

describe("UI models on a real run store (real Docker, ONNX Runtime, tfjs)", function () {
  this.timeout(900_000);
  let made: UiRunStore;

  before(async function () {
    await (await openJudgeOrSkip(this, { concurrency: 1 })).close();
    made = await uiRunStore();
    assert.equal(made.outcome?.status, "completed", JSON.stringify(made.events.filter((e) => e.type === "run_failed" || e.type === "problem_error")));
  });

  it("the Runs tree: a completed run with iterations 0..2, per-problem counts that match samples.jsonl and kept.jsonl", async () => {
    const runs = await loadRunNodes(made.store);
    assert.equal(runs.length, 1);
    const run = runs[0];
    assert.equal(run.runId, made.runId);
    assert.equal(run.status, "completed");
    assert.equal(presentRun(run).contextValue, "run.completed");
    assert.match(presentRun(run).description, /^completed · pass@1 \d+\.\d% → \d+\.\d%$/);

    const iterations = iterationNodes(run);
    assert.deepEqual(iterations.map((i) => [i.iteration, i.state]), [[0, "done"], [1, "done"], [2, "done"]]);
    const metrics = JSON.parse(await readFile(runPaths(made.store, made.runId).iteration(1).metrics, "utf8")) as IterationMetrics;
    assert.match(presentIteration(iterations[1]).description, new RegExp(`test pass@1 ${(metrics.eval.pass_at_1 * 100).toFixed(1)}%`));
    assert.match(presentIteration(iterations[1]).description, new RegExp(`kept ${metrics.estep?.kept}/${metrics.estep?.samples}`));

    const iter1 = runPaths(made.store, made.runId).iteration(1);
    const records = await readJsonl<SampleRecord>(iter1.samples);
    const kept = await readJsonl<KeptRecord>(iter1.kept);
    assert.ok(kept.length > 0, "the E-step of iteration 1 kept no program: the UI test has nothing to diff");
    const samples = await readIterationSamples(made.store, made.runId, 1);
    const problems = problemNodes(made.store, made.runId, 1, samples);
    const evalRecords = await readJsonl<SampleRecord>(iter1.eval);
    assert.equal(problems.reduce((n, p) => n + p.samples, 0), records.length + evalRecords.length);
    assert.equal(problems.reduce((n, p) => n + p.kept, 0), kept.length);
    for (const problem of problems) {
      const expectedCorrect = [...records, ...evalRecords].filter((r) => r.problem_id === problem.problemId && r.reward > 0).length;
      assert.equal(problem.correct, expectedCorrect, problem.problemId);
    }
    const keptProblem = problems.find((p) => p.problemId === kept[0].problem_id);
    assert.ok(keptProblem);
    const children = samplesOf(samples, keptProblem.problemId);
    const accepted = children.find((s) => s.source === "estep" && s.index === kept[0].index);
    assert.ok(accepted?.kept);
    assert.equal(presentNode(accepted).contextValue, "sample.accepted");
    assert.equal(presentNode(accepted).icon, "kept");
    assert.match(presentNode(keptProblem).description, new RegExp(`^${keptProblem.correct}/${keptProblem.samples} correct · ${keptProblem.kept} kept$`));
  });

  it("the diff documents: the accepted sample, the reference solution, and the previous iteration's accepted sample", async () => {
    const iter2Kept = await acceptedSamples(made.store, made.runId, 2);
    const iter1Kept = await readJsonl<KeptRecord>(runPaths(made.store, made.runId).iteration(1).kept);
    const both = iter2Kept.find((s) => iter1Kept.some((k) => k.problem_id === s.problemId)) ?? iter2Kept[0];
    assert.ok(both, "iteration 2 kept no program");
    const { reference, previous } = diffSpecsFor(both);
    assert.ok(previous);

    const records = await readJsonl<SampleRecord>(runPaths(made.store, made.runId).iteration(2).samples);
    const record = records.find((r) => r.problem_id === both.problemId && r.index === both.index);
    assert.equal(await readProgram(decodeProgramRef(encodeProgramRef(both).query)), record?.code);

    const set = await loadProblems(made.problems);
    const problem = set.problems.find((p) => runProblemId(p) === both.problemId);
    assert.ok(problem && problem.solutions.length > 0);
    assert.equal(await readProgram(decodeProgramRef(encodeProgramRef(reference.left).query)), problem.solutions[0]);

    const earlier = iter1Kept.find((k) => k.problem_id === both.problemId);
    const previousText = await readProgram(decodeProgramRef(encodeProgramRef(previous.left).query));
    assert.equal(previousText, earlier ? earlier.code : `# no accepted sample of ${both.problemId} in iteration 1\n`);
    assert.match(reference.title, new RegExp(`^${both.problemId}: reference ↔ iteration 2 sample ${both.index}$`));
  });

  it("the dashboard data: one row per iteration with the stored metrics, loss curves from train.jsonl, throughput", async () => {
    const data = await loadDashboardData(made.store, made.runId);
    assert.equal(data.runId, made.runId);
    assert.equal(data.status, "completed");
    for (const i of [0, 1, 2]) {
      const metrics = JSON.parse(await readFile(runPaths(made.store, made.runId).iteration(i).metrics, "utf8")) as IterationMetrics;
      const row = data.rows.find((r) => r.iteration === i);
      assert.ok(row, `no row for iteration ${i}`);
      assert.equal(row.testPassAt1, metrics.eval.pass_at_1);
      assert.deepEqual(row.passAtK, metrics.eval.pass_at_k);
      assert.equal(row.keptFraction, metrics.estep?.kept_fraction ?? null);
    }
    for (const i of [1, 2]) {
      const steps = await readJsonl<{ step: number; loss: number }>(runPaths(made.store, made.runId).iteration(i).train);
      assert.ok(steps.length > 0, `iteration ${i} wrote no train.jsonl`);
      const series = data.series.loss.find((s) => s.iteration === i);
      assert.deepEqual(series?.points.map((p) => [p.step, p.loss]), steps.map((s) => [s.step, s.loss]));
      const throughput = data.throughput.find((t) => t.iteration === i);
      assert.ok(throughput && throughput.estepSamplesPerSecond !== null && throughput.estepSamplesPerSecond > 0);
      assert.ok(throughput.trainTokensPerSecond !== null && throughput.trainTokensPerSecond > 0);
    }
  });

  it("the run log: a line per phase with its summary, none per sample", () => {
    const lines = made.events.map(formatRunEvent).filter((l): l is string => l !== null);
    assert.ok(lines.some((l) => /iteration 1: E-step started \(\d+ samples\)/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /iteration 2: M-step done \(.*steps \d+/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => l.endsWith("run completed")));
    const judged = made.events.filter((e) => e.type === "sample_judged").length;
    assert.ok(judged > 0 && lines.length < judged, `${lines.length} lines for ${judged} judged samples`);
    assert.ok(path.isAbsolute(made.store));
  });
});

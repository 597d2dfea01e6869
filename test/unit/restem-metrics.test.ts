// Unit tests of src/restem/metrics.ts: the unbiased pass@k estimator against hand-computed
// values and its edge cases, means over problems, the E-step and evaluation metrics, and the
// summary table.
import assert from "node:assert/strict";
import {
  countByProblem,
  estepMetrics,
  evalMetrics,
  formatSummaryTable,
  keptFraction,
  meanPassAtK,
  passAtK,
  solvedFraction,
  summarizeIteration,
  type IterationMetrics,
} from "../../src/restem";

const close = (actual: number, expected: number, tolerance = 1e-12): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `expected ${expected}, got ${actual}`);

/** 1 - C(n-c, k) / C(n, k) with exact binomials (small n only). */
function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let value = 1;
  for (let i = 1; i <= k; i++) value = (value * (n - k + i)) / i;
  return value;
}

describe("restem metrics: pass@k", () => {
  it("matches hand-computed values", () => {
    close(passAtK(5, 2, 1), 0.4); // 2 of 5
    close(passAtK(5, 2, 2), 0.7); // 1 - C(3,2)/C(5,2) = 1 - 3/10
    close(passAtK(10, 1, 5), 0.5); // 1 - C(9,5)/C(10,5) = 1 - 126/252
    close(passAtK(4, 1, 2), 0.5); // 1 - C(3,2)/C(4,2) = 1 - 3/6
  });

  it("is exactly 0 with no correct sample and exactly 1 when n - c < k", () => {
    assert.equal(passAtK(64, 0, 10), 0);
    assert.equal(passAtK(5, 4, 2), 1); // n - c = 1 < 2
    assert.equal(passAtK(5, 5, 1), 1);
    assert.equal(passAtK(1, 1, 1), 1);
  });

  it("agrees with the binomial formula over a grid", () => {
    for (let n = 1; n <= 20; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) close(passAtK(n, c, k), 1 - binomial(n - c, k) / binomial(n, k), 1e-9);
      }
    }
  });

  it("stays finite and in [0, 1] for large n", () => {
    const value = passAtK(1000, 3, 100);
    assert.ok(value > 0 && value < 1 && Number.isFinite(value));
  });

  it("rejects impossible counts and k > n", () => {
    assert.throws(() => passAtK(5, 6, 1), /0 <= c <= n/);
    assert.throws(() => passAtK(5, 1, 0), /k >= 1/);
    assert.throws(() => passAtK(3, 1, 5), /at least 5 samples/);
  });

  it("averages over problems", () => {
    const counts = [
      { problemId: "a", n: 5, c: 2 },
      { problemId: "b", n: 5, c: 0 },
    ];
    close(meanPassAtK(counts, 1), 0.2);
    close(meanPassAtK(counts, 2), 0.35);
    assert.equal(meanPassAtK([], 1), 0);
  });
});

describe("restem metrics: E-step, evaluation and summaries", () => {
  const rec = (problem_id: string, reward: number, failed = false) => ({ problem_id, reward, failed });

  it("counts per problem and the train pass rate (>= 1 correct)", () => {
    const records = [rec("a", 1), rec("a", 0), rec("b", 0), rec("b", 0), rec("c", 1), rec("c", 1)];
    assert.deepEqual(countByProblem(records), [
      { problemId: "a", n: 2, c: 1 },
      { problemId: "b", n: 2, c: 0 },
      { problemId: "c", n: 2, c: 2 },
    ]);
    close(solvedFraction(countByProblem(records)), 2 / 3);
    const m = estepMetrics([...records, rec("b", 0, true)], 3);
    assert.equal(m.problems, 3);
    assert.equal(m.samples, 7);
    assert.equal(m.correct, 3);
    close(m.train_pass_rate, 2 / 3);
    close(m.train_sample_pass_rate, (0.5 + 0 + 1) / 3);
    assert.equal(m.kept, 3);
    close(m.kept_fraction, 3 / 7);
    assert.equal(m.errors, 1);
    assert.equal(keptFraction(0, 0), 0);
  });

  it("evaluation: greedy pass@1, pass@k from samples, the train–test gap", () => {
    const greedy = [
      { problemId: "t1", n: 1, c: 1 },
      { problemId: "t2", n: 1, c: 0 },
    ];
    const sampled = [
      { problemId: "t1", n: 5, c: 2 },
      { problemId: "t2", n: 5, c: 0 },
    ];
    const train = [
      { problemId: "a", n: 1, c: 1 },
      { problemId: "b", n: 1, c: 1 },
    ];
    const m = evalMetrics(greedy, sampled, [1, 2, 10], train);
    close(m.pass_at_1, 0.5);
    close(m.pass_at_k["1"], 0.2);
    close(m.pass_at_k["2"], 0.35);
    assert.equal(m.pass_at_k["10"], undefined, "k > n is left out");
    assert.equal(m.samples, 5);
    close(m.train_pass_at_1 ?? -1, 1);
    close(m.train_test_gap ?? -1, 0.5);
    assert.equal(evalMetrics(greedy, [], [1], null).train_test_gap, null);
  });

  it("summarises iterations for `restem runs` and prints a table", () => {
    const base: IterationMetrics = { iteration: 0, model: "base", estep: null, mstep: null, eval: evalMetrics([{ problemId: "t", n: 1, c: 0 }], [], [1], null) };
    const one: IterationMetrics = {
      iteration: 1,
      model: "iter-1/weights",
      estep: estepMetrics([rec("a", 1), rec("a", 0)], 1),
      mstep: null,
      eval: evalMetrics([{ problemId: "t", n: 1, c: 1 }], [{ problemId: "t", n: 2, c: 1 }], [1, 2], null),
    };
    const rows = [base, one].map(summarizeIteration);
    assert.equal(rows[0].train_pass_rate, null);
    assert.equal(rows[1].kept, 1);
    close(rows[1].kept_fraction ?? -1, 0.5);
    const table = formatSummaryTable(rows);
    assert.match(table, /pass@1 \(greedy\)/);
    assert.match(table, /pass@2/);
    assert.equal(table.trim().split("\n").length, 3);
  });
});

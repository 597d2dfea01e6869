// Agreement with the official APPS evaluator on call-based programs that return numpy and
// other non-JSON values (0-d arrays, numpy scalars, object arrays, empty arrays, ints beyond
// int64, fractions, ...). The per-test verdicts in
// test/fixtures/official-verdicts/numpy-edge-cases.json were produced by running the
// official eval/testing_util.py (see the fixture's "about"); each program is judged here in
// the real Docker sandbox and must get exactly those verdicts, except where the fixture
// names a departure that README.md (Judging semantics) documents.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Problem } from "../../src/problems";
import type { Judge } from "../../src/sandbox/judge";
import type { TestResult } from "../../src/sandbox/protocol";
import { REPO_ROOT, openJudgeOrSkip } from "./support";

const FIXTURE = path.join(REPO_ROOT, "test/fixtures/official-verdicts/numpy-edge-cases.json");

interface EdgeCase {
  name: string;
  fn_name: string;
  code: string;
  /** Raw JSON text: integers beyond 2^53 must reach the judge exactly. */
  inputs_json: string;
  outputs_json: string;
  /** Per-test results of the official evaluator; null where its driver gives no verdict. */
  official: (TestResult | null)[];
  /** restem's own per-test results, present only where it departs on purpose. */
  restem?: TestResult[];
  departures?: string[];
}

interface Fixture {
  reasons: Record<string, string>;
  cases: EdgeCase[];
}

function problemFor(edge: EdgeCase, index: number): Problem {
  return {
    id: `numpy-edge-${index}`,
    split: null,
    source: FIXTURE,
    question: edge.name,
    starterCode: null,
    fnName: edge.fn_name,
    testCount: edge.official.length,
    inputsJson: edge.inputs_json,
    outputsJson: edge.outputs_json,
    solutions: [],
    difficulty: null,
    url: null,
  };
}

function expectedOf(edge: EdgeCase): TestResult[] {
  return edge.restem ?? (edge.official as TestResult[]);
}

describe("sandbox judge: official verdicts for numpy and other non-JSON return values (real Docker)", function () {
  this.timeout(600_000);
  const fixture = JSON.parse(readFileSync(FIXTURE, "utf8")) as Fixture;
  let judge: Judge;
  let strictJudge: Judge;

  before(async function () {
    judge = await openJudgeOrSkip(this);
    strictJudge = await openJudgeOrSkip(this, { strict: true, concurrency: 1 });
  });
  after(async () => {
    await judge?.close();
    await strictJudge?.close();
  });

  it("names a documented reason for every departure, and departs only where the official driver has no verdict or the value is opaque", () => {
    for (const edge of fixture.cases) {
      assert.equal(edge.official.length, JSON.parse(edge.outputs_json).length, edge.name);
      if (edge.restem === undefined) {
        assert.ok(!edge.official.includes(null), `${edge.name}: a missing official verdict needs a departure`);
        continue;
      }
      assert.ok(edge.departures && edge.departures.length > 0, `${edge.name}: departure without a reason`);
      for (const kind of edge.departures) assert.ok(fixture.reasons[kind], `${edge.name}: unknown departure ${kind}`);
      const opaque = edge.departures.includes("opaque-value");
      edge.official.forEach((official, i) => {
        const restem = opaque ? false : official === null ? -1 : official;
        assert.equal(edge.restem?.[i], restem, `${edge.name} test ${i}`);
      });
    }
  });

  it("gives every test of every edge-case program the official verdict (or its documented departure)", async () => {
    const problems = fixture.cases.map(problemFor);
    const verdicts = await judge.judgeAll(fixture.cases.map((edge, i) => ({ problem: problems[i], code: edge.code })));
    const disagreements: string[] = [];
    let tests = 0;
    fixture.cases.forEach((edge, i) => {
      const expected = expectedOf(edge);
      const got = verdicts[i].results;
      tests += expected.length;
      if (got.length !== expected.length) {
        disagreements.push(`${edge.name}: ${got.length} results for ${expected.length} tests (${verdicts[i].error})`);
        return;
      }
      const outputs = JSON.parse(edge.outputs_json) as unknown[];
      expected.forEach((want, t) => {
        if (got[t] !== want) {
          disagreements.push(`${edge.name} vs ${JSON.stringify(outputs[t])}: expected ${want}, restem ${got[t]} (${verdicts[i].details[t]})`);
        }
      });
    });
    console.log(`      ${tests - disagreements.length}/${tests} tests of ${fixture.cases.length} programs agree`);
    for (const line of disagreements.slice(0, 40)) console.log(`      disagreement: ${line}`);
    assert.deepEqual(disagreements, []);
  });

  it("says why a test whose comparison gave an empty array scores -1", async () => {
    const edge = fixture.cases.find((c) => c.name === "numpy empty array");
    assert.ok(edge, "the fixture has the empty-array case");
    const index = fixture.cases.indexOf(edge);
    const verdict = await judge.judge(problemFor(edge, index), edge.code);
    const t = edge.official.indexOf(null);
    assert.equal(verdict.results[t], -1);
    assert.match(verdict.details[t] ?? "", /empty array/);
  });

  it("in strict mode compares numpy scalars by the value they hold and never accepts an array", async () => {
    const problem: Problem = { ...problemFor(fixture.cases[0], 0), testCount: 1, inputsJson: "[[0]]", outputsJson: "[[3]]" };
    const returning = (expression: string): string => `def f(x):\n    return ${expression}\n`;
    assert.deepEqual((await strictJudge.judge(problem, returning("np.int64(3)"))).results, [true]);
    assert.deepEqual((await strictJudge.judge(problem, returning("[np.int64(3)]"))).results, [true]);
    assert.deepEqual((await strictJudge.judge(problem, returning("np.array([3])"))).results, [false]);
    assert.deepEqual((await strictJudge.judge(problem, returning("np.bool_(True)"))).results, [false]);
  });
});

// Judging semantics in the real Docker sandbox: the official APPS evaluator's results
// (true / false / -1 / -2), its comparison cascade, call-based programs, strict mode.
import assert from "node:assert/strict";
import type { Judge } from "../../src/sandbox/judge";
import { lines, openJudgeOrSkip, problemOf } from "./support";

describe("sandbox judge: APPS semantics (real Docker)", function () {
  this.timeout(300_000);
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

  const doubler = problemOf({ inputs: ["3\n", "10\n"], outputs: ["6\n", "20\n"] });

  it("passes a correct standard-input program and records the accepting comparison", async () => {
    const verdict = await judge.judge(doubler, "n = int(input())\nprint(n * 2)\n");
    assert.equal(verdict.passed, true);
    assert.deepEqual(verdict.results, [true, true]);
    assert.deepEqual(verdict.acceptedBy, ["whole_output_stripped", "whole_output_stripped"]);
    assert.equal(verdict.error, null);
  });

  it("scores a wrong answer false per test and the reward 0", async () => {
    const verdict = await judge.judge(doubler, "n = int(input())\nprint(n * 2 if n < 5 else 0)\n");
    assert.equal(verdict.passed, false);
    assert.deepEqual(verdict.results, [true, false]);
    assert.match(verdict.error ?? "", /test 1: wrong answer/);
  });

  it("scores a syntax error as a single -2", async () => {
    const verdict = await judge.judge(doubler, "print(\n");
    assert.deepEqual(verdict.results, [-2]);
    assert.match(verdict.error ?? "", /compile error: SyntaxError/);
  });

  it("scores a runtime error -1 and still runs the next test", async () => {
    const verdict = await judge.judge(doubler, "n = int(input())\nprint(10 // (n - 3) * 0 + n * 2)\n");
    assert.deepEqual(verdict.results, [-1, true]);
    assert.match(verdict.details[0] ?? "", /ZeroDivisionError/);
  });

  it("raises TimeoutException inside the program after the per-test limit", async () => {
    const verdict = await judge.judge(doubler, "n = int(input())\nwhile n == 3:\n    pass\nprint(n * 2)\n");
    assert.deepEqual(verdict.results, [-1, true]);
    assert.match(verdict.details[0] ?? "", /TimeoutException/);
  });

  it("keeps the evaluator's quirks: __main__ guards do not run, exit() is disabled", async () => {
    const guarded = await judge.judge(doubler, lines("def main():", "    print(int(input()) * 2)", "if __name__ == '__main__':", "    main()"));
    assert.deepEqual(guarded.results, [false, false]);
    const exits = await judge.judge(doubler, "print(int(input()) * 2)\nexit()\n");
    assert.deepEqual(exits.results, [-1, -1]);
    const sysExit = await judge.judge(doubler, "import sys\nprint(int(input()) * 2)\nsys.exit(0)\n");
    assert.deepEqual(sysExit.results, [true, true]);
  });

  it("serves the input through sys.stdin, its read methods and open()", async () => {
    const problem = problemOf({ inputs: ["1 2\n3 4\n"], outputs: ["3\n7\n"] });
    for (const code of [
      "import sys\nfor line in sys.stdin:\n    a, b = map(int, line.split())\n    print(a + b)",
      "import sys\ndata = sys.stdin.read().split()\nprint(int(data[0]) + int(data[1]))\nprint(int(data[2]) + int(data[3]))",
      "import sys\nfor _ in range(2):\n    a, b = map(int, sys.stdin.readline().split())\n    print(a + b)",
      "rows = open(0).read().split('\\n')\nfor row in rows[:2]:\n    print(sum(map(int, row.split())))",
    ]) {
      const verdict = await judge.judge(problem, code);
      assert.deepEqual(verdict.results, [true], code);
    }
  });

  it("accepts through the lenient comparisons and rejects them in strict mode", async () => {
    const cases = [
      { expected: "1 2 3\n", code: "print('3 2 1')", accepted: "token_set_of_sets" },
      { expected: "0.3333333\n", code: "print(1/3)", accepted: "float_lines_allclose" },
      { expected: "1 2\n", code: "print('2 1 1')", accepted: "token_set_of_sets" },
    ];
    for (const { expected, code, accepted } of cases) {
      const problem = problemOf({ inputs: ["\n"], outputs: [expected] });
      const lenient = await judge.judge(problem, code);
      assert.deepEqual([lenient.results, lenient.acceptedBy], [[true], [accepted]], code);
      assert.deepEqual((await strictJudge.judge(problem, code)).results, [false], code);
    }
    const trailing = await strictJudge.judge(problemOf({ inputs: ["\n"], outputs: ["1 2 3\n"] }), "print('1 2 3   ')\nprint()");
    assert.deepEqual([trailing.results, trailing.acceptedBy], [[true], ["strict_lines"]]);
  });

  it("calls a call-based function per test, unwrapping the dataset's list-wrapped outputs", async () => {
    const problem = problemOf({ fnName: "add", inputs: [[1, 2], [3, 4], [[1], [2]]], outputs: [[3], 7, [[1, 2]]] });
    const verdict = await judge.judge(problem, "def add(a, b):\n    return a + b\n");
    assert.deepEqual(verdict.results, [true, true, true]);
    assert.deepEqual(verdict.acceptedBy, ["equal_first_expected", "equal", "equal_first_expected"]);
  });

  it("instantiates a LeetCode class Solution once and compares tuples as lists", async () => {
    const problem = problemOf({ fnName: "pair", inputs: [[2], [5]], outputs: [[[2, 2]], [[5, 5]]] });
    const verdict = await judge.judge(problem, "class Solution:\n    def pair(self, x):\n        return (x, x)\n");
    assert.deepEqual(verdict.results, [true, true]);
    const missing = await judge.judge(problem, "class Solution:\n    def other(self, x):\n        return x\n");
    assert.deepEqual(missing.results, [-2]);
    assert.match(missing.error ?? "", /cannot find 'pair'/);
  });

  it("compares integers beyond 2^53 exactly and booleans strictly only in strict mode", async () => {
    const big = problemOf({ fnName: "f", inputs: [[]], outputs: [] });
    big.outputsJson = "[[12345678901234567891]]";
    assert.deepEqual((await judge.judge(big, "def f():\n    return 12345678901234567891\n")).results, [true]);
    assert.deepEqual((await judge.judge(big, "def f():\n    return 12345678901234567890\n")).results, [false]);
    const truth = problemOf({ fnName: "f", inputs: [[]], outputs: [[true]] });
    assert.deepEqual((await judge.judge(truth, "def f():\n    return 1\n")).results, [true]);
    assert.deepEqual((await strictJudge.judge(truth, "def f():\n    return 1\n")).results, [false]);
    assert.deepEqual((await strictJudge.judge(truth, "def f():\n    return True\n")).results, [true]);
  });

  it("never lets a returned object's own __eq__ decide (documented departure)", async () => {
    const problem = problemOf({ fnName: "f", inputs: [[]], outputs: [[42]] });
    const cheat = "class Anything:\n    def __eq__(self, other):\n        return True\ndef f():\n    return Anything()\n";
    assert.deepEqual((await judge.judge(problem, cheat)).results, [false]);
  });

  it("fails a global timeout with -1 on every test", async function () {
    const quick = await openJudgeOrSkip(this, { concurrency: 1, limits: { timeoutS: 1, globalTimeoutS: 3 } });
    try {
      const code = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n";
      const verdict = await quick.judge(doubler, code);
      assert.deepEqual(verdict.results, [-1, -1]);
      assert.match(verdict.error ?? "", /global time limit/);
      assert.deepEqual((await quick.judge(doubler, "print(int(input()) * 2)")).results, [true, true]);
    } finally {
      await quick.close();
    }
  });
});

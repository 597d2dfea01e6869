// Unit tests of the Judge facade over a fake slot factory: the reward rule, the retry of a
// sandbox failure on a fresh container, and the failed verdict when the sandbox keeps failing.
// The real containers are exercised by test/integration/sandbox.test.ts and adversarial.test.ts.
import assert from "node:assert/strict";
import type { SandboxSlot } from "../../src/sandbox/container";
import { Judge, allTestsPassed } from "../../src/sandbox/judge";
import { APPS_LIMITS, type VerdictFrame } from "../../src/sandbox/protocol";
import type { Problem } from "../../src/problems";

const problem: Problem = {
  id: "p",
  split: null,
  source: "(test)",
  question: "",
  starterCode: null,
  fnName: null,
  testCount: 2,
  inputsJson: '["1", "2"]',
  outputsJson: '["1", "2"]',
  solutions: [],
  difficulty: null,
  url: null,
};

function verdictFrame(results: VerdictFrame["results"]): VerdictFrame {
  return { op: "verdict", id: 1, results, accepted_by: results.map(() => null), details: results.map(() => null), error: null, clean: true, ms: 1 };
}

class ScriptedSlot implements SandboxSlot {
  healthy = true;
  constructor(
    readonly name: string,
    private readonly outcome: () => VerdictFrame,
  ) {}
  async run(): Promise<VerdictFrame> {
    try {
      return this.outcome();
    } catch (error) {
      this.healthy = false;
      throw error;
    }
  }
  async dispose(): Promise<void> {}
}

describe("judge facade", () => {
  it("rewards only a verdict where every test is true", () => {
    assert.equal(allTestsPassed([true, true], 2), true);
    assert.equal(allTestsPassed([true, false], 2), false);
    assert.equal(allTestsPassed([true, -1], 2), false);
    assert.equal(allTestsPassed([-2], 2), false);
    assert.equal(allTestsPassed([true], 2), false, "a missing result is not a pass");
    assert.equal(allTestsPassed([], 0), false, "a problem without tests rewards nothing");
  });

  it("retries a sandbox failure once on a fresh container", async () => {
    let started = 0;
    const judge = Judge.withFactory(
      async () => {
        started++;
        return new ScriptedSlot(`slot-${started}`, () => {
          if (started === 1) throw new Error("judge server exited");
          return verdictFrame([true, true]);
        });
      },
      1,
      APPS_LIMITS,
      false,
    );
    const verdict = await judge.judge(problem, "print(1)");
    assert.equal(verdict.passed, true);
    assert.equal(started, 2);
    await judge.close();
  });

  it("scores -1 on every test with the reason when the sandbox keeps failing", async () => {
    const judge = Judge.withFactory(async () => new ScriptedSlot("bad", () => {
      throw new Error("sandbox stopped answering");
    }), 1, APPS_LIMITS, false);
    const verdict = await judge.judge(problem, "print(1)");
    assert.equal(verdict.passed, false);
    assert.deepEqual(verdict.results, [-1, -1]);
    assert.match(verdict.error ?? "", /sandbox failure: sandbox stopped answering/);
    await judge.close();
  });

  it("returns judgeAll verdicts in input order", async () => {
    let calls = 0;
    const judge = Judge.withFactory(async () => new ScriptedSlot("s", () => verdictFrame(calls++ % 2 === 0 ? [true, true] : [false, true])), 2, APPS_LIMITS, false);
    const verdicts = await judge.judgeAll(Array.from({ length: 6 }, (_, i) => ({ problem, code: String(i) })));
    assert.equal(verdicts.length, 6);
    assert.ok(verdicts.every((v) => v.problemId === "p"));
    await judge.close();
  });
});

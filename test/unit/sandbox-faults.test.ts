// Unit tests of the sandbox-fault rules that need no Docker: the judge's retry window and its
// line between "Docker is lost" (a sandbox failure, no verdict) and "this program kills its
// container" (a runtime error); which sample records are verdicts; container owners; the
// memory floor; UTF-8 and surrogate checks on input. A fake slot factory stands in for the
// containers; test/integration/faults-sandbox.test.ts does the same with real Docker.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { firstInvalidUtf8 } from "../../src/cli/programs";
import { loneSurrogateAt } from "../../src/sandbox/judge";
import type { Problem } from "../../src/problems";
import { currentRecords, isSandboxFailure, judgedRecords, type SampleRecord } from "../../src/restem/samples";
import type { SandboxSlot } from "../../src/sandbox/container";
import { checkMemoryLimit, defaultRetryWindowMs, Judge } from "../../src/sandbox/judge";
import { OWNER_HOST_LABEL, OWNER_PID_LABEL, OWNER_START_LABEL, ownerLabels, ownerState, processStartTime } from "../../src/sandbox/owners";
import { APPS_LIMITS, type VerdictFrame } from "../../src/sandbox/protocol";

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

const passing: VerdictFrame = { op: "verdict", id: 1, results: [true, true], accepted_by: [null, null], details: [null, null], error: null, clean: true, ms: 1 };

class DyingSlot implements SandboxSlot {
  healthy = true;
  constructor(readonly name: string) {}
  async run(): Promise<VerdictFrame> {
    this.healthy = false;
    throw new Error("sandbox judge server exited");
  }
  async dispose(): Promise<void> {}
}

function record(fields: Partial<SampleRecord>): SampleRecord {
  return { problem_id: "p", index: 0, code: "x", reward: 0, results: [false], error: null, ms: 1, tokens: 1, finish_reason: "eos", failed: false, ...fields };
}

describe("sandbox faults: the judge's retry window", () => {
  it("keeps retrying while Docker is lost and judges the program once it is back", async () => {
    let docker = false;
    setTimeout(() => (docker = true), 300);
    const judge = Judge.withFactory(
      async () => {
        if (!docker) throw new Error("connect ECONNREFUSED");
        return { name: "s", healthy: true, run: async () => passing, dispose: async () => undefined };
      },
      1,
      APPS_LIMITS,
      false,
      { retryWindowMs: 5_000, probe: async () => docker },
    );
    const verdict = await judge.judge(problem, "print(1)");
    assert.equal(verdict.passed, true);
    assert.equal(verdict.sandboxFailure, false);
    await judge.close();
  });

  it("past the window, returns a sandbox failure: no verdict, not a wrong program", async () => {
    const logs: string[] = [];
    const judge = Judge.withFactory(
      async () => {
        throw new Error("connect ECONNREFUSED");
      },
      1,
      APPS_LIMITS,
      false,
      { retryWindowMs: 200, probe: async () => false, onLog: (l) => logs.push(l) },
    );
    const verdict = await judge.judge(problem, "print(1)");
    assert.equal(verdict.sandboxFailure, true);
    assert.match(verdict.error ?? "", /^sandbox failure: connect ECONNREFUSED/);
    assert.ok(verdict.ms >= 200, "waited for the window");
    assert.ok(logs.some((l) => /sandbox unavailable .*retrying for up to/.test(l)));
    await judge.close();
  });

  it("blames a program that kills three fresh containers while Docker answers (runtime error, not a sandbox failure)", async () => {
    let started = 0;
    const judge = Judge.withFactory(async () => new DyingSlot(`s${started++}`), 1, APPS_LIMITS, false, { retryWindowMs: 5_000, probe: async () => true });
    const verdict = await judge.judge(problem, "import os; os.kill(1, 9)");
    assert.equal(verdict.sandboxFailure, false);
    assert.deepEqual(verdict.results, [-1, -1]);
    assert.match(verdict.error ?? "", /died 3 times/);
    assert.equal(started, 3);
    await judge.close();
  });

  it("judges an empty program as 'the program is empty' without a container", async () => {
    const judge = Judge.withFactory(async () => assert.fail("no container needed"), 1, APPS_LIMITS, false);
    for (const code of ["", "  \n\t\n"]) {
      const verdict = await judge.judge(problem, code);
      assert.deepEqual(verdict.results, [-2]);
      assert.equal(verdict.error, "compile error: the program is empty");
    }
    assert.equal((await judge.judge(problem, "# todo\n\n  # later\n")).error, "compile error: the program is empty (only comments)");
    assert.match((await judge.judge(problem, "print('\udc80')")).error ?? "", /not valid Unicode/);
    await judge.close();
  });

  it("reads RESTEM_SANDBOX_RETRY_S", () => {
    assert.equal(defaultRetryWindowMs({}), 60_000);
    assert.equal(defaultRetryWindowMs({ RESTEM_SANDBOX_RETRY_S: "2.5" }), 2_500);
    assert.throws(() => defaultRetryWindowMs({ RESTEM_SANDBOX_RETRY_S: "soon" }), /RESTEM_SANDBOX_RETRY_S/);
  });
});

describe("sandbox faults: records, owners, limits, input", () => {
  it("counts a sample once, by its last record, and a sandbox failure never", () => {
    const old = record({ index: 1, failed: true, error: "sandbox failure: connect ECONNREFUSED" });
    const marked = record({ index: 2, failed: true, sandbox_failure: true, error: "sandbox failure: write EPIPE" });
    const rejudged = record({ index: 2, reward: 1, results: [true] });
    const records = [record({ index: 0 }), old, marked, rejudged];
    assert.ok(isSandboxFailure(old), "older restem's form");
    assert.ok(isSandboxFailure(marked));
    assert.ok(!isSandboxFailure(record({ failed: true, error: "generation failed: x" })));
    assert.deepEqual(currentRecords(records), [records[0], old, rejudged]);
    assert.deepEqual(judgedRecords(records), [records[0], rejudged]);
  });

  it("knows a live owner, a dead one and another host's", async () => {
    const mine = ownerLabels("img", "judge");
    assert.equal(mine[OWNER_PID_LABEL], String(process.pid));
    assert.equal(ownerState(mine, "c"), "alive");
    assert.equal(ownerState({ ...mine, [OWNER_START_LABEL]: "1" }, "c"), "dead", "a recycled pid is not the owner");
    assert.equal(ownerState({ ...mine, [OWNER_HOST_LABEL]: "elsewhere" }, "c"), "unknown");
    const child = spawn("true");
    const pid = child.pid!;
    const start = processStartTime(pid) ?? "0";
    await new Promise((resolve) => child.on("exit", resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(ownerState({ ...mine, [OWNER_PID_LABEL]: String(pid), [OWNER_START_LABEL]: start }, "c"), "dead");
    assert.equal(ownerState({}, `restem-judge-${process.pid}-x-0`), "alive", "older containers: the pid in the name");
  });

  it("refuses a memory limit below the floor, naming what was given", () => {
    assert.throws(() => checkMemoryLimit(1 << 20, "--memory-mb"), /--memory-mb is 1 MiB, below the minimum of 96 MiB/);
    assert.doesNotThrow(() => checkMemoryLimit(96 << 20, "--memory-mb"));
  });

  it("finds the first byte that is not UTF-8 and lone surrogates", () => {
    assert.equal(firstInvalidUtf8(Buffer.from("héllo ✓ 😀")), -1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe9, 0x62])), 1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xf0, 0x9f])), 1, "a sequence cut short");
    assert.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), 0, "an encoded surrogate");
    assert.equal(loneSurrogateAt("ok 😀"), -1);
    assert.equal(loneSurrogateAt("ab\udc80"), 2);
    assert.equal(loneSurrogateAt("\ud83d"), 0);
  });
});

// Integration test of the bundled demo problems against the real Docker sandbox: every "human"
// solution in demo/problems/*/*/solutions.json passes all of its problem's tests (the demo's SFT
// baseline trains on them, so they must be correct). About 900 short programs, a few seconds.

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { loadProblems } from "../../src/problems";
import type { Judge } from "../../src/sandbox/judge";
import { openJudgeOrSkip, REPO_ROOT } from "./support";

describe("demo assets (Docker sandbox)", function () {
  this.timeout(120_000);
  let judge: Judge | null = null;

  after(async () => {
    await judge?.close();
  });

  it("every human solution of demo/problems passes its tests", async function () {
    const set = await loadProblems(path.join(REPO_ROOT, "demo", "problems"));
    assert.deepEqual(set.errors, []);
    judge = await openJudgeOrSkip(this);
    const items = set.problems.flatMap((problem) => problem.solutions.map((code) => ({ problem, code })));
    const verdicts = await judge.judgeAll(items);
    const failed = verdicts.flatMap((verdict, i) => (verdict.passed ? [] : [`${items[i].problem.id}: ${JSON.stringify(verdict.results)} ${verdict.error ?? ""}`]));
    assert.deepEqual(failed, [], `failing human solutions:\n${failed.slice(0, 10).join("\n")}`);
    assert.ok(items.length >= set.problems.length);
  });
});

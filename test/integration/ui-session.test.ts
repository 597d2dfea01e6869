// The extension's RunSession (what Start Run, Stop Run and Resume Run call) with the real engine:
// a run is stopped at its next safe point after its first judged sample (status "cancelled",
// the Runs tree shows it resumable), a second run cannot start while one is going, and Resume
// continues it to completion without drawing any sample twice.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseConfig, readJsonl, runPaths, type SampleRecord } from "../../src/restem";
import { RunSession } from "../../src/ui/runSession";
import { findPreset } from "../../src/ui/runSettings";
import { loadRunNodes, presentRun } from "../../src/ui/runTreeModel";
import { copyDemoHead } from "../support/demoProblems";
import { openJudgeOrSkip, REPO_ROOT } from "./support";

describe("UI: RunSession stops and resumes a real run (Docker, ONNX Runtime, tfjs)", function () {
  this.timeout(600_000);
  let scratch: string;

  before(async function () {
    await (await openJudgeOrSkip(this, { concurrency: 1 })).close();
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-ui-session-"));
    copyDemoHead(path.join(scratch, "problems"), { train: 8, valid: 3, test: 3 });
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("Stop cancels at a safe point, a second start is refused, Resume completes it with every sample once", async () => {
    const config = parseConfig({ ...findPreset("tiny").config, problems: path.join(scratch, "problems"), model: path.join(REPO_ROOT, "demo/model") }, "(ui session test)");
    const store = path.join(scratch, ".restem");
    const session = new RunSession();
    let stopped = false;
    session.onEvent((_id, event) => {
      if (!stopped && event.type === "sample_judged" && event.phase === "estep") stopped = session.stop();
    });
    const first = await session.start(store, config, "(ui session test)");
    await assert.rejects(session.start(store, config, "(ui session test)"), /is still going: stop it/);
    const cancelled = await first.done;
    assert.ok(stopped, "the E-step never judged a sample");
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(session.current, null);
    const [node] = await loadRunNodes(store);
    assert.equal(node.status, "cancelled");
    assert.equal(presentRun(node).contextValue, "run.cancelled.resumable");
    const before = await readJsonl<SampleRecord>(runPaths(store, first.runId).iteration(1).samples);
    assert.ok(before.length < 8 * 4, `${before.length} samples were drawn before the stop took effect`);

    const ends: string[] = [];
    session.onEnd((runId, outcome) => ends.push(`${runId}:${outcome?.status}`));
    const resumed = session.resume(store, first.runId);
    const outcome = await resumed.done;
    assert.equal(outcome?.status, "completed");
    assert.deepEqual(ends, [`${first.runId}:completed`]);
    const samples = await readJsonl<SampleRecord>(runPaths(store, first.runId).iteration(1).samples);
    const keys = samples.map((s) => `${s.problem_id}#${s.index}`);
    assert.equal(new Set(keys).size, keys.length, "a sample was drawn twice");
    assert.equal(samples.length, 8 * 4);
    assert.deepEqual(samples.slice(0, before.length), before);
    assert.equal((await loadRunNodes(store))[0].status, "completed");
  });
});

// Unit tests of how a run orders and resumes its work and where each M-step starts: the work
// plan (iteration 0 = the base model's evaluation), the first unfinished piece of work for a
// given store state, restart-from-base vs restart-from-previous, and the early-stopping
// tracker that decides which validation checkpoint is kept.
import assert from "node:assert/strict";
import { EarlyStopping, isWorkDone, nextWork, startCheckpoint, storeStateFrom, workKey, workPlan, type WorkItem } from "../../src/restem";

const done = (...items: WorkItem[]) => items.map((item) => ({ type: "phase_done", ...item }));

describe("restem work plan and resume planning", () => {
  it("orders the work as Algorithm 1: eval 0, then E-step, filter, M-step, eval per iteration", () => {
    assert.deepEqual(workPlan(2, "restem").map(workKey), ["0:eval", "1:estep", "1:filter", "1:mstep", "1:eval", "2:estep", "2:filter", "2:mstep", "2:eval"]);
    assert.deepEqual(workPlan(1, "sft").map(workKey), ["0:eval", "1:filter", "1:mstep", "1:eval"]);
    assert.deepEqual(workPlan(0, "restem").map(workKey), ["0:eval"]);
  });

  it("starts a fresh run at the base model's evaluation", () => {
    assert.deepEqual(nextWork(workPlan(2, "restem"), storeStateFrom([], [])), { iteration: 0, phase: "eval" });
  });

  it("continues a run killed mid E-step at that E-step", () => {
    const events = [{ type: "run_started" }, ...done({ iteration: 0, phase: "eval" }), { type: "phase_started", iteration: 1, phase: "estep" }];
    assert.deepEqual(nextWork(workPlan(2, "restem"), storeStateFrom(events, [])), { iteration: 1, phase: "estep" });
  });

  it("treats an M-step as finished only with its done event AND its weights", () => {
    const plan = workPlan(2, "restem");
    const events = done({ iteration: 0, phase: "eval" }, { iteration: 1, phase: "estep" }, { iteration: 1, phase: "filter" }, { iteration: 1, phase: "mstep" });
    assert.deepEqual(nextWork(plan, storeStateFrom(events, [])), { iteration: 1, phase: "mstep" }, "weights missing: redo the M-step");
    assert.deepEqual(nextWork(plan, storeStateFrom(events, [1])), { iteration: 1, phase: "eval" });
    // Weights written but the process died before its done event: the M-step is redone.
    const noEvent = done({ iteration: 0, phase: "eval" }, { iteration: 1, phase: "estep" }, { iteration: 1, phase: "filter" });
    assert.equal(isWorkDone({ iteration: 1, phase: "mstep" }, storeStateFrom(noEvent, [1])), false);
  });

  it("reports a finished run as having no work left", () => {
    const plan = workPlan(1, "restem");
    assert.equal(nextWork(plan, storeStateFrom(done(...plan), [1])), null);
  });

  it("finds the first gap even when later work is recorded", () => {
    const plan = workPlan(2, "restem");
    const events = done(...plan.filter((item) => workKey(item) !== "1:filter"));
    assert.deepEqual(nextWork(plan, storeStateFrom(events, [1, 2])), { iteration: 1, phase: "filter" });
  });
});

describe("restem M-step starting checkpoint", () => {
  const weightsOf = (i: number): string => `/run/iter-${i}/weights`;

  it("ReST-EM (restart base) fine-tunes the base weights in every iteration", () => {
    for (const iteration of [1, 2, 3]) assert.equal(startCheckpoint(iteration, "base", "/base", weightsOf), "/base");
  });

  it("ReST (restart previous) continues from the previous iteration's weights", () => {
    assert.equal(startCheckpoint(1, "previous", "/base", weightsOf), "/base");
    assert.equal(startCheckpoint(2, "previous", "/base", weightsOf), "/run/iter-1/weights");
    assert.equal(startCheckpoint(3, "previous", "/base", weightsOf), "/run/iter-2/weights");
  });

  it("has no M-step at iteration 0", () => {
    assert.throws(() => startCheckpoint(0, "base", "/base", weightsOf), /start at iteration 1/);
  });
});

describe("restem early stopping", () => {
  it("keeps the strictly best score and its position", () => {
    const stopping = new EarlyStopping(3);
    assert.deepEqual([0.2, 0.9, 0.9, 0.1].map((s) => stopping.observe(s)), [true, true, false, false]);
    assert.equal(stopping.best, 0.9);
    assert.equal(stopping.bestIndex, 1, "a tie keeps the earlier checkpoint");
    assert.equal(stopping.count, 4);
    assert.equal(stopping.stopped, false);
  });

  it("stops after `patience` validations without a new best", () => {
    const stopping = new EarlyStopping(2);
    assert.equal(stopping.stopped, false);
    stopping.observe(0.5);
    stopping.observe(0.4);
    assert.equal(stopping.stopped, false);
    stopping.observe(0.5);
    assert.equal(stopping.stopped, true);
    assert.equal(stopping.best, 0.5);
    assert.throws(() => new EarlyStopping(0), /patience/);
  });
});

describe("restem run that cannot open its sandbox", () => {
  it("is recorded as failed with the reason (and stays resumable), not left running", async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const os = await import("node:os");
    const path = await import("node:path");
    const { createRun, executeRun, parseConfig, readJsonl, readStatus, runPaths } = await import("../../src/restem");
    const root = path.resolve(__dirname, "../../..");
    const store = await mkdtemp(path.join(os.tmpdir(), "restem-open-fails-"));
    try {
      const config = parseConfig({ problems: path.join(root, "examples/problems"), model: path.join(root, "demo/model"), splits: { validationFraction: 0 } }, "(test)");
      const id = await createRun(store, config);
      const openRewarder = async (): Promise<never> => {
        throw new Error("cannot connect to the Docker engine at /var/run/docker.sock");
      };
      await assert.rejects(executeRun(store, id, { openRewarder }), /cannot connect to the Docker engine/);
      const status = await readStatus(runPaths(store, id));
      assert.equal(status?.status, "failed");
      assert.match(status?.message ?? "", /Docker engine/);
      const events = await readJsonl<{ type: string }>(runPaths(store, id).events);
      assert.deepEqual(events.map((e) => e.type), ["run_started", "run_failed"]);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});

// The Runs tree's run nodes for each state a run store can hold: running in this extension host
// (Stop applies), running in another live process (e.g. the CLI), interrupted (status running
// but its process is gone), cancelled and completed — read from stores written with the
// engine's own createRun and status writer.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createRun, parseConfig, readStatus, runPaths, updateStatus, writeJsonAtomic } from "../../src/restem";
import { iterationNodes, loadRunNodes, presentIteration, presentRun } from "../../src/ui/runTreeModel";

const REPO_ROOT = path.resolve(__dirname, "../../..");

describe("UI: Runs tree run states", () => {
  let store: string;
  const ids: Record<string, string> = {};

  before(async () => {
    store = await mkdtemp(path.join(os.tmpdir(), "restem-runs-tree-"));
    const config = parseConfig({ problems: path.join(REPO_ROOT, "examples/problems"), model: path.join(REPO_ROOT, "demo/model"), iterations: 2 }, "(test)");
    const deadPid = spawnSync(process.execPath, ["-e", "0"]).pid;
    const setPid = async (id: string, pid: number): Promise<void> => {
      const status = await readStatus(runPaths(store, id));
      await writeJsonAtomic(runPaths(store, id).status, { ...status, pid });
    };
    for (const name of ["here", "elsewhere", "interrupted", "cancelled", "completed"]) ids[name] = await createRun(store, config);
    await updateStatus(runPaths(store, ids.here), { current: { iteration: 1, phase: "estep" } });
    await setPid(ids.elsewhere, process.ppid);
    await setPid(ids.interrupted, deadPid);
    await updateStatus(runPaths(store, ids.cancelled), { status: "cancelled", message: "cancelled; `restem resume` continues it" });
    await updateStatus(runPaths(store, ids.completed), { status: "completed" });
  });
  after(async () => {
    await rm(store, { recursive: true, force: true });
  });

  it("shows each state with the context value its menus need, newest first", async () => {
    const nodes = await loadRunNodes(store, new Set([ids.here]));
    assert.deepEqual(nodes.map((n) => n.runId), [ids.completed, ids.cancelled, ids.interrupted, ids.elsewhere, ids.here]);
    const byId = new Map(nodes.map((n) => [n.runId, n]));
    const look = (name: string): ReturnType<typeof presentRun> => presentRun(byId.get(ids[name])!);
    assert.equal(look("here").contextValue, "run.running");
    assert.equal(look("here").description, "running · iteration 1 E-step");
    assert.equal(look("elsewhere").contextValue, "run.running.elsewhere");
    assert.equal(look("elsewhere").description, "running · in another process");
    assert.equal(look("interrupted").contextValue, "run.interrupted.resumable");
    assert.equal(look("cancelled").contextValue, "run.cancelled.resumable");
    assert.match(look("cancelled").tooltip, /message: cancelled; `restem resume` continues it/);
    assert.equal(look("completed").contextValue, "run.completed");
  });

  it("lists iteration 0 (the base model) to the last, the running one marked", async () => {
    const [here] = (await loadRunNodes(store, new Set([ids.here]))).filter((n) => n.runId === ids.here);
    const iterations = iterationNodes(here);
    assert.deepEqual(iterations.map((i) => [i.iteration, i.state]), [[0, "pending"], [1, "running"], [2, "pending"]]);
    assert.equal(presentIteration(iterations[0]).label, "iteration 0 (base model)");
    assert.equal(presentIteration(iterations[1]).description, "E-step");
    assert.equal(presentIteration(iterations[2]).description, "not evaluated yet");
  });
});

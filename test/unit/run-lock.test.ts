// The run lock (src/restem/runLock.ts) on a real file system with real processes: a held lock
// refuses a second taker naming the holder's pid; a lock of a dead process, or of a live pid
// that started at another time (a reused pid), is stale and taken over; processes that race
// for a free or a stale lock at the same instant end with exactly one holder; a lock handed to
// another thread is adopted by token; a released lock file is gone.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, access, utimes } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { acquireRunLock, createRun, holderAlive, LOCK_FILE, parseConfig, processStartTime, readRunLock, readStatus, releaseThreadLocks, RunLockedError, runLockAlive, runPaths, type LockHolder } from "../../src/restem";
import { RunSession } from "../../src/ui/runSession";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const LOCK_MODULE = path.join(REPO_ROOT, "out/src/restem/runLock.js");

const deadPid = (): number => spawnSync(process.execPath, ["-e", "0"]).pid!;

function holderOf(pid: number, start: string | null, token = "feedfacefeedface"): LockHolder {
  return { pid, start, thread: 0, token, acquired: "2024-05-01T12:00:00.000Z" };
}

type RaceResult = { pid: number; took: boolean; holder: number | null; message: string };

/**
 * Starts `count` processes that each try to take `dir`'s lock at the same instant and print
 * what happened; the winner keeps the lock until every racer has answered (however slowly
 * each started), then releases it and exits.
 */
async function race(dir: string, count: number): Promise<RaceResult[]> {
  const at = Date.now() + 2500;
  const release = path.join(dir, "release-now");
  const script = `
    const fs = require("node:fs");
    const { acquireRunLock } = require(${JSON.stringify(LOCK_MODULE)});
    while (Date.now() < ${at}) {}
    acquireRunLock(${JSON.stringify(dir)}).then(
      async (lock) => {
        console.log(JSON.stringify({ pid: process.pid, took: true, holder: process.pid, message: "" }));
        while (!fs.existsSync(${JSON.stringify(release)})) await new Promise((r) => setTimeout(r, 20));
        await lock.release();
      },
      (error) => console.log(JSON.stringify({ pid: process.pid, took: false, holder: error.holder ? error.holder.pid : null, message: error.message })),
    );`;
  const exits: Promise<void>[] = [];
  const answers = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    exits.push(new Promise((resolve) => child.on("exit", () => resolve())));
    let out = "";
    return new Promise<RaceResult>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes("\n")) resolve(JSON.parse(out.trim()) as RaceResult);
      });
      child.on("exit", () => reject(new Error(`a racer exited after printing ${JSON.stringify(out)}`)));
    });
  });
  try {
    return await Promise.all(answers);
  } finally {
    await writeFile(release, "");
    await Promise.all(exits);
  }
}

describe("run lock: one process per run", function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "restem-lock-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a second taker while held, naming the holder's pid, and is gone once released", async () => {
    const lock = await acquireRunLock(dir);
    const file = path.join(dir, LOCK_FILE);
    const onDisk = JSON.parse(await readFile(file, "utf8")) as LockHolder;
    assert.equal(onDisk.pid, process.pid);
    assert.equal(onDisk.token, lock.holder.token);
    assert.equal(await runLockAlive(dir), true);
    await assert.rejects(acquireRunLock(dir), (error: unknown) => {
      assert.ok(error instanceof RunLockedError);
      assert.match(error.message, new RegExp(`is being run by process ${process.pid}\\b`));
      return true;
    });
    await lock.release();
    await assert.rejects(access(file), /ENOENT/);
    assert.equal(await runLockAlive(dir), null);
    await (await acquireRunLock(dir)).release();
  });

  it("takes over the lock of a process that no longer exists", async () => {
    const pid = deadPid();
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holderOf(pid, processStartTime(process.pid))));
    assert.equal(await runLockAlive(dir), false);
    const lock = await acquireRunLock(dir);
    assert.equal((await readRunLock(dir))?.pid, process.pid);
    await lock.release();
  });

  it("takes over the lock of a reused pid (same pid, another start time) but not of the live holder", async function () {
    if (processStartTime(process.pid) === null) this.skip(); // no start times on this OS: the pid alone decides
    const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const pid = child.pid!;
      await new Promise((resolve) => setTimeout(resolve, 200));
      const start = processStartTime(pid);
      assert.ok(start !== null && start !== processStartTime(process.pid), "two processes have different start times");
      // The real holder: refused, with its pid.
      await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holderOf(pid, start)));
      assert.equal(holderAlive(holderOf(pid, start)), true);
      await assert.rejects(acquireRunLock(dir), new RegExp(`is being run by process ${pid}\\b`));
      // The same pid recorded with another start time: a dead process whose pid was reused.
      await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holderOf(pid, `${start}0`)));
      assert.equal(holderAlive(holderOf(pid, `${start}0`)), false);
      const lock = await acquireRunLock(dir);
      assert.equal((await readRunLock(dir))?.pid, process.pid);
      await lock.release();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("of processes racing for a free lock, exactly one takes it; the others name its pid", async () => {
    const results = await race(dir, 4);
    const winners = results.filter((r) => r.took);
    assert.equal(winners.length, 1, JSON.stringify(results));
    for (const loser of results.filter((r) => !r.took)) {
      assert.equal(loser.holder, winners[0].pid, loser.message);
      assert.match(loser.message, new RegExp(`is being run by process ${winners[0].pid}\\b`));
    }
    await assert.rejects(access(path.join(dir, LOCK_FILE)), /ENOENT/, "the winner released it");
  });

  it("of processes racing for a stale lock, exactly one takes it over", async () => {
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holderOf(deadPid(), null)));
    const results = await race(dir, 4);
    const winners = results.filter((r) => r.took);
    assert.equal(winners.length, 1, JSON.stringify(results));
    for (const loser of results.filter((r) => !r.took)) assert.equal(loser.holder, winners[0].pid, loser.message);
  });

  it("treats an empty (torn) lock file as held while fresh and as stale once old", async () => {
    const file = path.join(dir, LOCK_FILE);
    await writeFile(file, "");
    await assert.rejects(acquireRunLock(dir), /could not take the run lock/);
    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);
    await (await acquireRunLock(dir)).release();
  });

  it("hands a lock to another thread of this process by token, and cleans up after a thread", async () => {
    const lock = await acquireRunLock(dir);
    const token = lock.handOff();
    assert.equal(await runLockAlive(dir), true, "handed off: still held");
    await assert.rejects(acquireRunLock(dir), RunLockedError);
    const adopted = await acquireRunLock(dir, { adopt: token });
    assert.equal(adopted.holder.token, token);
    await adopted.release();
    // A lock left by another thread (thread 7 here) of this process is removed by its owner's host.
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ ...holderOf(process.pid, processStartTime(process.pid)), thread: 7 }));
    assert.equal(await runLockAlive(dir), true, "another thread of a live process holds it");
    await releaseThreadLocks(dir, { thread: 7 });
    assert.equal(await runLockAlive(dir), null);
  });

  it("the extension's run worker refuses a run that another process holds, naming its pid, and leaves its lock alone", async () => {
    const store = path.join(dir, ".restem");
    const config = parseConfig({ problems: path.join(REPO_ROOT, "examples/problems"), model: path.join(REPO_ROOT, "demo/model") }, "(test)");
    const id = await createRun(store, config);
    const runDir = runPaths(store, id).dir;
    const script = `require(${JSON.stringify(LOCK_MODULE)}).acquireRunLock(${JSON.stringify(runDir)}).then(() => { console.log("held"); setTimeout(() => {}, 60000); });`;
    const holder = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
      const status = await readFile(runPaths(store, id).status);
      const session = new RunSession();
      let failure: Error | null = null;
      session.onEnd((_id, _outcome, error) => (failure = error));
      const outcome = await session.resume(store, id).done;
      assert.equal(outcome, null);
      assert.match(String((failure as Error | null)?.message), new RegExp(`run ${id} is being run by process ${holder.pid}\\b`));
      assert.equal((await readRunLock(runDir))?.pid, holder.pid, "the holder keeps its lock");
      assert.ok((await readFile(runPaths(store, id).status)).equals(status), "status.json untouched");
      assert.equal((await readStatus(runPaths(store, id)))?.status, "running");
    } finally {
      holder.kill("SIGKILL");
    }
  });
});

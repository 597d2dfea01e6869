// One writer per run, enforced by the file system: <run>/run.lock names the process (pid, start
// time) and thread that runs the run. It is created atomically (a complete temp file hard-linked
// to the name, which fails when the name exists), taken before anything of the run is read or
// written, and removed when the run ends (and on process exit). A lock whose holder is gone is
// stale: its pid no longer exists, or exists with another start time (the pid was reused; Linux:
// boot id + field 22 of /proc/<pid>/stat, elsewhere `ps -o lstart=`, else the pid alone). A
// stale lock is removed under a second lock (run.lock.takeover), so that of two processes that
// both find it stale only one takes the run over.
//
// Threads: the VS Code extension runs a run in a worker thread of the extension host, so the
// holder also names its thread. A lock held by another thread of this process counts as held;
// RunSession removes one its worker left behind (releaseThreadLocks). A lock can be handed to
// another thread of the same process (createRun in the host, executeRun in the worker): the
// receiver adopts it by its token, so the run is never unlocked in between.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { threadId } from "node:worker_threads";

export const LOCK_FILE = "run.lock";

/** The content of run.lock. */
export interface LockHolder {
  pid: number;
  /** The process's start time as the OS reports it, or null where it cannot be read. */
  start: string | null;
  /** Worker thread id within the process (0: the main thread). */
  thread: number;
  /** Random id of this acquisition (release and hand-over check it). */
  token: string;
  /** ISO time the lock was taken. */
  acquired: string;
}

/** Thrown when another live process (or thread) holds the run. */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {
    const thread = holder.pid === process.pid ? ` (this process, thread ${holder.thread})` : "";
    super(`run ${path.basename(dir)} is being run by process ${holder.pid}${thread} since ${holder.acquired} (lock ${path.join(dir, LOCK_FILE)}); wait for it to end or stop it first`);
    this.name = "RunLockedError";
  }
}

/** Tokens of the locks this thread holds, and of those it handed to another thread of this process. */
const heldHere = new Map<string, string>();
const handedOff = new Set<string>();
let exitHookInstalled = false;

/** True when process `pid` exists (EPERM: it exists but belongs to someone else). */
export function pidExists(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

let bootIdCache: string | null | undefined;
function bootId(): string | null {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

/**
 * When process `pid` started, as an opaque string that differs between two processes that had
 * the same pid; null when it cannot be told (no such process, or no way to ask on this OS).
 */
export function processStartTime(pid: number): string | null {
  if (process.platform === "linux") {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ")".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = fields[22 - 3];
      if (ticks === undefined || !/^\d+$/.test(ticks)) return null;
      const boot = bootId();
      return boot === null ? ticks : `${boot}:${ticks}`;
    } catch {
      return null;
    }
  }
  if (process.platform === "win32") return null;
  try {
    const text = execFileSync("ps", ["-o", "lstart=", "-p", String(pid)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 }).trim();
    return text === "" ? null : text;
  } catch {
    return null;
  }
}

let ownStartCache: string | null | undefined;
function ownStartTime(): string | null {
  if (ownStartCache === undefined) ownStartCache = processStartTime(process.pid);
  return ownStartCache;
}

/**
 * True when the holder of a lock is still there: its process exists with the start time it
 * recorded (when both are known), and, in this process, its thread still holds it.
 */
export function holderAlive(holder: LockHolder, startTimeOf: (pid: number) => string | null = processStartTime): boolean {
  if (holder.pid === process.pid) {
    if (holder.start !== null && ownStartTime() !== null && holder.start !== ownStartTime()) return false;
    if (holder.thread !== threadId) return true;
    return heldHere.has(holder.token) || handedOff.has(holder.token);
  }
  if (!pidExists(holder.pid)) return false;
  if (holder.start === null) return true;
  const now = startTimeOf(holder.pid);
  return now === null || now === holder.start;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== "number" || typeof value.token !== "string") return null;
    return { pid: value.pid, start: typeof value.start === "string" ? value.start : null, thread: typeof value.thread === "number" ? value.thread : 0, token: value.token, acquired: String(value.acquired ?? "") };
  } catch {
    return null;
  }
}

/** The holder named by a lock file: null when there is none; "unreadable" for an empty or torn one. */
async function readHolderFile(file: string): Promise<LockHolder | null | "unreadable"> {
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return parseHolder(text) ?? "unreadable";
}

/** The holder of run directory `dir`'s lock, or null when it is not locked (or the lock is unreadable). */
export async function readRunLock(dir: string): Promise<LockHolder | null> {
  const holder = await readHolderFile(path.join(dir, LOCK_FILE));
  return holder === "unreadable" ? null : holder;
}

/**
 * Whether run directory `dir` has a live runner: true or false when it has a lock file, null
 * when it has none (a run that nothing has locked yet, or one written before locks existed).
 */
export async function runLockAlive(dir: string): Promise<boolean | null> {
  const holder = await readHolderFile(path.join(dir, LOCK_FILE));
  if (holder === null) return null;
  if (holder === "unreadable") return false;
  return holderAlive(holder);
}

/** Creates `file` with `content` only if it does not exist; false when it does. The file is never seen half-written. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await fsp.writeFile(temp, content, { flag: "wx" });
  try {
    await fsp.link(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw error;
    // No hard links on this file system: exclusive create, then write (a reader may see it empty
    // for an instant; an empty lock only counts as stale once it is old).
    try {
      await fsp.writeFile(file, content, { flag: "wx" });
      return true;
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw inner;
    }
  } finally {
    await fsp.rm(temp, { force: true });
  }
}

/** An unreadable (empty, torn) lock older than this is stale: its writer died mid-write. */
const UNREADABLE_GRACE_MS = 10_000;

async function isStale(file: string, holder: LockHolder | "unreadable"): Promise<boolean> {
  if (holder !== "unreadable") return !holderAlive(holder);
  try {
    const stat = await fsp.stat(file);
    return Date.now() - stat.mtimeMs > UNREADABLE_GRACE_MS;
  } catch {
    return true;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes `file` if it still holds exactly the stale content seen (`seen`), under the takeover
 * lock so that two processes that found it stale do not both take the run.
 */
async function removeStale(file: string, seen: LockHolder | "unreadable"): Promise<void> {
  const takeover = `${file}.takeover`;
  const me = JSON.stringify(newHolder()) + "\n";
  for (let attempt = 0; attempt < 200; attempt++) {
    if (await createExclusive(takeover, me)) {
      try {
        const now = await readHolderFile(file);
        const same = now === "unreadable" ? seen === "unreadable" : now !== null && seen !== "unreadable" && now.token === seen.token;
        if (same) await fsp.rm(file, { force: true });
      } finally {
        await fsp.rm(takeover, { force: true });
      }
      return;
    }
    // Someone else is taking over; if it died doing so, its takeover lock is stale too.
    const other = await readHolderFile(takeover);
    if (other !== null && (await isStale(takeover, other))) await fsp.rm(takeover, { force: true });
    else await sleep(10);
  }
  throw new Error(`${takeover}: could not take over a stale run lock (another process keeps the takeover lock)`);
}

function newHolder(token: string = randomBytes(8).toString("hex")): LockHolder {
  return { pid: process.pid, start: ownStartTime(), thread: threadId, token, acquired: new Date().toISOString() };
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [token, file] of heldHere) {
      try {
        const holder = parseHolder(fs.readFileSync(file, "utf8"));
        if (holder?.token === token) fs.rmSync(file, { force: true });
      } catch {
        // Already gone.
      }
    }
  });
}

/** A held run lock. */
export class RunLock {
  private released = false;

  constructor(
    readonly dir: string,
    readonly holder: LockHolder,
  ) {}

  get file(): string {
    return path.join(this.dir, LOCK_FILE);
  }

  /** Removes the lock file if it is still this lock's. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    heldHere.delete(this.holder.token);
    await removeIfToken(this.file, this.holder.token);
  }

  /**
   * Gives the lock to another thread of this process (which adopts it with acquireRunLock's
   * `adopt`); the run stays locked in between. Returns the token to hand over.
   */
  handOff(): string {
    if (this.released) throw new Error(`${this.file}: the lock was already released`);
    this.released = true;
    heldHere.delete(this.holder.token);
    handedOff.add(this.holder.token);
    return this.holder.token;
  }
}

async function removeIfToken(file: string, token: string): Promise<void> {
  const holder = await readHolderFile(file).catch(() => null);
  if (holder !== null && holder !== "unreadable" && holder.token === token) await fsp.rm(file, { force: true });
}

/**
 * Takes run directory `dir`'s lock, or throws RunLockedError naming the live holder. A stale
 * lock (its holder is gone) is taken over. `adopt`: the token of a lock handed over by another
 * thread of this process. A missing `dir` throws ENOENT.
 */
export async function acquireRunLock(dir: string, options: { adopt?: string } = {}): Promise<RunLock> {
  const file = path.join(dir, LOCK_FILE);
  installExitHook();
  for (let attempt = 0; attempt < 20; attempt++) {
    const holder = newHolder(options.adopt);
    if (await createExclusive(file, JSON.stringify(holder) + "\n")) {
      heldHere.set(holder.token, file);
      return new RunLock(dir, holder);
    }
    const seen = await readHolderFile(file);
    if (seen === null) continue; // released meanwhile: try again
    if (options.adopt !== undefined && seen !== "unreadable" && seen.token === options.adopt && seen.pid === process.pid) {
      // Rewrite the holder's thread: write the new content beside it and rename it over the lock.
      const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
      await fsp.writeFile(temp, JSON.stringify(holder) + "\n");
      await fsp.rename(temp, file);
      handedOff.delete(options.adopt);
      heldHere.set(holder.token, file);
      return new RunLock(dir, holder);
    }
    if (!(await isStale(file, seen))) {
      if (seen === "unreadable") {
        await sleep(50); // being written by the fallback path: look again
        continue;
      }
      throw new RunLockedError(dir, seen);
    }
    await removeStale(file, seen);
  }
  throw new Error(`${file}: could not take the run lock (it keeps changing hands)`);
}

/**
 * Removes locks of `dir` left by another thread of this process: one with `token` (handed off)
 * or held by thread `thread`. RunSession calls it when its worker thread has ended.
 */
export async function releaseThreadLocks(dir: string, match: { token?: string; thread?: number }): Promise<void> {
  const file = path.join(dir, LOCK_FILE);
  if (match.token !== undefined) handedOff.delete(match.token);
  const holder = await readHolderFile(file).catch(() => null);
  if (holder === null || holder === "unreadable" || holder.pid !== process.pid) return;
  if (holder.token === match.token || (match.thread !== undefined && holder.thread === match.thread && holder.thread !== threadId)) await fsp.rm(file, { force: true });
}

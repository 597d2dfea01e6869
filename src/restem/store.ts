// The run store: everything a run writes under <store>/runs/<id>/ (format: docs/run-store.md),
// readable by the CLI and, later, by the VS Code views while the run is going on.
//
// Two kinds of writes, both crash-safe:
//   * append-only JSONL (events.jsonl, samples.jsonl, kept.jsonl, eval.jsonl): each append is
//     one write of whole lines followed by fsync, serialised per file. A kill can leave at most
//     a partial last line; readers skip it, and every JsonlAppender cuts it off (repairJsonl)
//     before its first append, so a resumed run never appends onto a torn line.
//   * whole files (config.json, status.json, splits.json, metrics.json): written to a temp file
//     in the same directory, fsynced, then renamed over the target, so a reader sees the old or
//     the new content, never half of one.

import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";

/** A sortable run id: UTC yyyymmdd-hhmmss-mmm plus 4 random hex digits, e.g. 20240501-142233-017-3fa2. */
export function newRunId(now: Date = new Date(), random: string = randomBytes(2).toString("hex")): string {
  const pad = (value: number, width = 2): string => String(value).padStart(width, "0");
  const date = `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}`;
  const time = `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}-${pad(now.getUTCMilliseconds(), 3)}`;
  return `${date}-${time}-${random}`;
}

export const RUN_ID_PATTERN = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/;

/** Paths of one run's files. */
export interface RunPaths {
  dir: string;
  config: string;
  status: string;
  events: string;
  splits: string;
  /** The policy's ONNX export, its weights rewritten in place for every model. */
  onnx: string;
  iteration(i: number): IterationPaths;
}

export interface IterationPaths {
  dir: string;
  samples: string;
  kept: string;
  weights: string;
  eval: string;
  metrics: string;
  /** The M-step's per-step log (loss, learning rate, throughput), restarted with the M-step. */
  train: string;
}

export function runsRoot(store: string): string {
  return path.join(store, "runs");
}

export function runPaths(store: string, id: string): RunPaths {
  const dir = path.join(runsRoot(store), id);
  return {
    dir,
    config: path.join(dir, "config.json"),
    status: path.join(dir, "status.json"),
    events: path.join(dir, "events.jsonl"),
    splits: path.join(dir, "splits.json"),
    onnx: path.join(dir, "onnx"),
    iteration: (i: number): IterationPaths => {
      const iterDir = path.join(dir, `iter-${i}`);
      return {
        dir: iterDir,
        samples: path.join(iterDir, "samples.jsonl"),
        kept: path.join(iterDir, "kept.jsonl"),
        weights: path.join(iterDir, "weights"),
        eval: path.join(iterDir, "eval.jsonl"),
        metrics: path.join(iterDir, "metrics.json"),
        train: path.join(iterDir, "train.jsonl"),
      };
    },
  };
}

/** Writes `content` to `file` atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export async function writeAtomic(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(3).toString("hex")}.tmp`);
  const handle = await fs.open(temp, "w");
  try {
    await handle.writeFile(content, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/** fsync of a directory (makes a rename durable); ignored where the platform refuses it. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | null = null;
  try {
    handle = await fs.open(dir, "r");
    await handle.sync();
  } catch {
    // Windows cannot open directories; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeAtomic(file, JSON.stringify(value, null, 2) + "\n");
}

/** Reads a JSON file, or null when it does not exist. */
export async function readJson<T>(file: string): Promise<T | null> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${file}: invalid JSON: ${(error as Error).message}`);
  }
}

/** Parses JSONL text: complete lines only; a partial last line (no newline) or bad line is skipped. */
export function parseJsonl<T>(text: string): T[] {
  const end = text.lastIndexOf("\n");
  const complete = end < 0 ? "" : text.slice(0, end);
  const values: T[] = [];
  for (const line of complete.split("\n")) {
    if (line.trim() === "") continue;
    try {
      values.push(JSON.parse(line) as T);
    } catch {
      // A torn line from a crash in the middle of the file cannot happen with single appends;
      // skip anything unparseable rather than refuse the whole file.
    }
  }
  return values;
}

/** The records of a JSONL file ([] when it does not exist). */
export async function readJsonl<T>(file: string): Promise<T[]> {
  try {
    return parseJsonl<T>(await fs.readFile(file, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** Cuts a partial last line (left by a kill during an append) off a JSONL file; returns bytes removed. */
export async function repairJsonl(file: string): Promise<number> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r+");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    // Scan back from the end for the last newline, a chunk at a time (the files can be large).
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    let keep = 0;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (newline >= 0) {
        keep = start + newline + 1;
        break;
      }
      end = start;
    }
    if (keep === size) return 0;
    await handle.truncate(keep);
    await handle.sync();
    return size - keep;
  } finally {
    await handle.close();
  }
}

/**
 * Appends JSON lines to one file with fsync, in call order. Lines queued while a write is in
 * flight are written together by the next one; flush() resolves when all queued lines are durable.
 * Before its first write it cuts a partial last line (repairJsonl) that a killed writer left.
 * Only the run's lock holder (runLock.ts) appends, so nothing else writes meanwhile.
 */
export class JsonlAppender {
  private queue: string[] = [];
  private repaired = false;
  private tail: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  constructor(readonly file: string) {}

  /** Queues one record; the returned promise resolves once it is on disk. */
  append(value: unknown): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.queue.push(JSON.stringify(value) + "\n");
    this.tail = this.tail.then(() => this.drain());
    return this.tail;
  }

  private async drain(): Promise<void> {
    if (this.queue.length === 0) return;
    const text = this.queue.join("");
    this.queue = [];
    try {
      await fs.mkdir(path.dirname(this.file), { recursive: true });
      if (!this.repaired) {
        await repairJsonl(this.file);
        this.repaired = true;
      }
      const handle = await fs.open(this.file, "a");
      try {
        await handle.appendFile(text, "utf8");
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      this.failure = error as Error;
      throw error;
    }
  }

  async flush(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure;
  }
}

export type RunState = "running" | "completed" | "failed" | "cancelled";

/** status.json: the run's state now (replaced atomically on every change). */
export interface RunStatus {
  id: string;
  status: RunState;
  /** ISO times. */
  created: string;
  updated: string;
  /** Iterations configured. */
  iterations: number;
  /** What runs (or ran last): e.g. {iteration: 1, phase: "estep"}; null before the first phase. */
  current: { iteration: number; phase: string } | null;
  /** Error message when failed, reason when cancelled, else null. */
  message: string | null;
  /** Process id of the process that last ran it (run.lock says who runs it now). */
  pid: number;
}

/** Run ids under a store, oldest first (the ids sort by time). */
export async function listRunIds(store: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(runsRoot(store));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names.filter((name) => RUN_ID_PATTERN.test(name)).sort();
}

/** True when `dir` holds a complete model directory written by the M-step. */
export async function hasModelFiles(dir: string): Promise<boolean> {
  try {
    const names = await fs.readdir(dir);
    return names.includes("config.json") && names.some((n) => n.endsWith(".safetensors") || n.endsWith(".safetensors.index.json"));
  } catch {
    return false;
  }
}

// Random-weight checkpoints of published shapes for the large-model tests and benchmarks,
// generated once with scripts/make-random-model.mjs into a cache directory
// ($RESTEM_MODEL_CACHE, default ~/.cache/restem/models/<shape>) and reused afterwards.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

export function modelCacheRoot(): string {
  return process.env.RESTEM_MODEL_CACHE ?? path.join(os.homedir(), ".cache", "restem", "models");
}

/** Why large-model tests cannot run here (too little memory), or null when they can. */
export function largeModelSkipReason(minGiB: number): string | null {
  if (process.env.RESTEM_SKIP_LARGE === "1") return "RESTEM_SKIP_LARGE=1";
  const total = os.totalmem() / 1024 ** 3;
  if (total < minGiB) return `needs ${minGiB} GiB of memory, this machine has ${total.toFixed(1)} GiB`;
  return null;
}

/** The model directory of `shape`, generating it (a few minutes, ~2 GB on disk for 0.5B) if absent. */
export function ensureRandomModel(shape: "qwen2.5-coder-0.5b" | "qwen2.5-coder-1.5b"): string {
  const dir = path.join(modelCacheRoot(), shape);
  const ready = (): boolean => fs.existsSync(path.join(dir, "config.json")) && fs.existsSync(path.join(dir, "tokenizer.json"));
  if (!ready()) {
    execFileSync(process.execPath, [path.join(REPO_ROOT, "scripts", "make-random-model.mjs"), shape, dir], { stdio: "inherit" });
  }
  return dir;
}

/** The repository's bin/restem.js. */
export function restemBin(): string {
  return path.join(REPO_ROOT, "bin", "restem.js");
}

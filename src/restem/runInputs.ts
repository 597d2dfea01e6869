// The two paths a run reads from outside its store, checked before anything is created or
// started: `problems` (an APPS directory tree or .jsonl file) and `model` (a Hugging Face model
// directory: config.json, tokenizer.json, *.safetensors). Each problem is one ConfigError line
// "<config file>: <field>: <what is wrong>", so the user knows which file and field to fix.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { ConfigError } from "./config";

/** What is wrong with a problems path, or null when it looks like a problem set. */
export async function problemsPathProblem(problems: string): Promise<string | null> {
  const stats = await statOrNull(problems);
  if (stats === null) return `${problems} does not exist`;
  if (stats.isFile()) return path.extname(problems).toLowerCase() === ".jsonl" ? null : `${problems} is a file but not a .jsonl problem file`;
  if (!stats.isDirectory()) return `${problems} is neither a directory nor a .jsonl file`;
  return null;
}

/** What is wrong with a model path, or null when it looks like a model directory. */
export async function modelPathProblem(model: string): Promise<string | null> {
  const stats = await statOrNull(model);
  if (stats === null) return `${model} does not exist`;
  if (!stats.isDirectory()) return `${model} is not a directory (a model directory holds config.json, tokenizer.json and *.safetensors)`;
  const names = await fs.readdir(model);
  const missing: string[] = [];
  if (!names.includes("config.json")) missing.push("config.json");
  if (!names.includes("tokenizer.json")) missing.push("tokenizer.json");
  if (!names.some((n) => n.endsWith(".safetensors") || n.endsWith(".safetensors.index.json"))) missing.push("*.safetensors weights");
  return missing.length === 0 ? null : `${model} is not a model directory (no ${missing.join(", no ")})`;
}

/** Throws one ConfigError naming `file` and each bad field; `hint` is appended to each line. */
export async function assertRunInputs(config: { problems: string; model: string }, file: string, hint = ""): Promise<void> {
  const lines: string[] = [];
  const problems = await problemsPathProblem(config.problems);
  if (problems !== null) lines.push(`problems: ${problems}${hint}`);
  const model = await modelPathProblem(config.model);
  if (model !== null) lines.push(`model: ${model}${hint}`);
  if (lines.length > 0) throw new ConfigError(file, lines);
}

async function statOrNull(file: string): Promise<import("node:fs").Stats | null> {
  try {
    return await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return null;
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
}

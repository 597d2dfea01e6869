// Reading the programs a `restem judge` call is asked to score.
//
// Two sources: a JSONL file of {"problem_id", "code"} lines (other tools call restem
// this way), or every problem's own human solutions (`--reference`). Each item keeps its
// position, so output can follow input order; a line that cannot be used becomes an
// item with an error instead of stopping the whole call.

import { readFile } from "node:fs/promises";
import { findProblem, type Problem, type ProblemSet } from "../problems";
import { loneSurrogateAt } from "../sandbox/judge";

export interface JudgeItem {
  /** problem_id as the input named it. */
  problemId: string;
  problem: Problem | null;
  code: string;
  /** Index of the solution within solutions.json, for --reference. */
  solution?: number;
  /** Why this item cannot be judged (bad line, unknown problem). */
  error: string | null;
}

function describeLineError(file: string, lineNumber: number, message: string): string {
  return `${file}:${lineNumber}: ${message}`;
}

function lookUp(set: ProblemSet, id: string): { problem: Problem | null; error: string | null } {
  try {
    const problem = findProblem(set, id);
    if (problem) return { problem, error: null };
    const skipped = set.errors.find((e) => e.problemId !== undefined && (e.problemId === id || (e.split ? `${e.split}/${e.problemId}` === id : false)));
    return { problem: null, error: skipped ? `problem ${id} was skipped: ${skipped.path}: ${skipped.message}` : `unknown problem_id ${JSON.stringify(id)}` };
  } catch (error) {
    return { problem: null, error: (error as Error).message };
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Byte offset of the first byte that is not valid UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i];
    if (lead < 0x80) {
      i++;
      continue;
    }
    const length = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    try {
      strictUtf8.decode(bytes.subarray(i, i + length));
    } catch {
      return i;
    }
    i += length;
  }
  return -1;
}

/** The line's text, or why it is not UTF-8 (bytes are never silently replaced). */
function decodeLine(bytes: Buffer): { text: string } | { error: string } {
  const bad = firstInvalidUtf8(bytes);
  if (bad < 0) return { text: strictUtf8.decode(bytes) };
  return { error: `not valid UTF-8 (byte 0x${bytes[bad].toString(16).padStart(2, "0")} at byte ${bad + 1} of the line); save the file as UTF-8` };
}

/** Parses a programs JSONL file; every non-blank line becomes one item. */
export async function readProgramsJsonl(file: string, set: ProblemSet): Promise<JudgeItem[]> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (error) {
    throw new Error(`cannot read programs file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const items: JudgeItem[] = [];
  splitLines(data).forEach((bytes, index) => {
    const lineNumber = index + 1;
    const decoded = decodeLine(bytes);
    if ("error" in decoded) {
      items.push({ problemId: "", problem: null, code: "", error: describeLineError(file, lineNumber, decoded.error) });
      return;
    }
    const line = decoded.text;
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (error) {
      items.push({ problemId: "", problem: null, code: "", error: describeLineError(file, lineNumber, `not JSON (${(error as Error).message})`) });
      return;
    }
    const record = (typeof row === "object" && row !== null ? row : {}) as Record<string, unknown>;
    const rawId = record.problem_id;
    const problemId = typeof rawId === "string" || typeof rawId === "number" ? String(rawId) : "";
    if (!problemId) {
      items.push({ problemId, problem: null, code: "", error: describeLineError(file, lineNumber, `"problem_id" must be a string or number`) });
      return;
    }
    if (typeof record.code !== "string") {
      items.push({ problemId, problem: null, code: "", error: describeLineError(file, lineNumber, `"code" must be a string`) });
      return;
    }
    const surrogate = loneSurrogateAt(record.code);
    if (surrogate >= 0) {
      const message = `"code" holds a lone UTF-16 surrogate (a \\u escape of half a character) at character ${surrogate + 1}: not valid Unicode`;
      items.push({ problemId, problem: null, code: "", error: describeLineError(file, lineNumber, message) });
      return;
    }
    const found = lookUp(set, problemId);
    items.push({ problemId, problem: found.problem, code: record.code, error: found.error });
  });
  return items;
}

/** The file's lines as bytes (split at \n; a \r before it stays, as JSON allows). */
function splitLines(data: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, start)) {
    lines.push(data.subarray(start, i));
    start = i + 1;
  }
  lines.push(data.subarray(start));
  return lines;
}


/** One item per human solution of every problem that has solutions. */
export function referenceItems(set: ProblemSet): JudgeItem[] {
  return set.problems.flatMap((problem) =>
    problem.solutions.map((code, solution) => ({ problemId: problem.id, problem, code, solution, error: null })),
  );
}

// Reading the programs a `restem judge` call is asked to score.
//
// Two sources: a JSONL file of {"problem_id", "code"} lines (other tools call restem
// this way), or every problem's own human solutions (`--reference`). Each item keeps its
// position, so output can follow input order; a line that cannot be used becomes an
// item with an error instead of stopping the whole call.

import { readFile } from "node:fs/promises";
import { findProblem, type Problem, type ProblemSet } from "../problems";

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

/** Parses a programs JSONL file; every non-blank line becomes one item. */
export async function readProgramsJsonl(file: string, set: ProblemSet): Promise<JudgeItem[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read programs file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const items: JudgeItem[] = [];
  text.split("\n").forEach((line, index) => {
    if (!line.trim()) return;
    const lineNumber = index + 1;
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
    const found = lookUp(set, problemId);
    items.push({ problemId, problem: found.problem, code: record.code, error: found.error });
  });
  return items;
}

/** One item per human solution of every problem that has solutions. */
export function referenceItems(set: ProblemSet): JudgeItem[] {
  return set.problems.flatMap((problem) =>
    problem.solutions.map((code, solution) => ({ problemId: problem.id, problem, code, solution, error: null })),
  );
}

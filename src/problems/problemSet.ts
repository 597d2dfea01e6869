// Entry points for loading a problem set and looking problems up in it.
//
// loadProblems decides by stat and extension whether a path is an APPS
// directory tree or an APPS JSONL file, loads it, and sorts the problems by
// split then id, comparing digit runs as numbers ("2" before "10").
// findProblem accepts a bare id or "split/id" and refuses to guess when a
// bare id exists in more than one split.

import { promises as fs, Stats } from "node:fs";
import * as path from "node:path";
import { loadProblemDirectory } from "./directory";
import { loadProblemJsonl } from "./jsonl";
import { Problem, ProblemSet } from "./types";

const DIGIT_RUNS = /(\d+)/;

/** Compares two runs of digits by numeric value, without converting to a (possibly lossy) number. */
function compareDigitRuns(left: string, right: string): number {
  const leftValue = left.replace(/^0+(?=\d)/, "");
  const rightValue = right.replace(/^0+(?=\d)/, "");
  if (leftValue.length !== rightValue.length) {
    return leftValue.length - rightValue.length;
  }
  return leftValue < rightValue ? -1 : leftValue > rightValue ? 1 : 0;
}

/** Plain code-unit order, so sorting does not depend on the user's locale. */
function compareCodeUnits(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * Natural ("numeric-aware") order: "2" < "10", "a9" < "a10". Ties in value
 * (e.g. "01" and "1") fall back to plain string order so the sort is total.
 */
export function compareNatural(left: string, right: string): number {
  const leftParts = left.split(DIGIT_RUNS);
  const rightParts = right.split(DIGIT_RUNS);
  const sharedLength = Math.min(leftParts.length, rightParts.length);
  for (let index = 0; index < sharedLength; index++) {
    // split() with a capturing group puts the digit runs at odd indexes.
    const isDigitRun = index % 2 === 1;
    const order = isDigitRun
      ? compareDigitRuns(leftParts[index], rightParts[index])
      : compareCodeUnits(leftParts[index], rightParts[index]);
    if (order !== 0) {
      return order;
    }
  }
  return leftParts.length - rightParts.length || compareCodeUnits(left, right);
}

/** Problems without a split come first, then splits in natural order, then ids in natural order. */
export function compareProblems(left: Problem, right: Problem): number {
  if (left.split !== right.split) {
    if (left.split === null) {
      return -1;
    }
    if (right.split === null) {
      return 1;
    }
    const splitOrder = compareNatural(left.split, right.split);
    if (splitOrder !== 0) {
      return splitOrder;
    }
  }
  return compareNatural(left.id, right.id);
}

/** "split/id" for problems loaded from a split folder, else just the id. */
export function qualifiedProblemId(problem: Problem): string {
  return problem.split === null ? problem.id : `${problem.split}/${problem.id}`;
}

/** True when `filePath` names a JSONL file (by extension, case-insensitive). */
export function isJsonlPath(filePath: string): boolean {
  return path.extname(filePath).toLowerCase() === ".jsonl";
}

/** stat() that turns a missing path into one clear Error. */
async function statOrExplain(inputPath: string): Promise<Stats> {
  try {
    return await fs.stat(inputPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(`no such file or directory: ${inputPath}`);
    }
    throw new Error(`cannot read ${inputPath}: ${(error as Error).message}`);
  }
}

/**
 * Loads an APPS problem set from a directory tree (a problem folder, a folder
 * of problem folders, or a folder of split folders) or from a `.jsonl` file.
 * Problems that fail validation are listed in `errors` and skipped; a
 * missing path, or a file that is not `.jsonl`, throws.
 */
export async function loadProblems(inputPath: string): Promise<ProblemSet> {
  const root = path.resolve(inputPath);
  const stats = await statOrExplain(root);
  let loaded: Omit<ProblemSet, "root">;
  if (stats.isDirectory()) {
    loaded = await loadProblemDirectory(root);
  } else if (stats.isFile() && isJsonlPath(root)) {
    loaded = await loadProblemJsonl(root);
  } else {
    throw new Error(`expected an APPS problem directory or a .jsonl file: ${inputPath}`);
  }
  return { root, problems: [...loaded.problems].sort(compareProblems), errors: loaded.errors };
}

/** True when `query` names `problem` by bare id or by "split/id". */
function matchesQuery(problem: Problem, query: string): boolean {
  return problem.id === query || (problem.split !== null && qualifiedProblemId(problem) === query);
}

/**
 * Finds a problem by bare id or "split/id". Returns undefined when nothing
 * matches, and throws when a bare id matches problems in several splits.
 */
export function findProblem(set: ProblemSet, id: string): Problem | undefined {
  const matches = set.problems.filter((problem) => matchesQuery(problem, id));
  if (matches.length > 1) {
    const names = matches.map(qualifiedProblemId).join(" and ");
    throw new Error(`problem id "${id}" is ambiguous: it matches ${names}; name one as split/id`);
  }
  return matches[0];
}

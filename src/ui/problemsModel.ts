// The Problems tree as plain data: the APPS problem sets found in the workspace (directory trees
// of problem folders, and .jsonl files of problems), each loaded with the engine's loader so the
// tree shows exactly what a run would use: its splits, its problems, and every problem that
// would be skipped with the reason. Pure of vscode; src/ui/problemsTree.ts presents it.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { APPS_FILES, compareNatural, loadProblems, type Problem, type ProblemLoadError } from "../problems";
import { listSubdirectories, looksLikeProblemFolder } from "../problems/directory";

/** Folders never searched for problem sets. */
const SKIPPED_FOLDERS = new Set(["node_modules", "out", "dist", "__pycache__"]);

export interface ProblemSetNode {
  kind: "set";
  /** Absolute path of the directory or .jsonl file. */
  root: string;
  /** Path shown in the tree (relative to the workspace folder). */
  label: string;
  problems: Problem[];
  errors: ProblemLoadError[];
  /** Set when the whole set could not be loaded. */
  failure: string | null;
}

export type ProblemTreeNode =
  | ProblemSetNode
  | { kind: "split"; set: ProblemSetNode; split: string; problems: Problem[] }
  | { kind: "problem"; problem: Problem }
  | { kind: "errors"; set: ProblemSetNode }
  | { kind: "error"; error: ProblemLoadError };

/** The loader's own test for a problem folder (any APPS file in it); false where `dir` cannot be read. */
async function isProblemFolder(dir: string): Promise<boolean> {
  return looksLikeProblemFolder(dir).catch(() => false);
}

/** Visible subdirectories as the loader lists them, without build and dependency folders. */
async function subdirectories(dir: string): Promise<string[]> {
  const names = await listSubdirectories(dir).catch(() => [] as string[]);
  return names.filter((name) => !SKIPPED_FOLDERS.has(name)).map((name) => path.join(dir, name));
}

/** True when `dir` holds problem folders directly or in split folders (train/, test/, ...). */
async function holdsProblems(dir: string): Promise<boolean> {
  for (const child of await subdirectories(dir)) {
    if (await isProblemFolder(child)) return true;
    for (const grandchild of (await subdirectories(child)).slice(0, 3)) if (await isProblemFolder(grandchild)) return true;
  }
  return false;
}

/**
 * Roots of problem sets under `folder`, searched `depth` levels deep: directories holding
 * problem folders (not descended into further) and *.jsonl files whose name mentions problems
 * or apps (other JSONL files, such as a run's samples, are not problem sets).
 */
export async function discoverProblemSets(folder: string, depth = 3): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, level: number): Promise<void> => {
    if (await holdsProblems(dir)) {
      found.push(dir);
      return;
    }
    let entries: import("node:fs").Dirent[] = [];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isFile() && /\.jsonl$/i.test(entry.name) && /problem|apps/i.test(entry.name)) found.push(path.join(dir, entry.name));
    }
    if (level >= depth) return;
    for (const child of await subdirectories(dir)) await visit(child, level + 1);
  };
  await visit(folder, 0);
  return found.sort(compareNatural);
}

/** Loads one set the way a run would; a set that cannot be loaded becomes a node with its failure. */
export async function loadProblemSetNode(root: string, workspaceFolder: string): Promise<ProblemSetNode> {
  const label = path.relative(workspaceFolder, root) || path.basename(root);
  try {
    const set = await loadProblems(root);
    return { kind: "set", root, label, problems: set.problems, errors: set.errors, failure: null };
  } catch (error) {
    return { kind: "set", root, label, problems: [], errors: [], failure: (error as Error).message };
  }
}

/** The children of a node: a set's splits (or problems) and its errors; a split's problems. */
export function problemChildren(node: ProblemTreeNode): ProblemTreeNode[] {
  switch (node.kind) {
    case "set": {
      const splits = [...new Set(node.problems.map((p) => p.split))];
      const children: ProblemTreeNode[] =
        splits.length === 1 && splits[0] === null
          ? node.problems.map((problem) => ({ kind: "problem" as const, problem }))
          : splits.map((split) => ({ kind: "split" as const, set: node, split: split ?? "(no split)", problems: node.problems.filter((p) => p.split === split) }));
      if (node.errors.length > 0) children.unshift({ kind: "errors", set: node });
      return children;
    }
    case "split":
      return node.problems.map((problem) => ({ kind: "problem" as const, problem }));
    case "errors":
      return node.set.errors.map((error) => ({ kind: "error" as const, error }));
    default:
      return [];
  }
}

export interface ProblemPresentation {
  label: string;
  description: string;
  tooltip: string;
  icon: "set" | "split" | "problem" | "warning" | "error";
  contextValue: string;
  collapsible: boolean;
  /** File to open on click, when there is one. */
  file: string | null;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

export function presentProblemNode(node: ProblemTreeNode): ProblemPresentation {
  switch (node.kind) {
    case "set": {
      if (node.failure !== null) {
        return { label: node.label, description: "cannot be loaded", tooltip: node.failure, icon: "error", contextValue: "problemSet.broken", collapsible: false, file: null };
      }
      const parts = [plural(node.problems.length, "problem")];
      if (node.errors.length > 0) parts.push(plural(node.errors.length, "error"));
      return { label: node.label, description: parts.join(" · "), tooltip: node.root, icon: "set", contextValue: "problemSet", collapsible: true, file: null };
    }
    case "split":
      return { label: node.split, description: plural(node.problems.length, "problem"), tooltip: `${node.split}: ${plural(node.problems.length, "problem")}`, icon: "split", contextValue: "split", collapsible: true, file: null };
    case "problem": {
      const p = node.problem;
      const parts = [plural(p.testCount, "test")];
      if (p.fnName) parts.push(`calls ${p.fnName}`);
      if (p.difficulty) parts.push(p.difficulty);
      if (p.solutions.length > 0) parts.push(plural(p.solutions.length, "solution"));
      const question = isJsonlSource(p.source) ? null : path.join(p.source, APPS_FILES.question);
      return { label: p.id, description: parts.join(" · "), tooltip: firstLines(p.question, 8), icon: "problem", contextValue: "problem", collapsible: false, file: question };
    }
    case "errors":
      return { label: "problems skipped", description: plural(node.set.errors.length, "error"), tooltip: "These problems fail validation and are left out of runs.", icon: "warning", contextValue: "problemErrors", collapsible: true, file: null };
    case "error": {
      const file = isJsonlSource(node.error.path) ? node.error.path.replace(/:\d+$/, "") : node.error.path;
      // A file of a problem folder is named with its folder ("0042/input_output.json").
      const inFolder = (Object.values(APPS_FILES) as string[]).includes(path.basename(node.error.path));
      const label = inFolder ? `${path.basename(path.dirname(node.error.path))}/${path.basename(node.error.path)}` : path.basename(node.error.path);
      return { label, description: node.error.message, tooltip: `${node.error.path}: ${node.error.message}`, icon: "error", contextValue: "problemError", collapsible: false, file };
    }
  }
}

function isJsonlSource(source: string): boolean {
  return /\.jsonl(:\d+)?$/i.test(source);
}

function firstLines(text: string, count: number): string {
  const lines = text.split("\n");
  return lines.length <= count ? text : `${lines.slice(0, count).join("\n")}\n...`;
}

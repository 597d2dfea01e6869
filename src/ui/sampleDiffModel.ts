// What the inline diffs compare, as plain data: a reference to one program in a run store (an
// iteration's sample, the problem's human reference solution or starter code, or the same
// problem's accepted sample from the previous iteration), its encoding into a read-only virtual
// document URI (scheme "restem-sample"), and reading its text. Pure of vscode; the document
// provider and the diff command live in src/ui/sampleDiff.ts.

import * as path from "node:path";
import { loadProblems, type Problem, type ProblemSet } from "../problems";
import { readJson, readJsonl, runPaths, runProblemId, type KeptRecord, type SampleRecord } from "../restem";

export const SAMPLE_SCHEME = "restem-sample";

/** One program a diff side shows. */
export type ProgramRef =
  | { kind: "sample"; store: string; runId: string; iteration: number; problemId: string; index: number; source: "estep" | "greedy" | "sampled" }
  | { kind: "reference"; store: string; runId: string; problemId: string }
  | { kind: "previous"; store: string; runId: string; iteration: number; problemId: string };

/** A diff to open: left and right documents and the editor title. */
export interface DiffSpec {
  left: ProgramRef;
  right: ProgramRef;
  title: string;
}

// --- URIs ----------------------------------------------------------------------------------

/**
 * The path and query of a ref's virtual document. The path ends in .py so the editor
 * highlights Python; the query carries everything needed to read it back.
 */
export function encodeProgramRef(ref: ProgramRef): { path: string; query: string } {
  const params = new URLSearchParams();
  params.set("kind", ref.kind);
  params.set("store", ref.store);
  params.set("run", ref.runId);
  params.set("problem", ref.problemId);
  if (ref.kind !== "reference") params.set("iteration", String(ref.iteration));
  if (ref.kind === "sample") {
    params.set("index", String(ref.index));
    params.set("source", ref.source);
  }
  const safeProblem = ref.problemId.replace(/[^A-Za-z0-9_.-]+/g, "_");
  const name =
    ref.kind === "sample"
      ? `iter-${ref.iteration}/${safeProblem}/${ref.source === "estep" ? "" : `${ref.source}-`}sample-${ref.index}.py`
      : ref.kind === "reference"
        ? `${safeProblem}/reference.py`
        : `iter-${ref.iteration - 1}/${safeProblem}/accepted.py`;
  return { path: `/${ref.runId}/${name}`, query: params.toString() };
}

/** The ref a virtual document's query names; throws with what is wrong. */
export function decodeProgramRef(query: string): ProgramRef {
  const params = new URLSearchParams(query);
  const need = (key: string): string => {
    const value = params.get(key);
    if (value === null || value === "") throw new Error(`restem-sample URI: "${key}" is missing`);
    return value;
  };
  const integer = (key: string): number => {
    const value = Number(need(key));
    if (!Number.isInteger(value) || value < 0) throw new Error(`restem-sample URI: "${key}" must be a non-negative integer`);
    return value;
  };
  const kind = need("kind");
  const common = { store: need("store"), runId: need("run"), problemId: need("problem") };
  if (kind === "reference") return { kind, ...common };
  if (kind === "previous") return { kind, ...common, iteration: integer("iteration") };
  if (kind === "sample") {
    const source = need("source");
    if (source !== "estep" && source !== "greedy" && source !== "sampled") throw new Error(`restem-sample URI: unknown source "${source}"`);
    return { kind, ...common, iteration: integer("iteration"), index: integer("index"), source };
  }
  throw new Error(`restem-sample URI: unknown kind "${kind}"`);
}

// --- which diffs a sample has ----------------------------------------------------------------

/** Title of a program in an editor tab. */
export function describeRef(ref: ProgramRef): string {
  switch (ref.kind) {
    case "sample":
      return ref.source === "estep" ? `iteration ${ref.iteration} sample ${ref.index}` : `iteration ${ref.iteration} ${ref.source} ${ref.index}`;
    case "reference":
      return "reference";
    case "previous":
      return `iteration ${ref.iteration - 1} accepted`;
  }
}

/** The two diffs of an accepted sample: against the reference (or starter code), and against the previous iteration's accepted sample. */
export function diffSpecsFor(sample: Extract<ProgramRef, { kind: "sample" }>): { reference: DiffSpec; previous: DiffSpec | null } {
  const reference: ProgramRef = { kind: "reference", store: sample.store, runId: sample.runId, problemId: sample.problemId };
  const previous: ProgramRef = { kind: "previous", store: sample.store, runId: sample.runId, iteration: sample.iteration, problemId: sample.problemId };
  return {
    reference: { left: reference, right: sample, title: `${sample.problemId}: ${describeRef(reference)} ↔ ${describeRef(sample)}` },
    previous: sample.iteration >= 2 ? { left: previous, right: sample, title: `${sample.problemId}: ${describeRef(previous)} ↔ ${describeRef(sample)}` } : null,
  };
}

// --- reading -------------------------------------------------------------------------------

/**
 * The problem sets of runs, loaded once per root (a tree of hundreds of folders takes a moment)
 * until forgetProblemSets(), which the extension calls when problem files change.
 */
const problemSets = new Map<string, Promise<ProblemSet>>();

export function forgetProblemSets(): void {
  problemSets.clear();
}

async function runProblem(store: string, runId: string, problemId: string): Promise<Problem | null> {
  const config = await readJson<{ problems?: string }>(runPaths(store, runId).config);
  if (!config?.problems) throw new Error(`run ${runId} has no readable config.json`);
  const root = path.resolve(config.problems);
  let set = problemSets.get(root);
  if (!set) {
    set = loadProblems(root);
    problemSets.set(root, set);
    set.catch(() => problemSets.delete(root));
  }
  const problems = (await set).problems;
  return problems.find((p) => runProblemId(p) === problemId) ?? null;
}

/** The text of a program: what the run store (or the problem folder) holds, or a comment saying why there is none. */
export async function readProgram(ref: ProgramRef): Promise<string> {
  const paths = runPaths(ref.store, ref.runId);
  switch (ref.kind) {
    case "sample": {
      const iter = paths.iteration(ref.iteration);
      const file = ref.source === "estep" ? iter.samples : iter.eval;
      const records = await readJsonl<SampleRecord>(file);
      const wanted = ref.source === "estep" ? undefined : ref.source;
      const record = records.find((r) => r.problem_id === ref.problemId && r.index === ref.index && r.kind === wanted);
      return record ? record.code : `# sample ${ref.index} of ${ref.problemId} is not in ${file}\n`;
    }
    case "reference": {
      const problem = await runProblem(ref.store, ref.runId, ref.problemId);
      if (problem === null) return `# problem ${ref.problemId} is no longer in the run's problem set\n`;
      if (problem.solutions.length > 0) return problem.solutions[0];
      if (problem.starterCode) return problem.starterCode;
      return `# ${ref.problemId} has no reference solution (solutions.json) and no starter code (starter_code.py)\n`;
    }
    case "previous": {
      const previous = ref.iteration - 1;
      const kept = await readJsonl<KeptRecord>(paths.iteration(previous).kept);
      const record = kept.find((k) => k.problem_id === ref.problemId);
      return record ? record.code : `# no accepted sample of ${ref.problemId} in iteration ${previous}\n`;
    }
  }
}

/** Accepted (kept) samples of an iteration, for the palette's quick pick. */
export async function acceptedSamples(store: string, runId: string, iteration: number): Promise<Array<Extract<ProgramRef, { kind: "sample" }>>> {
  const kept = await readJsonl<KeptRecord>(runPaths(store, runId).iteration(iteration).kept);
  return kept
    .filter((k) => k.source === "sample")
    .map((k) => ({ kind: "sample" as const, store, runId, iteration, problemId: k.problem_id, index: k.index, source: "estep" as const }));
}

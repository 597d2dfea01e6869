// Loads problems from an APPS directory tree.
//
// Accepted layouts, detected automatically:
//   <root>/question.txt, input_output.json, ...        a single problem folder
//   <root>/<id>/question.txt, ...                      a folder of problem folders
//   <root>/<split>/<id>/question.txt, ...              a folder of split folders
// A problem folder holds question.txt and input_output.json, and optionally
// solutions.json, metadata.json and starter_code.py; any other file (such as
// gen_solutions.json) is ignored. Hidden entries (".git", ".DS_Store") are
// skipped. A broken problem is reported as a ProblemLoadError and skipped;
// the rest still load.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import {
  APPS_FILES,
  InvalidProblemData,
  Problem,
  PROBLEM_FOLDER_MARKERS,
  ProblemFileError,
  ProblemLoadError,
  ProblemSet,
} from "./types";
import {
  decodeUtf8Strictly,
  optionalText,
  validateInputOutput,
  validateMetadataText,
  validateSolutionsText,
} from "./validate";

/** How many problem folders are read at once; bounds open file handles on large sets. */
const FOLDER_READ_CONCURRENCY = 32;

/** A problem folder found while walking the tree, not yet read. */
export interface ProblemFolder {
  folder: string;
  id: string;
  split: string | null;
}

/** What walking a tree found: problem folders to read, and folders that could not be classified. */
export interface DirectoryLayout {
  folders: ProblemFolder[];
  errors: ProblemLoadError[];
}

/** True for names the walker skips, such as ".git" or ".DS_Store". */
function isHiddenName(name: string): boolean {
  return name.startsWith(".");
}

/** Names of the visible subdirectories of `directory` (following symlinks), sorted. */
export async function listSubdirectories(directory: string): Promise<string[]> {
  const entries = await fs.readdir(directory, { withFileTypes: true });
  const names: string[] = [];
  for (const entry of entries) {
    if (isHiddenName(entry.name)) {
      continue;
    }
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await isDirectory(path.join(directory, entry.name))))) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

async function isDirectory(candidate: string): Promise<boolean> {
  try {
    return (await fs.stat(candidate)).isDirectory();
  } catch {
    return false;
  }
}

/** True when `directory` directly holds any APPS problem file (question.txt, input_output.json, ...). */
export async function looksLikeProblemFolder(directory: string): Promise<boolean> {
  const names = await fs.readdir(directory);
  return names.some((name) => PROBLEM_FOLDER_MARKERS.includes(name));
}

/** Classifies one child of the root as a problem folder, a split folder, or neither. */
async function classifyChild(root: string, childName: string): Promise<DirectoryLayout> {
  const child = path.join(root, childName);
  if (await looksLikeProblemFolder(child)) {
    return { folders: [{ folder: child, id: childName, split: null }], errors: [] };
  }
  const problemNames = await listSubdirectories(child);
  if (problemNames.length === 0) {
    const message =
      `not a problem folder (no ${APPS_FILES.question} or ${APPS_FILES.inputOutput}) ` +
      "and not a split folder of problem folders";
    return { folders: [], errors: [{ path: child, message }] };
  }
  const folders = problemNames.map((id) => ({ folder: path.join(child, id), id, split: childName }));
  return { folders, errors: [] };
}

/** Finds every problem folder under `root`, whichever of the three layouts it uses. */
export async function findProblemFolders(root: string): Promise<DirectoryLayout> {
  if (await looksLikeProblemFolder(root)) {
    return { folders: [{ folder: root, id: path.basename(root), split: null }], errors: [] };
  }
  const layout: DirectoryLayout = { folders: [], errors: [] };
  for (const childName of await listSubdirectories(root)) {
    const childLayout = await classifyChild(root, childName);
    layout.folders.push(...childLayout.folders);
    layout.errors.push(...childLayout.errors);
  }
  if (layout.folders.length === 0 && layout.errors.length === 0) {
    const message = `no APPS problem folders found (expected ${APPS_FILES.question} and ${APPS_FILES.inputOutput})`;
    layout.errors.push({ path: root, message });
  }
  return layout;
}

/** Reads a file of a problem folder as strict UTF-8; null when the file does not exist. */
async function readOptionalText(filePath: string): Promise<string | null> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return null;
    }
    throw new ProblemFileError(filePath, `cannot read file: ${(error as Error).message}`);
  }
  return validateAt(filePath, () => decodeUtf8Strictly(bytes));
}

/** Reads a file the problem cannot do without, reporting it as missing when absent. */
async function readRequiredText(filePath: string): Promise<string> {
  const text = await readOptionalText(filePath);
  if (text === null) {
    throw new ProblemFileError(filePath, `missing ${path.basename(filePath)}`);
  }
  return text;
}

/** Runs a pure validation, turning InvalidProblemData into a ProblemFileError at `filePath`. */
function validateAt<T>(filePath: string, validate: () => T): T {
  try {
    return validate();
  } catch (error) {
    if (error instanceof InvalidProblemData) {
      throw new ProblemFileError(filePath, error.message);
    }
    throw error;
  }
}

/** Reads and validates an optional JSON file, returning `whenAbsent` if it does not exist. */
async function readOptionalJson<T>(filePath: string, validate: (text: string) => T, whenAbsent: T): Promise<T> {
  const text = await readOptionalText(filePath);
  return text === null ? whenAbsent : validateAt(filePath, () => validate(text));
}

/** Reads and validates one problem folder; throws ProblemFileError naming the first thing wrong. */
export async function loadProblemFolder({ folder, id, split }: ProblemFolder): Promise<Problem> {
  const inFolder = (name: string): string => path.join(folder, name);
  const question = await readRequiredText(inFolder(APPS_FILES.question));
  const inputOutputPath = inFolder(APPS_FILES.inputOutput);
  const inputOutputText = await readRequiredText(inputOutputPath);
  const tests = validateAt(inputOutputPath, () => validateInputOutput(inputOutputText));
  const solutions = await readOptionalJson(inFolder(APPS_FILES.solutions), validateSolutionsText, []);
  const metadata = await readOptionalJson(inFolder(APPS_FILES.metadata), validateMetadataText, {
    difficulty: null,
    url: null,
  });
  const starterCode = optionalText(await readOptionalText(inFolder(APPS_FILES.starterCode)));
  return { id, split, source: folder, question, starterCode, ...tests, solutions, ...metadata };
}

/** Loads one folder, capturing a failure as a ProblemLoadError instead of throwing. */
async function tryLoadProblemFolder(problemFolder: ProblemFolder): Promise<Problem | ProblemLoadError> {
  try {
    return await loadProblemFolder(problemFolder);
  } catch (error) {
    const named = { problemId: problemFolder.id, split: problemFolder.split };
    if (error instanceof ProblemFileError) {
      return { ...error.toLoadError(), ...named };
    }
    return { path: problemFolder.folder, message: `cannot load problem: ${(error as Error).message}`, ...named };
  }
}

/** Maps `items` through `work` with at most `limit` calls in flight, keeping the input order. */
export async function mapWithConcurrency<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  const runWorker = async (): Promise<void> => {
    while (nextIndex < items.length) {
      const index = nextIndex++;
      results[index] = await work(items[index]);
    }
  };
  const workerCount = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: workerCount }, runWorker));
  return results;
}

function isLoadError(result: Problem | ProblemLoadError): result is ProblemLoadError {
  return "message" in result && !("question" in result);
}

/** Loads every problem under an APPS directory tree (unsorted; the caller sorts). */
export async function loadProblemDirectory(root: string): Promise<Omit<ProblemSet, "root">> {
  const layout = await findProblemFolders(root);
  const results = await mapWithConcurrency(layout.folders, FOLDER_READ_CONCURRENCY, tryLoadProblemFolder);
  const problems: Problem[] = [];
  const errors: ProblemLoadError[] = [...layout.errors];
  for (const result of results) {
    if (isLoadError(result)) {
      errors.push(result);
    } else {
      problems.push(result);
    }
  }
  return { problems, errors };
}

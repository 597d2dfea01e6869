// Shared types for loaded APPS-style problem sets.
//
// A problem set comes either from an APPS directory tree
// (<root>/<split>/<id>/question.txt, input_output.json, ...) or from a
// Hugging Face style APPS JSONL file (one problem per line). Both loaders
// produce the same `Problem` records, and other parts of restem (the
// sandbox judge, the ReST-EM trainer, the UI) depend on exactly these names.
//
// Test data is kept as RAW JSON text (`inputsJson`, `outputsJson`), sliced
// verbatim from the source. Expected outputs may hold integers beyond 2^53,
// and the Python judge distinguishes `1` from `1.0`; converting them to
// JavaScript numbers and back would silently corrupt both. The host must
// therefore pass these strings to the judge untouched.

/** One programming problem with its tests, as loaded from disk. */
export interface Problem {
  /** Folder name, or String(problem_id) for JSONL rows. */
  id: string;
  /** Split folder name when loaded from <split>/<id>/, else null. */
  split: string | null;
  /** Folder path, or "<file.jsonl>:<line number>". */
  source: string;
  /** Problem statement shown to the model. */
  question: string;
  /** Code the answer must start from (e.g. a LeetCode `class Solution` stub), or null. */
  starterCode: string | null;
  /**
   * Name of the function the judge calls. Set => call-based problem
   * (including LeetCode `class Solution` methods); null => the program
   * reads standard input and writes standard output.
   */
  fnName: string | null;
  /** Number of test cases (length of both the inputs and outputs arrays). */
  testCount: number;
  /** The RAW JSON text of the "inputs" array, sliced verbatim from the source text. */
  inputsJson: string;
  /** The RAW JSON text of the "outputs" array, sliced verbatim from the source text. */
  outputsJson: string;
  /** Human-written reference solutions ([] when absent). */
  solutions: string[];
  /** Difficulty label such as "introductory", "interview" or "competition", or null. */
  difficulty: string | null;
  /** Where the problem was published, or null. */
  url: string | null;
}

/**
 * Why one problem (or one JSONL line) could not be loaded. The problem is
 * skipped and the rest of the set still loads.
 */
export interface ProblemLoadError {
  /** The offending file, folder, or "<file.jsonl>:<line number>". */
  path: string;
  /** What is wrong, in words a user can act on. */
  message: string;
  /** The skipped problem's id where it is known (its folder name, or the line's problem_id). */
  problemId?: string;
  /** Its split folder, for problems of a split folder. */
  split?: string | null;
}

/** Everything loaded from one directory tree or JSONL file. */
export interface ProblemSet {
  /** Absolute path of the directory or JSONL file that was loaded. */
  root: string;
  /** Problems that passed validation, sorted by split then id (numeric-aware). */
  problems: Problem[];
  /** Problems that were skipped, with the reason for each. */
  errors: ProblemLoadError[];
}

/**
 * The test-related part of a problem, validated from an
 * input_output object (the file input_output.json, or the JSONL field).
 */
export interface ProblemTests {
  fnName: string | null;
  testCount: number;
  inputsJson: string;
  outputsJson: string;
}

/** Optional descriptive fields from metadata.json or a JSONL row. */
export interface ProblemMetadata {
  difficulty: string | null;
  url: string | null;
}

/** File names inside an APPS problem folder. */
export const APPS_FILES = {
  question: "question.txt",
  inputOutput: "input_output.json",
  solutions: "solutions.json",
  metadata: "metadata.json",
  starterCode: "starter_code.py",
} as const;

/** The files whose presence marks a folder as an APPS problem folder. */
export const PROBLEM_FOLDER_MARKERS: readonly string[] = Object.values(APPS_FILES);

/**
 * Thrown while loading a single problem; the loaders catch it, record it as
 * a ProblemLoadError, and skip that problem.
 */
export class ProblemFileError extends Error {
  constructor(
    readonly filePath: string,
    message: string,
  ) {
    super(message);
    this.name = "ProblemFileError";
  }

  /** The error in the form stored in ProblemSet.errors. */
  toLoadError(): ProblemLoadError {
    return { path: this.filePath, message: this.message };
  }
}

/**
 * Thrown by the pure validation functions, which do not know which file
 * their data came from; the loaders attach the path.
 */
export class InvalidProblemData extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidProblemData";
  }
}

// Public API of the problems module: loading APPS-style problem sets from an
// APPS directory tree or a Hugging Face style APPS JSONL file, looking
// problems up, and the raw-JSON scanner that keeps test data verbatim.
// Other parts of restem import from "problems" only through this file.

export type { Problem, ProblemLoadError, ProblemSet, ProblemTests, ProblemMetadata } from "./types";
export { APPS_FILES } from "./types";
export { loadProblems, findProblem, qualifiedProblemId, compareNatural, compareProblems } from "./problemSet";
export { sliceTopLevelValues, sliceTopLevelValue, RawJsonError } from "./rawJson";
export { validateInputOutput } from "./validate";

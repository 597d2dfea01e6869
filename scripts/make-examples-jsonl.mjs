// Regenerates examples/problems.jsonl from the bundled APPS-layout problems
// in examples/problems/train, writing one row per problem in the Hugging
// Face APPS JSONL layout (problem_id, question, solutions, input_output,
// difficulty, url, starter_code). `solutions` and `input_output` are JSON
// *strings*, as on Hugging Face. input_output is the file's text verbatim
// (never parsed and re-serialized), so big integers and `1.0` survive.
//
// Usage: node scripts/make-examples-jsonl.mjs
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const trainDir = join(repoRoot, "examples", "problems", "train");
const outputFile = join(repoRoot, "examples", "problems.jsonl");

/** Numeric folder names sort as numbers ("2" before "10"), others as text. */
function compareFolderNames(left, right) {
  return left.localeCompare(right, "en", { numeric: true });
}

/** The text of a file in a problem folder, or null when it does not exist. */
function readOptional(folder, name) {
  const file = join(folder, name);
  return existsSync(file) ? readFileSync(file, "utf8") : null;
}

/** APPS JSONL problem ids are numbers; keep a folder name as a string when it is not one. */
function problemIdFor(folderName) {
  return /^\d+$/.test(folderName) ? Number(folderName) : folderName;
}

/** One Hugging Face layout row for the problem in `folder`. */
function rowFor(folderName) {
  const folder = join(trainDir, folderName);
  const metadata = JSON.parse(readOptional(folder, "metadata.json") ?? "{}");
  return {
    problem_id: problemIdFor(folderName),
    question: readFileSync(join(folder, "question.txt"), "utf8"),
    solutions: (readOptional(folder, "solutions.json") ?? "[]").trimEnd(),
    input_output: readFileSync(join(folder, "input_output.json"), "utf8").trimEnd(),
    difficulty: metadata.difficulty ?? "",
    url: metadata.url ?? "",
    starter_code: readOptional(folder, "starter_code.py") ?? "",
  };
}

const folderNames = readdirSync(trainDir)
  .filter((name) => !name.startsWith(".") && statSync(join(trainDir, name)).isDirectory())
  .sort(compareFolderNames);
const lines = folderNames.map((name) => JSON.stringify(rowFor(name)));
writeFileSync(outputFile, lines.join("\n") + "\n");
console.log(`wrote ${lines.length} problems to ${outputFile}`);

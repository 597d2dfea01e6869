// Loads problems from an APPS JSONL file in the Hugging Face layout.
//
// Each non-blank line is one JSON object:
//   problem_id    number or string (required)
//   question      string (required)
//   input_output  a JSON *string* encoding {"inputs", "outputs", "fn_name"?}
//                 (required; "" means the problem has no tests, which is an error)
//   solutions     a JSON *string* encoding a list of Python sources (optional)
//   starter_code, difficulty, url   strings (optional; "" means absent)
// JSON.parse(line).input_output yields the inner JSON text exactly as stored,
// so the raw "inputs"/"outputs" spans are sliced from that string and big
// integers and `1.0` survive. The file is streamed line by line as bytes and
// each line is decoded as strict UTF-8, so one bad line is reported and
// skipped while the others load, and files larger than a JS string can hold
// still work.

import { createReadStream } from "node:fs";
import { InvalidProblemData, Problem, ProblemLoadError, ProblemSet } from "./types";
import {
  decodeUtf8Strictly,
  describeJsonType,
  isJsonObject,
  optionalText,
  validateInputOutput,
  validateSolutionList,
  validateSolutionsText,
  withContext,
} from "./validate";

const NEWLINE_BYTE = 0x0a;

/** One line of a file as raw bytes, without its "\n"; line numbers start at 1. */
export interface ByteLine {
  lineNumber: number;
  bytes: Buffer;
}

/** Streams a file's lines as raw bytes, so each can be decoded (and fail) on its own. */
export async function* readByteLines(filePath: string): AsyncGenerator<ByteLine> {
  let pendingPieces: Buffer[] = [];
  let lineNumber = 1;
  for await (const chunk of createReadStream(filePath) as AsyncIterable<Buffer>) {
    let lineStart = 0;
    let newline = chunk.indexOf(NEWLINE_BYTE, lineStart);
    while (newline !== -1) {
      pendingPieces.push(chunk.subarray(lineStart, newline));
      yield { lineNumber: lineNumber++, bytes: Buffer.concat(pendingPieces) };
      pendingPieces = [];
      lineStart = newline + 1;
      newline = chunk.indexOf(NEWLINE_BYTE, lineStart);
    }
    if (lineStart < chunk.length) {
      pendingPieces.push(chunk.subarray(lineStart));
    }
  }
  if (pendingPieces.length > 0) {
    yield { lineNumber, bytes: Buffer.concat(pendingPieces) };
  }
}

/** The problem id of a row: a finite number or a non-empty string, as a string. */
export function readProblemId(row: Record<string, unknown>): string {
  const problemId = row.problem_id;
  if (problemId === undefined) {
    throw new InvalidProblemData('missing field "problem_id"');
  }
  if (typeof problemId === "number" && Number.isFinite(problemId)) {
    return String(problemId);
  }
  if (typeof problemId === "string" && problemId.trim() !== "") {
    return problemId;
  }
  throw new InvalidProblemData(`"problem_id" must be a number or a non-empty string, not ${describeJsonType(problemId)}`);
}

/** A field that must be present and a string. */
export function requireStringField(row: Record<string, unknown>, field: string): string {
  const value = row[field];
  if (value === undefined) {
    throw new InvalidProblemData(`missing field "${field}"`);
  }
  if (typeof value !== "string") {
    throw new InvalidProblemData(`"${field}" must be a string, not ${describeJsonType(value)}`);
  }
  return value;
}

/** The `solutions` field: absent, null or "" => []; a JSON string encoding a list of strings; or such a list itself. */
export function readSolutionsField(row: Record<string, unknown>): string[] {
  const solutions = row.solutions;
  if (solutions === undefined || solutions === null || solutions === "") {
    return [];
  }
  if (typeof solutions === "string") {
    return withContext('"solutions": ', () => validateSolutionsText(solutions));
  }
  return withContext('"solutions": ', () => validateSolutionList(solutions));
}

/** The `input_output` field, validated; an empty string means no tests and is rejected. */
function readTestsField(row: Record<string, unknown>): ReturnType<typeof validateInputOutput> {
  const inputOutputText = requireStringField(row, "input_output");
  if (inputOutputText.trim() === "") {
    throw new InvalidProblemData('"input_output" is empty: the problem has no tests');
  }
  return withContext('"input_output": ', () => validateInputOutput(inputOutputText));
}

/** Parses one JSONL line (already decoded) into a Problem; `source` is "<file>:<line>". */
export function parseProblemRow(lineText: string, source: string): Problem {
  let row: unknown;
  try {
    row = JSON.parse(lineText) as unknown;
  } catch (error) {
    throw new InvalidProblemData(`line is not valid JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(row)) {
    throw new InvalidProblemData(`line must hold a JSON object, not ${describeJsonType(row)}`);
  }
  const id = readProblemId(row);
  const question = requireStringField(row, "question");
  const tests = readTestsField(row);
  return {
    id,
    split: null,
    source,
    question,
    starterCode: optionalText(row.starter_code),
    ...tests,
    solutions: readSolutionsField(row),
    difficulty: optionalText(row.difficulty),
    url: optionalText(row.url),
  };
}

/** True for a line holding only whitespace (including a lone "\r"); such lines are skipped. */
function isBlankLine(bytes: Buffer): boolean {
  return bytes.every((byte) => byte === 0x20 || byte === 0x09 || byte === 0x0d);
}

/** Decodes and parses one line, rejecting a problem_id seen on an earlier line. */
function parseLine(line: ByteLine, source: string, firstLineOfId: Map<string, number>): Problem {
  const problem = parseProblemRow(decodeUtf8Strictly(line.bytes), source);
  const firstLine = firstLineOfId.get(problem.id);
  if (firstLine !== undefined) {
    throw new InvalidProblemData(`duplicate problem_id "${problem.id}" (first seen on line ${firstLine})`);
  }
  firstLineOfId.set(problem.id, line.lineNumber);
  return problem;
}

/** The problem_id of a line that failed to load, when the line is JSON with a usable one. */
function problemIdOfLine(bytes: Buffer): string | null {
  try {
    const row = JSON.parse(bytes.toString("utf8")) as unknown;
    return isJsonObject(row) ? readProblemId(row) : null;
  } catch {
    return null;
  }
}

/** Loads every problem of an APPS JSONL file (unsorted; the caller sorts). */
export async function loadProblemJsonl(filePath: string): Promise<Omit<ProblemSet, "root">> {
  const problems: Problem[] = [];
  const errors: ProblemLoadError[] = [];
  const firstLineOfId = new Map<string, number>();
  for await (const line of readByteLines(filePath)) {
    if (isBlankLine(line.bytes)) {
      continue;
    }
    const source = `${filePath}:${line.lineNumber}`;
    try {
      problems.push(parseLine(line, source, firstLineOfId));
    } catch (error) {
      if (!(error instanceof InvalidProblemData)) {
        throw error;
      }
      const problemId = problemIdOfLine(line.bytes);
      errors.push(problemId === null ? { path: source, message: error.message } : { path: source, message: error.message, problemId, split: null });
    }
  }
  return { problems, errors };
}

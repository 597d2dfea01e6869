// Pure validation of the pieces of an APPS problem: the input_output object,
// the list of human solutions, metadata, and optional text fields.
//
// These functions know nothing about files. They take text or parsed values,
// return the normalized piece, or throw InvalidProblemData with a message
// naming what is wrong; the directory and JSONL loaders attach the path.
// JSON.parse is used here only to validate and count: the test data handed
// on is always the raw text sliced by rawJson.ts.

import { RawJsonError, sliceTopLevelValues } from "./rawJson";
import { InvalidProblemData, ProblemMetadata, ProblemTests } from "./types";

const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes bytes as UTF-8, throwing InvalidProblemData on any invalid sequence. A leading BOM is dropped. */
export function decodeUtf8Strictly(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Offset(bytes);
    throw new InvalidProblemData(`not valid UTF-8 text (first bad byte at offset ${offset})`);
  }
}

/** Byte offset of the first byte that is not part of valid UTF-8 (bytes.length if all are valid). */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  // A lenient decode turns each bad sequence into U+FFFD; walking the code
  // points while counting their encoded lengths finds the first one's offset.
  const lenientText = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  let byteOffset = 0;
  for (const character of lenientText) {
    if (character === "\uFFFD" && !isEncodedReplacementCharacter(bytes, byteOffset)) {
      return byteOffset;
    }
    byteOffset += utf8Length(character.codePointAt(0) ?? 0);
  }
  return bytes.length;
}

/** True when the bytes at `offset` are a genuine, correctly encoded U+FFFD (EF BF BD). */
function isEncodedReplacementCharacter(bytes: Uint8Array, offset: number): boolean {
  return bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd;
}

/** Number of bytes UTF-8 uses for one code point. */
function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) {
    return 1;
  }
  if (codePoint < 0x800) {
    return 2;
  }
  return codePoint < 0x10000 ? 3 : 4;
}

/** A short name for the JSON type of a parsed value, for error messages. */
export function describeJsonType(value: unknown): string {
  if (value === null) {
    return "null";
  }
  if (Array.isArray(value)) {
    return "array";
  }
  return typeof value;
}

/** True for a parsed JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON.parse, with failures rethrown as InvalidProblemData carrying JSON.parse's message. */
export function parseJsonOrThrow(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidProblemData(`malformed JSON: ${(error as Error).message}`);
  }
}

/** Checks that `inputs` and `outputs` are arrays of the same, non-zero length; returns that length. */
export function checkTestArrays(inputs: unknown, outputs: unknown): number {
  if (inputs === undefined) {
    throw new InvalidProblemData('"inputs" is missing');
  }
  if (outputs === undefined) {
    throw new InvalidProblemData('"outputs" is missing');
  }
  if (!Array.isArray(inputs)) {
    throw new InvalidProblemData(`"inputs" must be an array, not ${describeJsonType(inputs)}`);
  }
  if (!Array.isArray(outputs)) {
    throw new InvalidProblemData(`"outputs" must be an array, not ${describeJsonType(outputs)}`);
  }
  if (inputs.length !== outputs.length) {
    throw new InvalidProblemData(
      `"inputs" has ${inputs.length} entries but "outputs" has ${outputs.length}; they must match one to one`,
    );
  }
  if (inputs.length === 0) {
    throw new InvalidProblemData('no tests: "inputs" and "outputs" are both empty');
  }
  return inputs.length;
}

/** Reads the optional `fn_name`: absent => null (standard input); present => must be a non-empty string. */
export function readFnName(inputOutput: Record<string, unknown>): string | null {
  if (!("fn_name" in inputOutput)) {
    return null;
  }
  const fnName = inputOutput.fn_name;
  if (typeof fnName !== "string" || fnName.trim() === "") {
    const got = typeof fnName === "string" ? "an empty string" : describeJsonType(fnName);
    throw new InvalidProblemData(`"fn_name" must be a non-empty string, not ${got}`);
  }
  return fnName;
}

/** For call-based problems every input must be the array of arguments for one call. */
export function checkCallArguments(inputs: unknown[], fnName: string): void {
  const badIndex = inputs.findIndex((input) => !Array.isArray(input));
  if (badIndex >= 0) {
    throw new InvalidProblemData(
      `call-based problem (fn_name "${fnName}"): inputs[${badIndex}] must be an array of arguments, ` +
        `not ${describeJsonType(inputs[badIndex])}`,
    );
  }
}

/** The raw text spans of "inputs" and "outputs" from the (already validated) input_output text. */
function sliceTestArrays(inputOutputText: string): { inputsJson: string; outputsJson: string } {
  let spans: Map<string, string>;
  try {
    spans = sliceTopLevelValues(inputOutputText);
  } catch (error) {
    if (error instanceof RawJsonError) {
      throw new InvalidProblemData(`could not scan JSON: ${error.message}`);
    }
    throw error;
  }
  const inputsJson = spans.get("inputs");
  const outputsJson = spans.get("outputs");
  if (inputsJson === undefined || outputsJson === undefined) {
    throw new InvalidProblemData('could not find "inputs" and "outputs" while scanning the JSON text');
  }
  return { inputsJson, outputsJson };
}

/**
 * Validates the text of an input_output object
 * (`{"inputs": [...], "outputs": [...], "fn_name"?: "..."}`)
 * and returns its tests with the raw, verbatim JSON of both arrays.
 */
export function validateInputOutput(inputOutputText: string): ProblemTests {
  const parsed = parseJsonOrThrow(inputOutputText);
  if (!isJsonObject(parsed)) {
    throw new InvalidProblemData(
      `must be a JSON object with "inputs" and "outputs", not ${describeJsonType(parsed)}`,
    );
  }
  const testCount = checkTestArrays(parsed.inputs, parsed.outputs);
  const fnName = readFnName(parsed);
  if (fnName !== null) {
    checkCallArguments(parsed.inputs as unknown[], fnName);
  }
  return { fnName, testCount, ...sliceTestArrays(inputOutputText) };
}

/** Checks that a parsed solutions value is a list of strings (Python sources) and returns it. */
export function validateSolutionList(parsed: unknown): string[] {
  if (!Array.isArray(parsed)) {
    throw new InvalidProblemData(`must be a JSON list of strings, not ${describeJsonType(parsed)}`);
  }
  const badIndex = parsed.findIndex((solution) => typeof solution !== "string");
  if (badIndex >= 0) {
    throw new InvalidProblemData(
      `must be a JSON list of strings, but item ${badIndex} is ${describeJsonType(parsed[badIndex])}`,
    );
  }
  return parsed as string[];
}

/** Parses and validates the text of a solutions list (solutions.json, or the JSONL `solutions` string). */
export function validateSolutionsText(solutionsText: string): string[] {
  return validateSolutionList(parseJsonOrThrow(solutionsText));
}

/** A string field that is absent, non-string or blank becomes null. */
export function optionalText(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

/** Reads difficulty and url from a parsed metadata object; other keys are ignored. */
export function readMetadataFields(parsed: unknown): ProblemMetadata {
  if (!isJsonObject(parsed)) {
    throw new InvalidProblemData(`must be a JSON object, not ${describeJsonType(parsed)}`);
  }
  return { difficulty: optionalText(parsed.difficulty), url: optionalText(parsed.url) };
}

/** Parses and validates the text of metadata.json. */
export function validateMetadataText(metadataText: string): ProblemMetadata {
  return readMetadataFields(parseJsonOrThrow(metadataText));
}

/** Runs `validate`, prefixing any InvalidProblemData message with `context` (e.g. "input_output: "). */
export function withContext<T>(context: string, validate: () => T): T {
  try {
    return validate();
  } catch (error) {
    if (error instanceof InvalidProblemData && context !== "") {
      throw new InvalidProblemData(`${context}${error.message}`);
    }
    throw error;
  }
}

// A small JSON scanner that finds the verbatim text of each top-level value
// in a JSON object, without converting anything to JavaScript values.
//
// Why: APPS expected outputs contain integers beyond 2^53 and floats such as
// `1.0` whose spelling matters to the Python judge. JSON.parse would turn
// 12345678901234567890 into 12345678901234567000 and 1.0 into 1, so the
// loaders use JSON.parse only to validate and count, and take the text they
// hand to the judge from this scanner instead.
//
// The scanner checks structure (strings, brackets, separators) well enough
// to find value boundaries; it does not validate number or literal spelling.
// Callers run JSON.parse on the same text first, so the text is known to be
// valid JSON by the time it is scanned.

/** Raised when the text is not a JSON object the scanner can walk. */
export class RawJsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = "RawJsonError";
  }
}

const JSON_WHITESPACE = new Set([" ", "\t", "\n", "\r"]);
const CLOSING_BRACKET: Readonly<Record<string, string>> = { "{": "}", "[": "]" };

/** Index of the first non-whitespace character at or after `position`. */
export function skipWhitespace(text: string, position: number): number {
  let index = position;
  while (index < text.length && JSON_WHITESPACE.has(text[index])) {
    index++;
  }
  return index;
}

/**
 * Given the index of an opening double quote, returns the index just after
 * the matching closing quote. Backslash escapes (\" \\ \n \uXXXX ...) are
 * stepped over as a pair, so an escaped quote never ends the string.
 */
export function findStringEnd(text: string, openingQuote: number): number {
  if (text[openingQuote] !== '"') {
    throw new RawJsonError("expected a string", openingQuote);
  }
  let index = openingQuote + 1;
  while (index < text.length) {
    const character = text[index];
    if (character === "\\") {
      index += 2;
    } else if (character === '"') {
      return index + 1;
    } else {
      index++;
    }
  }
  throw new RawJsonError("unterminated string", openingQuote);
}

/**
 * Given the index of `{` or `[`, returns the index just after its matching
 * closing bracket, skipping over strings (which may contain brackets).
 */
export function findContainerEnd(text: string, openingBracket: number): number {
  const expectedClosers: string[] = [];
  let index = openingBracket;
  while (index < text.length) {
    const character = text[index];
    if (character === '"') {
      index = findStringEnd(text, index);
      continue;
    }
    if (character === "{" || character === "[") {
      expectedClosers.push(CLOSING_BRACKET[character]);
    } else if (character === "}" || character === "]") {
      if (expectedClosers.pop() !== character) {
        throw new RawJsonError(`unexpected "${character}"`, index);
      }
      if (expectedClosers.length === 0) {
        return index + 1;
      }
    }
    index++;
  }
  throw new RawJsonError("unterminated array or object", openingBracket);
}

/** Characters that end a number or literal (true, false, null). */
function endsScalar(character: string): boolean {
  return JSON_WHITESPACE.has(character) || character === "," || character === "]" || character === "}";
}

/** Given the first character of a number or literal, returns the index just after it. */
export function findScalarEnd(text: string, start: number): number {
  let index = start;
  while (index < text.length && !endsScalar(text[index])) {
    index++;
  }
  if (index === start) {
    throw new RawJsonError("expected a value", start);
  }
  return index;
}

/** Given the index of the first character of any JSON value, returns the index just after it. */
export function findValueEnd(text: string, start: number): number {
  const character = text[start];
  if (character === undefined) {
    throw new RawJsonError("expected a value but the text ended", start);
  }
  if (character === '"') {
    return findStringEnd(text, start);
  }
  if (character === "{" || character === "[") {
    return findContainerEnd(text, start);
  }
  return findScalarEnd(text, start);
}

/** Throws unless `text[position]` is `expected`. */
function expectCharacter(text: string, position: number, expected: string): void {
  if (text[position] !== expected) {
    const found = position < text.length ? `"${text[position]}"` : "end of text";
    throw new RawJsonError(`expected "${expected}" but found ${found}`, position);
  }
}

/** Decodes a key's string token (escapes included) into the key itself. */
function decodeKey(keyToken: string, position: number): string {
  try {
    return JSON.parse(keyToken) as string;
  } catch {
    throw new RawJsonError("malformed object key", position);
  }
}

/**
 * Returns the verbatim text span of each top-level key's value in the JSON
 * object `objectText`, e.g. `{"a": [1.0, 2]}` gives `a` => `[1.0, 2]`.
 * As with JSON.parse, a repeated key keeps its last value.
 */
export function sliceTopLevelValues(objectText: string): Map<string, string> {
  const values = new Map<string, string>();
  let position = skipWhitespace(objectText, 0);
  expectCharacter(objectText, position, "{");
  position = skipWhitespace(objectText, position + 1);
  if (objectText[position] === "}") {
    return finishObject(objectText, position + 1, values);
  }
  for (;;) {
    const keyEnd = findStringEnd(objectText, position);
    const key = decodeKey(objectText.slice(position, keyEnd), position);
    position = skipWhitespace(objectText, keyEnd);
    expectCharacter(objectText, position, ":");
    const valueStart = skipWhitespace(objectText, position + 1);
    const valueEnd = findValueEnd(objectText, valueStart);
    values.set(key, objectText.slice(valueStart, valueEnd));
    position = skipWhitespace(objectText, valueEnd);
    if (objectText[position] === "}") {
      return finishObject(objectText, position + 1, values);
    }
    expectCharacter(objectText, position, ",");
    position = skipWhitespace(objectText, position + 1);
  }
}

/** Checks that only whitespace follows the object's closing brace. */
function finishObject(objectText: string, afterObject: number, values: Map<string, string>): Map<string, string> {
  const trailing = skipWhitespace(objectText, afterObject);
  if (trailing !== objectText.length) {
    throw new RawJsonError("unexpected text after the object", trailing);
  }
  return values;
}

/** The verbatim text of one top-level value of a JSON object, or undefined when the key is absent. */
export function sliceTopLevelValue(objectText: string, key: string): string | undefined {
  return sliceTopLevelValues(objectText).get(key);
}

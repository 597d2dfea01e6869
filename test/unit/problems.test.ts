// Unit tests for src/problems: loading APPS problem sets from directory trees
// (single problem, folder of problems, folder of splits) and from Hugging
// Face JSONL files, keeping test data as verbatim raw JSON, reporting every
// validation error while still loading the good problems, findProblem's
// lookups, and (when ../shared/apps-sample is present) the real APPS sample.

import * as assert from "node:assert/strict";
import { promises as fs, existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  findProblem,
  loadProblems,
  Problem,
  ProblemSet,
  qualifiedProblemId,
  RawJsonError,
  sliceTopLevelValues,
} from "../../src/problems";
import { compareNatural } from "../../src/problems/problemSet";
import { firstInvalidUtf8Offset } from "../../src/problems/validate";

// Compiled to out/test/unit, so the repository root is three levels up.
const REPO_ROOT = path.resolve(__dirname, "../../..");
const EXAMPLES = path.join(REPO_ROOT, "examples");
const SHARED_APPS_SAMPLE = path.resolve(__dirname, "../../../../shared/apps-sample");

/** Bytes that are not valid UTF-8 (a lone continuation byte and an overlong encoding). */
const NOT_UTF8 = Buffer.from([0x68, 0x69, 0x80, 0xc0, 0xaf]);

const GOOD_IO = '{"inputs": ["1\\n"], "outputs": ["2\\n"]}';

type FolderFiles = Record<string, string | Buffer>;

/** The files of a minimal valid standard-input problem, with some replaced or (when undefined) removed. */
function problemFiles(overrides: Record<string, string | Buffer | undefined> = {}): FolderFiles {
  const files: Record<string, string | Buffer | undefined> = {
    "question.txt": "Add one to n.\n",
    "input_output.json": GOOD_IO,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(files).filter(([, content]) => content !== undefined)) as FolderFiles;
}

async function writeFolder(folder: string, files: FolderFiles): Promise<void> {
  await fs.mkdir(folder, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await fs.writeFile(path.join(folder, name), content);
  }
}

const tempDirs: string[] = [];

async function makeTempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-problems-"));
  tempDirs.push(dir);
  return dir;
}

after(async () => {
  await Promise.all(tempDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

function ids(set: ProblemSet): string[] {
  return set.problems.map(qualifiedProblemId);
}

/** The JSON.parse message for `text`, to check that it is quoted in our error. */
function jsonParseMessage(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected invalid JSON");
}

describe("problems: raw JSON slicing", () => {
  it("returns each top-level value verbatim, big integers and 1.0 included", () => {
    const text = '{"outputs": [12345678901234567890, 1.0, -2.50e+3], "inputs":[ [1] ,[2] ] }';
    const values = sliceTopLevelValues(text);
    assert.deepEqual([...values.keys()], ["outputs", "inputs"]);
    assert.equal(values.get("outputs"), "[12345678901234567890, 1.0, -2.50e+3]");
    assert.equal(values.get("inputs"), "[ [1] ,[2] ]");
  });

  it("steps over escapes, brackets inside strings, nesting and whitespace", () => {
    const text = [
      "\n\t{",
      '  "a\\""  :  "he said \\"]}\\" \\\\",',
      '  "b": {"x": ["[", "{", "\\\\"], "y": {"z": null}},',
      '  "c\\u0041": true,',
      '  "d": -0.0',
      "}\r\n",
    ].join("\n");
    assert.doesNotThrow(() => JSON.parse(text));
    const values = sliceTopLevelValues(text);
    assert.equal(values.get('a"'), '"he said \\"]}\\" \\\\"');
    assert.equal(values.get("b"), '{"x": ["[", "{", "\\\\"], "y": {"z": null}}');
    assert.equal(values.get("cA"), "true");
    assert.equal(values.get("d"), "-0.0");
  });

  it("keeps the last value of a repeated key, like JSON.parse, and handles {}", () => {
    assert.equal(sliceTopLevelValues('{"k": [1], "k": [2.0]}').get("k"), "[2.0]");
    assert.equal(sliceTopLevelValues(" {} ").size, 0);
  });

  it("rejects text it cannot walk", () => {
    for (const bad of ['[1]', '{"a": [1}', '{"a": "open', '{"a" 1}', '{"a": 1} x', '{"a": }', '{"a": 1,}']) {
      assert.throws(() => sliceTopLevelValues(bad), RawJsonError, bad);
    }
  });
});

describe("problems: directory layouts", () => {
  it("loads a folder of split folders, sorted by split then id", async () => {
    const set = await loadProblems(path.join(EXAMPLES, "problems"));
    assert.deepEqual(set.errors, []);
    assert.deepEqual(ids(set), ["test/5", "test/6", "train/1", "train/2", "train/3", "train/4"]);
    assert.equal(set.root, path.join(EXAMPLES, "problems"));
    const averageSpeed = findProblem(set, "train/2") as Problem;
    assert.equal(averageSpeed.split, "train");
    assert.equal(averageSpeed.fnName, null);
    assert.equal(averageSpeed.testCount, 5);
    assert.equal(averageSpeed.source, path.join(EXAMPLES, "problems", "train", "2"));
    assert.equal(averageSpeed.difficulty, "introductory");
    assert.equal(averageSpeed.url, null);
    assert.equal(averageSpeed.solutions.length, 2);
    assert.ok(averageSpeed.outputsJson.includes('"1.3333333333333333\\n"'));
  });

  it("loads call-based problems with raw outputs and starter code", async () => {
    const set = await loadProblems(path.join(EXAMPLES, "problems"));
    const sumOfSquares = findProblem(set, "3") as Problem;
    assert.equal(sumOfSquares.fnName, "sum_of_squares");
    assert.equal(sumOfSquares.starterCode, null);
    assert.equal(sumOfSquares.inputsJson, "[[1], [3], [10], [10000000], [1000000000]]");
    assert.equal(sumOfSquares.outputsJson, "[[1], [14], [385], [333333383333335000000], [333333333833333333500000000]]");
    const longestRun = findProblem(set, "4") as Problem;
    assert.equal(longestRun.fnName, "longestRun");
    assert.match(longestRun.starterCode ?? "", /^class Solution:\n {4}def longestRun\(self/);
    assert.equal(longestRun.outputsJson, "[3, 1, 0, 4, 1, 2]");
  });

  it("loads a folder of problem folders with a null split", async () => {
    const set = await loadProblems(path.join(EXAMPLES, "problems", "train"));
    assert.deepEqual(set.errors, []);
    assert.deepEqual(ids(set), ["1", "2", "3", "4"]);
    assert.ok(set.problems.every((problem) => problem.split === null));
  });

  it("loads a single problem folder", async () => {
    const folder = path.join(EXAMPLES, "problems", "test", "6");
    const set = await loadProblems(folder);
    assert.deepEqual(set.errors, []);
    assert.equal(set.problems.length, 1);
    const [rotate] = set.problems;
    assert.equal(rotate.id, "6");
    assert.equal(rotate.split, null);
    assert.equal(rotate.source, folder);
    assert.equal(rotate.testCount, 6);
    assert.ok(rotate.outputsJson.endsWith('["uoted\\" worda \\"q"]]'));
  });

  it("keeps 12345678901234567890 and 1.0 verbatim and ignores other files", async () => {
    const folder = path.join(await makeTempDir(), "big");
    const inputOutput = '{\n  "fn_name": "f",\n  "inputs": [[1], [2]],\n  "outputs": [[12345678901234567890], [1.0]]\n}\n';
    await writeFolder(folder, {
      ...problemFiles({ "input_output.json": inputOutput }),
      "gen_solutions.json": "not json at all",
      "metadata.json": '{"difficulty": "interview", "url": "https://example.org/p"}',
    });
    const [problem] = (await loadProblems(folder)).problems;
    assert.equal(problem.outputsJson, "[[12345678901234567890], [1.0]]");
    assert.equal(problem.inputsJson, "[[1], [2]]");
    assert.equal(problem.difficulty, "interview");
    assert.equal(problem.url, "https://example.org/p");
  });

  it("sorts ids numerically and skips hidden folders", async () => {
    const root = await makeTempDir();
    for (const id of ["10", "2", "1", "a"]) {
      await writeFolder(path.join(root, "train", id), problemFiles());
    }
    await writeFolder(path.join(root, ".cache", "x"), problemFiles());
    const set = await loadProblems(root);
    assert.deepEqual(set.errors, []);
    assert.deepEqual(ids(set), ["train/1", "train/2", "train/10", "train/a"]);
    assert.deepEqual(["b10", "a", "b9", "007", "7"].sort(compareNatural), ["007", "7", "a", "b9", "b10"]);
  });

  it("reports an empty directory instead of returning nothing silently", async () => {
    const root = await makeTempDir();
    const set = await loadProblems(root);
    assert.equal(set.problems.length, 0);
    assert.equal(set.errors.length, 1);
    assert.match(set.errors[0].message, /no APPS problem folders found/);
  });

  it("throws one clear error for a missing path or an unsupported file", async () => {
    const missing = path.join(await makeTempDir(), "nope");
    await assert.rejects(loadProblems(missing), { message: `no such file or directory: ${missing}` });
    const notJsonl = path.join(await makeTempDir(), "problems.csv");
    await fs.writeFile(notJsonl, "id\n");
    await assert.rejects(loadProblems(notJsonl), /expected an APPS problem directory or a \.jsonl file/);
  });
});

/** One bad problem folder, where its error should be reported, and what the message should say. */
interface BadFolderCase {
  name: string;
  files: FolderFiles;
  errorFile: string | null;
  message: string | RegExp;
}

const CALL_IO = (inputs: string): string => `{"fn_name": "f", "inputs": ${inputs}, "outputs": [[1], [2]]}`;

const BAD_FOLDER_CASES: BadFolderCase[] = [
  { name: "no-question", files: problemFiles({ "question.txt": undefined }), errorFile: "question.txt", message: "missing question.txt" },
  { name: "no-io", files: problemFiles({ "input_output.json": undefined }), errorFile: "input_output.json", message: "missing input_output.json" },
  { name: "io-malformed", files: problemFiles({ "input_output.json": '{"inputs": [' }), errorFile: "input_output.json", message: `malformed JSON: ${jsonParseMessage('{"inputs": [')}` },
  { name: "io-not-object", files: problemFiles({ "input_output.json": "[1, 2]" }), errorFile: "input_output.json", message: /must be a JSON object with "inputs" and "outputs", not array/ },
  { name: "no-inputs", files: problemFiles({ "input_output.json": '{"outputs": ["1"]}' }), errorFile: "input_output.json", message: '"inputs" is missing' },
  { name: "no-outputs", files: problemFiles({ "input_output.json": '{"inputs": ["1"]}' }), errorFile: "input_output.json", message: '"outputs" is missing' },
  { name: "inputs-string", files: problemFiles({ "input_output.json": '{"inputs": "1", "outputs": ["1"]}' }), errorFile: "input_output.json", message: '"inputs" must be an array, not string' },
  { name: "outputs-object", files: problemFiles({ "input_output.json": '{"inputs": ["1"], "outputs": {}}' }), errorFile: "input_output.json", message: '"outputs" must be an array, not object' },
  { name: "length-mismatch", files: problemFiles({ "input_output.json": '{"inputs": ["1", "2", "3"], "outputs": ["1", "2"]}' }), errorFile: "input_output.json", message: /"inputs" has 3 entries but "outputs" has 2/ },
  { name: "zero-tests", files: problemFiles({ "input_output.json": '{"inputs": [], "outputs": []}' }), errorFile: "input_output.json", message: /no tests/ },
  { name: "fn-empty", files: problemFiles({ "input_output.json": '{"fn_name": "", "inputs": [[1]], "outputs": [1]}' }), errorFile: "input_output.json", message: '"fn_name" must be a non-empty string, not an empty string' },
  { name: "fn-number", files: problemFiles({ "input_output.json": '{"fn_name": 3, "inputs": [[1]], "outputs": [1]}' }), errorFile: "input_output.json", message: '"fn_name" must be a non-empty string, not number' },
  { name: "call-args", files: problemFiles({ "input_output.json": CALL_IO("[[1], 2]") }), errorFile: "input_output.json", message: 'call-based problem (fn_name "f"): inputs[1] must be an array of arguments, not number' },
  { name: "question-utf8", files: problemFiles({ "question.txt": NOT_UTF8 }), errorFile: "question.txt", message: "not valid UTF-8 text (first bad byte at offset 2)" },
  { name: "io-utf8", files: problemFiles({ "input_output.json": Buffer.concat([Buffer.from('{"inputs": ["'), NOT_UTF8, Buffer.from('"], "outputs": ["1"]}')]) }), errorFile: "input_output.json", message: /^not valid UTF-8 text/ },
  { name: "starter-utf8", files: problemFiles({ "starter_code.py": NOT_UTF8 }), errorFile: "starter_code.py", message: /^not valid UTF-8 text/ },
  { name: "solutions-utf8", files: problemFiles({ "solutions.json": NOT_UTF8 }), errorFile: "solutions.json", message: /^not valid UTF-8 text/ },
  { name: "solutions-object", files: problemFiles({ "solutions.json": '{"a": "print(1)"}' }), errorFile: "solutions.json", message: "must be a JSON list of strings, not object" },
  { name: "solutions-number", files: problemFiles({ "solutions.json": '["print(1)", 7]' }), errorFile: "solutions.json", message: "must be a JSON list of strings, but item 1 is number" },
  { name: "solutions-malformed", files: problemFiles({ "solutions.json": '["print(1)"' }), errorFile: "solutions.json", message: /^malformed JSON: / },
  { name: "metadata-malformed", files: problemFiles({ "metadata.json": "{difficulty: 1}" }), errorFile: "metadata.json", message: /^malformed JSON: / },
  { name: "not-a-problem", files: { "notes.md": "just notes" }, errorFile: null, message: /not a problem folder/ },
];

describe("problems: validation errors", () => {
  let set: ProblemSet;
  let root: string;

  before(async () => {
    root = await makeTempDir();
    await writeFolder(path.join(root, "good"), problemFiles({ "solutions.json": '["print(int(input()) + 1)"]' }));
    for (const badCase of BAD_FOLDER_CASES) {
      await writeFolder(path.join(root, badCase.name), badCase.files);
    }
    set = await loadProblems(root);
  });

  it("skips every bad problem while the good one loads", () => {
    assert.deepEqual(ids(set), ["good"]);
    assert.deepEqual(set.problems[0].solutions, ["print(int(input()) + 1)"]);
    assert.equal(set.errors.length, BAD_FOLDER_CASES.length);
  });

  for (const badCase of BAD_FOLDER_CASES) {
    it(`reports ${badCase.name} at its file with a clear message`, () => {
      const folder = path.join(root, badCase.name);
      const expectedPath = badCase.errorFile === null ? folder : path.join(folder, badCase.errorFile);
      const errors = set.errors.filter((error) => error.path.startsWith(folder + path.sep) || error.path === folder);
      assert.equal(errors.length, 1, `errors for ${badCase.name}: ${JSON.stringify(errors)}`);
      assert.equal(errors[0].path, expectedPath);
      if (typeof badCase.message === "string") {
        assert.equal(errors[0].message, badCase.message);
      } else {
        assert.match(errors[0].message, badCase.message);
      }
    });
  }

  it("finds the offset of the first invalid UTF-8 byte, past valid multi-byte text", () => {
    assert.equal(firstInvalidUtf8Offset(Buffer.from("héllo €", "utf8")), Buffer.byteLength("héllo €"));
    assert.equal(firstInvalidUtf8Offset(Buffer.concat([Buffer.from("é\uFFFD", "utf8"), Buffer.from([0xff])])), 5);
  });
});

/** A Hugging Face layout row; `input_output` is given as the inner JSON text. */
function jsonlRow(problemId: number | string, inputOutput: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ problem_id: problemId, question: `Problem ${problemId}`, solutions: "", input_output: inputOutput, starter_code: "", difficulty: "interview", url: "", ...extra });
}

describe("problems: JSONL", () => {
  it("loads the bundled JSONL with the same data as the train folders", async () => {
    const jsonlFile = path.join(EXAMPLES, "problems.jsonl");
    const fromJsonl = await loadProblems(jsonlFile);
    const fromFolders = await loadProblems(path.join(EXAMPLES, "problems", "train"));
    assert.deepEqual(fromJsonl.errors, []);
    assert.equal(fromJsonl.root, jsonlFile);
    assert.deepEqual(ids(fromJsonl), ["1", "2", "3", "4"]);
    fromJsonl.problems.forEach((problem, index) => {
      assert.equal(problem.source, `${jsonlFile}:${index + 1}`);
      assert.deepEqual({ ...problem, source: "" }, { ...fromFolders.problems[index], source: "" });
    });
  });

  it("slices raw values out of the inner input_output string", async () => {
    const file = path.join(await makeTempDir(), "raw.jsonl");
    const inner = '{"fn_name": "f", "inputs": [[1], ["a\\"]b"]], "outputs": [[12345678901234567890], [1.0]]}';
    await fs.writeFile(file, jsonlRow("17", inner, { starter_code: "def f(x):\n    " }) + "\r\n\n");
    const set = await loadProblems(file);
    assert.deepEqual(set.errors, []);
    const [problem] = set.problems;
    assert.equal(problem.id, "17");
    assert.equal(problem.inputsJson, '[[1], ["a\\"]b"]]');
    assert.equal(problem.outputsJson, "[[12345678901234567890], [1.0]]");
    assert.equal(problem.starterCode, "def f(x):\n    ");
    assert.equal(problem.url, null);
    assert.deepEqual(problem.solutions, []);
  });

  it("reads lines longer than a stream chunk, with multi-byte text across chunk edges", async () => {
    const file = path.join(await makeTempDir(), "long.jsonl");
    const longQuestion = "é€𝄞".repeat(30000);
    await fs.writeFile(file, [1, 2, 3].map((id) => jsonlRow(id, GOOD_IO, { question: longQuestion })).join("\n"));
    const set = await loadProblems(file);
    assert.deepEqual(set.errors, []);
    assert.deepEqual(ids(set), ["1", "2", "3"]);
    assert.ok(set.problems.every((problem) => problem.question === longQuestion));
    assert.equal(set.problems[2].source, `${file}:3`);
  });

  it("reports bad lines as file:line and loads the rest", async () => {
    const file = path.join(await makeTempDir(), "mixed.jsonl");
    const lines = [
      jsonlRow(1, GOOD_IO, { solutions: '["print(2)"]' }),
      "{not json",
      JSON.stringify({ question: "no id", input_output: GOOD_IO }),
      JSON.stringify({ problem_id: 3, input_output: GOOD_IO }),
      jsonlRow(4, ""),
      jsonlRow(5, '{"inputs": ["1"], "outputs": []}'),
      jsonlRow(6, GOOD_IO, { solutions: '"print(1)"' }),
      "[1, 2]",
      jsonlRow(1, GOOD_IO),
      jsonlRow(8, GOOD_IO, { input_output: { inputs: [], outputs: [] } }),
    ];
    const badUtf8Line = Buffer.concat([Buffer.from('{"problem_id": 9, "question": "'), NOT_UTF8, Buffer.from('"}')]);
    const content = Buffer.concat([Buffer.from(lines.join("\n") + "\n"), badUtf8Line, Buffer.from("\n" + jsonlRow(2, GOOD_IO))]);
    await fs.writeFile(file, content);
    const set = await loadProblems(file);
    assert.deepEqual(ids(set), ["1", "2"]);
    assert.deepEqual(set.problems[0].solutions, ["print(2)"]);
    const expected: Array<[number, string | RegExp]> = [
      [2, /^line is not valid JSON: /],
      [3, 'missing field "problem_id"'],
      [4, 'missing field "question"'],
      [5, '"input_output" is empty: the problem has no tests'],
      [6, '"input_output": "inputs" has 1 entries but "outputs" has 0; they must match one to one'],
      [7, '"solutions": must be a JSON list of strings, not string'],
      [8, "line must hold a JSON object, not array"],
      [9, 'duplicate problem_id "1" (first seen on line 1)'],
      [10, '"input_output" must be a string, not object'],
      [11, /^not valid UTF-8 text/],
    ];
    assert.deepEqual(set.errors.map((error) => error.path), expected.map(([line]) => `${file}:${line}`));
    expected.forEach(([, message], index) => {
      if (typeof message === "string") {
        assert.equal(set.errors[index].message, message);
      } else {
        assert.match(set.errors[index].message, message);
      }
    });
  });
});

describe("problems: findProblem", () => {
  let set: ProblemSet;

  before(async () => {
    const root = await makeTempDir();
    for (const [split, id] of [["train", "7"], ["test", "7"], ["train", "8"]]) {
      await writeFolder(path.join(root, split, id), problemFiles());
    }
    set = await loadProblems(root);
  });

  it("finds a problem by bare id or by split/id", () => {
    assert.equal(findProblem(set, "8")?.split, "train");
    assert.equal(findProblem(set, "test/7")?.split, "test");
    assert.equal(findProblem(set, "train/7")?.split, "train");
    assert.equal(findProblem(set, "9"), undefined);
    assert.equal(findProblem(set, "test/8"), undefined);
  });

  it("refuses a bare id that exists in two splits, naming both", () => {
    assert.throws(() => findProblem(set, "7"), /"7" is ambiguous: it matches test\/7 and train\/7/);
  });
});

describe("problems: shared APPS sample", () => {
  const trainDir = path.join(SHARED_APPS_SAMPLE, "train");

  beforeEach(function () {
    if (!existsSync(trainDir)) {
      console.log(`    (skipping: ${trainDir} is not present)`);
      this.skip();
    }
  });

  it("loads all 5 sample problems with zero errors", async () => {
    const set = await loadProblems(trainDir);
    assert.deepEqual(set.errors, []);
    assert.equal(set.problems.length, 5);
    const kthPositive = findProblem(set, "2404") as Problem;
    assert.equal(kthPositive.fnName, "findKthPositive");
    assert.ok(kthPositive.starterCode !== null && kthPositive.starterCode.includes("class Solution"));
    assert.ok(kthPositive.solutions.length > 0);
  });

  it("loads the sample root as a split folder and keeps each test array's JSON", async () => {
    const set = await loadProblems(SHARED_APPS_SAMPLE);
    assert.deepEqual(set.errors, []);
    assert.ok(set.problems.every((problem) => problem.split === "train"));
    for (const problem of set.problems) {
      const parsed = JSON.parse(await fs.readFile(path.join(problem.source, "input_output.json"), "utf8"));
      assert.deepEqual(JSON.parse(problem.inputsJson), parsed.inputs);
      assert.deepEqual(JSON.parse(problem.outputsJson), parsed.outputs);
      assert.equal(problem.testCount, parsed.inputs.length);
    }
  });
});

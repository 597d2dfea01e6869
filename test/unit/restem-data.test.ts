// Unit tests of the data side of a run: the filter (dedupe after trailing-whitespace
// normalisation, the per-problem cap), the SFT training set, per-sample seeds and missing
// index runs for resume, program extraction, split assignment and the APPS prompt.
import assert from "node:assert/strict";
import type { Problem } from "../../src/problems";
import {
  assignSplits,
  batchRuns,
  buildPrompt,
  DEFAULT_CONFIG,
  doneIndices,
  extractProgram,
  filterSamples,
  fitPrompt,
  humanSolutions,
  missingRuns,
  normaliseProgram,
  sampleSeed,
  type SampleRecord,
} from "../../src/restem";

function sample(problem_id: string, index: number, code: string, reward = 1): SampleRecord {
  return { problem_id, index, code, reward, results: [], error: null, ms: 1, tokens: 3, finish_reason: "eos", failed: false };
}

function problem(id: string, split: string | null, extra: Partial<Problem> = {}): Problem {
  return {
    id,
    split,
    source: "(test)",
    question: `Question ${id}`,
    starterCode: null,
    fnName: null,
    testCount: 1,
    inputsJson: "[]",
    outputsJson: "[]",
    solutions: [],
    difficulty: null,
    url: null,
    ...extra,
  };
}

describe("restem filter: dedupe and cap", () => {
  it("normalises trailing whitespace per line and at the end only", () => {
    assert.equal(normaliseProgram("print(1)  \n\n\t\n"), "print(1)");
    assert.equal(normaliseProgram("if x:  \n    y()\t\n"), "if x:\n    y()");
    assert.notEqual(normaliseProgram("  print(1)"), normaliseProgram("print(1)"), "leading whitespace matters in Python");
  });

  it("keeps correct, distinct programs, at most maxPerProblem per problem, lowest index first", () => {
    const records = [
      sample("a", 3, "print(3)"),
      sample("a", 0, "print(1)"),
      sample("a", 1, "print(1)   \n\n"), // duplicate after normalisation
      sample("a", 2, "print(2)", 0), // wrong
      sample("a", 4, "print(4)"),
      sample("b", 0, "x"),
      sample("b", 1, "   ", 1), // empty program
    ];
    const kept = filterSamples(records, { maxPerProblem: 2, dedupe: true });
    assert.deepEqual(
      kept.map((k) => `${k.problem_id}#${k.index}`),
      ["a#0", "a#3", "b#0"],
    );
    assert.ok(kept.every((k) => k.source === "sample" && k.reward === 1));
    const withDuplicates = filterSamples(records, { maxPerProblem: 10, dedupe: false });
    assert.deepEqual(
      withDuplicates.filter((k) => k.problem_id === "a").map((k) => k.index),
      [0, 1, 3, 4],
    );
  });

  it("caps at 10 by default, as in the paper", () => {
    const records = Array.from({ length: 64 }, (_, i) => sample("p", i, `print(${i})`));
    assert.equal(filterSamples(records, DEFAULT_CONFIG.filter).length, 10);
  });

  it("SFT takes the human solutions through the same dedupe and cap", () => {
    const kept = humanSolutions([{ id: "p", solutions: ["a=1", "a=1\n", "b=2", "c=3"] }], { maxPerProblem: 2, dedupe: true });
    assert.deepEqual(
      kept.map((k) => [k.index, k.source]),
      [
        [0, "human"],
        [2, "human"],
      ],
    );
  });
});

describe("restem sampling bookkeeping", () => {
  it("seeds depend on (seed, phase, iteration, problem) and nothing else", () => {
    const seed = sampleSeed(7, "estep", 1, "train/1");
    assert.equal(seed, sampleSeed(7, "estep", 1, "train/1"));
    const others = [sampleSeed(8, "estep", 1, "train/1"), sampleSeed(7, "estep", 2, "train/1"), sampleSeed(7, "estep", 1, "train/2"), sampleSeed(7, "eval-sampled", 1, "train/1")];
    assert.equal(new Set([seed, ...others]).size, 5);
  });

  it("finds the sample indices still to draw, as contiguous runs cut into batches", () => {
    assert.deepEqual(missingRuns(new Set([0, 1, 4]), 7), [
      { start: 2, count: 2 },
      { start: 5, count: 2 },
    ]);
    assert.deepEqual(missingRuns(new Set(), 3), [{ start: 0, count: 3 }]);
    assert.deepEqual(missingRuns(new Set([0, 1, 2]), 3), []);
    assert.deepEqual(batchRuns([{ start: 2, count: 5 }], 2), [
      { start: 2, count: 2 },
      { start: 4, count: 2 },
      { start: 6, count: 1 },
    ]);
    const done = doneIndices([sample("a", 0, "x"), sample("a", 2, "y"), { ...sample("b", 0, "z"), kind: "greedy" }], "greedy");
    assert.deepEqual([...done.keys()], ["b"]);
  });

  it("extracts the first fenced block, else keeps the text", () => {
    assert.equal(extractProgram("print(1)\n"), "print(1)\n");
    assert.equal(extractProgram("Here:\n```python\nprint(2)\n```\nmore"), "print(2)\n");
    assert.equal(extractProgram("```\nx = 1\n"), "x = 1\n");
  });
});

describe("restem splits and prompts", () => {
  const problems = [problem("1", "train"), problem("2", "train"), problem("3", "train"), problem("4", "train"), problem("5", "test")];

  it("uses split folders and carves D_val from train when there is no validation folder", () => {
    const splits = assignSplits(problems, { ...DEFAULT_CONFIG.splits, validationFraction: 0.25 });
    assert.equal(splits.method, "folders+fraction");
    assert.equal(splits.validation.length, 1);
    assert.equal(splits.train.length, 3);
    assert.deepEqual([...splits.train, ...splits.validation].sort(), ["train/1", "train/2", "train/3", "train/4"]);
    assert.deepEqual(splits.test, ["test/5"]);
    assert.deepEqual(assignSplits(problems, { ...DEFAULT_CONFIG.splits, validationFraction: 0.25 }), splits, "same seed, same split");
    const withFolder = assignSplits([...problems, problem("9", "valid")], DEFAULT_CONFIG.splits);
    assert.deepEqual(withFolder.validation, ["valid/9"]);
    assert.equal(withFolder.train.length, 4);
  });

  it("names the field when a split folder is empty", () => {
    assert.throws(() => assignSplits(problems, { ...DEFAULT_CONFIG.splits, test: "heldout" }, "my.json"), /my\.json: splits\.test: no problems in split folder "heldout"/);
  });

  it("splits a flat set by fractions", () => {
    const flat = Array.from({ length: 10 }, (_, i) => problem(String(i), null));
    const splits = assignSplits(flat, { ...DEFAULT_CONFIG.splits, fractions: { train: 0.6, validation: 0.2, test: 0.2 } });
    assert.equal(splits.method, "fractions");
    assert.deepEqual([splits.train.length, splits.validation.length, splits.test.length], [6, 2, 2]);
  });

  it("builds APPS prompts with few-shot examples and the format instruction", () => {
    const stdin = buildPrompt(problem("1", "train", { question: "Add two numbers.\n" }), []);
    assert.equal(stdin, "\nQUESTION:\nAdd two numbers.\nUse Standard Input format\nANSWER:\n");
    const call = buildPrompt(problem("2", "train", { question: "Rotate.", starterCode: "def rotate(s, k):\n", fnName: "rotate" }), [
      { question: "Echo.", answer: "print(input())\n", starterCode: null, callBased: false },
    ]);
    assert.equal(
      call,
      "\nQUESTION:\nEcho.\nUse Standard Input format\nANSWER:\nprint(input())\n" + "\nQUESTION:\nRotate.\ndef rotate(s, k):\nUse Call-Based format\nANSWER:\n",
    );
  });

  it("cuts prompts from the left to leave room for the answer", () => {
    assert.deepEqual(fitPrompt([1, 2, 3, 4, 5], 6, 3), [3, 4, 5]);
    assert.deepEqual(fitPrompt([1, 2], 100, 10), [1, 2]);
  });
});

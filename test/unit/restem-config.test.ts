// Unit tests of restem.json validation (src/restem/config.ts): defaults, overrides, and errors
// that name the file and the field, all of them at once.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { assertRunnable, ConfigError, DEFAULT_CONFIG, loadConfigFile, parseConfig } from "../../src/restem";

function errorsOf(raw: unknown, file = "restem.json"): string[] {
  try {
    parseConfig(raw, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((p) => `${file}: ${p}`);
  }
  assert.fail("expected a ConfigError");
}

describe("restem config", () => {
  it("fills every field from the paper's defaults", () => {
    const config = parseConfig({ problems: "p", model: "m" }, "restem.json");
    assert.equal(config.sampling.samplesPerProblem, 64);
    assert.equal(config.sampling.temperature, 0.7);
    assert.equal(config.sampling.topK, 40);
    assert.equal(config.filter.maxPerProblem, 10);
    assert.equal(config.mstep.restart, "base");
    assert.deepEqual(config.evaluation.passK, [1, 5, 10]);
    assert.equal(config.evaluation.temperature, 1.0);
    assert.equal(config.evaluation.topP, 0.95);
    assert.equal(config.variant, "restem");
    assert.deepEqual({ ...config, problems: "", model: "" }, DEFAULT_CONFIG);
  });

  it("merges nested overrides field by field", () => {
    const config = parseConfig({ problems: "p", model: "m", sampling: { samplesPerProblem: 8 }, mstep: { restart: "previous", loraRank: 4 }, evaluation: { passK: [5, 1, 5], samples: 5 } }, "x.json");
    assert.equal(config.sampling.samplesPerProblem, 8);
    assert.equal(config.sampling.temperature, 0.7);
    assert.equal(config.mstep.restart, "previous");
    assert.equal(config.mstep.loraRank, 4);
    assert.deepEqual(config.evaluation.passK, [1, 5], "sorted and deduplicated");
  });

  it("reports every bad field with the file name and the field path", () => {
    const errors = errorsOf(
      {
        iterations: -1,
        variant: "rl",
        sampling: { temperature: "hot", topP: 0, stop: [1] },
        filter: { maxPerProblem: 2.5 },
        mstep: { restart: "scratch", lr: 0 },
        evaluation: { passK: [1, 20], samples: 10 },
        judge: { concurrency: 0 },
        colour: "blue",
      },
      "runs/restem.json",
    );
    const expected = [
      /runs\/restem\.json: iterations: must be an integer >= 0, got -1/,
      /runs\/restem\.json: variant: must be one of "restem", "sft", got "rl"/,
      /sampling\.temperature: must be a number >= 0 and <= 100, got "hot"/,
      /sampling\.topP: must be a number > 0 and <= 1, got 0/,
      /sampling\.stop: must be an array of non-empty strings/,
      /filter\.maxPerProblem: must be an integer >= 1, got 2\.5/,
      /mstep\.restart: must be one of "base", "previous", got "scratch"/,
      /mstep\.lr: must be a number > 0, got 0/,
      /evaluation\.passK: k = 20 exceeds evaluation\.samples \(10\)/,
      /judge\.concurrency: must be an integer >= 1, got 0/,
      /colour: unknown field/,
    ];
    for (const pattern of expected) assert.ok(errors.some((e) => pattern.test(e)), `${pattern} not in:\n${errors.join("\n")}`);
    assert.equal(errors.length, expected.length, errors.join("\n"));
  });

  it("checks split fractions and few-shot examples", () => {
    const errors = errorsOf({ splits: { fractions: { train: 0.5, validation: 0.1, test: 0.1 } }, prompt: { fewShot: [{ question: "q" }, "x"] } });
    assert.ok(errors.some((e) => /splits\.fractions: train \+ validation \+ test must be 1, got 0\.7/.test(e)), errors.join("\n"));
    assert.ok(errors.some((e) => /prompt\.fewShot\[0\]\.answer: must be a non-empty string/.test(e)), errors.join("\n"));
    assert.ok(errors.some((e) => /prompt\.fewShot\[1\]: must be an object/.test(e)), errors.join("\n"));
  });

  it("refuses a non-object and requires problems and model to run", () => {
    assert.deepEqual(errorsOf([1, 2]), ["restem.json: the file must hold one JSON object"]);
    assert.throws(() => assertRunnable(parseConfig({}, "restem.json"), "restem.json"), /restem\.json: problems: required[\s\S]*restem\.json: model: required/);
  });

  it("reads a file, with command-line overrides winning, and names unreadable files", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "restem-config-"));
    try {
      const file = path.join(dir, "restem.json");
      await writeFile(file, JSON.stringify({ problems: "a", model: "b", iterations: 5 }));
      const config = await loadConfigFile(file, { iterations: 1, model: "from-cli" });
      assert.equal(config.iterations, 1);
      assert.equal(config.problems, path.join(dir, "a"), "a relative path in the file is relative to the file");
      assert.equal(config.model, "from-cli", "a command-line path stays as given (relative to the cwd)");
      await writeFile(file, "{ not json");
      await assert.rejects(loadConfigFile(file), (error: Error) => error.message.startsWith(`${file}: cannot read the config`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

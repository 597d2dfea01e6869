// What the run store does with damaged files, without a run: every JsonlAppender cuts a torn
// last line before its first append (also one longer than the repair's read chunk); corrupt
// JSON names its file; metrics.json is rebuilt from the events exactly as the loop wrote it
// and an evaluation started again does not count; the one rule for "interrupted"; and
// `restem judge` says why the problem of a program was skipped.
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { readProgramsJsonl } from "../../src/cli/programs";
import { loadProblems } from "../../src/problems";
import { iterationMetricsFromEvents, JsonlAppender, readJson, repairJsonl, shownRunState, type RunStatus, type StoredEvent } from "../../src/restem";

const REPO_ROOT = path.resolve(__dirname, "../../..");

describe("run store faults", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "restem-store-faults-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("an appender cuts a torn last line before its first append, however long the line", async () => {
    const file = path.join(dir, "events.jsonl");
    const whole = '{"a":1}\n{"b":2}\n';
    await writeFile(file, whole + '{"c":"' + "x".repeat(200_000));
    const appender = new JsonlAppender(file);
    await appender.append({ d: 4 });
    await appender.append({ e: 5 });
    assert.equal(await readFile(file, "utf8"), whole + '{"d":4}\n{"e":5}\n');
    await writeFile(file, "no newline at all");
    assert.equal(await repairJsonl(file), "no newline at all".length);
    assert.equal(await readFile(file, "utf8"), "");
    assert.equal(await repairJsonl(path.join(dir, "missing.jsonl")), 0);
  });

  it("corrupt JSON names its file", async () => {
    const file = path.join(dir, "config.json");
    await writeFile(file, '{"model": "a\u0001"}');
    await assert.rejects(readJson(file), (error: Error) => error.message.startsWith(`${file}: invalid JSON: Bad control character in string literal`));
  });

  it("rebuilds an iteration's metrics.json from its events, unless its evaluation started again", () => {
    const estep = { problems: 3, samples: 12, correct: 2, train_pass_rate: 1 / 3, train_sample_pass_rate: 0.1, kept: 1, kept_fraction: 1 / 12, errors: 0 };
    const mstep = { start: "base", examples: 1, steps: 1, best_validation_reward: 0, validations: 1, final_loss: 0.5, seconds: 1.25 };
    const evaluation = { test_problems: 2, pass_at_1: 0.5 };
    const t = "2024-05-01T12:00:00.000Z";
    const events: StoredEvent[] = [
      { time: t, type: "phase_done", iteration: 0, phase: "eval", summary: { test_problems: 2, pass_at_1: 0 } },
      { time: t, type: "phase_done", iteration: 1, phase: "filter", summary: { ...estep, kept: 9 } },
      { time: t, type: "phase_done", iteration: 1, phase: "filter", summary: estep },
      { time: t, type: "phase_done", iteration: 1, phase: "mstep", summary: mstep },
      { time: t, type: "phase_done", iteration: 1, phase: "eval", summary: evaluation },
    ];
    const expected = { iteration: 1, model: "iter-1/weights", estep, mstep, eval: evaluation };
    assert.equal(JSON.stringify(iterationMetricsFromEvents(events, 1)), JSON.stringify(expected), "same keys in the same order as the loop writes");
    assert.deepEqual(iterationMetricsFromEvents(events, 0), { iteration: 0, model: "base", estep: null, mstep: null, eval: { test_problems: 2, pass_at_1: 0 } });
    assert.equal(iterationMetricsFromEvents(events, 2), null);
    const again = [...events, { time: t, type: "phase_started", iteration: 1, phase: "eval", total: 2 }];
    assert.equal(iterationMetricsFromEvents(again, 1), null, "an evaluation being redone has no metrics yet");
  });

  it("shows a running run without a live runner as interrupted, everywhere", () => {
    const status: RunStatus = { id: "r", status: "running", created: "", updated: "", iterations: 1, current: null, message: null, pid: 1 };
    assert.equal(shownRunState(status, true), "running");
    assert.equal(shownRunState(status, false), "interrupted");
    assert.equal(shownRunState({ ...status, status: "failed" }, false), "failed");
    assert.equal(shownRunState(null, true), "interrupted");
  });

  it("restem judge: a program for a problem that failed to load says why it was skipped", async () => {
    const problems = path.join(dir, "problems");
    await cp(path.join(REPO_ROOT, "examples/problems"), problems, { recursive: true });
    await writeFile(path.join(problems, "train", "1", "input_output.json"), "{not json");
    const set = await loadProblems(problems);
    const programs = path.join(dir, "programs.jsonl");
    await writeFile(programs, ['{"problem_id": "1", "code": "print(1)"}', '{"problem_id": "train/1", "code": "print(1)"}', '{"problem_id": "nope", "code": ""}'].join("\n"));
    const items = await readProgramsJsonl(programs, set);
    const io = path.join(problems, "train", "1", "input_output.json");
    assert.match(String(items[0].error), new RegExp(`^problem 1 was skipped: ${io}: `));
    assert.match(String(items[1].error), new RegExp(`^problem train/1 was skipped: ${io}: `));
    assert.equal(items[2].error, 'unknown problem_id "nope"');
  });
});

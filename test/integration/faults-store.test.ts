// Faults of the run store, injected into real runs (the real CLI `node bin/restem.js`, the real
// Docker judge, ONNX Runtime and tfjs) of demo/model on a slice of demo/problems (3 training,
// 1 validation, 2 test problems) with a tiny config (one iteration, 16 samples per problem,
// greedy evaluation): about 20 s a run on two cores.
//
//   * kill -9 mid E-step: `restem runs` shows the run interrupted; three `restem resume` started
//     at once: exactly one runs it, the others refuse naming its pid, and events.jsonl,
//     samples.jsonl, train.jsonl and eval.jsonl hold nothing twice;
//   * a torn last line in events.jsonl and in samples.jsonl (as a kill during an append
//     leaves): resume cuts both, completes, and every sample is there exactly once;
//   * deleted and corrupted metrics.json: `restem runs` still shows the iteration (from the
//     events), resume rebuilds the file byte for byte, and no other file changes;
//   * bad inputs: a missing problems or model path is refused before a run exists; a corrupt
//     config.json and a run whose base model was deleted are refused naming the file and field.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { access, cp, mkdtemp, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createRun, listRunIds, parseConfig, readJson, runPaths, type LockHolder, type RunPaths, type RunStatus } from "../../src/restem";
import { copyDemoHead } from "../support/demoProblems";
import { openJudgeOrSkip, REPO_ROOT } from "./support";

const MODEL = path.join(REPO_ROOT, "demo/model");
const SAMPLES_PER_PROBLEM = 16;
const TRAIN_PROBLEMS = 3;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  pid: number;
}

function restem(args: string[], cwd: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { cwd, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr, pid: child.pid ?? -1 }),
    );
  });
}

interface RunLine {
  id: string;
  status: string;
  variant: string | null;
  model: string | null;
  problems: string | null;
  iterations: Array<Record<string, unknown>>;
  error: string | null;
}

async function runsJson(store: string, cwd: string): Promise<RunLine[]> {
  const result = await restem(["runs", "--json", "--store", store], cwd);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as RunLine);
}

/** The complete lines of a JSONL file's bytes (up to its last newline). */
function completePrefix(bytes: Buffer): Buffer {
  return bytes.subarray(0, bytes.lastIndexOf(0x0a) + 1);
}

/** Each line of a JSONL file parsed; throws on any line that is not JSON (a torn line left in place). */
async function strictJsonl<T>(file: string): Promise<T[]> {
  const text = await readFile(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), `${file} ends with a partial line`);
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line, i) => {
      try {
        return JSON.parse(line) as T;
      } catch (error) {
        throw new Error(`${file}:${i + 1} is not JSON (${(error as Error).message}): ${line.slice(0, 80)}`);
      }
    });
}

function assertUnique(keys: string[], what: string): void {
  const seen = new Set<string>();
  for (const key of keys) {
    assert.ok(!seen.has(key), `${what}: ${key} is there twice`);
    seen.add(key);
  }
}

/** Every file under `dir` with its bytes (for "nothing else changed"). */
async function snapshot(dir: string, skip: (relative: string) => boolean = () => false): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, sub), { withFileTypes: true })) {
      const relative = path.join(sub, entry.name);
      if (skip(relative)) continue;
      if (entry.isDirectory()) await walk(relative);
      else files.set(relative, await readFile(path.join(dir, relative)));
    }
  };
  await walk("");
  return files;
}

describe("faults of the run store (real CLI, Docker, ONNX Runtime, tfjs)", function () {
  this.timeout(600_000);
  let scratch: string;
  let problems: string;
  let configFile: string;

  before(async function () {
    await (await openJudgeOrSkip(this, { concurrency: 1 })).close();
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-faults-store-"));
    problems = path.join(scratch, "problems");
    copyDemoHead(problems, { train: TRAIN_PROBLEMS, valid: 1, test: 2 });
    configFile = path.join(scratch, "restem.json");
    await writeFile(
      configFile,
      JSON.stringify({
        problems,
        model: MODEL,
        iterations: 1,
        seed: 1,
        sampling: { samplesPerProblem: SAMPLES_PER_PROBLEM, maxNewTokens: 96, batchSize: 4 },
        mstep: { epochs: 1, batchSize: 2, lr: 0.001 },
        evaluation: { passK: [1], samples: 0, trainGreedy: false },
        judge: { concurrency: 2 },
      }),
    );
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** `restem run` in a child process, SIGKILLed once its E-step has `atLeast` samples on disk. */
  async function killedMidEStep(name: string, atLeast = 4): Promise<{ store: string; id: string; paths: RunPaths; pid: number }> {
    const store = path.join(scratch, name);
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), "run", "--config", configFile, "--store", store], { cwd: scratch, stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const deadline = Date.now() + 180_000;
    let paths: RunPaths | null = null;
    while (Date.now() < deadline) {
      const ids = await listRunIds(store);
      if (ids.length === 1) {
        paths = runPaths(store, ids[0]);
        const text = await readFile(paths.iteration(1).samples, "utf8").catch(() => "");
        if (text.split("\n").length > atLeast) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await exited;
    assert.ok(paths, "the run never started");
    const samples = (await readFile(paths.iteration(1).samples, "utf8")).split("\n").length - 1;
    assert.ok(samples >= atLeast && samples < TRAIN_PROBLEMS * SAMPLES_PER_PROBLEM, `killed mid E-step (${samples} samples on disk)`);
    return { store, id: path.basename(paths.dir), paths, pid: child.pid! };
  }

  /** The run is complete and each of its append-only files holds every record once. */
  async function assertCompleteOnce(paths: RunPaths): Promise<void> {
    assert.equal((await readJson<RunStatus>(paths.status))?.status, "completed");
    const events = await strictJsonl<{ type: string; iteration?: number; phase?: string; time: string }>(paths.events);
    assert.deepEqual(
      events.filter((e) => e.type === "phase_done").map((e) => `${e.iteration}:${e.phase}`),
      ["0:eval", "1:estep", "1:filter", "1:mstep", "1:eval"],
      "every piece of work done once",
    );
    assert.equal(events.filter((e) => e.type === "run_resumed").length, 1, "one resume recorded");
    assert.equal(events.filter((e) => e.type === "run_completed").length, 1);
    assertUnique((await readFile(paths.events, "utf8")).trim().split("\n"), "events.jsonl");
    const samples = await strictJsonl<{ problem_id: string; index: number }>(paths.iteration(1).samples);
    assert.equal(samples.length, TRAIN_PROBLEMS * SAMPLES_PER_PROBLEM);
    assertUnique(samples.map((s) => `${s.problem_id}#${s.index}`), "samples.jsonl");
    for (const i of [0, 1]) {
      const evals = await strictJsonl<{ problem_id: string; index: number; kind?: string; split?: string }>(paths.iteration(i).eval);
      assert.equal(evals.length, 2, `iter-${i}/eval.jsonl: greedy on the 2 test problems`);
      assertUnique(evals.map((r) => `${r.kind}/${r.split}/${r.problem_id}#${r.index}`), `iter-${i}/eval.jsonl`);
    }
    const steps = await strictJsonl<{ step: number }>(paths.iteration(1).train);
    const mstep = events.find((e) => e.type === "phase_done" && e.phase === "mstep") as { summary?: { steps?: number } } | undefined;
    assert.equal(steps.length, mstep?.summary?.steps, "train.jsonl: one line per optimizer step");
    assertUnique(steps.map((s) => String(s.step)), "train.jsonl");
    await assert.rejects(access(path.join(paths.dir, "run.lock")), /ENOENT/, "the lock is released at the end");
  }

  it("kill -9: `restem runs` says interrupted; of three resumes at once one runs, two refuse naming its pid; nothing twice", async () => {
    const { store, id, paths, pid } = await killedMidEStep("store-concurrent");
    assert.equal((await readJson<RunStatus>(paths.status))?.status, "running", "status.json of a killed run still says running");
    assert.equal((await readJson<LockHolder>(path.join(paths.dir, "run.lock")))?.pid, pid, "the killed process's lock is left behind");
    const [interrupted] = await runsJson(store, scratch);
    assert.deepEqual([interrupted.id, interrupted.status, interrupted.variant, interrupted.model, interrupted.problems], [id, "interrupted", "restem", MODEL, problems]);
    assert.deepEqual(interrupted.iterations.map((i) => i.iteration), [0], "the base model's evaluation finished before the kill");
    const samplesBefore = completePrefix(await readFile(paths.iteration(1).samples));

    const results = await Promise.all([0, 1, 2].map(() => restem(["resume", id, "--store", store], scratch)));
    const winners = results.filter((r) => r.code === 0);
    assert.equal(winners.length, 1, results.map((r) => `${r.code}: ${r.stderr.slice(-300)}`).join("\n"));
    for (const loser of results.filter((r) => r.code !== 0)) {
      assert.equal(loser.code, 1);
      assert.match(loser.stderr, new RegExp(`run ${id} is being run by process ${winners[0].pid}\\b`));
    }
    await assertCompleteOnce(paths);
    const after = await readFile(paths.iteration(1).samples);
    assert.ok(after.subarray(0, samplesBefore.length).equals(samplesBefore), "samples.jsonl was appended to, its records before the kill unchanged");
    const [completed] = await runsJson(store, scratch);
    assert.deepEqual([completed.status, completed.iterations.map((i) => i.iteration)], ["completed", [0, 1]]);
  });

  it("a torn last line of events.jsonl and of samples.jsonl: resume cuts both, completes, every sample once", async () => {
    const { store, id, paths } = await killedMidEStep("store-torn");
    const events = completePrefix(await readFile(paths.events));
    const samples = completePrefix(await readFile(paths.iteration(1).samples));
    // What a kill in the middle of an append leaves: the first bytes of a line, no newline.
    const lastSample = samples.subarray(samples.lastIndexOf(0x0a, samples.length - 2) + 1);
    await writeFile(paths.events, Buffer.concat([events, Buffer.from('{"time":"2026-01-01T00:00:00.000Z","type":"phase_do')]));
    await writeFile(paths.iteration(1).samples, Buffer.concat([samples, lastSample.subarray(0, 40)]));

    const resumed = await restem(["resume", id, "--store", store], scratch);
    assert.equal(resumed.code, 0, resumed.stderr);
    await assertCompleteOnce(paths);
    const eventsAfter = await readFile(paths.events);
    assert.ok(eventsAfter.subarray(0, events.length).equals(events), "the complete events are kept byte for byte");
    assert.equal(JSON.parse(eventsAfter.subarray(events.length, eventsAfter.indexOf(0x0a, events.length)).toString()).type, "run_resumed", "the first line after the cut is the resume");
    const samplesAfter = await readFile(paths.iteration(1).samples);
    assert.ok(samplesAfter.subarray(0, samples.length).equals(samples), "the complete samples are kept byte for byte");
  });

  it("a deleted or corrupt metrics.json: `restem runs` keeps the iteration, resume rebuilds it byte for byte, nothing else changes", async () => {
    const store = path.join(scratch, "store-metrics");
    const run = await restem(["run", "--config", configFile, "--store", store], scratch);
    assert.equal(run.code, 0, run.stderr);
    const [id] = await listRunIds(store);
    const paths = runPaths(store, id);
    const before = await runsJson(store, scratch);
    const originals = await Promise.all([0, 1].map((i) => readFile(paths.iteration(i).metrics)));
    const others = await snapshot(paths.dir, (f) => f.endsWith("metrics.json"));

    await unlink(paths.iteration(1).metrics);
    await writeFile(paths.iteration(0).metrics, '{"iteration": 0, "model": "ba');
    assert.deepEqual(await runsJson(store, scratch), before, "`restem runs` shows the same iterations from the events");
    const resumed = await restem(["resume", id, "--store", store], scratch);
    assert.equal(resumed.code, 0, resumed.stderr);
    for (const i of [0, 1]) assert.ok((await readFile(paths.iteration(i).metrics)).equals(originals[i]), `iter-${i}/metrics.json rebuilt byte for byte`);
    const afterwards = await snapshot(paths.dir, (f) => f.endsWith("metrics.json"));
    assert.deepEqual([...afterwards.keys()].sort(), [...others.keys()].sort());
    for (const [file, bytes] of others) assert.ok(afterwards.get(file)?.equals(bytes), `${file} unchanged`);
  });

  it("bad inputs: refused before a run exists, or naming the run's config.json and field", async () => {
    const store = path.join(scratch, "store-inputs");
    const badConfig = path.join(scratch, "bad.json");
    const base = JSON.parse(await readFile(configFile, "utf8")) as Record<string, unknown>;
    await writeFile(badConfig, JSON.stringify({ ...base, problems: path.join(scratch, "no-such-problems") }));
    const noProblems = await restem(["run", "--config", badConfig, "--store", store], scratch);
    assert.equal(noProblems.code, 1);
    assert.match(noProblems.stderr, new RegExp(`${badConfig}: problems: ${path.join(scratch, "no-such-problems")} does not exist`));
    await writeFile(badConfig, JSON.stringify({ ...base, model: path.join(scratch, "no-such-model") }));
    const noModel = await restem(["run", "--config", badConfig, "--store", store], scratch);
    assert.equal(noModel.code, 1);
    assert.match(noModel.stderr, new RegExp(`${badConfig}: model: ${path.join(scratch, "no-such-model")} does not exist`));
    await writeFile(badConfig, JSON.stringify({ ...base, model: problems }));
    const notModel = await restem(["run", "--config", badConfig, "--store", store], scratch);
    assert.match(notModel.stderr, /model: .* is not a model directory \(no config\.json, no tokenizer\.json, no \*\.safetensors weights\)/);
    assert.deepEqual(await listRunIds(store), [], "no run was created");

    // A run whose base model is deleted after it was created: resume names the field and what to do.
    const modelCopy = path.join(scratch, "model-copy");
    await cp(MODEL, modelCopy, { recursive: true });
    const id = await createRun(store, parseConfig({ ...base, model: modelCopy }, configFile));
    await rm(modelCopy, { recursive: true });
    const paths = runPaths(store, id);
    const status = await readFile(paths.status);
    const missingModel = await restem(["resume", id, "--store", store], scratch);
    assert.equal(missingModel.code, 1);
    assert.match(missingModel.stderr, new RegExp(`${paths.config}: model: ${modelCopy} does not exist \\(it moved or was deleted since the run was created: put it back, or set this field of ${paths.config} to where it is now, then resume run ${id}\\)`));
    assert.ok((await readFile(paths.status)).equals(status), "status.json untouched");
    await assert.rejects(stat(paths.events), /ENOENT/, "nothing started");

    // A corrupt config.json and status.json: the path and "invalid JSON".
    const config = await readFile(paths.config);
    await writeFile(paths.config, config.subarray(0, 20));
    const corrupt = await restem(["resume", id, "--store", store], scratch);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, new RegExp(`${paths.config}: invalid JSON: `));
    await writeFile(paths.config, config);
    await writeFile(paths.status, "{\n  \"id\": \"x\u0001\"\n}");
    const corruptStatus = await restem(["resume", id, "--store", store], scratch);
    assert.match(corruptStatus.stderr, new RegExp(`${paths.status}: invalid JSON: Bad control character`));
    const [listed] = await runsJson(store, scratch);
    assert.equal(listed.status, "unknown");
    assert.match(listed.error ?? "", new RegExp(`${paths.status}: invalid JSON`));
  });
});

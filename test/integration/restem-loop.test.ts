// The ReST-EM loop end to end with the real parts: the Docker sandbox judge, ONNX Runtime
// sampling and TensorFlow.js training, on the bundled examples/problems (train/ and test/
// split folders; D_val is carved from train).
//
// The model is a tiny random Qwen2 that the set-up first overfits on one training problem's
// human solution (a few seconds of training), so that the E-step finds correct programs and
// the M-step has something to learn from; the other problems stay unsolved.
//
//   * a short run (1 iteration) completes in-process and writes every file of the run store;
//   * `restem run` as a child process is SIGKILLed in the middle of its E-step, `restem resume`
//     finishes it: no finished sample is lost or redrawn, every sample exists exactly once,
//     and redrawing a sample with its seed gives the same program.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadModelConfig, loadModelWeights, loadTokenizer, parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import { loadProblems } from "../../src/problems";
import {
  assignSplits,
  buildPrompt,
  createRun,
  DEFAULT_CONFIG,
  executeRun,
  extractProgram,
  hasModelFiles,
  listRunIds,
  parseConfig,
  Policy,
  readJson,
  readJsonl,
  runPaths,
  runProblemId,
  sampleSeed,
  type IterationMetrics,
  type KeptRecord,
  type RunEvent,
  type RunStatus,
  type SampleRecord,
} from "../../src/restem";
import type { Judge } from "../../src/sandbox/judge";
import { saveTrainedModel, train } from "../../src/trainer/train";
import { openJudgeOrSkip, REPO_ROOT } from "./support";

const PROBLEMS = path.join(REPO_ROOT, "examples/problems");
const TOKENIZER = path.join(REPO_ROOT, "test/fixtures/model/tiny-tokenizer");
const QWEN2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 512,
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
  bos_token_id: 510,
  eos_token_id: 509,
};

/** A small run: few samples, short programs, one epoch. */
function runConfig(model: string, samplesPerProblem: number): Record<string, unknown> {
  return {
    problems: PROBLEMS,
    model,
    iterations: 1,
    seed: 3,
    sampling: { samplesPerProblem, maxNewTokens: 48, batchSize: 4 },
    evaluation: { samples: 2, passK: [1, 2] },
    mstep: { epochs: 1, batchSize: 4, lr: 0.001 },
    judge: { concurrency: 2 },
  };
}

function restem(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { cwd, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A random model overfitted on one training problem (one that stays in D, not D_val) so that
 * sampling at temperature 0.7 reproduces its human solution.
 */
async function warmModel(dir: string): Promise<string> {
  const randomDir = path.join(dir, "random");
  const config = parseModelConfig(QWEN2, path.join(randomDir, "config.json"));
  await saveModelDirectory(randomDir, config, randomWeights(config, 5, 0.08), { dtype: "F32", tokenizerFrom: TOKENIZER });
  const set = await loadProblems(PROBLEMS);
  const splits = assignSplits(set.problems, DEFAULT_CONFIG.splits);
  const target = set.problems.find((p) => runProblemId(p) === "train/3");
  assert.ok(target && splits.train.includes("train/3"), "train/3 stays a training problem");
  const tokenizer = await loadTokenizer(randomDir);
  const promptIds = await tokenizer.encode(buildPrompt(target, []));
  const completionIds = [...(await tokenizer.encode(target.solutions[0], { addSpecialTokens: false })), tokenizer.eosTokenIds[0]];
  const loaded = await loadModelConfig(randomDir);
  const result = await train(loaded, await loadModelWeights(randomDir), [{ promptIds, completionIds, reward: 1 }], { epochs: 40, lr: 0.01, batchSize: 1, warmupSteps: 0 });
  const warm = path.join(dir, "warm");
  await saveTrainedModel(warm, loaded, result, { tokenizerFrom: randomDir });
  return warm;
}

describe("restem loop (real Docker, ONNX Runtime and TensorFlow.js)", function () {
  this.timeout(300_000);
  let scratch: string;
  let model: string;
  let judge: Judge;

  before(async function () {
    judge = await openJudgeOrSkip(this, { concurrency: 2 });
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-loop-"));
    model = await warmModel(scratch);
  });
  after(async () => {
    await judge?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("a one-iteration run completes and writes every file of the run store", async () => {
    const store = path.join(scratch, "store-run");
    const id = await createRun(store, parseConfig(runConfig(model, 4), "restem.json"));
    const events: RunEvent[] = [];
    const outcome = await executeRun(store, id, { onEvent: (e) => events.push(e), openRewarder: async () => ({ judge: (p, c) => judge.judge(p, c), close: async () => undefined }) });
    assert.equal(outcome.status, "completed");

    const paths = runPaths(store, id);
    assert.deepEqual((await readdir(paths.dir)).sort(), ["config.json", "events.jsonl", "iter-0", "iter-1", "onnx", "splits.json", "status.json"]);
    assert.deepEqual((await readdir(paths.iteration(0).dir)).sort(), ["eval.jsonl", "metrics.json"]);
    assert.deepEqual((await readdir(paths.iteration(1).dir)).sort(), ["eval.jsonl", "kept.jsonl", "metrics.json", "samples.jsonl", "train.jsonl", "weights"]);
    assert.equal((await readJson<RunStatus>(paths.status))?.status, "completed");

    // E-step: 4 samples for each of the 3 training problems, train/3 solved.
    const samples = await readJsonl<SampleRecord>(paths.iteration(1).samples);
    assert.equal(samples.length, 12);
    assert.deepEqual([...new Set(samples.map((s) => s.problem_id))].sort(), ["train/1", "train/2", "train/3"]);
    for (const s of samples) assert.ok(typeof s.code === "string" && Array.isArray(s.results) && typeof s.ms === "number" && (s.reward === 0 || s.reward === 1));
    assert.ok(samples.some((s) => s.problem_id === "train/3" && s.reward === 1), "the warmed-up problem is solved");
    // Filter: correct, deduplicated (the memorised program is kept once).
    const kept = await readJsonl<KeptRecord>(paths.iteration(1).kept);
    assert.ok(kept.length >= 1);
    assert.ok(kept.every((k) => samples.some((s) => s.problem_id === k.problem_id && s.index === k.index && s.reward === 1)));
    assert.equal(new Set(kept.map((k) => `${k.problem_id}\n${k.code.trimEnd()}`)).size, kept.length);
    // M-step: a complete model directory; evaluation: metrics per iteration.
    assert.ok(await hasModelFiles(paths.iteration(1).weights));
    const m0 = await readJson<IterationMetrics>(paths.iteration(0).metrics);
    const m1 = await readJson<IterationMetrics>(paths.iteration(1).metrics);
    assert.equal(m0?.estep, null);
    assert.equal(m0?.eval.test_problems, 2);
    assert.deepEqual(Object.keys(m1?.eval.pass_at_k ?? {}), ["1", "2"]);
    assert.equal(m1?.estep?.samples, 12);
    assert.equal(m1?.estep?.kept, kept.length);
    assert.ok((m1?.estep?.train_pass_rate ?? 0) >= 1 / 3);
    assert.equal(m1?.mstep?.start, "base");
    assert.equal(m1?.mstep?.examples, kept.length);
    assert.ok((m1?.mstep?.validations ?? 0) >= 1, "validated on D_val");
    const evalRecords = await readJsonl<SampleRecord>(paths.iteration(1).eval);
    assert.equal(evalRecords.length, 2 + 2 * 2 + 3, "greedy test + sampled test + greedy train");

    // Events: durable ones on disk, in order.
    const stored = await readJsonl<{ type: string; phase?: string; iteration?: number; time: string }>(paths.events);
    const phases = stored.filter((e) => e.type === "phase_done").map((e) => `${e.iteration}:${e.phase}`);
    assert.deepEqual(phases, ["0:eval", "1:estep", "1:filter", "1:mstep", "1:eval"]);
    assert.equal(stored[0].type, "run_started");
    assert.equal(stored.at(-1)?.type, "run_completed");
    assert.ok(stored.every((e) => !Number.isNaN(Date.parse(e.time))));
    assert.ok(events.some((e) => e.type === "sample_judged") && events.some((e) => e.type === "train_step"));

    // `restem runs --json`: one line per run, iteration 0 = the base model.
    const runs = await restem(["runs", "--json", "--store", store], scratch);
    assert.equal(runs.code, 0, runs.stderr);
    const line = JSON.parse(runs.stdout.trim()) as { id: string; status: string; iterations: Array<Record<string, unknown>> };
    assert.equal(line.id, id);
    assert.equal(line.status, "completed");
    assert.deepEqual(line.iterations.map((i) => i.iteration), [0, 1]);
    assert.deepEqual(Object.keys(line.iterations[1]).sort(), ["iteration", "kept", "kept_fraction", "pass_at_1", "pass_at_k", "train_pass_rate"]);
    assert.equal(line.iterations[1].kept, kept.length);
  });

  it("resume after SIGKILL mid E-step loses and redoes no finished sample", async () => {
    const store = path.join(scratch, "store-resume");
    const configFile = path.join(scratch, "resume.json");
    const samplesPerProblem = 48;
    await writeFile(configFile, JSON.stringify(runConfig(model, samplesPerProblem)));
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), "run", "--config", configFile, "--store", store], { cwd: scratch, stdio: "ignore" });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));

    // Wait for the E-step to be part-way, then kill the process without warning.
    let before: SampleRecord[] = [];
    const deadline = Date.now() + 120_000;
    let samplesFile = "";
    while (Date.now() < deadline) {
      const ids = await listRunIds(store);
      if (ids.length === 1) {
        samplesFile = runPaths(store, ids[0]).iteration(1).samples;
        const text = await readFile(samplesFile, "utf8").catch(() => "");
        if (text.split("\n").length > 10) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    await exited;
    const [id] = await listRunIds(store);
    before = await readJsonl<SampleRecord>(samplesFile);
    const total = 3 * samplesPerProblem;
    assert.ok(before.length >= 10 && before.length < total, `killed mid E-step (${before.length}/${total} samples on disk)`);
    assert.equal((await readJson<RunStatus>(runPaths(store, id).status))?.status, "running", "a killed run is left as running");

    const resumed = await restem(["resume", id, "--store", store], scratch);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /pass@1 \(greedy\)/);
    const after = await readJsonl<SampleRecord>(samplesFile);

    // Every sample exactly once, and every pre-kill record unchanged.
    assert.equal(after.length, total);
    const key = (r: SampleRecord): string => `${r.problem_id}#${r.index}`;
    assert.equal(new Set(after.map(key)).size, total);
    const byKey = new Map(after.map((r) => [key(r), r] as const));
    for (const record of before) assert.deepEqual(byKey.get(key(record)), record, `${key(record)} kept as it was`);
    assert.deepEqual(after.slice(0, before.length), before, "the file was appended to, not rewritten");

    // Same seed, same program: redraw one sample from before the kill and one from after.
    const policy = await Policy.open(model, path.join(scratch, "onnx-check"), { threads: null });
    try {
      await policy.useModelDir(model);
      const set = await loadProblems(PROBLEMS);
      for (const record of [before[0], after[after.length - 1]]) {
        const problem = set.problems.find((p) => runProblemId(p) === record.problem_id);
        assert.ok(problem);
        const promptIds = await policy.promptIds(buildPrompt(problem, []), 48);
        const seed = sampleSeed(3, "estep", 1, record.problem_id);
        const drawn = await policy.sample(promptIds, { temperature: 0.7, topK: 40, topP: 1, maxNewTokens: 48, stop: ["\nQUESTION:"], start: record.index, count: 1, seed });
        assert.equal(extractProgram(drawn.texts[0]), record.code, `${key(record)} redraws the same program`);
      }
    } finally {
      await policy.close();
    }

    // The run finished: status, events, weights and metrics.
    const paths = runPaths(store, id);
    assert.equal((await readJson<RunStatus>(paths.status))?.status, "completed");
    const stored = await readJsonl<{ type: string; phase?: string; iteration?: number }>(paths.events);
    assert.ok(stored.some((e) => e.type === "run_resumed" && e.phase === "estep" && e.iteration === 1));
    assert.deepEqual(
      stored.filter((e) => e.type === "phase_done").map((e) => `${e.iteration}:${e.phase}`),
      ["0:eval", "1:estep", "1:filter", "1:mstep", "1:eval"],
      "no finished phase is done twice",
    );
    assert.ok(await hasModelFiles(paths.iteration(1).weights));
    assert.equal((await readJson<IterationMetrics>(paths.iteration(1).metrics))?.estep?.samples, total);
  });
});

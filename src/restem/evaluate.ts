// Evaluating one model: greedy pass@1 on the test problems (the paper's headline number),
// unbiased pass@k from n samples per test problem at temperature 1.0 and top-p 0.95 (the
// paper's Figure 5 setting), and greedy pass@1 on the training problems for the train–test
// gap. Inside a run the records go to iter-<i>/eval.jsonl and a resumed evaluation draws only
// what is missing; `restem eval` runs the same thing without a run store.

import * as path from "node:path";
import { loadProblems, type Problem } from "../problems";
import { Judge } from "../sandbox/judge";
import type { RestemConfig, SamplingConfig, EvaluationConfig } from "./config";
import { runProblemId, type PromptBuilder } from "./dataset";
import { countByProblem, evalMetrics, type EvalMetrics } from "./metrics";
import { Policy } from "./policy";
import type { SampleRecord } from "./samples";
import { drawAndJudge, type Rewarder } from "./sampling";

export interface EvaluationInput {
  test: readonly Problem[];
  /** Training problems for the greedy train pass rate, or null to skip it. */
  train: readonly Problem[] | null;
  sampling: SamplingConfig;
  evaluation: EvaluationConfig;
  prompts: PromptBuilder;
  runSeed: number;
  iteration: number;
  /** Records already in eval.jsonl. */
  existing: readonly SampleRecord[];
  signal?: AbortSignal;
  onRecord: (record: SampleRecord, done: number, total: number) => Promise<void> | void;
  onProblemError?: (problemId: string, message: string) => Promise<void> | void;
}

/** The three passes of an evaluation, in the order they run. */
interface Pass {
  kind: "greedy" | "sampled";
  split: "test" | "train";
  problems: readonly Problem[];
  samples: number;
}

function passes(input: EvaluationInput): Pass[] {
  const list: Pass[] = [{ kind: "greedy", split: "test", problems: input.test, samples: 1 }];
  if (input.evaluation.samples > 0) list.push({ kind: "sampled", split: "test", problems: input.test, samples: input.evaluation.samples });
  if (input.train !== null) list.push({ kind: "greedy", split: "train", problems: input.train, samples: 1 });
  return list;
}

/** Runs (or continues) an evaluation; returns its metrics, or null when cancelled first. */
export async function runEvaluation(policy: Policy, rewarder: Rewarder, input: EvaluationInput): Promise<EvalMetrics | null> {
  // The verdicts of every pass: judged records in force (drawAndJudge leaves out sandbox failures).
  const all: SampleRecord[] = [];
  const list = passes(input);
  const total = list.reduce((sum, p) => sum + p.problems.length * p.samples, 0);
  let done = input.existing.length;
  for (const pass of list) {
    const ids = new Set(pass.problems.map(runProblemId));
    const existing = input.existing.filter((r) => r.kind === pass.kind && r.split === pass.split && ids.has(r.problem_id));
    const greedy = pass.kind === "greedy";
    const { cancelled, records } = await drawAndJudge(policy, rewarder, {
      problems: pass.problems,
      samplesPerProblem: pass.samples,
      decode: {
        temperature: greedy ? 0 : input.evaluation.temperature,
        topK: 0,
        topP: greedy ? 1 : input.evaluation.topP,
        maxNewTokens: input.sampling.maxNewTokens,
        stop: input.sampling.stop,
      },
      batchSize: input.sampling.batchSize,
      runSeed: input.runSeed,
      phase: greedy ? "eval-greedy" : "eval-sampled",
      iteration: input.iteration,
      prompts: input.prompts,
      existing,
      tag: { kind: pass.kind, split: pass.split },
      signal: input.signal,
      onRecord: (record) => input.onRecord(record, ++done, total),
      onProblemError: input.onProblemError,
    });
    all.push(...records);
    if (cancelled) return null;
  }
  const select = (kind: string, split: string): SampleRecord[] => all.filter((r) => r.kind === kind && r.split === split);
  return evalMetrics(
    countByProblem(select("greedy", "test")),
    countByProblem(select("sampled", "test")),
    input.evaluation.passK,
    input.train === null ? null : countByProblem(select("greedy", "train")),
  );
}

export interface EvaluateModelOptions {
  model: string;
  problems: string;
  /** Split folder to evaluate; null = every problem. */
  split: string | null;
  config: RestemConfig;
  signal?: AbortSignal;
  onRecord?: (record: SampleRecord, done: number, total: number) => void;
  log?: (line: string) => void;
}

/** `restem eval`: evaluates a model directory on a problem set, without a run store. */
export async function evaluateModel(options: EvaluateModelOptions): Promise<{ metrics: EvalMetrics | null; problems: number }> {
  const set = await loadProblems(options.problems);
  for (const error of set.errors) options.log?.(`skipped ${error.path}: ${error.message}`);
  const test = options.split === null ? set.problems : set.problems.filter((p) => p.split === options.split);
  if (test.length === 0) {
    const folders = [...new Set(set.problems.map((p) => p.split ?? "(none)"))].join(", ");
    throw new Error(`no problems in split "${options.split}" of ${options.problems} (folders: ${folders})`);
  }
  const onnxRoot = path.join(options.model, ".restem-onnx"); // shared with `restem sample`
  const policy = await Policy.open(options.model, onnxRoot, { threads: options.config.sampling.threads, device: options.config.sampling.device });
  const memoryMb = options.config.judge.memoryMb;
  const judge = await Judge.open({
    concurrency: options.config.judge.concurrency ?? undefined,
    strict: options.config.judge.strict,
    limits: memoryMb === null ? undefined : { memoryBytes: memoryMb * (1 << 20) },
    onLog: options.log,
  });
  try {
    await policy.useModelDir(options.model);
    const prompts = await policy.openPrompts(options.config.prompt);
    const metrics = await runEvaluation(policy, judge, {
      test,
      train: null,
      sampling: options.config.sampling,
      evaluation: options.config.evaluation,
      prompts,
      runSeed: options.config.seed,
      iteration: 0,
      existing: [],
      signal: options.signal,
      onRecord: (record, done, total) => options.onRecord?.(record, done, total),
      onProblemError: (id, message) => options.log?.(`problem ${id}: ${message}`),
    });
    return { metrics, problems: test.length };
  } finally {
    await policy.close();
    await judge.close();
  }
}

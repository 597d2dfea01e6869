// Training throughput of the TensorFlow.js trainer (src/trainer) in tokens per second.
//
//   node out/bench/trainer.js [--steps N] [--workers W] [--baseline-steps B] [--cpu-steps M] [--lora R]
//
// Model: a ~3M-parameter Llama (hidden 256, 4 layers, 8 heads, 4 KV heads, FFN 704, vocab 512),
// sequences of 256 tokens, batch 8 (2048 tokens per step), full fine-tuning with AdamW,
// gradient clipping and the cosine schedule: the real train() loop on random token data.
// First the configuration train() uses by default (best backend, data-parallel replicas =
// min(2, cores) on wasm; --workers W forces W), then, in the same process, the single-thread
// in-process baseline (workers 1, B steps, default N; 0 skips it) and the speed ratio, and
// optionally (--cpu-steps M > 0) tfjs's plain JavaScript "cpu" backend.
// For scale: PyTorch 1.13 on the 2-core development machine runs this config at ~800 tok/s.

import { BENCH_LLAMA } from "./benchModel";
import * as os from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { randomWeights } from "../src/model";
import type { ModelConfig } from "../src/model/types";
import { describeBackend, initBackend, type TrainerBackendName } from "../src/trainer/backend";
import type { TrainExample } from "../src/trainer/loss";
import { defaultReplicaCount } from "../src/trainer/parallel";
import { train, type StepInfo } from "../src/trainer/train";

const SEQ = 256;
const BATCH = 8;

const CONFIG: ModelConfig = BENCH_LLAMA;

function parameterCount(config: ModelConfig): number {
  let total = 0;
  for (const tensor of randomWeights(config, 0, 0).values()) total += tensor.data.length;
  return total;
}

/** BATCH examples of SEQ + 1 tokens: a 1-token prompt and a SEQ-token completion each. */
function syntheticExamples(count: number): TrainExample[] {
  let state = 12345;
  const next = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return 3 + (state % (CONFIG.vocabSize - 3));
  };
  return Array.from({ length: count }, () => ({ promptIds: [1], completionIds: Array.from({ length: SEQ }, next), reward: 1 }));
}

interface RunResult {
  backend: string;
  /** Data-parallel replicas used (1 = this thread only). */
  replicas: number;
  steps: StepInfo[];
  /** Tokens per second over the timed steps (the first, warm-up step excluded when possible). */
  tokensPerSecond: number;
  msPerStep: number;
}

async function run(backend: TrainerBackendName | undefined, steps: number, loraRank: number | null, workers: number | null): Promise<RunResult> {
  const report = await initBackend(backend);
  const examples = syntheticExamples(BATCH);
  const history: StepInfo[] = [];
  const weights = randomWeights(CONFIG, 1, 0.02);
  // One optimizer step per epoch (BATCH examples = one batch); warm-up step + `steps` timed.
  await train(CONFIG, weights, examples, { epochs: steps + 1, batchSize: BATCH, maxSeqLen: SEQ, lr: 3e-4, warmupSteps: 0, loraRank, workers }, {
    onStep: (info) => history.push(info),
  });
  const timed = history.length > 1 ? history.slice(1) : history;
  const seconds = timed.reduce((s, info) => s + (SEQ * BATCH) / info.tokensPerSecond, 0);
  return {
    backend: describeBackend(report),
    replicas: workers ?? (report.name === "wasm" ? defaultReplicaCount() : 1),
    steps: history,
    tokensPerSecond: (timed.length * SEQ * BATCH) / seconds,
    msPerStep: (1000 * seconds) / timed.length,
  };
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} expects a non-negative integer`);
  return value;
}

function report(title: string, result: RunResult): void {
  console.log(`\n[${result.backend}, ${result.replicas} replica(s)] ${title}`);
  result.steps.forEach((s) => console.log(`  step ${s.step}: loss ${s.loss.toFixed(4)}, ${Math.round(s.tokensPerSecond)} tok/s, grad-norm ${s.gradNorm.toFixed(3)}`));
  console.log(`  => ${result.tokensPerSecond.toFixed(0)} tokens/s (${result.msPerStep.toFixed(0)} ms/step, first step excluded)`);
}

async function main(): Promise<void> {
  const steps = argument("--steps", 5);
  const workersArgument = argument("--workers", 0);
  const workers = workersArgument > 0 ? workersArgument : null;
  const baselineSteps = argument("--baseline-steps", steps);
  const cpuSteps = argument("--cpu-steps", 0);
  const lora = argument("--lora", 0);
  const loraRank = lora > 0 ? lora : null;
  const mode = loraRank ? `LoRA rank ${loraRank}` : "full fine-tuning";
  console.log(`trainer bench: Llama hidden 256, 4 layers, 8 heads / 4 KV heads, FFN 704, vocab 512`);
  console.log(`  ${(parameterCount(CONFIG) / 1e6).toFixed(2)}M parameters, seq ${SEQ}, batch ${BATCH}, ${mode}, AdamW`);
  console.log(`  node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "unknown cpu"})`);

  const best = await run(undefined, steps, loraRank, workers);
  report(workers === null ? "(default configuration)" : `(--workers ${workers})`, best);

  if (baselineSteps > 0) {
    const single = await run(undefined, baselineSteps, loraRank, 1);
    report("(single-thread, in-process baseline)", single);
    console.log(`\nspeed-up over the single-thread in-process run: ${(best.tokensPerSecond / single.tokensPerSecond).toFixed(2)}x`);
  }

  if (cpuSteps > 0 && tf.getBackend() !== "cpu") {
    const baseline = await run("cpu", cpuSteps - 1, loraRank, 1);
    report("(plain JavaScript backend)", baseline);
    console.log(`speed-up over the plain cpu backend: ${(best.tokensPerSecond / baseline.tokensPerSecond).toFixed(1)}x`);
  }
  console.log(`reference: PyTorch 1.13 on the 2-core dev machine ~800 tokens/s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});

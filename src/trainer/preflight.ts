// The memory preflight's impure side: the host's memory, the engine training will most likely
// run on, and the refusal itself (a RESTEM_MEMORY_PREFLIGHT TrainerError) for `restem train`,
// `restem forward --engine tfjs` and a run's M-step (checked before its E-step starts). The
// estimates are memory.ts's pure functions.

import * as fs from "node:fs";
import * as os from "node:os";
import type { ModelConfig } from "../model/types";
import { TrainerError } from "./failures";
import { needsStreaming } from "./streamed/policy";
import { checkTraining, estimateForward, estimateTraining, memoryProblems, modelShape, refusalMessage, type FixStyle, type HostMemory, type MemoryEngine, type TrainingPlan } from "./memory";

/** os.totalmem(), and MemAvailable from /proc/meminfo (os.freemem() elsewhere). */
export function hostMemory(): HostMemory {
  let available = os.freemem();
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    if (match) available = Number(match[1]) * 1024;
  } catch {
    // not Linux: freemem() it is
  }
  return { totalBytes: os.totalmem(), availableBytes: available };
}

/**
 * "tensorflow" when tfjs-node(-gpu) is installed here (initBackend prefers it); else "streamed" for
 * a model whose weights the wasm heap cannot hold (src/trainer/streamed), else "wasm".
 */
export function likelyEngine(config?: ModelConfig): MemoryEngine {
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      require.resolve(name);
      return "tensorflow";
    } catch {
      // not installed
    }
  }
  return config !== undefined && needsStreaming(config) ? "streamed" : "wasm";
}

const OTHER_FIXES = "a machine with a GPU and @tensorflow/tfjs-node-gpu (README, GPUs)";

/** Throws RESTEM_MEMORY_PREFLIGHT when `plan` does not fit; `what` names the job ("restem train"). */
export function preflightTraining(what: string, config: ModelConfig, plan: TrainingPlan, options: { style?: FixStyle; host?: HostMemory } = {}): void {
  const style = options.style ?? "cli";
  const verdict = checkTraining(modelShape(config), plan, options.host ?? hostMemory(), style);
  if (verdict.ok) return;
  const mode = plan.loraRank === null ? "full fine-tuning" : `LoRA rank ${plan.loraRank}`;
  const setting = `${mode}, batch ${plan.batchSize}, sequence ${plan.maxSeqLen}, ${plan.replicas} replica(s), engine ${plan.engine}`;
  throw new TrainerError("RESTEM_MEMORY_PREFLIGHT", refusalMessage(setting, verdict, OTHER_FIXES), {
    operation: `memory preflight of ${what}`,
    hint: style === "cli" ? "pass --ignore-memory-check to try anyway (it may abort part-way)" : "change the run's restem.json as above and `restem resume` it (mstep.ignoreMemoryCheck: true tries anyway)",
  });
}

/** Throws RESTEM_MEMORY_PREFLIGHT when a tfjs forward pass over `tokens` tokens does not fit. */
export function preflightForward(config: ModelConfig, tokens: number, host: HostMemory = hostMemory()): void {
  // A model the heap cannot hold runs streamed (a layer at a time): bounded by the training
  // estimate of that engine at rank 1 (adapters negligible; the merged-output copy over-counts).
  const estimate = needsStreaming(config)
    ? estimateTraining(modelShape(config), { engine: "streamed", loraRank: 1, batchSize: 1, maxSeqLen: tokens, replicas: 1 })
    : estimateForward(modelShape(config), tokens);
  const problems = memoryProblems(estimate, host);
  if (problems.length === 0) return;
  const verdict = { ok: false, problems, fix: null, estimate };
  throw new TrainerError("RESTEM_MEMORY_PREFLIGHT", refusalMessage("a tfjs forward pass", verdict, `--engine onnx (no heap limit), or ${OTHER_FIXES}`), {
    operation: "memory preflight of restem forward --engine tfjs",
    hint: "use --engine onnx, or pass --ignore-memory-check to try anyway",
  });
}

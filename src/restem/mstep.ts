// The Improve step (M-step) of Algorithm 1: fine-tune on the kept programs with the
// reward-weighted NLL of the program tokens (src/trainer), "while reward improves on D_val":
// the trainer's validation hook scores the weights by greedy pass rate on the validation
// problems after every epoch (and every evalInterval steps), and the best-scoring weights are
// the ones kept. ReST-EM starts every M-step from the base model (restart "base"); ReST
// continues from the previous iteration's weights (restart "previous").
//
// Early stopping: the trainer has no way to stop early, so after `patience` validations
// without a new best the hook stops validating (it returns -Infinity at no cost); the best
// checkpoint seen is still the one returned.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { loadModelWeights, type ModelConfig, type WeightMap } from "../model";
import type { Problem } from "../problems";
import type { TrainExample } from "../trainer/loss";
import { modelShape, parameterCount, type MemoryEngine, type TrainingPlan } from "../trainer/memory";
import { defaultReplicaCount } from "../trainer/parallel";
import { likelyEngine, preflightTraining } from "../trainer/preflight";
import { DEFAULT_LARGE_MODEL_LORA_RANK } from "../trainer/streamed/policy";
import { saveTrainedModel, train, type StepInfo, type TrainResult } from "../trainer/train";
import type { MStepConfig, Restart } from "./config";
import type { PromptBuilder } from "./dataset";
import type { KeptRecord } from "./samples";

/**
 * The model directory the M-step of `iteration` fine-tunes: the base model for ReST-EM (and
 * for iteration 1 either way), the previous iteration's weights for restart "previous".
 */
export function startCheckpoint(iteration: number, restart: Restart, baseDir: string, weightsDirOf: (iteration: number) => string): string {
  if (iteration < 1) throw new Error(`M-steps start at iteration 1, got ${iteration}`);
  return restart === "previous" && iteration > 1 ? weightsDirOf(iteration - 1) : baseDir;
}

/** The LoRA rank the M-step uses when mstep.loraRank is null and the model is large. */
export const AUTO_LORA_RANK = DEFAULT_LARGE_MODEL_LORA_RANK;

/** Full fine-tuning or LoRA, and why: an explicit loraRank wins; otherwise the model's size decides. */
export function chooseTrainingMode(params: number, options: Pick<MStepConfig, "loraRank" | "loraAboveParams">): { loraRank: number | null; reason: string } {
  if (options.loraRank !== null) return { loraRank: options.loraRank, reason: `mstep.loraRank is ${options.loraRank}` };
  const millions = (n: number): string => `${(n / 1e6).toFixed(0)}M`;
  if (params > options.loraAboveParams) {
    return { loraRank: AUTO_LORA_RANK, reason: `${millions(params)} parameters > mstep.loraAboveParams (${millions(options.loraAboveParams)}): LoRA rank ${AUTO_LORA_RANK}` };
  }
  return { loraRank: null, reason: `${millions(params)} parameters <= mstep.loraAboveParams (${millions(options.loraAboveParams)}): full fine-tuning` };
}

/** The M-step's memory plan: the mode chosen for this model, the batch and replicas of the config. */
export function mstepPlan(config: ModelConfig, options: MStepConfig, engine: MemoryEngine): TrainingPlan {
  const { loraRank } = chooseTrainingMode(parameterCount(modelShape(config)), options);
  const replicas = options.workers ?? (engine === "wasm" ? defaultReplicaCount() : 1);
  return { engine, loraRank, batchSize: options.batchSize, maxSeqLen: options.maxSeqLen, replicas };
}

/**
 * Refuses (RESTEM_MEMORY_PREFLIGHT, naming restem.json fields to change) when the M-step would
 * not fit in memory; the loop calls it before the E-step so no sampling time is lost.
 */
export function preflightMStep(config: ModelConfig, options: MStepConfig, iteration: number, engine: MemoryEngine = likelyEngine(config)): void {
  if (options.ignoreMemoryCheck) return;
  preflightTraining(`the M-step of iteration ${iteration}`, config, mstepPlan(config, options, engine), { style: "config" });
}

/** Tracks validation scores: the best one, its position, and when patience has run out. */
export class EarlyStopping {
  private scores: number[] = [];
  private bestAt = -1;

  constructor(readonly patience: number) {
    if (!Number.isInteger(patience) || patience < 1) throw new Error(`patience must be a positive integer, got ${patience}`);
  }

  /** Records a score; true when it is a new best (strictly higher than every earlier one). */
  observe(score: number): boolean {
    this.scores.push(score);
    const improved = this.bestAt < 0 || score > this.scores[this.bestAt];
    if (improved) this.bestAt = this.scores.length - 1;
    return improved;
  }

  /** True once `patience` validations in a row brought no new best. */
  get stopped(): boolean {
    return this.bestAt >= 0 && this.scores.length - 1 - this.bestAt >= this.patience;
  }

  get best(): number | null {
    return this.bestAt < 0 ? null : this.scores[this.bestAt];
  }

  /** 0-based index of the best validation, -1 before any. */
  get bestIndex(): number {
    return this.bestAt;
  }

  get count(): number {
    return this.scores.length;
  }
}

/** Encodes prompts and programs; the Policy does it with the model's tokenizer. */
export interface ExampleEncoder {
  promptIds(text: string, maxNewTokens: number, options?: { addSpecialTokens?: boolean }): Promise<number[]>;
  completionIds(text: string, options?: { appendEos?: boolean }): Promise<number[]>;
}

/** The M-step's training examples: (few-shot prompt + question, kept program + EOS, reward). */
export async function buildExamples(
  kept: readonly KeptRecord[],
  problemsById: ReadonlyMap<string, Problem>,
  prompts: PromptBuilder,
  encoder: ExampleEncoder,
): Promise<{ examples: TrainExample[]; skipped: string[] }> {
  const examples: TrainExample[] = [];
  const skipped: string[] = [];
  for (const record of kept) {
    const problem = problemsById.get(record.problem_id);
    const text = problem ? prompts.training(problem, record.code) : null;
    const completionIds = text ? await encoder.completionIds(text.completion, { appendEos: !text.endsTurn }) : [];
    if (!problem || completionIds.length === 0) {
      skipped.push(`${record.problem_id}#${record.index}`);
      continue;
    }
    const promptIds = await encoder.promptIds(text?.prompt ?? "", 0, { addSpecialTokens: !prompts.promptHasSpecialTokens });
    examples.push({ promptIds, completionIds, reward: record.reward });
  }
  return { examples, skipped };
}

export interface MStepInput {
  config: ModelConfig;
  /** Model directory to fine-tune (startCheckpoint). */
  startDir: string;
  examples: readonly TrainExample[];
  options: MStepConfig;
  seed: number;
  /** Greedy pass rate on D_val of in-memory weights; null = no validation problems. */
  validate: ((weights: WeightMap, index: number) => Promise<number>) | null;
  signal?: AbortSignal;
  onStep?: (info: StepInfo) => void;
  onValidation?: (info: { step: number; score: number; best: boolean }) => void | Promise<void>;
}

export interface MStepOutput {
  result: TrainResult;
  stopping: EarlyStopping;
}

/** Thrown from the trainer's hooks when the run is cancelled mid-M-step. */
export class CancelledError extends Error {
  constructor() {
    super("cancelled");
    this.name = "CancelledError";
  }
}

/** Fine-tunes startDir on the examples, keeping the weights with the best validation reward. */
export async function runMStep(input: MStepInput): Promise<MStepOutput> {
  const weights = await loadModelWeights(input.startDir);
  const stopping = new EarlyStopping(input.options.patience);
  const checkCancel = (): void => {
    if (input.signal?.aborted) throw new CancelledError();
  };
  const validate = input.validate;
  const result = await train(
    input.config,
    weights,
    input.examples,
    {
      epochs: input.options.epochs,
      lr: input.options.lr,
      batchSize: input.options.batchSize,
      gradAccumSteps: input.options.gradAccumSteps,
      maxSeqLen: input.options.maxSeqLen,
      loraRank: chooseTrainingMode(parameterCount(modelShape(input.config)), input.options).loraRank,
      workers: input.options.workers,
      evalInterval: input.options.evalInterval,
      restoreBest: true,
      seed: input.seed,
      padId: input.config.padTokenId ?? input.config.eosTokenIds[0] ?? 0,
    },
    {
      onStep: (info) => {
        checkCancel();
        input.onStep?.(info);
      },
      validate:
        validate === null
          ? undefined
          : async (decoder) => {
              checkCancel();
              if (stopping.stopped) return Number.NEGATIVE_INFINITY;
              const score = await validate(decoder.exportWeights(), stopping.count);
              stopping.observe(score);
              return score;
            },
      onValidation: (info) => {
        if (Number.isFinite(info.score)) void input.onValidation?.(info);
      },
    },
  );
  return { result, stopping };
}

/**
 * Saves the trained model as `dir` atomically: written into `dir`.partial, then renamed, so a
 * weights/ directory is always complete. Returns the files written.
 */
export async function saveWeightsDir(dir: string, config: ModelConfig, result: TrainResult, tokenizerFrom: string): Promise<string[]> {
  const partial = `${dir}.partial`;
  await fs.rm(partial, { recursive: true, force: true });
  const files = await saveTrainedModel(partial, config, result, { tokenizerFrom, dtype: "F32", baseModel: path.resolve(tokenizerFrom) });
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(partial, dir);
  return files.map((file) => path.join(dir, path.relative(partial, file)));
}

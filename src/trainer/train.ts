// The ReST-EM M-step: fine-tune a decoder on reward-weighted, model-generated programs.
//
// Read it top to bottom like nanoGPT's train.py: options with their defaults, then one loop
// over epochs -> optimizer steps -> micro-batches (gradient accumulation), each step clipping
// the global gradient norm and taking an AdamW step at the scheduled learning rate. Every
// evalInterval steps and after each epoch an optional validation hook scores the model (the
// ReST-EM driver uses the reward on D_val); the best-scoring weights are kept and returned.
// Training starts from the weights given (ReST-EM fine-tunes from the base model each
// iteration) and can update all weights or only LoRA adapters.

import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { mulberry32, saveModelDirectory } from "../model";
import type { ModelConfig, StorageDType, WeightMap } from "../model/types";
import { activeBackendName, initBackend } from "./backend";
import { TfDecoder } from "./decoder";
import { loraSettings, saveLoraAdapter, type LoraSettings } from "./lora";
import { bucketBatches, packBatch, validateExample, type PackedBatch, type TrainExample } from "./loss";
import { AdamW, clipByGlobalNorm, learningRateAt } from "./optim";
import { assertFinite } from "./failures";
import { DataParallel, defaultReplicaCount } from "./parallel";
import { localGradients } from "./shards";
import { needsStreaming, parameterCount } from "./streamed/policy";
import { trainStreamed } from "./streamed/trainLarge";

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  gradAccumSteps: number;
  maxSeqLen: number;
  lr: number | null;
  warmupSteps: number;
  decay: "cosine" | "linear" | "constant";
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  loraRank: number | null;
  loraAlpha: number | null;
  loraTargets: string[] | null;
  evalInterval: number;
  restoreBest: boolean;
  padId: number;
  seed: number;
  workers: number | null;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  epochs: 2, // passes over the data; ReST-EM fine-tunes briefly each iteration
  batchSize: 8, // examples per micro-batch
  gradAccumSteps: 1, // micro-batches per optimizer step
  maxSeqLen: 1024, // longer examples lose prompt tokens from the left, then completion tail
  lr: null, // peak learning rate; null = 2e-4 with LoRA, 2e-5 for full fine-tuning
  warmupSteps: 10, // linear warmup steps (capped at a tenth of the run)
  decay: "cosine", // after warmup: cosine | linear | constant
  minLrRatio: 0.1, // decay floor as a fraction of the peak lr
  weightDecay: 0.1, // AdamW decoupled weight decay on matrices
  beta1: 0.9, // AdamW first-moment decay
  beta2: 0.95, // AdamW second-moment decay
  gradClip: 1.0, // global-norm clipping threshold; 0 disables
  loraRank: null, // null = full fine-tuning; r > 0 = LoRA of rank r
  loraAlpha: null, // LoRA scale numerator; null = 2 * rank
  loraTargets: null, // LoRA target modules; null = all attention and MLP projections
  evalInterval: 0, // validate every N steps as well as after each epoch; 0 = per epoch only
  restoreBest: true, // with a validation hook, return the best-scoring weights
  padId: 0, // id written into padding (masked; any valid id)
  seed: 0, // shuffling and LoRA initialisation
  workers: null, // data-parallel replicas (this thread + workers - 1 worker_threads); null = min(2, cores) on wasm
};

export interface StepInfo {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  gradNorm: number;
}

/** What a validation hook sees of the model being trained: its current weights, LoRA merged. */
export interface TrainedWeights {
  exportWeights(): WeightMap;
}

export interface TrainHooks {
  /** Called after every optimizer step. */
  onStep?: (info: StepInfo) => void;
  /** Scores the current model (higher is better); called per epoch and every evalInterval steps. */
  validate?: (model: TrainedWeights) => number | Promise<number>;
  onValidation?: (info: { step: number; score: number; best: boolean }) => void;
}

export interface TrainResult {
  /** Final (or best) weights with LoRA merged: a plain HF WeightMap. */
  weights: WeightMap;
  /** LoRA adapters alone (PyTorch layout), or null for full fine-tuning. */
  adapters: WeightMap | null;
  lora: LoraSettings | null;
  steps: number;
  bestScore: number | null;
  history: StepInfo[];
  backend: string;
}

export function resolveTrainOptions(options: Partial<TrainOptions>): TrainOptions {
  const resolved: TrainOptions = { ...DEFAULT_TRAIN_OPTIONS };
  for (const [key, value] of Object.entries(options) as Array<[keyof TrainOptions, unknown]>) {
    if (value !== undefined) (resolved as unknown as Record<string, unknown>)[key] = value;
  }
  for (const key of ["epochs", "batchSize", "gradAccumSteps", "maxSeqLen"] as const) {
    if (!Number.isInteger(resolved[key]) || resolved[key] < 1) throw new Error(`${key} must be a positive integer, got ${resolved[key]}`);
  }
  if (resolved.workers !== null && (!Number.isInteger(resolved.workers) || resolved.workers < 1)) {
    throw new Error(`workers must be a positive integer, got ${resolved.workers}`);
  }
  if (resolved.lr !== null && !(resolved.lr > 0)) throw new Error(`lr must be positive, got ${resolved.lr}`);
  return resolved;
}

/** Fine-tunes `weights` on `examples`; returns the trained weights (the inputs are not modified). */
export async function train(
  config: ModelConfig,
  weights: WeightMap,
  examples: readonly TrainExample[],
  options: Partial<TrainOptions> = {},
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const o = resolveTrainOptions(options);
  if (activeBackendName() === null) await initBackend();
  examples.forEach((example, i) => {
    try {
      validateExample(example, config.vocabSize);
    } catch (error) {
      throw new Error(`training example ${i + 1}: ${(error as Error).message}`);
    }
  });
  if (examples.length === 0) throw new Error("no training examples");

  // Model: all weights trainable, or frozen base + LoRA adapters.
  const lora = o.loraRank === null ? null : loraSettings(o.loraRank, o.loraAlpha ?? undefined, o.loraTargets ?? undefined);
  // Models too large for the wasm heap: LoRA on the streamed engine (src/trainer/streamed/).
  if (needsStreaming(config)) {
    if (lora === null) throw new Error(`a model of ${(parameterCount(config) / 1e6).toFixed(0)}M parameters is too large for full fine-tuning here; train LoRA adapters (loraRank, --lora-rank)`);
    return trainStreamed(config, weights, examples, o, lora, hooks);
  }
  const decoder = new TfDecoder(config, weights, { lora, loraSeed: o.seed });
  const params = decoder.trainableVariables();
  // Data parallelism: gradient workers with replicas of the decoder (see parallel.ts).
  const backend = activeBackendName() ?? "wasm";
  const replicas = o.workers ?? (backend === "wasm" ? defaultReplicaCount() : 1);
  let parallel: DataParallel | null = null;
  try {
    parallel = await DataParallel.start(replicas, { config, weights: [...weights], lora, backend }, params.length);
  } catch (error) {
    decoder.dispose();
    throw error;
  }
  const workers = parallel;
  try {
    const run = await optimise(
      {
        params,
        gradients: async (micro, normaliser) => (workers ? workers.gradients(decoder, params, micro, normaliser) : localGradients(decoder, params, micro, normaliser)),
        snapshot: () => decoder.snapshot(),
        restore: (values) => decoder.restore(values),
        forValidation: decoder,
      },
      examples,
      o,
      o.lr ?? (lora ? 2e-4 : 2e-5),
      hooks,
    );
    return { weights: decoder.exportWeights(), adapters: decoder.exportAdapters(), lora, ...run, backend: activeBackendName() ?? "unknown" };
  } finally {
    decoder.dispose();
    await parallel?.close();
  }
}

/** What the optimisation loop needs of the model it trains (the in-heap decoder or the streamed one). */
export interface OptimisedModel {
  /** The trainable variables, in the order of the gradients. */
  params: tf.Variable[];
  /** Summed loss and gradients of one optimizer step's micro-batches, normalised by `normaliser`. */
  gradients(micro: PackedBatch[], normaliser: number): Promise<{ loss: number; grads: tf.Tensor[] }>;
  /** Copies of the trainable values, for the best checkpoint; and putting such copies back. */
  snapshot(): tf.Tensor[];
  restore(values: tf.Tensor[]): void;
  /** What the validation hook is given. */
  forValidation: TrainedWeights;
}

/**
 * The loop shared by both engines: epochs -> optimizer steps -> micro-batches, clipping, the
 * schedule, AdamW, the non-finite guard, validation every evalInterval steps and after each
 * epoch, and the best validated values put back at the end.
 */
export async function optimise(
  model: OptimisedModel,
  examples: readonly TrainExample[],
  o: TrainOptions,
  peakLr: number,
  hooks: TrainHooks,
): Promise<{ steps: number; bestScore: number | null; history: StepInfo[] }> {
  const { params } = model;
  const optimizer = new AdamW(params, { beta1: o.beta1, beta2: o.beta2, eps: 1e-8, weightDecay: o.weightDecay });

  // Schedule over the whole run.
  const batchesPerEpoch = Math.ceil(examples.length / o.batchSize);
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / o.gradAccumSteps);
  const totalSteps = o.epochs * stepsPerEpoch;
  const warmupSteps = Math.min(o.warmupSteps, Math.floor(totalSteps / 10));
  const schedule = { lr: peakLr, warmupSteps, totalSteps, decay: o.decay, minLrRatio: o.minLrRatio };

  const random = mulberry32(o.seed);
  const history: StepInfo[] = [];
  let best: { score: number; values: tf.Tensor[] } | null = null;
  let step = 0;

  const evaluate = async (): Promise<void> => {
    if (!hooks.validate) return;
    const score = await hooks.validate(model.forValidation);
    const improved = best === null || score > best.score;
    if (improved && o.restoreBest) {
      if (best) tf.dispose(best.values);
      best = { score, values: model.snapshot() };
    } else if (improved) {
      best = { score, values: [] };
    }
    hooks.onValidation?.({ step, score, best: improved });
  };

  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const batches = bucketBatches(examples, o.batchSize, random);
      for (let first = 0; first < batches.length; first += o.gradAccumSteps) {
        const started = performance.now();
        // 1. Pack this step's micro-batches; the loss is normalised by their completion tokens.
        const micro = batches.slice(first, first + o.gradAccumSteps).map((group) => packBatch(group, o.maxSeqLen, o.padId));
        const normaliser = micro.reduce((sum, b) => sum + b.completionTokens, 0);
        const tokens = micro.reduce((sum, b) => sum + b.realTokens, 0);
        if (normaliser === 0) continue; // every reward is 0: nothing to learn from

        // 2. Forward/backward per micro-batch, accumulating gradients (rows split over replicas).
        const { loss, grads } = await model.gradients(micro, normaliser);

        // 3. Clip, schedule, update; a NaN/Inf loss or gradient stops training before the update.
        const clipped = clipByGlobalNorm(grads, o.gradClip);
        guardStep(loss, clipped, step + 1, epoch);
        const lr = learningRateAt(step, schedule);
        optimizer.step(clipped.grads, lr);
        tf.dispose(clipped.grads);
        step += 1;

        // 4. Report, and validate every evalInterval steps.
        const seconds = (performance.now() - started) / 1000;
        const info: StepInfo = { step, epoch, loss, lr, tokensPerSecond: tokens / seconds, gradNorm: clipped.norm };
        history.push(info);
        hooks.onStep?.(info);
        if (o.evalInterval > 0 && step % o.evalInterval === 0) await evaluate();
      }
      if (!(o.evalInterval > 0 && step % o.evalInterval === 0)) await evaluate();
    }

    // Keep the best weights seen by the validation hook.
    const bestSeen = best as { score: number; values: tf.Tensor[] } | null;
    if (bestSeen && o.restoreBest && bestSeen.values.length > 0) model.restore(bestSeen.values);
    return { steps: step, bestScore: bestSeen ? bestSeen.score : null, history };
  } finally {
    const bestSeen = best as { score: number; values: tf.Tensor[] } | null;
    if (bestSeen) tf.dispose(bestSeen.values);
    optimizer.dispose();
  }
}

/** Throws RESTEM_NON_FINITE (disposing the step's gradients) when the loss or gradient norm is NaN/Inf. */
export function guardStep(loss: number, clipped: { grads: tf.Tensor[]; norm: number }, step: number, epoch: number): void {
  try {
    const operation = `optimizer step ${step} (epoch ${epoch + 1})`;
    assertFinite("loss", loss, operation);
    assertFinite("gradient norm", clipped.norm, operation);
  } catch (error) {
    tf.dispose(clipped.grads);
    throw error;
  }
}

export interface SaveTrainedOptions {
  /** Directory whose tokenizer files are copied next to the weights. */
  tokenizerFrom?: string;
  /** Storage dtype of the saved weights (default F32). */
  dtype?: StorageDType;
  /** Recorded as base_model_name_or_path in adapter_config.json. */
  baseModel?: string;
}

/**
 * Writes `dir` as a complete model directory (config.json, merged weights, tokenizer files)
 * and, after LoRA, the adapter alone in PEFT layout under `dir/adapter`. Returns paths written.
 */
export async function saveTrainedModel(dir: string, config: ModelConfig, result: TrainResult, options: SaveTrainedOptions = {}): Promise<string[]> {
  const dtype = options.dtype ?? "F32";
  const written = await saveModelDirectory(dir, config, result.weights, { dtype, tokenizerFrom: options.tokenizerFrom });
  const files = written.map((name) => path.join(dir, name));
  if (result.adapters && result.lora) {
    const adapterDir = path.join(dir, "adapter");
    const adapterFiles = await saveLoraAdapter(adapterDir, result.adapters, result.lora, { baseModel: options.baseModel, dtype });
    files.push(...adapterFiles.map((name) => path.join(adapterDir, name)));
  }
  return files;
}

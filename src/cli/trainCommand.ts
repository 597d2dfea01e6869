// `restem train`: fine-tune a model directory on reward-weighted completions (the ReST-EM
// M-step) and write a new model directory that `restem forward` and `restem sample` accept.
//
//   restem train --model <dir> --data <jsonl> --out <dir> [--lora-rank r [--lora-alpha a] | --full]
//                [--epochs e] [--lr x] [--batch b] [--grad-accum n] [--max-seq-len n] [--dtype F32|F16|BF16]
//
// Each data line is {"prompt": string, "completion": string, "reward"?: number (default 1)}.
// The prompt is encoded as the tokenizer does by default (BOS etc.), the completion without
// special tokens and followed by EOS, so the model learns where a program ends. Bad lines are
// reported as file:line: problem, all of them (up to 20), before any training starts.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import { Command, Option } from "commander";
import { loadModelConfig, loadModelWeights, loadTokenizer } from "../model";
import type { StorageDType } from "../model/types";
import { describeBackend, initBackend } from "../trainer/backend";
import type { TrainExample } from "../trainer/loss";
import { defaultReplicaCount } from "../trainer/parallel";
import { likelyEngine, preflightTraining } from "../trainer/preflight";
import { DEFAULT_LARGE_MODEL_LORA_RANK, fullFineTuneFits } from "../trainer/streamed/policy";
import { DEFAULT_TRAIN_OPTIONS, saveTrainedModel, train, type StepInfo } from "../trainer/train";
import { type CommandIo, integerAtLeast, positiveInteger, positiveNumber } from "./args";

export interface TrainCommandOptions {
  model: string;
  data: string;
  out: string;
  loraRank?: number;
  loraAlpha?: number;
  full?: boolean;
  epochs?: number;
  lr?: number;
  batch?: number;
  gradAccum?: number;
  maxSeqLen?: number;
  dtype?: StorageDType;
  seed?: number;
  workers?: number;
  ignoreMemoryCheck?: boolean;
  quiet?: boolean;
}


/** Encodes text to ids; the subset of ModelTokenizer this command needs. */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): Promise<number[]>;
}

interface RawLine {
  prompt: string;
  completion: string;
  reward: number;
}

/** Validates one parsed JSON line; throws with the problem (without location). */
export function parseTrainingLine(value: unknown): RawLine {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("expected a JSON object");
  const record = value as Record<string, unknown>;
  if (typeof record.prompt !== "string") throw new Error('"prompt" must be a string');
  if (typeof record.completion !== "string") throw new Error('"completion" must be a string');
  if (record.completion.length === 0) throw new Error('"completion" is empty');
  const reward = record.reward === undefined ? 1 : record.reward;
  if (typeof reward !== "number" || !Number.isFinite(reward)) throw new Error('"reward" must be a finite number');
  return { prompt: record.prompt, completion: record.completion, reward };
}

/**
 * Reads and tokenises a training JSONL file. Blank lines are skipped; every bad line is
 * reported as `file:line: problem` in one error.
 */
export async function readTrainingData(file: string, tokenizer: TextEncoder, eosId: number | null): Promise<TrainExample[]> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    throw new Error(`cannot read training data ${file}: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  const examples: TrainExample[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === "") continue;
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (error) {
        throw new Error(`not valid JSON (${(error as Error).message})`);
      }
      const raw = parseTrainingLine(parsed);
      const promptIds = await tokenizer.encode(raw.prompt);
      const completionIds = await tokenizer.encode(raw.completion, { addSpecialTokens: false });
      if (eosId !== null && completionIds[completionIds.length - 1] !== eosId) completionIds.push(eosId);
      examples.push({ promptIds, completionIds, reward: raw.reward });
    } catch (error) {
      problems.push(`${file}:${index + 1}: ${(error as Error).message}`);
      if (problems.length >= 20) break;
    }
  }
  if (problems.length > 0) throw new Error(`bad training data:\n  ${problems.join("\n  ")}`);
  if (examples.length === 0) throw new Error(`${file}: no training examples`);
  return examples;
}

/** Tokens of the longest example (prompt + completion): the padded batch width at most. */
function longestExample(examples: readonly TrainExample[]): number {
  return examples.reduce((longest, e) => Math.max(longest, e.promptIds.length + e.completionIds.length), 1);
}

function formatStep(info: StepInfo): string {
  return `step ${info.step} epoch ${info.epoch + 1} loss ${info.loss.toFixed(4)} lr ${info.lr.toExponential(2)} grad-norm ${info.gradNorm.toFixed(3)} ${Math.round(info.tokensPerSecond)} tok/s\n`;
}

/** Runs `restem train`; returns the exit code. Progress goes to err, the output path to out. */
export async function runTrainCommand(options: TrainCommandOptions, io: Pick<CommandIo, "out" | "err">): Promise<number> {
  if (options.full && options.loraRank !== undefined) throw new Error("--full and --lora-rank exclude each other");
  if (path.resolve(options.out) === path.resolve(options.model)) throw new Error("--out must differ from --model");
  const config = await loadModelConfig(options.model);
  const tokenizer = await loadTokenizer(options.model);
  const eosId = tokenizer.eosTokenIds[0] ?? config.eosTokenIds[0] ?? null;
  const examples = await readTrainingData(options.data, tokenizer, eosId);
  const backend = await initBackend();
  // Above the size where full fine-tuning fits, LoRA is the default (--full still asks for it).
  const loraRank = options.loraRank ?? (!options.full && !fullFineTuneFits(config) ? DEFAULT_LARGE_MODEL_LORA_RANK : undefined);
  // Refuse before loading anything large when the run would not fit (see src/trainer/memory.ts).
  const engine = backend.name === "wasm" ? likelyEngine(config) : "tensorflow";
  const replicas = options.workers ?? (backend.name === "wasm" ? defaultReplicaCount() : 1);
  if (!options.ignoreMemoryCheck) {
    preflightTraining("restem train", config, {
      engine,
      loraRank: loraRank ?? null,
      batchSize: options.batch ?? DEFAULT_TRAIN_OPTIONS.batchSize,
      maxSeqLen: Math.min(options.maxSeqLen ?? DEFAULT_TRAIN_OPTIONS.maxSeqLen, longestExample(examples)),
      replicas,
    });
  }
  const weights = await loadModelWeights(options.model);
  if (!options.quiet) {
    const mode = loraRank !== undefined ? `LoRA rank ${loraRank}${options.loraRank === undefined ? " (default for a model of this size)" : ""}` : "full fine-tuning";
    io.err(`restem train: ${examples.length} examples, ${mode}, backend ${describeBackend(backend)}\n`);
  }
  const result = await train(
    config,
    weights,
    examples,
    {
      epochs: options.epochs,
      lr: options.lr,
      batchSize: options.batch,
      gradAccumSteps: options.gradAccum,
      maxSeqLen: options.maxSeqLen,
      loraRank: loraRank ?? null,
      loraAlpha: options.loraAlpha ?? null,
      seed: options.seed,
      workers: replicas,
      padId: config.padTokenId ?? eosId ?? 0,
    },
    { onStep: options.quiet ? undefined : (info) => io.err(formatStep(info)) },
  );
  const written = await saveTrainedModel(options.out, config, result, {
    tokenizerFrom: options.model,
    dtype: options.dtype ?? "F32",
    baseModel: path.resolve(options.model),
  });
  if (!options.quiet) io.err(`restem train: ${result.steps} steps; wrote ${written.length} files\n`);
  io.out(`${path.resolve(options.out)}\n`);
  return 0;
}



/** Adds `restem train` to the program. */
export function registerTrainCommand(program: Command, io: CommandIo): void {
  program
    .command("train")
    .description("fine-tune a model on reward-weighted completions (ReST-EM M-step) and write a model directory")
    .requiredOption("--model <dir>", "Hugging Face model directory to start from")
    .requiredOption("--data <jsonl>", 'training data, one {"prompt", "completion", "reward"} per line')
    .requiredOption("--out <dir>", "directory to write (config.json, model.safetensors, tokenizer files)")
    .option("--lora-rank <r>", "train LoRA adapters of rank r (merged into the saved weights; also saved under out/adapter)", positiveInteger)
    .option("--lora-alpha <a>", "LoRA alpha (default 2 * rank)", positiveNumber)
    .option("--full", "full fine-tuning (the default for models small enough; LoRA rank 8 above 100M parameters)")
    .option("--epochs <e>", "passes over the data (default 2)", positiveInteger)
    .option("--lr <x>", "peak learning rate (default 2e-5 full, 2e-4 LoRA)", positiveNumber)
    .option("--batch <b>", "examples per micro-batch (default 8)", positiveInteger)
    .option("--grad-accum <n>", "micro-batches per optimizer step (default 1)", positiveInteger)
    .option("--max-seq-len <n>", "longest training sequence in tokens (default 1024)", positiveInteger)
    .addOption(new Option("--dtype <dtype>", "storage dtype of the saved weights").choices(["F32", "F16", "BF16"]).default("F32"))
    .option("--seed <n>", "shuffling and LoRA initialisation seed (default 0)", integerAtLeast(0))
    .option("--workers <n>", "data-parallel replicas, each holding the model (default: min(2, cores) on wasm)", positiveInteger)
    .option("--ignore-memory-check", "train even when the memory preflight says it will not fit")
    .option("--quiet", "no progress on stderr")
    .action(async (options: TrainCommandOptions) => {
      io.setExitCode(await runTrainCommand(options, io));
    });
}

// The configuration of one ReST-EM run (`restem.json`): what to train on, how to sample,
// filter, fine-tune and evaluate. Every field has a default (DEFAULT_CONFIG, each with a
// comment; docs/config.md documents the same); a restem.json names only what it changes.
// parseConfig() validates a parsed JSON value field by field and throws one ConfigError that
// lists every problem as `<file>: <field.path>: <what is wrong>`.

import { MIN_MEMORY_MB } from "../sandbox/protocol";
import { LORA_DEFAULT_ABOVE_PARAMS } from "../trainer/streamed/policy";
import * as path from "node:path";

export type Variant = "restem" | "sft";
export type Restart = "base" | "previous";
export type SamplingDevice = "auto" | "cpu" | "cuda";

/** One worked example put in front of every question (APPS prompt format). */
export interface FewShotExample {
  question: string;
  /** The program shown after ANSWER:. */
  answer: string;
  starterCode: string | null;
  /** true: "Use Call-Based format"; false: "Use Standard Input format". */
  callBased: boolean;
}

export interface SplitConfig {
  /** Split folder name of D (training problems). */
  train: string;
  /** Split folder name of D_val; when no problem has it, validationFraction of train is used. */
  validation: string;
  /** Split folder name of the held-out test problems. */
  test: string;
  /** Share of the training problems carved out as D_val when there is no validation folder. */
  validationFraction: number;
  /** Split a set without split folders by fraction instead: {train, validation, test}, summing to 1. */
  fractions: { train: number; validation: number; test: number } | null;
  /** Seed of the shuffles behind validationFraction and fractions. */
  seed: number;
}

export interface SamplingConfig {
  samplesPerProblem: number;
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
  stop: string[];
  /** Samples decoded together in one batch (memory bound; does not change the samples). */
  batchSize: number;
  /** ONNX Runtime intra-op threads; null = its default. */
  threads: number | null;
  /** Where the sampler runs: "auto" (CUDA when ONNX Runtime has it here, else CPU), "cpu" or "cuda". */
  device: SamplingDevice;
}

export interface FilterConfig {
  maxPerProblem: number;
  dedupe: boolean;
}

export interface MStepConfig {
  restart: Restart;
  lr: number | null;
  epochs: number;
  batchSize: number;
  gradAccumSteps: number;
  maxSeqLen: number;
  /** r = LoRA of rank r (merged into the saved weights, the PEFT adapter kept); null = automatic:
   * full fine-tuning up to loraAboveParams parameters, LoRA of rank AUTO_LORA_RANK above. */
  loraRank: number | null;
  /** With loraRank null: models with more parameters than this train with LoRA. */
  loraAboveParams: number;
  /** Data-parallel replicas of the M-step (each holds the model); null = min(2, cores) on wasm. */
  workers: number | null;
  /** Train even when the memory preflight says the M-step will not fit. */
  ignoreMemoryCheck: boolean;
  /** Validations without a new best before validation stops (the best checkpoint is kept). */
  patience: number;
  /** Validate every N optimizer steps as well as after every epoch; 0 = per epoch only. */
  evalInterval: number;
}

export interface EvaluationConfig {
  /** k values of pass@k (each <= samples). */
  passK: number[];
  /** n: samples per test problem for pass@k; 0 = greedy pass@1 only. */
  samples: number;
  temperature: number;
  topP: number;
  /** Also decode the training problems greedily, for the train–test gap. */
  trainGreedy: boolean;
}

export interface JudgeConfig {
  concurrency: number | null;
  strict: boolean;
  /** Memory limit of a program in MiB (null = APPS's 1024); at least MIN_MEMORY_MB. */
  memoryMb: number | null;
}

/** How problems are put to the model: APPS few-shot text or the checkpoint's chat template. */
export interface PromptConfig {
  format: "apps" | "chat";
  /** System prompt for the chat format (null = none). */
  system: string | null;
  fewShot: FewShotExample[];
}

export interface RestemConfig {
  /** APPS directory tree or JSONL file. */
  problems: string;
  /** Hugging Face model directory of the base model. */
  model: string;
  variant: Variant;
  iterations: number;
  seed: number;
  splits: SplitConfig;
  sampling: SamplingConfig;
  filter: FilterConfig;
  mstep: MStepConfig;
  evaluation: EvaluationConfig;
  prompt: PromptConfig;
  judge: JudgeConfig;
}

export const DEFAULT_CONFIG: RestemConfig = {
  problems: "", // required: APPS directory tree (<split>/<id>/...) or APPS JSONL file
  model: "", // required: base model directory (config.json, *.safetensors, tokenizer.json)
  variant: "restem", // "restem": train on own correct samples; "sft": on the problems' human solutions.json
  iterations: 3, // ReST-EM iterations I (the paper's APPS gains come in iteration 1, later ones overfit)
  seed: 0, // run seed: sampling streams are derived from (seed, phase, iteration, problem, sample index)
  splits: {
    train: "train", // split folder of D
    validation: "valid", // split folder of D_val (fallback: validationFraction of train)
    test: "test", // split folder of the test problems
    validationFraction: 0.2, // share of train used as D_val when there is no validation folder
    fractions: null, // {train, validation, test} fractions for a set without split folders
    seed: 0, // shuffle seed of the fraction splits
  },
  sampling: {
    samplesPerProblem: 64, // N per problem in the E-step (paper: 64 for APPS)
    temperature: 0.7, // E-step temperature (paper: 0.7)
    topK: 40, // E-step top-k (paper: 40)
    topP: 1, // E-step nucleus mass (1 = off)
    maxNewTokens: 512, // longest program in tokens
    stop: ["\nQUESTION:"], // a program ends where the model starts the next few-shot question
    batchSize: 16, // samples decoded together (a memory knob; results do not depend on it)
    threads: null, // ONNX Runtime intra-op threads (null = one per physical core)
    device: "auto", // ONNX Runtime execution provider: "auto" = CUDA when available, else CPU
  },
  filter: {
    maxPerProblem: 10, // cap of correct programs per problem kept for the M-step (paper: 10)
    dedupe: true, // drop programs identical after removing trailing whitespace
  },
  mstep: {
    restart: "base", // "base": fine-tune the base model every iteration (ReST-EM); "previous": ReST
    lr: null, // peak learning rate (null = 2e-5 full, 2e-4 LoRA)
    epochs: 2, // passes over the kept programs
    batchSize: 8, // examples per micro-batch
    gradAccumSteps: 1, // micro-batches per optimizer step
    maxSeqLen: 1024, // longest training sequence (prompt is cut from the left first)
    loraRank: null, // null = full fine-tuning up to loraAboveParams parameters, LoRA rank 8 above; r = LoRA rank
    loraAboveParams: LORA_DEFAULT_ABOVE_PARAMS, // 100M; with loraRank null: LoRA for models above this many parameters
    workers: null, // data-parallel replicas (null = min(2, cores) on wasm); each holds the model
    ignoreMemoryCheck: false, // true: train even when the memory preflight refuses
    patience: 2, // validations without improvement before validation stops
    evalInterval: 0, // validate every N steps as well as per epoch (0 = per epoch only)
  },
  evaluation: {
    passK: [1, 5, 10], // pass@k values reported (k <= samples)
    samples: 10, // n samples per test problem for pass@k (0 = greedy only)
    temperature: 1.0, // pass@k sampling temperature (paper: 1.0)
    topP: 0.95, // pass@k nucleus mass (paper: 0.95)
    trainGreedy: true, // greedy pass@1 on the training problems too (train–test gap)
  },
  prompt: {
    format: "apps", // "apps": the paper's few-shot text (base models); "chat": the model's chat template
    system: null, // system prompt for the chat format (null = none)
    fewShot: [], // worked examples before every question (APPS format)
  },
  judge: {
    concurrency: null, // sandbox containers in parallel (null = one per core, at least 2)
    strict: false, // strict comparisons instead of the APPS evaluator's lenient ones
    memoryMb: null, // memory limit of a program in MiB (null = APPS's 1024; at least 96)
  },
};

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join("\n"));
    this.name = "ConfigError";
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);

/** Collects problems while reading one JSON object against its defaults. */
class Reader {
  constructor(
    readonly problems: string[],
    readonly prefix: string,
    readonly raw: Json,
    readonly known: readonly string[],
  ) {
    for (const key of Object.keys(raw)) if (!known.includes(key)) problems.push(`${prefix}${key}: unknown field`);
  }

  private fail(key: string, message: string): void {
    this.problems.push(`${this.prefix}${key}: ${message}`);
  }

  number(key: string, fallback: number, check: { min?: number; max?: number; integer?: boolean; above?: number } = {}): number {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    const ok =
      typeof value === "number" &&
      Number.isFinite(value) &&
      (!check.integer || Number.isInteger(value)) &&
      (check.min === undefined || value >= check.min) &&
      (check.above === undefined || value > check.above) &&
      (check.max === undefined || value <= check.max);
    if (ok) return value;
    const bounds = [
      check.min !== undefined ? `>= ${check.min}` : null,
      check.above !== undefined ? `> ${check.above}` : null,
      check.max !== undefined ? `<= ${check.max}` : null,
    ].filter((b) => b !== null);
    this.fail(key, `must be ${check.integer ? "an integer" : "a number"}${bounds.length ? " " + bounds.join(" and ") : ""}, got ${JSON.stringify(value)}`);
    return fallback;
  }

  nullableNumber(key: string, fallback: number | null, check: { min?: number; integer?: boolean; above?: number } = {}): number | null {
    if (this.raw[key] === null) return null;
    return this.raw[key] === undefined ? fallback : this.number(key, fallback ?? 0, check);
  }

  string(key: string, fallback: string): string {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (typeof value === "string" && value.length > 0) return value;
    this.fail(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
    return fallback;
  }

  nullableString(key: string, fallback: string | null): string | null {
    return this.raw[key] === null ? null : this.raw[key] === undefined ? fallback : this.string(key, fallback ?? "");
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (typeof value === "boolean") return value;
    this.fail(key, `must be true or false, got ${JSON.stringify(value)}`);
    return fallback;
  }

  choice<T extends string>(key: string, fallback: T, choices: readonly T[]): T {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (typeof value === "string" && (choices as readonly string[]).includes(value)) return value as T;
    this.fail(key, `must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${JSON.stringify(value)}`);
    return fallback;
  }

  strings(key: string, fallback: string[]): string[] {
    const value = this.raw[key];
    if (value === undefined) return fallback;
    if (Array.isArray(value) && value.every((v) => typeof v === "string" && v.length > 0)) return value as string[];
    this.fail(key, "must be an array of non-empty strings");
    return fallback;
  }

  child(key: string, known: readonly string[]): Reader {
    const value = this.raw[key];
    if (value !== undefined && !isObject(value)) this.fail(key, "must be an object");
    return new Reader(this.problems, `${this.prefix}${key}.`, isObject(value) ? value : {}, known);
  }
}

function readFewShot(r: Reader): FewShotExample[] {
  const value = r.raw.fewShot;
  if (value === undefined) return DEFAULT_CONFIG.prompt.fewShot;
  if (!Array.isArray(value)) {
    r.problems.push(`${r.prefix}fewShot: must be an array of {question, answer, starterCode?, callBased?}`);
    return [];
  }
  return value.map((item, index) => {
    const e = new Reader(r.problems, `${r.prefix}fewShot[${index}].`, isObject(item) ? item : {}, ["question", "answer", "starterCode", "callBased"]);
    if (!isObject(item)) r.problems.push(`${r.prefix}fewShot[${index}]: must be an object`);
    const starter = e.raw.starterCode;
    if (starter !== undefined && starter !== null && typeof starter !== "string") r.problems.push(`${e.prefix}starterCode: must be a string or null`);
    for (const key of ["question", "answer"]) if (isObject(item) && item[key] === undefined) r.problems.push(`${e.prefix}${key}: must be a non-empty string`);
    return {
      question: e.string("question", ""),
      answer: e.string("answer", ""),
      starterCode: typeof starter === "string" ? starter : null,
      callBased: e.boolean("callBased", false),
    };
  });
}

function readFractions(r: Reader): SplitConfig["fractions"] {
  const value = r.raw.fractions;
  if (value === undefined || value === null) return null;
  const f = r.child("fractions", ["train", "validation", "test"]);
  const fractions = {
    train: f.number("train", 0, { above: 0, max: 1 }),
    validation: f.number("validation", 0, { min: 0, max: 1 }),
    test: f.number("test", 0, { min: 0, max: 1 }),
  };
  const sum = fractions.train + fractions.validation + fractions.test;
  if (Math.abs(sum - 1) > 1e-6) r.problems.push(`${r.prefix}fractions: train + validation + test must be 1, got ${sum}`);
  return fractions;
}

/** Validates a parsed restem.json (`file` names it in errors); returns the complete config. */
export function parseConfig(raw: unknown, file: string, base: RestemConfig = DEFAULT_CONFIG): RestemConfig {
  if (!isObject(raw)) throw new ConfigError(file, ["the file must hold one JSON object"]);
  const problems: string[] = [];
  const top = ["problems", "model", "variant", "iterations", "seed", "splits", "sampling", "filter", "mstep", "evaluation", "prompt", "judge"];
  const r = new Reader(problems, "", raw, top);
  const s = r.child("splits", ["train", "validation", "test", "validationFraction", "fractions", "seed"]);
  const g = r.child("sampling", ["samplesPerProblem", "temperature", "topK", "topP", "maxNewTokens", "stop", "batchSize", "threads", "device"]);
  const f = r.child("filter", ["maxPerProblem", "dedupe"]);
  const m = r.child("mstep", ["restart", "lr", "epochs", "batchSize", "gradAccumSteps", "maxSeqLen", "loraRank", "loraAboveParams", "workers", "ignoreMemoryCheck", "patience", "evalInterval"]);
  const e = r.child("evaluation", ["passK", "samples", "temperature", "topP", "trainGreedy"]);
  const p = r.child("prompt", ["format", "system", "fewShot"]);
  const j = r.child("judge", ["concurrency", "strict", "memoryMb"]);
  const config: RestemConfig = {
    problems: r.raw.problems === undefined ? base.problems : r.string("problems", base.problems),
    model: r.raw.model === undefined ? base.model : r.string("model", base.model),
    variant: r.choice("variant", base.variant, ["restem", "sft"] as const),
    iterations: r.number("iterations", base.iterations, { integer: true, min: 0 }),
    seed: r.number("seed", base.seed, { integer: true, min: 0 }),
    splits: {
      train: s.string("train", base.splits.train),
      validation: s.string("validation", base.splits.validation),
      test: s.string("test", base.splits.test),
      validationFraction: s.number("validationFraction", base.splits.validationFraction, { min: 0, max: 0.9 }),
      fractions: s.raw.fractions === undefined ? base.splits.fractions : readFractions(s),
      seed: s.number("seed", base.splits.seed, { integer: true, min: 0 }),
    },
    sampling: {
      samplesPerProblem: g.number("samplesPerProblem", base.sampling.samplesPerProblem, { integer: true, min: 1 }),
      temperature: g.number("temperature", base.sampling.temperature, { min: 0, max: 100 }),
      topK: g.number("topK", base.sampling.topK, { integer: true, min: 0 }),
      topP: g.number("topP", base.sampling.topP, { above: 0, max: 1 }),
      maxNewTokens: g.number("maxNewTokens", base.sampling.maxNewTokens, { integer: true, min: 1 }),
      stop: g.strings("stop", base.sampling.stop),
      batchSize: g.number("batchSize", base.sampling.batchSize, { integer: true, min: 1 }),
      threads: g.nullableNumber("threads", base.sampling.threads, { integer: true, min: 1 }),
      device: g.choice("device", base.sampling.device, ["auto", "cpu", "cuda"] as const),
    },
    filter: {
      maxPerProblem: f.number("maxPerProblem", base.filter.maxPerProblem, { integer: true, min: 1 }),
      dedupe: f.boolean("dedupe", base.filter.dedupe),
    },
    mstep: {
      restart: m.choice("restart", base.mstep.restart, ["base", "previous"] as const),
      lr: m.nullableNumber("lr", base.mstep.lr, { above: 0 }),
      epochs: m.number("epochs", base.mstep.epochs, { integer: true, min: 1 }),
      batchSize: m.number("batchSize", base.mstep.batchSize, { integer: true, min: 1 }),
      gradAccumSteps: m.number("gradAccumSteps", base.mstep.gradAccumSteps, { integer: true, min: 1 }),
      maxSeqLen: m.number("maxSeqLen", base.mstep.maxSeqLen, { integer: true, min: 2 }),
      loraRank: m.nullableNumber("loraRank", base.mstep.loraRank, { integer: true, min: 1 }),
      loraAboveParams: m.number("loraAboveParams", base.mstep.loraAboveParams, { integer: true, min: 0 }),
      workers: m.nullableNumber("workers", base.mstep.workers, { integer: true, min: 1 }),
      ignoreMemoryCheck: m.boolean("ignoreMemoryCheck", base.mstep.ignoreMemoryCheck),
      patience: m.number("patience", base.mstep.patience, { integer: true, min: 1 }),
      evalInterval: m.number("evalInterval", base.mstep.evalInterval, { integer: true, min: 0 }),
    },
    evaluation: {
      passK: e.raw.passK === undefined ? base.evaluation.passK : readPassK(e),
      samples: e.number("samples", base.evaluation.samples, { integer: true, min: 0 }),
      temperature: e.number("temperature", base.evaluation.temperature, { above: 0, max: 100 }),
      topP: e.number("topP", base.evaluation.topP, { above: 0, max: 1 }),
      trainGreedy: e.boolean("trainGreedy", base.evaluation.trainGreedy),
    },
    prompt: {
      format: p.choice("format", base.prompt.format, ["apps", "chat"] as const),
      system: p.nullableString("system", base.prompt.system),
      fewShot: p.raw.fewShot === undefined ? base.prompt.fewShot : readFewShot(p),
    },
    judge: {
      concurrency: j.nullableNumber("concurrency", base.judge.concurrency, { integer: true, min: 1 }),
      strict: j.boolean("strict", base.judge.strict),
      memoryMb: j.nullableNumber("memoryMb", base.judge.memoryMb, { integer: true, min: MIN_MEMORY_MB }),
    },
  };
  const tooLarge = config.evaluation.passK.filter((k) => k > Math.max(1, config.evaluation.samples));
  if (tooLarge.length > 0) {
    problems.push(`evaluation.passK: k = ${tooLarge.join(", ")} exceeds evaluation.samples (${config.evaluation.samples}); pass@k needs n >= k samples`);
  }
  if (config.prompt.format === "chat" && config.prompt.fewShot.length > 0) {
    problems.push('prompt.fewShot: worked examples are for prompt.format "apps"; the chat format puts each problem alone');
  }
  if (config.prompt.format === "apps" && config.prompt.system !== null) {
    problems.push('prompt.system: a system prompt needs prompt.format "chat"');
  }
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}

function readPassK(e: Reader): number[] {
  const value = e.raw.passK;
  if (Array.isArray(value) && value.length > 0 && value.every((k) => Number.isInteger(k) && (k as number) >= 1)) {
    return [...new Set(value as number[])].sort((a, b) => a - b);
  }
  e.problems.push(`${e.prefix}passK: must be a non-empty array of positive integers, got ${JSON.stringify(value)}`);
  return DEFAULT_CONFIG.evaluation.passK;
}

/** Checks what a runnable config needs beyond its fields' types (problems and model given). */
export function assertRunnable(config: RestemConfig, file: string): void {
  const missing: string[] = [];
  if (config.problems === "") missing.push("problems: required (give --problems or set it in restem.json)");
  if (config.model === "") missing.push("model: required (give --model or set it in restem.json)");
  if (missing.length > 0) throw new ConfigError(file, missing);
}

/** Reads and validates a restem.json file; `overrides` (e.g. CLI flags) win over the file. */
export async function loadConfigFile(file: string, overrides: Record<string, unknown> = {}): Promise<RestemConfig> {
  const { readFile } = await import("node:fs/promises");
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new ConfigError(file, [`cannot read the config (${(error as Error).message})`]);
  }
  return parseConfig(isObject(raw) ? { ...relativeToFile(raw, file), ...overrides } : raw, file);
}

/** Relative `problems` and `model` paths in a config file are relative to the file's folder. */
function relativeToFile(raw: Record<string, unknown>, file: string): Record<string, unknown> {
  const resolved = { ...raw };
  for (const key of ["problems", "model"] as const) {
    const value = raw[key];
    if (typeof value === "string" && value !== "" && !path.isAbsolute(value)) resolved[key] = path.resolve(path.dirname(file), value);
  }
  return resolved;
}

// The sampler's commands for the `restem` CLI, registered on the commander program by
// registerSampleCommands():
//
//   restem forward --model <dir> --ids 1,2,3 [--engine onnx|tfjs]
//       prints the logits of the last position as one JSON array
//   restem sample --model <dir> (--prompt <text> | --prompt-file <file>) [-n 8] [--temperature 0.7]
//       [--top-k 40] [--top-p 1] [--max-new-tokens 256] [--seed 1] [--stop <text>...] [--json]
//       prints the samples; with --json one {"text", "tokens", ...} line per sample
//
// The ONNX export is cached in <model>/.restem-onnx/ (or --onnx-cache) and its weights are
// rewritten only when the checkpoint files change. The tfjs engine is loaded lazily from
// src/trainer so the sampler works without TensorFlow.js.

import * as fs from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { loadModelConfig, loadModelWeights, loadTokenizer, type ModelConfig, type WeightMap } from "../model";
import { generate } from "../sampler/generation";
import { checkpointStamp, ensureOnnxModel } from "../sampler/onnxExport";
import { type ExecutionProvider, OnnxDecoderSession } from "../sampler/session";
import { type CommandIo, integerAtLeast, numberIn } from "./args";




function tokenIds(value: string): number[] {
  const ids = value.split(",").map((part) => part.trim()).filter((part) => part !== "").map(Number);
  if (ids.length === 0 || ids.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new InvalidArgumentError("must be comma-separated non-negative token ids, e.g. 1,2,3");
  }
  return ids;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface EngineOptions {
  model: string;
  device: ExecutionProvider;
  threads?: number;
  onnxCache?: string;
}

/** Exports (or reuses) the model's ONNX graph and opens a session on it. */
async function openOnnx(options: EngineOptions, config: ModelConfig): Promise<OnnxDecoderSession> {
  const files = await ensureOnnxModel(options.model, config, () => loadModelWeights(options.model), {
    cacheRoot: options.onnxCache,
    weightsStamp: checkpointStamp(options.model),
  });
  return OnnxDecoderSession.create(files.modelPath, config, { executionProvider: options.device, threads: options.threads });
}

type TfjsForward = (config: ModelConfig, weights: WeightMap, ids: readonly number[]) => Float32Array;

/** The trainer's tfjs forward pass, loaded only when asked for; a clear error while it is missing. */
async function loadTfjsForward(): Promise<TfjsForward> {
  const notAvailable = (why: string): Error => new Error(`the tfjs engine is not available yet (${why}); use --engine onnx`);
  let decoder: unknown;
  let backend: unknown;
  try {
    const decoderModule = "../trainer/decoder";
    const backendModule = "../trainer/backend";
    decoder = await import(decoderModule);
    backend = await import(backendModule);
  } catch (error) {
    throw notAvailable(error instanceof Error ? error.message.split("\n")[0] : String(error));
  }
  const forward = (decoder as { tfjsForward?: unknown }).tfjsForward;
  const initBackend = (backend as { initBackend?: unknown }).initBackend;
  if (typeof forward !== "function") throw notAvailable("src/trainer exports no tfjsForward");
  if (typeof initBackend === "function") await (initBackend as () => Promise<unknown>)();
  return forward as TfjsForward;
}

/** The memory preflight of the tfjs forward pass on wasm (src/trainer/preflight.ts, loaded lazily like the engine). */
async function preflightTfjsForward(config: ModelConfig, tokens: number): Promise<void> {
  const preflightModule = "../trainer/preflight";
  const backendModule = "../trainer/backend";
  const preflight = (await import(preflightModule)) as typeof import("../trainer/preflight");
  const backend = (await import(backendModule)) as typeof import("../trainer/backend");
  if (backend.activeBackendName() === "wasm") preflight.preflightForward(config, tokens);
}

type ForwardOptions = EngineOptions & { ids: number[]; engine: "onnx" | "tfjs"; ignoreMemoryCheck?: boolean };

async function runForward(options: ForwardOptions, io: CommandIo): Promise<void> {
  const config = await loadModelConfig(options.model);
  const bad = options.ids.find((id) => id >= config.vocabSize);
  if (bad !== undefined) throw new Error(`token id ${bad} is outside the vocabulary (${config.vocabSize})`);
  let logits: Float32Array;
  if (options.engine === "tfjs") {
    const forward = await loadTfjsForward();
    if (!options.ignoreMemoryCheck) await preflightTfjsForward(config, options.ids.length);
    logits = forward(config, await loadModelWeights(options.model), options.ids);
  } else {
    const session = await openOnnx(options, config);
    try {
      const n = options.ids.length;
      const out = await session.forward({
        batch: 1,
        seq: n,
        inputIds: BigInt64Array.from(options.ids, (id) => BigInt(id)),
        attentionMask: new BigInt64Array(n).fill(1n),
        positionIds: BigInt64Array.from(options.ids, (_, i) => BigInt(i)),
        past: null,
      });
      logits = out.logits.slice((n - 1) * config.vocabSize, n * config.vocabSize); // [vocab]
    } finally {
      await session.release();
    }
  }
  io.out(JSON.stringify(Array.from(logits)) + "\n");
}

interface SampleOptions extends EngineOptions {
  prompt?: string;
  promptFile?: string;
  n: number;
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
  seed?: number;
  stop?: string[];
  json?: boolean;
  progress?: boolean;
}

async function runSample(options: SampleOptions, io: CommandIo): Promise<void> {
  if ((options.prompt === undefined) === (options.promptFile === undefined)) throw new Error("give exactly one of --prompt and --prompt-file");
  const prompt = options.prompt ?? fs.readFileSync(options.promptFile as string, "utf8");
  const config = await loadModelConfig(options.model);
  const tokenizer = await loadTokenizer(options.model);
  const promptIds = await tokenizer.encode(prompt);
  const session = await openOnnx(options, config);
  try {
    const started = Date.now();
    const result = await generate(session, tokenizer, promptIds, {
      numSamples: options.n,
      temperature: options.temperature,
      topK: options.topK,
      topP: options.topP,
      maxNewTokens: options.maxNewTokens,
      seed: options.seed,
      stop: options.stop,
      eosTokenIds: tokenizer.eosTokenIds.length > 0 ? tokenizer.eosTokenIds : config.eosTokenIds,
      onProgress: options.progress
        ? (p) => io.err(`\rstep ${p.step}: ${p.active}/${p.numSamples} active, ${p.generatedTokens} tokens`)
        : undefined,
    });
    const seconds = (Date.now() - started) / 1000;
    if (options.progress) io.err("\n");
    result.texts.forEach((text, index) => {
      const tokens = result.tokens[index];
      if (options.json) {
        io.out(JSON.stringify({ text, tokens, index, finish_reason: result.finishReasons[index], seed: result.seed }) + "\n");
      } else {
        io.out(`--- sample ${index + 1}/${result.texts.length} (${tokens.length} tokens, ${result.finishReasons[index]}) ---\n${text}\n`);
      }
    });
    io.err(`restem: ${result.generatedTokens} tokens in ${seconds.toFixed(2)} s (seed ${result.seed}, prompt ${promptIds.length} tokens)\n`);
  } finally {
    await session.release();
  }
}

function engineOptions(command: Command): Command {
  return command
    .requiredOption("--model <dir>", "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
    .addOption(new Option("--device <device>", "ONNX Runtime execution provider").choices(["cpu", "cuda"]).default("cpu"))
    .option("--threads <n>", "ONNX Runtime intra-op threads", integerAtLeast(1))
    .option("--onnx-cache <dir>", "where ONNX exports are cached (default <model>/.restem-onnx)");
}

/** Adds `forward` and `sample` to the program. */
export function registerSampleCommands(program: Command, io: CommandIo): void {
  engineOptions(program.command("forward").description("print the logits of the last position of a token sequence as JSON"))
    .requiredOption("--ids <ids>", "comma-separated token ids", tokenIds)
    .addOption(new Option("--engine <engine>", "inference engine").choices(["onnx", "tfjs"]).default("onnx"))
    .option("--ignore-memory-check", "run the tfjs engine even when the memory preflight says it will not fit")
    .action(async (options: ForwardOptions) => {
      await runForward(options, io);
      io.setExitCode(0);
    });

  engineOptions(program.command("sample").description("sample completions of a prompt (N samples share one prefill)"))
    .option("--prompt <text>", "prompt text")
    .option("--prompt-file <file>", "read the prompt from a file")
    .option("-n, --num-samples <n>", "samples to draw", integerAtLeast(1), 1)
    .option("--temperature <t>", "softmax temperature (0 = greedy; the paper uses 0.7)", numberIn(0, 100, "a number in [0, 100]"), 0.7)
    .option("--top-k <k>", "keep the k most likely tokens (0 = off; the paper uses 40)", integerAtLeast(0), 40)
    .option("--top-p <p>", "nucleus sampling mass (1 = off)", numberIn(Number.MIN_VALUE, 1, "a number in (0, 1]"), 1)
    .option("--max-new-tokens <n>", "tokens per sample at most", integerAtLeast(1), 256)
    .option("--seed <n>", "random seed (default: random, printed at the end)", integerAtLeast(0))
    .option("--stop <text>", "stop string (repeatable); the text is cut before it", collect)
    .option("--json", 'one JSON line per sample: {"text", "tokens", "index", "finish_reason", "seed"}')
    .option("--progress", "report decoding progress on stderr")
    .action(async (options: Omit<SampleOptions, "n"> & { numSamples: number }) => {
      await runSample({ ...options, n: options.numSamples }, io);
      io.setExitCode(0);
    });
}

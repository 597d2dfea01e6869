// The policy p_theta as the loop samples from it: one ONNX export of the model's graph in the
// run store (<run>/onnx/<config key>/), whose weights file is rewritten in place
// (updateOnnxWeights) whenever the loop switches models: the base model, iteration i's
// weights, or the trainer's weights during validation. The graph is exported once per run.
//
//   const policy = await Policy.open(baseModelDir, paths.onnx, { threads: null });
//   await policy.useModelDir(baseModelDir);          // or useWeights(map, stamp)
//   const ids = await policy.promptIds(text, maxNewTokens);
//   const out = await policy.sample(ids, { start: 0, count: 8, seed, temperature: 0.7, ... });
//   await policy.close();

import * as path from "node:path";
import { loadModelConfig, loadModelWeights, loadTokenizer, type ModelConfig, type ModelTokenizer, type WeightMap } from "../model";
import { generate } from "../sampler/generation";
import { checkpointStamp, ensureOnnxModel, isOnnxExportCurrent, onnxCacheDir, onnxWeightsStamp, updateOnnxWeights, writeOnnxModel } from "../sampler/onnxExport";
import { cudaAvailability, OnnxDecoderSession, type ExecutionProvider } from "../sampler/session";
import type { PromptConfig, SamplingDevice } from "./config";
import { fitPrompt, openPromptBuilder, type PromptBuilder } from "./dataset";

export interface DecodeOptions {
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
  stop: string[];
}

export interface SampleRequest extends DecodeOptions {
  /** First sample index (its random stream). */
  start: number;
  count: number;
  seed: number;
}

export interface SampleBatch {
  texts: string[];
  tokens: number[][];
  finishReasons: string[];
}

/** The execution provider for a configured device: "auto" takes CUDA where ONNX Runtime can use it. */
export function resolveDevice(device: SamplingDevice): ExecutionProvider {
  if (device === "auto") return cudaAvailability().available ? "cuda" : "cpu";
  return device;
}

export class Policy {
  private session: OnnxDecoderSession | null = null;
  private stamp: string | null = null;
  /** Ids that end a sample besides the model's EOS ids (the chat template's end of turn). */
  private extraStopIds: readonly number[] = [];

  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: ModelTokenizer,
    private readonly baseModelDir: string,
    private readonly onnxRoot: string,
    private readonly threads: number | null,
    /** The ONNX Runtime execution provider every session of this policy uses. */
    readonly executionProvider: ExecutionProvider,
  ) {}

  /** Reads the base model's config and tokenizer; the ONNX export is made on first use. */
  static async open(baseModelDir: string, onnxRoot: string, options: { threads: number | null; device?: SamplingDevice }): Promise<Policy> {
    const config = await loadModelConfig(baseModelDir);
    const tokenizer = await loadTokenizer(baseModelDir);
    return new Policy(config, tokenizer, baseModelDir, onnxRoot, options.threads, resolveDevice(options.device ?? "auto"));
  }

  get eosTokenIds(): readonly number[] {
    const base = this.tokenizer.eosTokenIds.length > 0 ? this.tokenizer.eosTokenIds : this.config.eosTokenIds;
    return [...new Set([...base, ...this.extraStopIds])];
  }

  /** The prompt builder for `config` on the base model; sampling then also stops on its stop ids. */
  async openPrompts(config: PromptConfig): Promise<PromptBuilder> {
    const prompts = await openPromptBuilder(config, this.baseModelDir, this.tokenizer);
    this.extraStopIds = prompts.stopTokenIds;
    return prompts;
  }

  /** The export directory (one per config). */
  get onnxDir(): string {
    return onnxCacheDir("", this.config, this.onnxRoot);
  }

  /** Samples from the model in `dir` from now on (weights rewritten only if they changed). */
  async useModelDir(dir: string): Promise<void> {
    const stamp = `${path.resolve(dir)}|${checkpointStamp(dir)}`;
    if (stamp === this.stamp && this.session) return;
    await ensureOnnxModel(dir, this.config, () => loadModelWeights(dir), { cacheRoot: this.onnxRoot, weightsStamp: stamp });
    await this.reopen(stamp);
  }

  /** Samples from in-memory weights (validation during training); `stamp` names them. */
  async useWeights(weights: WeightMap, stamp: string): Promise<void> {
    const dir = this.onnxDir;
    if (isOnnxExportCurrent(dir, this.config)) updateOnnxWeights(dir, this.config, weights, { weightsStamp: stamp });
    else writeOnnxModel(dir, this.config, weights, { weightsStamp: stamp });
    await this.reopen(stamp);
  }

  private async reopen(stamp: string): Promise<void> {
    await this.session?.release();
    this.session = null;
    if (onnxWeightsStamp(this.onnxDir) !== stamp) throw new Error(`the ONNX weights in ${this.onnxDir} are not the ones asked for`);
    const modelPath = path.join(this.onnxDir, "model.onnx");
    const options = { executionProvider: this.executionProvider, ...(this.threads === null ? {} : { threads: this.threads }) };
    this.session = await OnnxDecoderSession.create(modelPath, this.config, options);
    this.stamp = stamp;
  }

  /**
   * Token ids of a prompt, cut from the left to leave room for maxNewTokens. A chat prompt
   * holds its own special tokens and is encoded with addSpecialTokens false.
   */
  async promptIds(text: string, maxNewTokens: number, options: { addSpecialTokens?: boolean } = {}): Promise<number[]> {
    const ids = await this.tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens ?? true });
    return fitPrompt(ids, this.config.maxPositionEmbeddings, maxNewTokens);
  }

  /**
   * Token ids of a training target without added special tokens, then EOS unless `appendEos`
   * is false (a chat answer already ends in its end-of-turn token).
   */
  async completionIds(text: string, options: { appendEos?: boolean } = {}): Promise<number[]> {
    const ids = await this.tokenizer.encode(text, { addSpecialTokens: false });
    const eos = this.eosTokenIds[0];
    if ((options.appendEos ?? true) && eos !== undefined && ids[ids.length - 1] !== eos) ids.push(eos);
    return ids;
  }

  /** Draws samples start .. start+count-1 of a prompt (sample i from random stream i of `seed`). */
  async sample(promptIds: number[], request: SampleRequest): Promise<SampleBatch> {
    if (!this.session) throw new Error("no model loaded: call useModelDir() or useWeights() first");
    const result = await generate(this.session, this.tokenizer, promptIds, {
      numSamples: request.count,
      temperature: request.temperature,
      topK: request.topK,
      topP: request.topP,
      maxNewTokens: request.maxNewTokens,
      stop: request.stop.length > 0 ? request.stop : undefined,
      eosTokenIds: this.eosTokenIds,
      seed: request.seed,
      sampleIndexOffset: request.start,
    });
    return { texts: result.texts, tokens: result.tokens, finishReasons: result.finishReasons };
  }

  async close(): Promise<void> {
    await this.session?.release();
    this.session = null;
  }
}

// An ONNX Runtime InferenceSession around an exported decoder (see onnxExport.ts): CPU by
// default, CUDA when asked for and installed (a clear error otherwise), a thread count, one
// forward() that takes and returns plain arrays (KvCache), a run counter, and release() that
// frees the native session. Every ORT tensor made or received here is disposed before return.

import * as fs from "node:fs";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import type { ModelConfig } from "../model/types";
import { type DecoderDims, emptyKvCache, type KvCache, onesMask, positionRange } from "./kvCache";
import { pastKeyName, pastValueName, presentKeyName, presentValueName } from "./onnxGraph";

export type ExecutionProvider = "cpu" | "cuda";

export interface SessionOptions {
  /** "cpu" (default) or "cuda". */
  executionProvider?: ExecutionProvider;
  /** Intra-op threads (default: ONNX Runtime's choice, one per physical core). */
  threads?: number;
  /** ONNX Runtime graph optimisation (default "all"). */
  graphOptimizationLevel?: "disabled" | "basic" | "extended" | "all";
}

/** Inputs of one decoder step (prefill or decode). */
export interface DecoderInputs {
  batch: number;
  seq: number;
  /** [batch, seq] */
  inputIds: BigInt64Array;
  /** [batch, past + seq] */
  attentionMask: BigInt64Array;
  /** [batch, seq] */
  positionIds: BigInt64Array;
  /** Cache of `past` positions, or null for none. */
  past: KvCache | null;
}

/** Inputs that run one unpadded sequence from position 0 with no cache: [1, ids.length]. */
export function wholeSequenceInputs(ids: readonly number[]): DecoderInputs {
  return {
    batch: 1,
    seq: ids.length,
    inputIds: BigInt64Array.from(ids, (id) => BigInt(id)),
    attentionMask: onesMask(1, ids.length),
    positionIds: positionRange(1, 0, ids.length),
    past: null,
  };
}

export interface DecoderOutputs {
  /** [batch, seq, vocab] */
  logits: Float32Array;
  /** Keys/values [batch, kvHeads, past + seq, headDim] per layer. */
  present: KvCache;
}

/** What generation needs from a decoder; OnnxDecoderSession is the real one, tests may wrap it. */
export interface DecoderRunner {
  readonly dims: DecoderDims;
  forward(inputs: DecoderInputs): Promise<DecoderOutputs>;
}

/** Whether ONNX Runtime can use CUDA here, and if not, why. */
export function cudaAvailability(): { available: boolean; reason: string } {
  const backend = ort.listSupportedBackends().find((b) => b.name === "cuda");
  if (!backend) return { available: false, reason: `onnxruntime-node has no CUDA backend on ${process.platform}/${process.arch}` };
  if (backend.bundled) return { available: true, reason: "bundled" };
  const bindingDir = path.join(path.dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch);
  const library = process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
  if (fs.existsSync(path.join(bindingDir, library))) return { available: true, reason: `found ${library}` };
  return {
    available: false,
    reason: `the CUDA provider (${library}) is not installed in ${bindingDir}; reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL_CUDA=v12 on a machine with CUDA 12`,
  };
}

function disposeTensor(tensor: ort.Tensor | undefined): void {
  tensor?.dispose();
}

export class OnnxDecoderSession implements DecoderRunner {
  /** Number of forward() calls so far (tests use it to check the shared prefill). */
  runCount = 0;
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dims: DecoderDims,
    readonly executionProvider: ExecutionProvider,
  ) {}

  /** Opens `modelPath` (an export from writeOnnxModel) for `config`. */
  static async create(modelPath: string, config: DecoderDims | ModelConfig, options: SessionOptions = {}): Promise<OnnxDecoderSession> {
    const provider = options.executionProvider ?? "cpu";
    if (provider === "cuda") {
      const cuda = cudaAvailability();
      if (!cuda.available) throw new Error(`CUDA was requested but is not available: ${cuda.reason}`);
    } else if (provider !== "cpu") {
      throw new Error(`unknown execution provider ${String(provider)} (cpu or cuda)`);
    }
    if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
      throw new Error(`threads must be a positive integer, got ${options.threads}`);
    }
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [provider],
      graphOptimizationLevel: options.graphOptimizationLevel ?? "all",
      logSeverityLevel: 3,
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
    };
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, sessionOptions);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot open ${modelPath} with ONNX Runtime (${provider}): ${message}`);
    }
    const dims: DecoderDims = {
      numLayers: config.numLayers,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
      vocabSize: config.vocabSize,
    };
    return new OnnxDecoderSession(session, dims, provider);
  }

  async forward(inputs: DecoderInputs): Promise<DecoderOutputs> {
    if (this.released) throw new Error("the decoder session was released");
    const { batch, seq } = inputs;
    const { numLayers, numKvHeads, headDim, vocabSize } = this.dims;
    const past = inputs.past ?? emptyKvCache(this.dims, batch);
    if (past.batch !== batch) throw new Error(`past batch ${past.batch} differs from input batch ${batch}`);
    if (inputs.inputIds.length !== batch * seq || inputs.positionIds.length !== batch * seq) {
      throw new Error(`input_ids/position_ids must hold batch*seq = ${batch * seq} values`);
    }
    const total = past.length + seq;
    if (inputs.attentionMask.length !== batch * total) {
      throw new Error(`attention_mask must be [batch, past + seq] = [${batch}, ${total}]`);
    }

    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor("int64", inputs.inputIds, [batch, seq]),
      attention_mask: new ort.Tensor("int64", inputs.attentionMask, [batch, total]),
      position_ids: new ort.Tensor("int64", inputs.positionIds, [batch, seq]),
    };
    const pastDims = [batch, numKvHeads, past.length, headDim];
    for (let i = 0; i < numLayers; i++) {
      feeds[pastKeyName(i)] = new ort.Tensor("float32", past.keys[i], pastDims);
      feeds[pastValueName(i)] = new ort.Tensor("float32", past.values[i], pastDims);
    }

    let results: ort.InferenceSession.OnnxValueMapType | undefined;
    try {
      results = await this.session.run(feeds);
      this.runCount++;
      const logits = results.logits.data as Float32Array; // [batch, seq, vocab]
      if (logits.length !== batch * seq * vocabSize) throw new Error(`logits hold ${logits.length} values, expected ${batch * seq * vocabSize}`);
      const keys: Float32Array[] = [];
      const values: Float32Array[] = [];
      for (let i = 0; i < numLayers; i++) {
        keys.push(results[presentKeyName(i)].data as Float32Array);
        values.push(results[presentValueName(i)].data as Float32Array);
      }
      return { logits, present: { batch, length: total, keys, values } };
    } finally {
      for (const tensor of Object.values(feeds)) disposeTensor(tensor);
      // Output data is CPU memory owned by the returned arrays; dispose() only drops GPU handles.
      if (results) for (const tensor of Object.values(results)) disposeTensor(tensor);
    }
  }

  /** Frees the native session; later forward() calls fail. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

/** Runs `body` with a session and always releases it. */
export async function withDecoderSession<T>(
  modelPath: string,
  config: DecoderDims,
  options: SessionOptions,
  body: (session: OnnxDecoderSession) => Promise<T>,
): Promise<T> {
  const session = await OnnxDecoderSession.create(modelPath, config, options);
  try {
    return await body(session);
  } finally {
    await session.release();
  }
}

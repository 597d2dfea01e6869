// The memory preflight: before a model is loaded, estimate the peak memory of what was asked
// (engine, LoRA or full fine-tuning, batch, sequence length, replicas) and refuse with the
// numbers and the fix instead of aborting half-way (a 0.5B model used to abort after 216 s).
//
// Pure functions of the model's config.json (no weights needed): estimateTraining() and
// estimateForward() give the bytes of one wasm heap (limit 4 GiB) and of the whole process's
// RSS, part by part; checkMemory() compares them with the heap limit and the host's memory and,
// when they do not fit, tries cheaper settings in order and names the first that fits.
//
// The figures are deliberate over-estimates of the trainer as built (src/trainer/decoder.ts):
//   base weights f32, once per heap, plus XNNPACK's packed copy of every matrix a product uses
//   (tfjs-backend-wasm caches one packed operator per weight tensor); full fine-tuning adds the
//   gradients, AdamW's two moments and one transient copy per weight; LoRA adds 5 copies of the
//   small adapters; activations kept for the backward pass per layer, the attention scores and
//   the logits with their log-softmax and gradient ([tokens, vocab] three times), the transposed
//   copy of a tied embedding; and a plan may fill only 85% of a heap (fragmentation).
// Engine "streamed" is the layer-at-a-time engine (base weights outside the heap): its heap holds
// about one layer's weights and their packed copy, that layer's activations, the recomputed
// layer's backward, the adapters with gradients and AdamW moments, and a chunk of the vocabulary
// projection; the process holds the base weights once, shared by every replica.

import type { ModelConfig } from "../model/types";
import { formatBytes, WASM_HEAP_LIMIT_BYTES } from "./failures";

const F32 = 4;

/** The sizes the estimate needs, from a ModelConfig. */
export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  tieWordEmbeddings: boolean;
}

export type MemoryEngine = "wasm" | "streamed" | "tensorflow";

export interface TrainingPlan {
  /** "wasm": whole model in each wasm heap (today's trainer); "streamed": base weights outside
   * the heap, one layer at a time; "tensorflow": tfjs-node(-gpu), no heap ceiling. */
  engine: MemoryEngine;
  /** LoRA rank, or null for full fine-tuning. */
  loraRank: number | null;
  batchSize: number;
  maxSeqLen: number;
  /** Data-parallel replicas (this thread + workers), each with its own heap. */
  replicas: number;
  /** Vocabulary rows per logits chunk in the streamed engine (default: all at once elsewhere). */
  vocabChunk?: number;
}

export interface MemoryEstimate {
  /** Peak bytes in one wasm heap; null where there is no heap ("tensorflow"). */
  heapBytes: number | null;
  /** Peak bytes of the process (every replica's heap, JS copies of the weights, runtime). */
  rssBytes: number;
  /** Named parts of the heap (or, without one, of the device/host tensors). */
  parts: Array<[string, number]>;
  /** Parameters of the model. */
  params: number;
}

/** The shape fields of a parsed config. */
export function modelShape(config: ModelConfig): ModelShape {
  const { vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, tieWordEmbeddings } = config;
  return { vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, tieWordEmbeddings };
}

/** Parameters of one decoder layer's matrices (biases and norms are negligible and included roughly). */
export function layerMatrixParams(s: ModelShape): number {
  const q = s.hiddenSize * s.numHeads * s.headDim;
  const kv = 2 * s.hiddenSize * s.numKvHeads * s.headDim;
  const o = s.numHeads * s.headDim * s.hiddenSize;
  const mlp = 3 * s.hiddenSize * s.intermediateSize;
  return q + kv + o + mlp;
}

/** Every parameter: embeddings, layers (with biases and norms), final norm, untied lm_head. */
export function parameterCount(s: ModelShape): number {
  const embedding = s.vocabSize * s.hiddenSize;
  const biasesAndNorms = s.numHeads * s.headDim + 2 * s.numKvHeads * s.headDim + 2 * s.hiddenSize;
  return embedding + s.numLayers * (layerMatrixParams(s) + biasesAndNorms) + s.hiddenSize + (s.tieWordEmbeddings ? 0 : embedding);
}

/** Parameters of rank-r LoRA on every attention and MLP projection. */
export function loraParams(s: ModelShape, rank: number): number {
  const qDim = s.numHeads * s.headDim;
  const kvDim = s.numKvHeads * s.headDim;
  const perLayer = [
    [s.hiddenSize, qDim],
    [s.hiddenSize, kvDim],
    [s.hiddenSize, kvDim],
    [qDim, s.hiddenSize],
    [s.hiddenSize, s.intermediateSize],
    [s.hiddenSize, s.intermediateSize],
    [s.intermediateSize, s.hiddenSize],
  ].reduce((sum, [inDim, outDim]) => sum + rank * (inDim + outDim), 0);
  return s.numLayers * perLayer;
}

/** Activations one layer keeps for its backward pass, bytes (tokens = batch x seq). */
export function layerActivationBytes(s: ModelShape, batch: number, seq: number): number {
  const tokens = batch * seq;
  const qkv = (s.numHeads + 2 * s.numKvHeads) * s.headDim;
  // inputs and outputs of the norms, projections, rotary, MLP (gate, up, silu, product).
  const perToken = 6 * s.hiddenSize + 2 * qkv + 4 * s.intermediateSize;
  // scores, softmax probabilities and their gradient: [batch, heads, seq, seq] three times.
  const scores = 3 * batch * s.numHeads * seq * seq;
  return (tokens * perToken + scores) * F32;
}

/** The logits, their log-softmax and gradient: [tokens, vocab] three times (or one chunk's). */
export function logitsBytes(s: ModelShape, batch: number, seq: number, vocabRows = s.vocabSize): number {
  return 3 * batch * seq * Math.min(vocabRows, s.vocabSize) * F32;
}

/** Node, V8, tfjs and ONNX Runtime before any model: about 0.4 GiB. */
export const RUNTIME_BASELINE_BYTES = 0.4 * 1024 ** 3;

/** Peak memory of training under `plan`. */
export function estimateTraining(s: ModelShape, plan: TrainingPlan): MemoryEstimate {
  const params = parameterCount(s);
  const weights = params * F32;
  const matrices = (s.numLayers * layerMatrixParams(s) + s.vocabSize * s.hiddenSize) * F32; // what XNNPACK packs
  const adapters = plan.loraRank === null ? 0 : loraParams(s, plan.loraRank) * F32;
  const adapterState = 5 * adapters; // values, gradients, AdamW m and v, one update's transient
  const activations = s.numLayers * layerActivationBytes(s, plan.batchSize, plan.maxSeqLen);
  const replicas = Math.max(1, plan.replicas);
  const parts: Array<[string, number]> = [];
  if (plan.engine === "streamed") {
    const layerWeights = (layerMatrixParams(s) + 2 * s.hiddenSize) * F32;
    const chunk = plan.vocabChunk ?? 8192;
    parts.push(
      ["one layer's weights", layerWeights],
      ["XNNPACK packed copy of them", layerWeights],
      ["embedding/lm_head chunk and its packed copy", 2 * Math.min(chunk, s.vocabSize) * s.hiddenSize * F32],
      ["layer boundaries kept for recomputation", (s.numLayers + 1) * plan.batchSize * plan.maxSeqLen * s.hiddenSize * F32],
      ["one layer's activations (forward and backward)", 2 * layerActivationBytes(s, plan.batchSize, plan.maxSeqLen)],
      ["logits of one vocabulary chunk", logitsBytes(s, plan.batchSize, plan.maxSeqLen, chunk)],
    );
    if (plan.loraRank === null) parts.push(["gradients, AdamW moments and update of all weights", 4 * weights]);
    else parts.push(["LoRA adapters, gradients and AdamW moments", adapterState]);
    const heap = sum(parts);
    // The base weights live in the process, outside every heap (src/trainer/streamed/hostWeights.ts):
    // as loaded, transposed copies of the projections and the vocabulary matrix, a shared copy for
    // gradient workers, and the merged projections written at the end.
    const projections = s.numLayers * layerMatrixParams(s) * F32;
    const host = weights + projections + s.vocabSize * s.hiddenSize * F32 + (replicas > 1 ? weights : 0) + projections;
    return { heapBytes: heap, rssBytes: RUNTIME_BASELINE_BYTES + host + replicas * heap, parts, params };
  }
  parts.push(["base weights (f32)", weights], ["XNNPACK packed copies of the matrices", matrices]);
  if (plan.loraRank === null) parts.push(["gradients, AdamW moments and update of all weights", 4 * weights]);
  else parts.push(["LoRA adapters, gradients and AdamW moments", adapterState]);
  parts.push(
    ["activations kept for the backward pass", activations],
    ["logits, log-softmax and their gradient", logitsBytes(s, plan.batchSize, plan.maxSeqLen)],
    // decoder.ts transposes the tied embedding for the vocabulary projection of every forward.
    ["tied lm_head transposed", s.tieWordEmbeddings ? s.vocabSize * s.hiddenSize * F32 : 0],
  );
  const heap = sum(parts);
  if (plan.engine === "tensorflow") {
    // No heap: the tensors live in TensorFlow's allocator (host or GPU); no packed copies there.
    const tensors = heap - matrices;
    return { heapBytes: null, rssBytes: RUNTIME_BASELINE_BYTES + weights + tensors, parts: parts.filter(([name]) => !name.startsWith("XNNPACK")), params };
  }
  // Today's trainer keeps the loaded WeightMap in JS, and every worker receives its own copy.
  return { heapBytes: heap, rssBytes: RUNTIME_BASELINE_BYTES + weights + (replicas - 1) * weights + replicas * heap, parts, params };
}

/** Peak memory of one tfjs forward pass over `tokens` tokens (restem forward --engine tfjs). */
export function estimateForward(s: ModelShape, tokens: number): MemoryEstimate {
  const params = parameterCount(s);
  const weights = params * F32;
  const matrices = (s.numLayers * layerMatrixParams(s) + s.vocabSize * s.hiddenSize) * F32;
  const parts: Array<[string, number]> = [
    ["base weights (f32)", weights],
    ["XNNPACK packed copies of the matrices", matrices],
    ["tied lm_head transposed", s.tieWordEmbeddings ? s.vocabSize * s.hiddenSize * F32 : 0],
    ["one layer's activations", layerActivationBytes(s, 1, tokens)],
    ["logits", tokens * s.vocabSize * F32],
  ];
  const heap = sum(parts);
  return { heapBytes: heap, rssBytes: RUNTIME_BASELINE_BYTES + weights + heap, parts, params };
}

/** The host's memory: os.totalmem() and what is available now (os.freemem() or MemAvailable). */
export interface HostMemory {
  totalBytes: number;
  availableBytes: number;
}

export interface MemoryVerdict {
  ok: boolean;
  /** One line per limit exceeded, with the numbers. */
  problems: string[];
  /** Changed settings (CLI flags) that would fit, cheapest change first; empty when none does. */
  fix: string | null;
}

/** A change to try when the plan does not fit: the CLI flag and the restem.json field that make it. */
interface Remedy {
  flag: string;
  field: string;
  apply: (plan: TrainingPlan) => TrainingPlan;
}

/** How a fix is spelled: as `restem train` flags or as restem.json fields of a run. */
export type FixStyle = "cli" | "config";

const REMEDIES: Remedy[] = [
  { flag: "--lora-rank 8", field: "mstep.loraRank 8", apply: (p) => (p.loraRank === null ? { ...p, loraRank: 8 } : p) },
  { flag: "--workers 1", field: "mstep.workers 1", apply: (p) => ({ ...p, replicas: 1 }) },
  { flag: "--batch 1", field: "mstep.batchSize 1", apply: (p) => ({ ...p, batchSize: 1 }) },
  { flag: "--max-seq-len 512", field: "mstep.maxSeqLen 512", apply: (p) => ({ ...p, maxSeqLen: Math.min(p.maxSeqLen, 512) }) },
];

/**
 * Share of the wasm heap a plan may fill: the allocator fragments (a 0.5B LoRA run estimated at
 * 3.98 GiB failed to allocate with 3.35 GiB of tensors in a full 4 GiB heap).
 */
export const HEAP_USABLE_FRACTION = 0.85;

/** The problems of an estimate against the heap limit and the host. */
export function memoryProblems(estimate: MemoryEstimate, host: HostMemory, heapLimit = WASM_HEAP_LIMIT_BYTES): string[] {
  const problems: string[] = [];
  if (estimate.heapBytes !== null && estimate.heapBytes > heapLimit * HEAP_USABLE_FRACTION) {
    problems.push(`needs ~${formatBytes(estimate.heapBytes)} in one wasm heap (limit ${formatBytes(heapLimit)}, of which ${Math.round(HEAP_USABLE_FRACTION * 100)}% usable)`);
  }
  if (estimate.rssBytes > host.totalBytes) {
    problems.push(`needs ~${formatBytes(estimate.rssBytes)} of RAM (this machine has ${formatBytes(host.totalBytes)})`);
  } else if (estimate.rssBytes > host.availableBytes) {
    problems.push(`needs ~${formatBytes(estimate.rssBytes)} of RAM (${formatBytes(host.availableBytes)} available now of ${formatBytes(host.totalBytes)})`);
  }
  return problems;
}

/** Checks a training plan; when it does not fit, names the first cumulative change that does. */
export function checkTraining(s: ModelShape, plan: TrainingPlan, host: HostMemory, style: FixStyle = "cli", heapLimit = WASM_HEAP_LIMIT_BYTES): MemoryVerdict & { estimate: MemoryEstimate } {
  const estimate = estimateTraining(s, plan);
  const problems = memoryProblems(estimate, host, heapLimit);
  if (problems.length === 0) return { ok: true, problems, fix: null, estimate };
  let candidate = plan;
  const flags: string[] = [];
  for (const remedy of REMEDIES) {
    const next = remedy.apply(candidate);
    if (JSON.stringify(next) === JSON.stringify(candidate)) continue;
    candidate = next;
    flags.push(style === "cli" ? remedy.flag : remedy.field);
    const fits = estimateTraining(s, candidate);
    if (memoryProblems(fits, host, heapLimit).length === 0) {
      return { ok: false, problems, fix: `${flags.join(style === "cli" ? " " : ", ")} (needs ~${describeEstimate(fits)})`, estimate };
    }
  }
  return { ok: false, problems, fix: null, estimate };
}

/** "3.1 GiB per heap, 4.2 GiB RSS" or "4.2 GiB RSS". */
export function describeEstimate(estimate: MemoryEstimate): string {
  const rss = `${formatBytes(estimate.rssBytes)} RSS`;
  return estimate.heapBytes === null ? rss : `${formatBytes(estimate.heapBytes)} per heap, ${rss}`;
}

/** The refusal text: what it needs, the largest parts, and what to do. */
export function refusalMessage(what: string, verdict: MemoryVerdict & { estimate: MemoryEstimate }, otherFixes: string): string {
  const params = `${(verdict.estimate.params / 1e6).toFixed(0)}M parameters`;
  const largest = [...verdict.estimate.parts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([name, bytes]) => `${name} ${formatBytes(bytes)}`)
    .join(", ");
  const fix = verdict.fix ? `use ${verdict.fix}, or ${otherFixes}` : `no smaller setting fits here: ${otherFixes}`;
  return `${what} (${params}) ${verdict.problems.join("; ")}: ${fix}. Largest parts: ${largest}.`;
}

function sum(parts: Array<[string, number]>): number {
  return parts.reduce((total, [, bytes]) => total + bytes, 0);
}

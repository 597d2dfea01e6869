// Frozen base weights of a large model held OUTSIDE the wasm heap, in the layouts the streamed
// engine brings into the heap one decoder layer (or one vocabulary chunk) at a time.
//
// Why: the wasm heap is at most 4 GiB, and a 0.5B model in F32 is 2 GB before XNNPACK packs a
// copy of every fully-connected weight it multiplies by (that is the "status 6", out of
// memory, of the whole-model decoder). Here every matrix is kept twice on the host:
//   wt [in, out] (transposed) for the forward product x Wt, and
//   w  [out, in] (PyTorch layout) for the backward product dX = dY W,
// so both are plain [m, k] x [k, n] products, XNNPACK's fast path, with no transpose in the heap.
// The output projection (tied embedding or lm_head) is kept as vocabulary chunks: each chunk
// Et_c [hidden, c] for logits = h Et_c and E_c [c, hidden] for dh = dlogits E_c.
//
// The arrays can live in SharedArrayBuffers (shared: true), so gradient workers read the same
// bytes without a copy (worker_threads pass SharedArrayBuffers by reference).

import type { ModelConfig, WeightMap } from "../../model/types";
import { LORA_MODULES, modulePath, moduleShape, type LoraModule } from "../lora";

export interface HostMatrix {
  /** [out, in], PyTorch layout. */
  w: Float32Array;
  /** [in, out], transposed. */
  wt: Float32Array;
  out: number;
  in: number;
  bias: Float32Array | null;
}

export interface HostLayer {
  inputNorm: Float32Array;
  postNorm: Float32Array;
  linear: Record<LoraModule, HostMatrix>;
}

export interface HostVocabChunk {
  start: number;
  size: number;
  /** [size, hidden]: rows start..start+size of the output matrix. */
  rows: Float32Array;
  /** [hidden, size]. */
  cols: Float32Array;
}

export interface HostWeights {
  config: ModelConfig;
  /** [vocab, hidden] input embedding (lookups are done on the host, no gradient). */
  embedding: Float32Array;
  layers: HostLayer[];
  finalNorm: Float32Array;
  /** The output projection ([vocab, hidden]: lm_head, or the embedding when tied) in chunks. */
  output: HostVocabChunk[];
  /** [vocab, hidden] output matrix (for target rows). */
  outputMatrix: Float32Array;
}

/** Vocabulary chunk width: about 16k columns, split evenly. */
export function vocabChunkSizes(vocab: number, target = 16384): number[] {
  const count = Math.max(1, Math.ceil(vocab / target));
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) sizes.push(Math.floor(((i + 1) * vocab) / count) - Math.floor((i * vocab) / count));
  return sizes;
}

function allocate(length: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
}

function copyOf(data: Float32Array, shared: boolean): Float32Array {
  if (!shared) return data;
  const copy = allocate(data.length, true);
  copy.set(data);
  return copy;
}

/** Blocked transpose of a row-major [rows, cols] matrix into [cols, rows]. */
export function transposeInto(source: Float32Array, rows: number, cols: number, target: Float32Array, sourceOffset = 0): void {
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      for (let r = r0; r < r1; r++) {
        const base = sourceOffset + r * cols;
        for (let c = c0; c < c1; c++) target[c * rows + r] = source[base + c];
      }
    }
  }
}

function take(weights: WeightMap, name: string, shape: readonly number[]): Float32Array {
  const tensor = weights.get(name);
  if (!tensor) throw new Error(`streamed engine: the model has no ${name}`);
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`streamed engine: ${name} has shape [${tensor.shape}], expected [${shape}]`);
  }
  return tensor.data;
}

/** Builds the host layouts from a loaded WeightMap (F32 data, HF names and layouts). */
export function buildHostWeights(config: ModelConfig, weights: WeightMap, options: { shared?: boolean; vocabChunk?: number } = {}): HostWeights {
  const shared = options.shared ?? false;
  const h = config.hiddenSize;
  const vocab = config.vocabSize;
  const embedding = copyOf(take(weights, "model.embed_tokens.weight", [vocab, h]), shared);
  const layers: HostLayer[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const base = `model.layers.${layer}`;
    const linear = {} as Record<LoraModule, HostMatrix>;
    for (const module of LORA_MODULES) {
      const [out, inDim] = moduleShape(config, module);
      const name = modulePath(layer, module);
      const w = copyOf(take(weights, `${name}.weight`, [out, inDim]), shared);
      const wt = allocate(out * inDim, shared);
      transposeInto(w, out, inDim, wt);
      const hasBias = module === "q_proj" || module === "k_proj" || module === "v_proj" ? config.attentionBias : module === "o_proj" ? false : config.mlpBias;
      const bias = hasBias ? copyOf(take(weights, `${name}.bias`, [out]), shared) : null;
      linear[module] = { w, wt, out, in: inDim, bias };
    }
    layers.push({
      inputNorm: copyOf(take(weights, `${base}.input_layernorm.weight`, [h]), shared),
      postNorm: copyOf(take(weights, `${base}.post_attention_layernorm.weight`, [h]), shared),
      linear,
    });
  }
  const outputMatrix = config.tieWordEmbeddings ? embedding : copyOf(take(weights, "lm_head.weight", [vocab, h]), shared);
  const output: HostVocabChunk[] = [];
  let start = 0;
  for (const size of vocabChunkSizes(vocab, options.vocabChunk)) {
    const rows = outputMatrix.subarray(start * h, (start + size) * h);
    const cols = allocate(size * h, shared);
    transposeInto(outputMatrix, size, h, cols, start * h);
    output.push({ start, size, rows, cols });
    start += size;
  }
  return { config, embedding, layers, finalNorm: copyOf(take(weights, "model.norm.weight", [h]), shared), output, outputMatrix };
}

/** Bytes the host layouts add on top of the loaded weights (transposed copies). */
export function hostExtraBytes(config: ModelConfig): number {
  let perLayer = 0;
  for (const module of LORA_MODULES) {
    const [out, inDim] = moduleShape(config, module);
    perLayer += out * inDim;
  }
  return 4 * (perLayer * config.numLayers + config.vocabSize * config.hiddenSize);
}

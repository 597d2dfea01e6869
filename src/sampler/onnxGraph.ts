// Builds the ONNX graph of a Llama / Qwen2 decoder from a ModelConfig, with standard opset-17
// operators only (no com.microsoft contrib ops), so ONNX Runtime's CPU and CUDA providers can
// run it. The graph follows the usual exported-decoder convention:
//
//   input_ids                    [batch, seq]                       int64
//   attention_mask               [batch, past + seq]                int64 (0 = padding)
//   position_ids                 [batch, seq]                       int64
//   past_key_values.{i}.key|value [batch, kvHeads, past, headDim]   float32
//   -> logits                    [batch, seq, vocab]                float32
//   -> present.{i}.key|value     [batch, kvHeads, past + seq, headDim]
//
// The causal + padding mask is derived inside the graph. Weights are initializers whose bytes
// live in an external data file laid out by weightLayout(), so a training step only rewrites
// that file (see onnxExport.ts).

import type { ModelConfig } from "../model/types";
import { ElemType, GraphBuilder } from "./onnxBuilder";

export const ONNX_OPSET = 17;
/** Bumped whenever the graph or the data layout changes; part of the cache key. */
export const GRAPH_FORMAT_VERSION = 2;
export const EXTERNAL_DATA_FILE = "model.onnx.data";
const ALIGNMENT = 64;
const MASKED = -1e9;

/** One weight's place in the external data file. */
export interface LayoutEntry {
  /** Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  hfName: string;
  /** Initializer name in the graph. */
  onnxName: string;
  /** Shape in the checkpoint (PyTorch Linear: [out, in]). */
  hfShape: number[];
  /** Shape as stored: Linear weights transposed to [in, out] so MatMul needs no Transpose. */
  dims: number[];
  transpose: boolean;
  offset: number;
  length: number;
}

export interface WeightLayout {
  entries: LayoutEntry[];
  totalBytes: number;
}

export const pastKeyName = (layer: number): string => `past_key_values.${layer}.key`;
export const pastValueName = (layer: number): string => `past_key_values.${layer}.value`;
export const presentKeyName = (layer: number): string => `present.${layer}.key`;
export const presentValueName = (layer: number): string => `present.${layer}.value`;

/** Byte layout of every weight of `config`, in a fixed order with 64-byte aligned offsets. */
export function weightLayout(config: ModelConfig): WeightLayout {
  const { hiddenSize: h, numHeads, numKvHeads, headDim, intermediateSize: f, vocabSize: v } = config;
  const specs: Array<[string, number[], boolean]> = [["model.embed_tokens.weight", [v, h], false]];
  const linear = (name: string, out: number, inDim: number, bias: boolean): void => {
    specs.push([`${name}.weight`, [out, inDim], true]);
    if (bias) specs.push([`${name}.bias`, [out], false]);
  };
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    specs.push([`${p}.input_layernorm.weight`, [h], false]);
    linear(`${p}.self_attn.q_proj`, numHeads * headDim, h, config.attentionBias);
    linear(`${p}.self_attn.k_proj`, numKvHeads * headDim, h, config.attentionBias);
    linear(`${p}.self_attn.v_proj`, numKvHeads * headDim, h, config.attentionBias);
    linear(`${p}.self_attn.o_proj`, h, numHeads * headDim, false);
    specs.push([`${p}.post_attention_layernorm.weight`, [h], false]);
    linear(`${p}.mlp.gate_proj`, f, h, config.mlpBias);
    linear(`${p}.mlp.up_proj`, f, h, config.mlpBias);
    linear(`${p}.mlp.down_proj`, h, f, config.mlpBias);
  }
  specs.push(["model.norm.weight", [h], false]);
  if (!config.tieWordEmbeddings) linear("lm_head", v, h, false);

  const entries: LayoutEntry[] = [];
  let offset = 0;
  for (const [hfName, hfShape, transpose] of specs) {
    const length = hfShape.reduce((a, b) => a * b, 1) * 4;
    entries.push({
      hfName,
      onnxName: transpose ? `${hfName}.T` : hfName,
      hfShape,
      dims: transpose ? [hfShape[1], hfShape[0]] : hfShape,
      transpose,
      offset,
      length,
    });
    offset += Math.ceil(length / ALIGNMENT) * ALIGNMENT;
  }
  return { entries, totalBytes: offset };
}

/** RoPE inverse frequencies theta^(-2i/headDim), with Llama 3.1 band rescaling when configured. */
export function ropeInverseFrequencies(config: ModelConfig): Float64Array {
  const half = config.headDim / 2;
  const inv = Float64Array.from({ length: half }, (_, i) => Math.pow(config.ropeTheta, (-2 * i) / config.headDim));
  const s = config.ropeScaling;
  if (!s) return inv;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((freq) => {
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highFreqWavelen) return freq;
    if (wavelen > lowFreqWavelen) return freq / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return ((1 - smooth) * freq) / s.factor + smooth * freq;
  });
}

function checkConfig(config: ModelConfig): void {
  if (config.headDim % 2 !== 0) throw new Error(`head_dim ${config.headDim} must be even for RoPE`);
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new Error(`num_attention_heads ${config.numHeads} is not a multiple of num_key_value_heads ${config.numKvHeads}`);
  }
}

/** Emits the decoder graph; returns the encoded ModelProto with initializers pointing at `layout`. */
export function buildDecoderGraph(config: ModelConfig, layout: WeightLayout, dataFile = EXTERNAL_DATA_FILE): Uint8Array {
  checkConfig(config);
  const g = new GraphBuilder();
  const { numHeads, numKvHeads, headDim, vocabSize } = config;
  const group = numHeads / numKvHeads;
  const W = new Map<string, string>();
  for (const entry of layout.entries) W.set(entry.hfName, g.externalFloat32({ name: entry.onnxName, dims: entry.dims, offset: entry.offset, length: entry.length }, dataFile));
  const w = (name: string): string => {
    const found = W.get(name);
    if (!found) throw new Error(`internal: no initializer for ${name}`);
    return found;
  };

  const inputIds = g.input("input_ids", ElemType.INT64, ["batch", "seq"]);
  const attentionMask = g.input("attention_mask", ElemType.INT64, ["batch", "total_seq"]);
  const positionIds = g.input("position_ids", ElemType.INT64, ["batch", "seq"]);
  for (let i = 0; i < config.numLayers; i++) {
    g.input(pastKeyName(i), ElemType.FLOAT, ["batch", numKvHeads, "past_seq", headDim]);
    g.input(pastValueName(i), ElemType.FLOAT, ["batch", numKvHeads, "past_seq", headDim]);
  }

  // Embedding: [batch, seq, hidden]
  let x = g.node("Gather", [w("model.embed_tokens.weight"), inputIds], { axis: { int: 0 } });

  // RoPE tables from position_ids: cos/sin [batch, 1, seq, headDim]
  const positions = g.node("Unsqueeze", [g.node("Cast", [positionIds], { to: { int: ElemType.FLOAT } }), g.int64([2])]); // [b, s, 1]
  const invFreq = g.float32(ropeInverseFrequencies(config), [headDim / 2]);
  const freqs = g.node("Mul", [positions, invFreq]); // [b, s, headDim/2]
  const angles = g.node("Concat", [freqs, freqs], { axis: { int: -1 } }); // [b, s, headDim]
  const cos = g.node("Unsqueeze", [g.node("Cos", [angles]), g.int64([1])]); // [b, 1, s, headDim]
  const sin = g.node("Unsqueeze", [g.node("Sin", [angles]), g.int64([1])]);

  // Mask bias [batch, 1, seq, total]: 0 where key j is visible to query i, else MASKED.
  // Query i sits at absolute index past + i; it sees keys j <= past + i whose mask is 1.
  const seqLen = g.node("Squeeze", [g.node("Shape", [inputIds], { start: { int: 1 }, end: { int: 2 } })]); // scalar s
  const totalLen = g.node("Squeeze", [g.node("Shape", [attentionMask], { start: { int: 1 }, end: { int: 2 } })]); // scalar t
  const pastLen = g.node("Sub", [totalLen, seqLen]);
  const one = g.int64([1], true);
  const keyIndex = g.node("Unsqueeze", [g.node("Range", [g.int64([0], true), totalLen, one]), g.int64([0])]); // [1, t]
  const queryIndex = g.node("Unsqueeze", [g.node("Range", [pastLen, totalLen, one]), g.int64([1])]); // [s, 1]
  const future = g.node("Greater", [keyIndex, queryIndex]); // [s, t]
  const padded = g.node("Equal", [attentionMask, g.int64([0], true)]); // [b, t]
  const paddedKeys = g.node("Unsqueeze", [padded, g.int64([1, 2])]); // [b, 1, 1, t]
  const blocked = g.node("Or", [future, paddedKeys]); // [b, 1, s, t]
  const maskBias = g.node("Where", [blocked, g.float32([MASKED]), g.float32([0])]); // [b, 1, s, t]
  // Row g*s + i of a KV head's score matrix is query i of its g-th query head: tile the mask G times.
  const groupMask = group === 1 ? maskBias : g.node("Tile", [maskBias, g.int64([1, 1, group, 1])]); // [b, 1, G*s, t]

  const scale = g.float32([1 / Math.sqrt(headDim)]);
  const eps = g.float32([config.rmsNormEps]);
  const rmsNorm = (input: string, weightName: string): string => {
    const meanSquare = g.node("ReduceMean", [g.node("Mul", [input, input])], { axes: { ints: [-1] }, keepdims: { int: 1 } });
    const inv = g.node("Reciprocal", [g.node("Sqrt", [g.node("Add", [meanSquare, eps])])]);
    return g.node("Mul", [g.node("Mul", [input, inv]), w(weightName)]);
  };
  const linear = (input: string, name: string, bias: boolean): string => {
    const y = g.node("MatMul", [input, w(`${name}.weight`)]);
    return bias ? g.node("Add", [y, w(`${name}.bias`)]) : y;
  };
  // [b, s, heads*headDim] -> [b, heads, s, headDim]
  const splitHeads = (input: string, heads: number): string =>
    g.node("Transpose", [g.node("Reshape", [input, g.int64([0, 0, heads, headDim])])], { perm: { ints: [0, 2, 1, 3] } });
  const rope = (input: string): string => {
    const [x1, x2] = g.op("Split", [input], { axis: { int: -1 } }, 2); // 2 x [b, h, s, headDim/2]
    const rotated = g.node("Concat", [g.node("Neg", [x2]), x1], { axis: { int: -1 } });
    return g.node("Add", [g.node("Mul", [input, cos]), g.node("Mul", [rotated, sin])]);
  };

  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    const h = rmsNorm(x, `${p}.input_layernorm.weight`); // [b, s, hidden]
    const q = rope(splitHeads(linear(h, `${p}.self_attn.q_proj`, config.attentionBias), numHeads)); // [b, H, s, d]
    const k = rope(splitHeads(linear(h, `${p}.self_attn.k_proj`, config.attentionBias), numKvHeads)); // [b, KV, s, d]
    const v = splitHeads(linear(h, `${p}.self_attn.v_proj`, config.attentionBias), numKvHeads); // [b, KV, s, d]
    const keys = g.node("Concat", [pastKeyName(i), k], { axis: { int: 2 } }, presentKeyName(i)); // [b, KV, t, d]
    const values = g.node("Concat", [pastValueName(i), v], { axis: { int: 2 } }, presentValueName(i)); // [b, KV, t, d]
    g.output(presentKeyName(i), ElemType.FLOAT, ["batch", numKvHeads, "total_seq", headDim]);
    g.output(presentValueName(i), ElemType.FLOAT, ["batch", numKvHeads, "total_seq", headDim]);

    // GQA without copying K/V: the G query heads of a KV head become G*s rows of one matrix.
    const qRows = g.node("Reshape", [g.node("Mul", [q, scale]), g.int64([0, numKvHeads, -1, headDim])]); // [b, KV, G*s, d]
    const keysT = g.node("Transpose", [keys], { perm: { ints: [0, 1, 3, 2] } }); // [b, KV, d, t]
    const rawScores = g.node("MatMul", [qRows, keysT]); // [b, KV, G*s, t]
    const scores = g.node("Add", [rawScores, groupMask]); // [b, KV, G*s, t] + [b, 1, G*s, t]
    const probs = g.node("Softmax", [scores], { axis: { int: -1 } });
    const context = g.node("MatMul", [probs, values]); // [b, KV, G*s, d]
    const merged = g.node("Reshape", [
      g.node("Transpose", [g.node("Reshape", [context, g.int64([0, numHeads, -1, headDim])])], { perm: { ints: [0, 2, 1, 3] } }),
      g.int64([0, 0, numHeads * headDim]),
    ]); // [b, s, H*d]
    x = g.node("Add", [x, linear(merged, `${p}.self_attn.o_proj`, false)]);

    const h2 = rmsNorm(x, `${p}.post_attention_layernorm.weight`);
    const gate = linear(h2, `${p}.mlp.gate_proj`, config.mlpBias); // [b, s, ffn]
    const up = linear(h2, `${p}.mlp.up_proj`, config.mlpBias);
    const act = g.node("Mul", [g.node("Mul", [gate, g.node("Sigmoid", [gate])]), up]);
    x = g.node("Add", [x, linear(act, `${p}.mlp.down_proj`, config.mlpBias)]);
  }

  const final = rmsNorm(x, "model.norm.weight"); // [b, s, hidden]
  const head = config.tieWordEmbeddings
    ? g.node("Transpose", [w("model.embed_tokens.weight")], { perm: { ints: [1, 0] } }) // folded at load
    : w("lm_head.weight");
  g.node("MatMul", [final, head], {}, "logits");
  g.output("logits", ElemType.FLOAT, ["batch", "seq", vocabSize]);

  return g.encodeModel(
    "restem_decoder",
    ONNX_OPSET,
    `${config.architectureClass} decoder with KV cache (restem graph format ${GRAPH_FORMAT_VERSION})`,
  );
}

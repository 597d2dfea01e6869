// The Llama / Qwen2 decoder in TensorFlow.js, for training: the same network as the ONNX graph
// the sampler runs (RMSNorm, rotate_half RoPE with optional llama3 scaling, grouped-query
// attention, SiLU-gated MLP), built from a Hugging Face WeightMap and differentiable.
//
// Layout: linear weights are held transposed, Wt [in, out], so every projection is a plain
// x Wt product (the fast path of the wasm backend); exportWeights() transposes them back to
// PyTorch's [out, in]. In full fine-tuning every weight is a tf.Variable; with LoRA the base
// weights are constants and only the adapters (held as At [in, r] and Bt [r, out]) train.
//
// Padding: sequences are right-padded; positions are 0..seq-1 and attention is causal, so the
// padding after a sequence never reaches its real tokens. An attentionMask [batch, seq] of
// 1/0 additionally hides masked keys (needed only for left padding, which training never uses).

import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig, WeightMap, WeightTensor } from "../model/types";
import "./gradients";
import { initLoraAdapters, loraScaling, loraTargets, type LoraSettings } from "./lora";
import { CausalMasks, groupedAttention, mm, RotaryEmbedding, rmsNorm } from "./ops";
import { streamedForward } from "./streamed/forward";
import { needsStreaming } from "./streamed/policy";

export interface DecoderOptions {
  /** Adapt with LoRA (base weights frozen) instead of training every weight. */
  lora?: LoraSettings | null;
  /** Existing adapters to start from; fresh ones (seeded by loraSeed) otherwise. */
  adapters?: WeightMap;
  loraSeed?: number;
  /** false: constants only, for inference (default true). */
  trainable?: boolean;
}

let nextInstance = 0;

/** A 2-D HF linear weight name (held transposed); embeddings and lm_head are handled apart. */
function isLinearWeight(name: string): boolean {
  return name.endsWith("_proj.weight");
}

export class TfDecoder {
  readonly config: ModelConfig;
  readonly lora: LoraSettings | null;
  /** Parameters by HF name, in the internal layout (linear weights transposed). */
  private readonly params = new Map<string, tf.Tensor>();
  /** LoRA adapters by module path: At [in, r], Bt [r, out]. */
  private readonly adapters = new Map<string, { at: tf.Tensor2D; bt: tf.Tensor2D }>();
  private readonly trainables: tf.Variable[] = [];
  private readonly rope: RotaryEmbedding;
  private readonly masks = new CausalMasks();
  private readonly prefix = `restem${nextInstance++}/`;

  constructor(config: ModelConfig, weights: WeightMap, options: DecoderOptions = {}) {
    this.config = config;
    this.lora = options.lora ?? null;
    const trainable = options.trainable ?? true;
    const trainBase = trainable && this.lora === null;
    for (const [name, tensor] of weights) {
      const value = tf.tidy(() => {
        const t = tf.tensor(tensor.data, tensor.shape, "float32");
        return isLinearWeight(name) || name === "lm_head.weight" ? tf.transpose(t) : t;
      });
      this.params.set(name, trainBase ? this.variable(value, name) : tf.keep(value));
    }
    if (this.lora !== null) {
      const adapters = options.adapters ?? initLoraAdapters(config, this.lora, options.loraSeed ?? 0);
      for (const [module] of loraTargets(config, this.lora)) {
        const a = adapters.get(`${module}.lora_A.weight`);
        const b = adapters.get(`${module}.lora_B.weight`);
        if (!a || !b) throw new Error(`LoRA adapters lack ${module}`);
        const at = tf.tidy(() => tf.transpose(tf.tensor2d(a.data, a.shape as [number, number])));
        const bt = tf.tidy(() => tf.transpose(tf.tensor2d(b.data, b.shape as [number, number])));
        this.adapters.set(module, {
          at: trainable ? this.variable(at, `${module}.lora_A.weight`) : tf.keep(at),
          bt: trainable ? this.variable(bt, `${module}.lora_B.weight`) : tf.keep(bt),
        });
      }
    }
    this.rope = new RotaryEmbedding(config.headDim, config);
  }

  private variable<R extends tf.Rank>(value: tf.Tensor<R>, name: string): tf.Variable<R> {
    const v = tf.variable(value, true, this.prefix + name);
    value.dispose();
    this.trainables.push(v);
    return v;
  }

  private param(name: string): tf.Tensor {
    const p = this.params.get(name);
    if (!p) throw new Error(`decoder: missing weight ${name}`);
    return p;
  }

  /** Variables the optimizer updates (all weights, or only the LoRA adapters). */
  trainableVariables(): tf.Variable[] {
    return this.trainables;
  }

  /** x [n, in] → [n, out]: x Wt + b, plus the LoRA path scaling * (x At) Bt when adapted. */
  private linear(module: string, x: tf.Tensor2D, bias: boolean): tf.Tensor2D {
    let y = mm(x, this.param(`${module}.weight`) as tf.Tensor2D);
    if (bias) y = tf.add(y, this.param(`${module}.bias`));
    const adapter = this.adapters.get(module);
    if (adapter && this.lora) y = tf.add(y, tf.mul(mm(mm(x, adapter.at), adapter.bt), loraScaling(this.lora)));
    return y;
  }

  /** One attention block. x [b*s, h] (normed) → [b*s, h]. */
  private attention(layer: number, x: tf.Tensor2D, batch: number, seq: number, keyMask: tf.Tensor | null): tf.Tensor2D {
    const { numHeads, numKvHeads, headDim: d, attentionBias } = this.config;
    const base = `model.layers.${layer}.self_attn`;
    // Projections: q [b, s, nH, d]; k, v [b, s, nKV, d] (1/sqrt(d) is folded into q there).
    const q = this.rope.apply(tf.reshape(this.linear(`${base}.q_proj`, x, attentionBias), [batch, seq, numHeads, d]));
    const k = this.rope.apply(tf.reshape(this.linear(`${base}.k_proj`, x, attentionBias), [batch, seq, numKvHeads, d]));
    const v = tf.reshape(this.linear(`${base}.v_proj`, x, attentionBias), [batch, seq, numKvHeads, d]);
    const merged = groupedAttention(q, k, v, this.masks, keyMask);
    return this.linear(`${base}.o_proj`, merged, false);
  }

  /** One MLP block. x [n, h] (normed) → down(silu(gate x) * up x) [n, h]. */
  private mlp(layer: number, x: tf.Tensor2D): tf.Tensor2D {
    const base = `model.layers.${layer}.mlp`;
    const bias = this.config.mlpBias;
    const gate = this.linear(`${base}.gate_proj`, x, bias);
    const up = this.linear(`${base}.up_proj`, x, bias);
    return this.linear(`${base}.down_proj`, tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D, bias);
  }

  /** Final hidden states after model.norm: ids [b, s] int32 → [b*s, h]. */
  hidden(ids: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor2D {
    const [batch, seq] = ids.shape;
    const eps = this.config.rmsNormEps;
    // keyMask [b, 1, s]: 0 for visible keys, -1e9 for masked ones.
    const keyMask = attentionMask ? tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, "float32")), -1e9), [batch, 1, seq]) : null;
    let x = tf.gather(this.param("model.embed_tokens.weight"), tf.reshape(tf.cast(ids, "int32"), [-1])) as tf.Tensor2D; // [b*s, h]
    for (let layer = 0; layer < this.config.numLayers; layer++) {
      const base = `model.layers.${layer}`;
      const normed = rmsNorm(x, this.param(`${base}.input_layernorm.weight`) as tf.Tensor1D, eps) as tf.Tensor2D;
      x = tf.add(x, this.attention(layer, normed, batch, seq, keyMask));
      const normed2 = rmsNorm(x, this.param(`${base}.post_attention_layernorm.weight`) as tf.Tensor1D, eps) as tf.Tensor2D;
      x = tf.add(x, this.mlp(layer, normed2));
    }
    return rmsNorm(x, this.param("model.norm.weight") as tf.Tensor1D, eps) as tf.Tensor2D;
  }

  /** h [n, hidden] → logits [n, vocab] through lm_head (or the tied embedding). */
  logitsFromHidden(h: tf.Tensor2D): tf.Tensor2D {
    if (this.config.tieWordEmbeddings) return mm(h, tf.transpose(this.param("model.embed_tokens.weight") as tf.Tensor2D));
    return mm(h, this.param("lm_head.weight") as tf.Tensor2D);
  }

  /** ids [b, s] int32 (+ mask [b, s]) → logits [b, s, vocab]. */
  forward(ids: tf.Tensor2D, attentionMask?: tf.Tensor2D): tf.Tensor3D {
    const [batch, seq] = ids.shape;
    return tf.tidy(() => tf.reshape(this.logitsFromHidden(this.hidden(ids, attentionMask)), [batch, seq, this.config.vocabSize]));
  }

  /** Current weights in the HF layout, with LoRA merged in: a plain WeightMap. */
  exportWeights(): WeightMap {
    const weights: WeightMap = new Map();
    for (const [name, value] of this.params) {
      const adapter = this.adapters.get(name.replace(/\.weight$/, ""));
      // A fresh tensor every time (clone when nothing else applies): disposing it below must
      // never dispose the live parameter, so exporting is safe in the middle of training.
      const data = tf.tidy(() => {
        let internal = value;
        if (adapter && this.lora) internal = tf.add(value, tf.mul(tf.matMul(adapter.at, adapter.bt), loraScaling(this.lora)));
        return isLinearWeight(name) || name === "lm_head.weight" ? tf.transpose(internal) : tf.clone(internal);
      });
      weights.set(name, { shape: [...data.shape], data: Float32Array.from(data.dataSync() as Float32Array) });
      data.dispose();
    }
    return weights;
  }

  /** LoRA adapters in their PyTorch layout (A [r, in], B [out, r]); null without LoRA. */
  exportAdapters(): WeightMap | null {
    if (this.lora === null) return null;
    const adapters: WeightMap = new Map();
    const read = (t: tf.Tensor2D): WeightTensor => {
      const data = tf.tidy(() => tf.transpose(t));
      const tensor = { shape: [...data.shape], data: Float32Array.from(data.dataSync() as Float32Array) };
      data.dispose();
      return tensor;
    };
    for (const [module, { at, bt }] of this.adapters) {
      adapters.set(`${module}.lora_A.weight`, read(at));
      adapters.set(`${module}.lora_B.weight`, read(bt));
    }
    return adapters;
  }

  /** Copies of the trainable values (for keeping the best weights seen). */
  snapshot(): tf.Tensor[] {
    return this.trainables.map((v) => tf.keep(tf.clone(v)));
  }

  /** Sets the trainables back to a snapshot (which stays owned by the caller). */
  restore(values: tf.Tensor[]): void {
    this.trainables.forEach((v, i) => v.assign(values[i]));
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const { at, bt } of this.adapters.values()) tf.dispose([at, bt]);
    this.masks.dispose();
    this.params.clear();
    this.adapters.clear();
    this.trainables.length = 0;
    this.rope.dispose();
  }
}

/**
 * Logits at the last position of `ids` with the tfjs decoder (the engine behind
 * `restem forward --engine tfjs`). Initialise a backend first (initBackend). Models too large
 * for the wasm heap go through the streamed engine (src/trainer/streamed/).
 */
export function tfjsForward(config: ModelConfig, weights: WeightMap, ids: readonly number[]): Float32Array {
  if (ids.length === 0) throw new Error("tfjsForward: empty input");
  if (needsStreaming(config)) return streamedForward(config, weights, ids);
  const decoder = new TfDecoder(config, weights, { trainable: false });
  try {
    const logits = tf.tidy(() => {
      const input = tf.tensor2d(Int32Array.from(ids), [1, ids.length], "int32");
      const h = decoder.hidden(input);
      const last = tf.slice(h, [ids.length - 1, 0], [1, config.hiddenSize]);
      return decoder.logitsFromHidden(last);
    });
    const values = Float32Array.from(logits.dataSync() as Float32Array);
    logits.dispose();
    return values;
  } finally {
    decoder.dispose();
  }
}

// One decoder layer of the streamed engine, computed on weights brought into the wasm heap for
// that layer alone (see hostWeights.ts), with optional LoRA adapters.
//
// The math is the trainer's decoder (decoder.ts): RMSNorm, rotate_half RoPE, grouped-query
// attention with the query heads of one KV head stacked along rows, SiLU-gated MLP, residuals.
// Frozen projections go through mmConstant, whose backward computes only dX = dY W (no weight
// gradient is wanted), with W [out, in] brought in beside Wt [in, out]; the forward-only mode
// brings Wt alone and uses plain products with no gradient bookkeeping.

import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "../../model/types";
import { LORA_MODULES, type LoraModule } from "../lora";
import { CausalMasks, groupedAttention, mm, mmConstant, rmsNorm, type RotaryEmbedding } from "../ops";
import type { HostLayer } from "./hostWeights";

/** A layer's weights in the heap; w is present only when a backward pass will run. */
export interface HeapLayer {
  inputNorm: tf.Tensor1D;
  postNorm: tf.Tensor1D;
  wt: Record<LoraModule, tf.Tensor2D>;
  w: Record<LoraModule, tf.Tensor2D> | null;
  bias: Partial<Record<LoraModule, tf.Tensor1D>>;
}

/** LoRA factors of one layer in the trainer's internal layout: At [in, r], Bt [r, out]. */
export type LayerAdapters = Partial<Record<LoraModule, { at: tf.Tensor; bt: tf.Tensor }>>;

/** Copies one layer's frozen weights from the host into the heap (kept outside any tidy). */
export function bringLayer(host: HostLayer, withBackward: boolean): HeapLayer {
  const wt = {} as Record<LoraModule, tf.Tensor2D>;
  const w = withBackward ? ({} as Record<LoraModule, tf.Tensor2D>) : null;
  const bias: Partial<Record<LoraModule, tf.Tensor1D>> = {};
  for (const module of LORA_MODULES) {
    const m = host.linear[module];
    wt[module] = tf.tensor2d(m.wt, [m.in, m.out]);
    if (w) w[module] = tf.tensor2d(m.w, [m.out, m.in]);
    if (m.bias) bias[module] = tf.tensor1d(m.bias);
  }
  return { inputNorm: tf.tensor1d(host.inputNorm), postNorm: tf.tensor1d(host.postNorm), wt, w, bias };
}

/** Frees a layer's heap copies (and with them XNNPACK's packed operators for those weights). */
export function releaseLayer(layer: HeapLayer): void {
  const tensors: tf.Tensor[] = [layer.inputNorm, layer.postNorm, ...Object.values(layer.wt), ...Object.values(layer.bias)];
  if (layer.w) tensors.push(...Object.values(layer.w));
  tf.dispose(tensors);
}

export class LayerMath {
  private readonly masks = new CausalMasks();

  constructor(
    private readonly config: ModelConfig,
    private readonly rope: RotaryEmbedding,
    private readonly loraScale: number,
  ) {}

  private linear(layer: HeapLayer, module: LoraModule, x: tf.Tensor2D, adapters: LayerAdapters | null): tf.Tensor2D {
    let y: tf.Tensor2D = layer.w ? mmConstant(x, layer.wt[module], layer.w[module]) : tf.matMul(x, layer.wt[module]);
    const bias = layer.bias[module];
    if (bias) y = tf.add(y, bias) as tf.Tensor2D;
    const adapter = adapters?.[module];
    if (adapter) y = tf.add(y, tf.mul(mm(mm(x, adapter.at as tf.Tensor2D), adapter.bt as tf.Tensor2D), this.loraScale));
    return y;
  }

  private attention(layer: HeapLayer, x: tf.Tensor2D, batch: number, seq: number, adapters: LayerAdapters | null): tf.Tensor2D {
    const { numHeads, numKvHeads, headDim: d } = this.config;
    const q = this.rope.apply(tf.reshape(this.linear(layer, "q_proj", x, adapters), [batch, seq, numHeads, d]));
    const k = this.rope.apply(tf.reshape(this.linear(layer, "k_proj", x, adapters), [batch, seq, numKvHeads, d]));
    const v = tf.reshape(this.linear(layer, "v_proj", x, adapters), [batch, seq, numKvHeads, d]);
    const merged = groupedAttention(q, k, v, this.masks, null);
    return this.linear(layer, "o_proj", merged, adapters);
  }

  private mlp(layer: HeapLayer, x: tf.Tensor2D, adapters: LayerAdapters | null): tf.Tensor2D {
    const gate = this.linear(layer, "gate_proj", x, adapters);
    const up = this.linear(layer, "up_proj", x, adapters);
    return this.linear(layer, "down_proj", tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as tf.Tensor2D, adapters);
  }

  /** x [b*s, h] → the layer's output [b*s, h] (right padding needs no key mask). */
  apply(layer: HeapLayer, x: tf.Tensor2D, batch: number, seq: number, adapters: LayerAdapters | null): tf.Tensor2D {
    const eps = this.config.rmsNormEps;
    const h = tf.add(x, this.attention(layer, rmsNorm(x, layer.inputNorm, eps) as tf.Tensor2D, batch, seq, adapters)) as tf.Tensor2D;
    return tf.add(h, this.mlp(layer, rmsNorm(h, layer.postNorm, eps) as tf.Tensor2D, adapters)) as tf.Tensor2D;
  }

  dispose(): void {
    this.masks.dispose();
  }
}

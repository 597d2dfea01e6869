// The streamed decoder: forward and LoRA backward of a model whose weights do not fit the wasm
// heap. Frozen weights stay on the host (hostWeights.ts); the heap holds, at any time, one
// layer's weights (or one vocabulary chunk), the per-layer inputs of the current sequence and
// the adapters with their gradients.
//
// Training step of one packed batch (activation checkpointing per decoder layer):
//   1. embedding lookup on the host (frozen, no gradient);
//   2. forward through the layers, each brought in (Wt only) and released, keeping its input;
//   3. final norm, then only the loss positions (completion tokens) go through the output
//      projection, a vocabulary chunk at a time with an online log-sum-exp, so no
//      [tokens, vocab] logits tensor ever exists whole; the chunk logits are kept for the
//      gradient when they are small, recomputed otherwise;
//   4. backward from the last layer down: the layer is brought in again (Wt and W), recomputed
//      from its kept input under tf.grads, giving d(input) and the layer's adapter gradients.
// The loss is the one of loss.ts (reward-weighted NLL over completion tokens / normaliser).

import * as tf from "@tensorflow/tfjs-core";
import { LORA_MODULES, loraScaling, type LoraModule, type LoraSettings } from "../lora";
import type { PackedBatch } from "../loss";
import { RotaryEmbedding, rmsNorm } from "../ops";
import type { HostVocabChunk, HostWeights } from "./hostWeights";
import { bringLayer, LayerMath, releaseLayer, type LayerAdapters } from "./layer";

/** Chunk logits are kept between the two vocabulary passes up to this many floats (256 MB). */
const KEEP_LOGITS_FLOATS = 64 * 1024 * 1024;

export class StreamedDecoder {
  readonly host: HostWeights;
  readonly lora: LoraSettings | null;
  /** Adapted modules per layer, in LORA_MODULES order (the trainable order is layer-major). */
  readonly targets: LoraModule[];
  private readonly rope: RotaryEmbedding;
  private readonly math: LayerMath;

  constructor(host: HostWeights, lora: LoraSettings | null) {
    this.host = host;
    this.lora = lora;
    this.targets = lora ? LORA_MODULES.filter((m) => lora.targetModules.includes(m)) : [];
    this.rope = new RotaryEmbedding(host.config.headDim, host.config);
    this.math = new LayerMath(host.config, this.rope, lora ? loraScaling(lora) : 0);
  }

  /** Layer `layer`'s adapters out of the flat list [at, bt, at, bt, ...] (layer-major). */
  private layerAdapters(adapters: readonly tf.Tensor[] | null, layer: number): LayerAdapters | null {
    if (!adapters || this.targets.length === 0) return null;
    const out: LayerAdapters = {};
    this.targets.forEach((module, j) => {
      const index = 2 * (layer * this.targets.length + j);
      out[module] = { at: adapters[index], bt: adapters[index + 1] };
    });
    return out;
  }

  /** Embedding rows of `ids` gathered on the host: [ids.length, hidden]. */
  private embed(ids: ArrayLike<number>): tf.Tensor2D {
    const h = this.host.config.hiddenSize;
    const out = new Float32Array(ids.length * h);
    for (let i = 0; i < ids.length; i++) out.set(this.host.embedding.subarray(ids[i] * h, (ids[i] + 1) * h), i * h);
    return tf.tensor2d(out, [ids.length, h]);
  }

  /** Forward through every layer; returns the last layer's output and (optionally) each layer's input. */
  private layersForward(ids: ArrayLike<number>, batch: number, seq: number, adapters: readonly tf.Tensor[] | null, keepInputs: boolean): { x: tf.Tensor2D; inputs: tf.Tensor2D[] } {
    let x = this.embed(ids);
    const inputs: tf.Tensor2D[] = [];
    for (let l = 0; l < this.host.layers.length; l++) {
      const weights = bringLayer(this.host.layers[l], false);
      try {
        const input = x;
        const next = tf.tidy(() => this.math.apply(weights, input, batch, seq, this.layerAdapters(adapters, l)));
        if (keepInputs) inputs.push(input);
        else input.dispose();
        x = next;
      } finally {
        releaseLayer(weights);
      }
    }
    return { x, inputs };
  }

  private finalNorm(x: tf.Tensor2D): tf.Tensor2D {
    return rmsNorm(x, tf.tensor1d(this.host.finalNorm), this.host.config.rmsNormEps) as tf.Tensor2D;
  }

  /** Logits at the last position of `ids` (one sequence): [vocab]. */
  lastLogits(ids: readonly number[], adapters: readonly tf.Tensor[] | null = null): Float32Array {
    const n = ids.length;
    const h = this.host.config.hiddenSize;
    const { x } = this.layersForward(ids, 1, n, adapters, false);
    const last = tf.tidy(() => this.finalNorm(tf.slice(x, [n - 1, 0], [1, h])));
    x.dispose();
    const logits = new Float32Array(this.host.config.vocabSize);
    try {
      for (const chunk of this.host.output) {
        const part = tf.tidy(() => tf.matMul(last, tf.tensor2d(chunk.cols, [h, chunk.size])));
        logits.set(part.dataSync() as Float32Array, chunk.start);
        part.dispose();
      }
    } finally {
      last.dispose();
    }
    return logits;
  }

  /**
   * Loss of `batch` / normaliser and, when `adapters` are given and `withGradients`, the
   * gradients aligned with them. With no adapters (or withGradients false) only the loss.
   */
  lossAndGradients(batch: PackedBatch, normaliser: number, adapters: readonly tf.Tensor[] | null, withGradients = true): { loss: number; grads: tf.Tensor[] } {
    const rows: number[] = [];
    for (let i = 0; i < batch.weights.length; i++) if (batch.weights[i] !== 0) rows.push(i);
    const wantGrads = withGradients && adapters !== null && adapters.length > 0;
    if (rows.length === 0) return { loss: 0, grads: wantGrads ? adapters.map((a) => tf.zerosLike(a)) : [] };
    const { x, inputs } = this.layersForward(batch.ids, batch.batch, batch.seqLen, adapters, wantGrads);
    const rowIds = tf.tensor1d(Int32Array.from(rows), "int32");
    try {
      const coefficients = Float32Array.from(rows, (i) => batch.weights[i] / normaliser);
      const selected = tf.tidy(() => tf.gather(this.finalNorm(x), rowIds) as tf.Tensor2D);
      const head = this.outputLoss(selected, rows.map((i) => batch.targets[i]), coefficients, wantGrads);
      selected.dispose();
      if (!wantGrads || head.dSelected === null) {
        x.dispose();
        return { loss: head.loss, grads: [] };
      }
      // d(last layer output) through the final norm and the row selection.
      let dx = tf.tidy(() => {
        const [g] = tf.grads((input: tf.Tensor) => tf.gather(this.finalNorm(input as tf.Tensor2D), rowIds))([x], head.dSelected as tf.Tensor);
        return g as tf.Tensor2D;
      });
      head.dSelected.dispose();
      x.dispose();
      const grads: tf.Tensor[] = new Array<tf.Tensor>(adapters.length);
      for (let l = this.host.layers.length - 1; l >= 0; l--) {
        const weights = bringLayer(this.host.layers[l], true);
        try {
          const layerAdapters = this.layerAdapters(adapters, l) as LayerAdapters;
          const flat = this.targets.flatMap((m) => [layerAdapters[m]?.at as tf.Tensor, layerAdapters[m]?.bt as tf.Tensor]);
          const input = inputs[l];
          const dy = dx;
          const result = tf.tidy(() =>
            tf.grads((...args: tf.Tensor[]) => {
              const local: LayerAdapters = {};
              this.targets.forEach((m, j) => (local[m] = { at: args[1 + 2 * j], bt: args[2 + 2 * j] }));
              return this.math.apply(weights, args[0] as tf.Tensor2D, batch.batch, batch.seqLen, local);
            })([input, ...flat], dy),
          );
          dy.dispose();
          input.dispose();
          dx = result[0] as tf.Tensor2D;
          const base = 2 * l * this.targets.length;
          for (let j = 1; j < result.length; j++) grads[base + j - 1] = result[j];
        } finally {
          releaseLayer(weights);
        }
      }
      dx.dispose();
      return { loss: head.loss, grads };
    } catch (error) {
      tf.dispose(inputs);
      throw error;
    } finally {
      rowIds.dispose();
    }
  }

  /**
   * Weighted cross-entropy of the selected hidden rows [R, h] against `targets`, in vocabulary
   * chunks: loss = sum_r c_r (logsumexp_r - z_r,target), dSelected = d loss / d rows.
   */
  private outputLoss(selected: tf.Tensor2D, targets: number[], coefficients: Float32Array, wantGrads: boolean): { loss: number; dSelected: tf.Tensor2D | null } {
    const h = this.host.config.hiddenSize;
    const count = targets.length;
    const keep = wantGrads && count * this.host.config.vocabSize <= KEEP_LOGITS_FLOATS;
    const targetRows = new Float32Array(count * h);
    targets.forEach((t, r) => targetRows.set(this.host.outputMatrix.subarray(t * h, (t + 1) * h), r * h));
    const chunkLogits = (chunk: HostVocabChunk): tf.Tensor2D => tf.tidy(() => tf.matMul(selected, tf.tensor2d(chunk.cols, [h, chunk.size])));
    const kept: tf.Tensor2D[] = [];
    let runMax: tf.Tensor1D = tf.fill([count], -Infinity) as tf.Tensor1D;
    let runSum: tf.Tensor1D = tf.zeros([count]);
    try {
      for (const chunk of this.host.output) {
        const z = chunkLogits(chunk);
        const [nextMax, nextSum] = tf.tidy(() => {
          const m = tf.maximum(runMax, tf.max(z, 1));
          const s = tf.add(tf.mul(runSum, tf.exp(tf.sub(runMax, m))), tf.sum(tf.exp(tf.sub(z, tf.expandDims(m, 1))), 1));
          return [m, s] as [tf.Tensor1D, tf.Tensor1D];
        });
        tf.dispose([runMax, runSum]);
        runMax = nextMax;
        runSum = nextSum;
        if (keep) kept.push(z);
        else z.dispose();
      }
      const coefficient = tf.tensor2d(coefficients, [count, 1]);
      const targetTensor = tf.tensor2d(targetRows, [count, h]);
      try {
        const lse = tf.tidy(() => tf.add(runMax, tf.log(runSum)));
        const lossTensor = tf.tidy(() => tf.sum(tf.mul(tf.reshape(coefficient, [count]), tf.sub(lse, tf.sum(tf.mul(selected, targetTensor), 1)))));
        const loss = lossTensor.dataSync()[0];
        lossTensor.dispose();
        if (!Number.isFinite(loss)) {
          lse.dispose();
          throw new Error(`streamed engine: the loss is ${loss} (non-finite logits from the backend)`);
        }
        if (!wantGrads) {
          lse.dispose();
          return { loss, dSelected: null };
        }
        let dSelected: tf.Tensor2D = tf.tidy(() => tf.neg(tf.mul(coefficient, targetTensor)) as tf.Tensor2D);
        this.host.output.forEach((chunk, i) => {
          const next = tf.tidy(() => {
            const z = keep ? kept[i] : chunkLogits(chunk);
            const p = tf.mul(tf.exp(tf.sub(z, tf.expandDims(lse, 1))), coefficient);
            return tf.add(dSelected, tf.matMul(p, tf.tensor2d(chunk.rows, [chunk.size, h]))) as tf.Tensor2D;
          });
          dSelected.dispose();
          dSelected = next as tf.Tensor2D;
        });
        lse.dispose();
        return { loss, dSelected };
      } finally {
        tf.dispose([coefficient, targetTensor]);
      }
    } finally {
      tf.dispose([runMax, runSum, ...kept]);
    }
  }

  dispose(): void {
    this.math.dispose();
    this.rope.dispose();
  }
}

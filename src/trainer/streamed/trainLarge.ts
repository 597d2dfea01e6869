// The M-step for models too large for the wasm heap: LoRA on the streamed engine.
//
// The same loop as train.ts (epochs -> optimizer steps -> micro-batches, loss / the step's
// completion tokens, global-norm clipping, AdamW at the scheduled rate) with the same options
// and result; what differs is where things live. The frozen base weights stay on the host
// (hostWeights.ts) and pass through the heap a layer at a time; only the adapters, their
// gradients and the AdamW moments stay in the heap for the whole run. The merged weights are
// computed on the host at the end (W + alpha/r B A, lora.ts's mergeLora).

import * as tf from "@tensorflow/tfjs-core";
import { mulberry32 } from "../../model";
import type { ModelConfig, WeightMap, WeightTensor } from "../../model/types";
import { activeBackendName } from "../backend";
import { initLoraAdapters, loraTargets, mergeLora, type LoraSettings } from "../lora";
import { bucketBatches, packBatch, type PackedBatch, type TrainExample } from "../loss";
import { AdamW, clipByGlobalNorm, learningRateAt } from "../optim";
import { defaultReplicaCount } from "../parallel";
import { hostMemory } from "../preflight";
import { guardStep, type StepInfo, type TrainHooks, type TrainOptions, type TrainResult } from "../train";
import { StreamedDecoder } from "./engine";
import { buildHostWeights } from "./hostWeights";
import { StreamedParallel } from "./parallel";
import { checkStreamedMemory } from "./policy";

/** Adapters as trainable variables in the internal layout (At [in, r], Bt [r, out]), layer-major. */
export function adapterVariables(config: ModelConfig, lora: LoraSettings, adapters: WeightMap): tf.Variable[] {
  const variables: tf.Variable[] = [];
  for (const [module] of loraTargets(config, lora)) {
    for (const part of ["lora_A", "lora_B"]) {
      const tensor = adapters.get(`${module}.${part}.weight`);
      if (!tensor) throw new Error(`LoRA adapters lack ${module}.${part}`);
      const value = tf.tidy(() => tf.transpose(tf.tensor2d(tensor.data, tensor.shape as [number, number])));
      variables.push(tf.variable(value, true));
      value.dispose();
    }
  }
  return variables;
}

/** The adapter variables back in PyTorch layout (A [r, in], B [out, r]) by PEFT name. */
export function exportAdapterVariables(config: ModelConfig, lora: LoraSettings, variables: readonly tf.Variable[]): WeightMap {
  const out: WeightMap = new Map();
  const read = (v: tf.Variable): WeightTensor => {
    const t = tf.tidy(() => tf.transpose(v));
    const tensor = { shape: [...t.shape], data: Float32Array.from(t.dataSync() as Float32Array) };
    t.dispose();
    return tensor;
  };
  loraTargets(config, lora).forEach(([module], i) => {
    out.set(`${module}.lora_A.weight`, read(variables[2 * i]));
    out.set(`${module}.lora_B.weight`, read(variables[2 * i + 1]));
  });
  return out;
}

/** Fine-tunes LoRA adapters of a large model with the streamed engine (see train.ts for the loop). */
export async function trainStreamed(
  config: ModelConfig,
  weights: WeightMap,
  examples: readonly TrainExample[],
  o: TrainOptions,
  lora: LoraSettings,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  // Data parallelism: one wasm instance per replica, all reading one shared copy of the weights.
  const backend = activeBackendName() ?? "wasm";
  const replicas = o.workers ?? (backend === "wasm" ? defaultReplicaCount() : 1);
  checkStreamedMemory(config, replicas, hostMemory().availableBytes);
  const host = buildHostWeights(config, weights, { shared: replicas > 1 });
  const decoder = new StreamedDecoder(host, lora);
  const params = adapterVariables(config, lora, initLoraAdapters(config, lora, o.seed));
  let parallel: StreamedParallel | null = null;
  try {
    parallel = await StreamedParallel.start(replicas, host, lora, params.map((p) => [...p.shape]), backend);
  } catch (error) {
    tf.dispose(params);
    decoder.dispose();
    throw error;
  }
  const optimizer = new AdamW(params, { beta1: o.beta1, beta2: o.beta2, eps: 1e-8, weightDecay: o.weightDecay });
  const batchesPerEpoch = Math.ceil(examples.length / o.batchSize);
  const totalSteps = o.epochs * Math.ceil(batchesPerEpoch / o.gradAccumSteps);
  const schedule = { lr: o.lr ?? 2e-4, warmupSteps: Math.min(o.warmupSteps, Math.floor(totalSteps / 10)), totalSteps, decay: o.decay, minLrRatio: o.minLrRatio };
  const random = mulberry32(o.seed);
  const history: StepInfo[] = [];
  let step = 0;
  // Validation as in train(): the hook scores the merged weights; the best adapters are kept.
  let best: { score: number; values: tf.Tensor[] } | null = null;
  const evaluate = async (): Promise<void> => {
    if (!hooks.validate) return;
    const score = await hooks.validate({ exportWeights: () => mergeLora(weights, exportAdapterVariables(config, lora, params), lora) });
    const improved = best === null || score > best.score;
    if (improved) {
      if (best) tf.dispose(best.values);
      best = { score, values: o.restoreBest ? params.map((p) => tf.clone(p)) : [] };
    }
    hooks.onValidation?.({ step, score, best: improved });
  };
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const batches = bucketBatches(examples, o.batchSize, random);
      for (let first = 0; first < batches.length; first += o.gradAccumSteps) {
        const started = performance.now();
        const micro = batches.slice(first, first + o.gradAccumSteps).map((group) => packBatch(group, o.maxSeqLen, o.padId));
        const normaliser = micro.reduce((sum, b) => sum + b.completionTokens, 0);
        const tokens = micro.reduce((sum, b) => sum + b.realTokens, 0);
        if (normaliser === 0) continue;
        const { loss, grads } = parallel ? await parallel.gradients(decoder, params, micro, normaliser) : localStreamedGradients(decoder, params, micro, normaliser);
        const clipped = clipByGlobalNorm(grads, o.gradClip);
        guardStep(loss, clipped, step + 1, epoch);
        const lr = learningRateAt(step, schedule);
        optimizer.step(clipped.grads, lr);
        tf.dispose(clipped.grads);
        step += 1;
        const seconds = (performance.now() - started) / 1000;
        const info: StepInfo = { step, epoch, loss, lr, tokensPerSecond: tokens / seconds, gradNorm: clipped.norm };
        history.push(info);
        hooks.onStep?.(info);
        if (o.evalInterval > 0 && step % o.evalInterval === 0) await evaluate();
      }
      if (!(o.evalInterval > 0 && step % o.evalInterval === 0)) await evaluate();
    }
    const bestSeen = best as { score: number; values: tf.Tensor[] } | null;
    if (bestSeen && o.restoreBest && bestSeen.values.length > 0) params.forEach((p, i) => p.assign(bestSeen.values[i]));
    const adapters = exportAdapterVariables(config, lora, params);
    return { weights: mergeLora(weights, adapters, lora), adapters, lora, steps: step, bestScore: bestSeen ? bestSeen.score : null, history, backend: activeBackendName() ?? "unknown" };
  } finally {
    const bestSeen = best as { score: number; values: tf.Tensor[] } | null;
    if (bestSeen) tf.dispose(bestSeen.values);
    optimizer.dispose();
    tf.dispose(params);
    decoder.dispose();
    await parallel?.close();
  }
}

/** Loss and adapter gradients of `batches` in this thread alone. */
function localStreamedGradients(decoder: StreamedDecoder, params: readonly tf.Variable[], batches: readonly PackedBatch[], normaliser: number): { loss: number; grads: tf.Tensor[] } {
  let loss = 0;
  let grads: tf.Tensor[] = params.map((p) => tf.zerosLike(p));
  for (const batch of batches) {
    const result = decoder.lossAndGradients(batch, normaliser, params);
    loss += result.loss;
    const summed = grads.map((g, i) => tf.add(g, result.grads[i]));
    tf.dispose([...grads, ...result.grads]);
    grads = summed;
  }
  return { loss, grads };
}

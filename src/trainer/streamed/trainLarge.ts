// The M-step for models too large for the wasm heap: LoRA on the streamed engine.
//
// train.ts's optimise() runs the loop (epochs -> optimizer steps -> micro-batches, clipping,
// AdamW at the scheduled rate, validation) with the same options and result; this file supplies
// the model, and what differs is where things live. The frozen base weights stay on the host
// (hostWeights.ts) and pass through the heap a layer at a time; only the adapters, their
// gradients and the AdamW moments stay in the heap for the whole run. The merged weights are
// computed on the host at the end (W + alpha/r B A, lora.ts's mergeLora).

import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig, WeightMap, WeightTensor } from "../../model/types";
import { activeBackendName } from "../backend";
import { initLoraAdapters, loraTargets, mergeLora, type LoraSettings } from "../lora";
import type { PackedBatch, TrainExample } from "../loss";
import { defaultReplicaCount } from "../parallel";
import { hostMemory } from "../preflight";
import { optimise, type TrainHooks, type TrainOptions, type TrainResult } from "../train";
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
  const workers = parallel;
  try {
    const run = await optimise(
      {
        params,
        gradients: async (micro, normaliser) => (workers ? workers.gradients(decoder, params, micro, normaliser) : localStreamedGradients(decoder, params, micro, normaliser)),
        snapshot: () => params.map((p) => tf.clone(p)),
        restore: (values) => params.forEach((p, i) => p.assign(values[i])),
        // The hook scores the merged weights (merged on the host when it asks).
        forValidation: { exportWeights: () => mergeLora(weights, exportAdapterVariables(config, lora, params), lora) },
      },
      examples,
      o,
      o.lr ?? 2e-4,
      hooks,
    );
    const adapters = exportAdapterVariables(config, lora, params);
    return { weights: mergeLora(weights, adapters, lora), adapters, lora, ...run, backend: activeBackendName() ?? "unknown" };
  } finally {
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

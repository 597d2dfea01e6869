// Entry point of a gradient worker (a worker_thread started by parallel.ts).
//
// The worker holds a replica of the decoder on its own TensorFlow.js backend instance (its own
// wasm module, so its kernels run on another core). Per optimizer step it receives the current
// trainable values and a shard of the step's rows, and answers with that shard's loss and
// gradients as Float32Arrays (transferred, not copied). It never updates weights itself: the
// optimizer runs once, in the thread that owns the training loop.

import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import type { WeightMap } from "../model/types";
import { initBackend } from "./backend";
import { TfDecoder } from "./decoder";
import { localGradients, type FromWorker, type ToWorker, type WorkerInit } from "./shards";

let decoder: TfDecoder | null = null;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

async function start(init: WorkerInit): Promise<void> {
  await initBackend(init.backend);
  const weights: WeightMap = new Map(init.weights);
  decoder = new TfDecoder(init.config, weights, { lora: init.lora });
  send({ kind: "ready", trainables: decoder.trainableVariables().length });
}

function gradients(message: Extract<ToWorker, { kind: "gradients" }>): void {
  if (!decoder) throw new Error("gradient worker: not initialised");
  const params = decoder.trainableVariables();
  if (message.values.length !== params.length) throw new Error(`gradient worker: ${message.values.length} values for ${params.length} trainables`);
  tf.tidy(() => params.forEach((p, i) => p.assign(tf.tensor(message.values[i], p.shape, "float32"))));
  const { loss, grads } = localGradients(decoder, params, message.batches, message.normaliser);
  // dataSync on wasm returns a fresh copy of the heap bytes, so the buffers can be handed over;
  // other backends may return their own storage, which is copied first.
  const fresh = tf.getBackend() === "wasm";
  const arrays = grads.map((g) => (fresh ? (g.dataSync() as Float32Array) : Float32Array.from(g.dataSync() as Float32Array)));
  tf.dispose(grads);
  send({ kind: "gradients", id: message.id, loss, grads: arrays }, arrays.map((a) => a.buffer as ArrayBuffer));
}

parentPort?.on("message", (message: ToWorker) => {
  void (async () => {
    try {
      if (message.kind === "init") await start(message.init);
      else if (message.kind === "gradients") gradients(message);
      else {
        decoder?.dispose();
        decoder = null;
        parentPort?.close();
      }
    } catch (error) {
      send({ kind: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  })();
});

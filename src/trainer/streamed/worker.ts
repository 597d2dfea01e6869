// Entry point of a streamed-engine gradient worker (a worker_thread started by streamed/parallel.ts).
//
// The worker runs its own wasm instance (its own core) on the SAME frozen base weights as the
// training thread: HostWeights built with shared: true live in SharedArrayBuffers, which
// worker_threads pass by reference. Per step it receives the adapter values and its rows, and
// answers with their loss and adapter gradients (transferred Float32Arrays).

import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, type TrainerBackendName } from "../backend";
import type { LoraSettings } from "../lora";
import type { PackedBatch } from "../loss";
import { StreamedDecoder } from "./engine";
import type { HostWeights } from "./hostWeights";

export type ToStreamedWorker =
  | { kind: "init"; host: HostWeights; lora: LoraSettings; shapes: number[][]; backend: TrainerBackendName }
  | { kind: "gradients"; values: Float32Array[]; batches: PackedBatch[]; normaliser: number }
  | { kind: "close" };

export type FromStreamedWorker = { kind: "ready" } | { kind: "gradients"; loss: number; grads: Float32Array[] } | { kind: "error"; message: string };

let decoder: StreamedDecoder | null = null;
let shapes: number[][] = [];

function send(message: FromStreamedWorker, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function gradients(message: Extract<ToStreamedWorker, { kind: "gradients" }>): void {
  if (!decoder) throw new Error("streamed gradient worker: not initialised");
  const adapters = message.values.map((v, i) => tf.tensor(v, shapes[i], "float32"));
  let loss = 0;
  let grads: tf.Tensor[] = adapters.map((a) => tf.zerosLike(a));
  try {
    for (const batch of message.batches) {
      const result = decoder.lossAndGradients(batch, message.normaliser, adapters);
      loss += result.loss;
      const summed = grads.map((g, i) => tf.add(g, result.grads[i]));
      tf.dispose([...grads, ...result.grads]);
      grads = summed;
    }
    const arrays = grads.map((g) => Float32Array.from(g.dataSync() as Float32Array));
    send({ kind: "gradients", loss, grads: arrays }, arrays.map((a) => a.buffer as ArrayBuffer));
  } finally {
    tf.dispose([...adapters, ...grads]);
  }
}

parentPort?.on("message", (message: ToStreamedWorker) => {
  void (async () => {
    try {
      if (message.kind === "init") {
        await initBackend(message.backend);
        decoder = new StreamedDecoder(message.host, message.lora);
        shapes = message.shapes;
        send({ kind: "ready" });
      } else if (message.kind === "gradients") {
        gradients(message);
      } else {
        decoder?.dispose();
        decoder = null;
        parentPort?.close();
      }
    } catch (error) {
      send({ kind: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  })();
});

// Data parallelism for the streamed engine: the rows of a step are dealt out, one sequence at a
// time, between this thread and streamed gradient workers (worker.ts), which all read the same
// frozen weights from SharedArrayBuffers; their adapter gradients are added here. As in
// ../parallel.ts the sum equals the single-thread gradient up to float rounding, because the
// step's loss is a sum over rows, each divided by the same normaliser.

import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import type { TrainerBackendName } from "../backend";
import type { LoraSettings } from "../lora";
import type { PackedBatch } from "../loss";
import { batchRows } from "../shards";
import type { StreamedDecoder } from "./engine";
import type { HostWeights } from "./hostWeights";
import type { FromStreamedWorker, ToStreamedWorker } from "./worker";

/** Every row of `batches` as its own one-row batch, dealt round-robin to `parts` replicas. */
export function dealRows(batches: readonly PackedBatch[], parts: number): PackedBatch[][] {
  const shards: PackedBatch[][] = Array.from({ length: parts }, () => []);
  let next = 0;
  for (const batch of batches) {
    for (let row = 0; row < batch.batch; row++) {
      const piece = batchRows(batch, row, row + 1);
      if (piece.completionTokens === 0) continue;
      shards[next % parts].push(piece);
      next++;
    }
  }
  return shards;
}

class StreamedWorker {
  private pending: { resolve: (m: FromStreamedWorker) => void; reject: (e: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(private readonly worker: Worker) {
    worker.on("message", (m: FromStreamedWorker) => this.settle(m.kind === "error" ? new Error(`streamed gradient worker: ${m.message}`) : m));
    worker.on("error", (e: Error) => this.settle(e));
    worker.on("exit", (code) => this.settle(new Error(`streamed gradient worker exited (code ${code})`)));
  }

  private settle(outcome: FromStreamedWorker | Error): void {
    const pending = this.pending;
    this.pending = null;
    if (outcome instanceof Error) {
      this.failure ??= outcome;
      pending?.reject(outcome);
    } else pending?.resolve(outcome);
  }

  request(message: ToStreamedWorker): Promise<FromStreamedWorker> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage({ kind: "close" } satisfies ToStreamedWorker);
    await this.worker.terminate();
  }
}

export class StreamedParallel {
  private constructor(private readonly workers: StreamedWorker[]) {}

  /** Starts replicas - 1 workers on `host` (which must be built with shared: true); null when replicas <= 1. */
  static async start(replicas: number, host: HostWeights, lora: LoraSettings, shapes: number[][], backend: TrainerBackendName): Promise<StreamedParallel | null> {
    const script = path.join(__dirname, "worker.js");
    if (replicas <= 1 || !fs.existsSync(script)) return null;
    const workers = Array.from({ length: replicas - 1 }, () => new StreamedWorker(new Worker(script)));
    const parallel = new StreamedParallel(workers);
    try {
      for (const answer of await Promise.all(workers.map((w) => w.request({ kind: "init", host, lora, shapes, backend })))) {
        if (answer.kind !== "ready") throw new Error(`streamed gradient worker: unexpected answer ${answer.kind}`);
      }
    } catch (error) {
      await parallel.close();
      throw error;
    }
    return parallel;
  }

  /** Loss and adapter gradients of `batches` / normaliser, rows dealt over this thread and the workers. */
  async gradients(decoder: StreamedDecoder, params: readonly tf.Variable[], batches: readonly PackedBatch[], normaliser: number): Promise<{ loss: number; grads: tf.Tensor[] }> {
    const shards = dealRows(batches, this.workers.length + 1);
    const values = params.map((p) => p.dataSync() as Float32Array);
    const remote = this.workers.map((w, i) => (shards[i + 1].length === 0 ? Promise.resolve(null) : w.request({ kind: "gradients", values, batches: shards[i + 1], normaliser })));
    remote.forEach((r) => r.catch(() => undefined));
    let loss = 0;
    let grads: tf.Tensor[] = params.map((p) => tf.zerosLike(p));
    const add = (more: tf.Tensor[]): void => {
      const summed = grads.map((g, i) => tf.add(g, more[i]));
      tf.dispose([...grads, ...more]);
      grads = summed;
    };
    try {
      for (const batch of shards[0]) {
        const result = decoder.lossAndGradients(batch, normaliser, params);
        loss += result.loss;
        add(result.grads);
      }
      for (const answer of await Promise.all(remote)) {
        if (answer === null) continue;
        if (answer.kind !== "gradients" || answer.grads.length !== params.length) throw new Error("streamed gradient worker: mismatched answer");
        loss += answer.loss;
        add(answer.grads.map((g, i) => tf.tensor(g, params[i].shape, "float32")));
      }
    } catch (error) {
      tf.dispose(grads);
      throw error;
    }
    return { loss, grads };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

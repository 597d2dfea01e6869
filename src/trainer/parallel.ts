// Data parallelism for the trainer: the rows of each optimizer step are split between this
// thread and gradient workers (worker_threads running worker.ts, each with its own
// TensorFlow.js wasm instance, since tfjs runs wasm single-threaded under Node).
//
// Per step: the current trainable values go to every worker (as Float32Arrays), each worker
// computes the loss and gradients of its shard of rows while this thread computes its own
// shard, and the gradients are added here (see shards.ts for why that equals the
// single-process gradient up to float rounding). Clipping and the AdamW update then run once,
// in this thread, exactly as without workers. With N replicas, N - 1 workers are started.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs-core";
import type { TfDecoder } from "./decoder";
import { workerFailure } from "./failures";
import type { PackedBatch } from "./loss";
import { localGradients, shardBatches, type FromWorker, type LocalGradients, type ToWorker, type WorkerInit } from "./shards";

/** Replicas used when the caller does not say: one per core, at most 2. */
export function defaultReplicaCount(): number {
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

/** The compiled worker entry next to this file; null where it is absent (e.g. in a bundle). */
export function workerScriptPath(): string | null {
  const script = path.join(__dirname, "worker.js");
  return fs.existsSync(script) ? script : null;
}

type Answer = Extract<FromWorker, { kind: "gradients" }>;

/** One worker thread with at most one request in flight. */
class GradientWorker {
  private pending: { resolve: (message: FromWorker) => void; reject: (error: Error) => void } | null = null;
  private failure: Error | null = null;

  constructor(
    private readonly worker: Worker,
    index: number,
  ) {
    // Every way a worker can fail (its error, a wasm abort, out of memory, an exit) is named.
    worker.on("message", (message: FromWorker) => this.settle(message.kind === "error" ? workerFailure(index, message.message) : message));
    worker.on("error", (error: Error & { code?: string }) => this.settle(workerFailure(index, `${error.code ? error.code + ": " : ""}${error.message}`)));
    worker.on("exit", (code) => this.settle(workerFailure(index, `the worker thread exited (code ${code}) without an answer`)));
  }

  private settle(outcome: FromWorker | Error): void {
    const pending = this.pending;
    this.pending = null;
    if (outcome instanceof Error) {
      this.failure ??= outcome;
      pending?.reject(outcome);
    } else {
      pending?.resolve(outcome);
    }
  }

  /** Posts `message` and resolves with the worker's next answer. */
  request(message: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error("gradient worker: a request is already in flight"));
    return new Promise<FromWorker>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message, transfer);
    });
  }

  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage({ kind: "close" } satisfies ToWorker);
    await this.worker.terminate();
  }
}

export class DataParallel {
  private nextId = 0;

  private constructor(private readonly workers: GradientWorker[]) {}

  /**
   * Starts `replicas - 1` workers holding a replica of the decoder described by `init`.
   * Returns null (train in-process) when replicas <= 1 or the worker script is missing; throws
   * when a worker fails to start.
   */
  static async start(replicas: number, init: WorkerInit, trainables: number): Promise<DataParallel | null> {
    const script = workerScriptPath();
    if (replicas <= 1 || script === null) return null;
    const workers = Array.from({ length: replicas - 1 }, (_, i) => new GradientWorker(new Worker(script), i));
    const parallel = new DataParallel(workers);
    try {
      const answers = await Promise.all(workers.map((w) => w.request({ kind: "init", init })));
      for (const answer of answers) {
        if (answer.kind !== "ready" || answer.trainables !== trainables) throw new Error(`gradient worker: unexpected answer to init (${answer.kind})`);
      }
    } catch (error) {
      await parallel.close();
      throw error;
    }
    return parallel;
  }

  /** Threads computing gradients, this one included. */
  get replicas(): number {
    return this.workers.length + 1;
  }

  /** The loss and gradients of `batches` (each loss / normaliser), split over the replicas. */
  async gradients(decoder: TfDecoder, params: readonly tf.Variable[], batches: readonly PackedBatch[], normaliser: number): Promise<LocalGradients> {
    const shards = shardBatches(batches, this.replicas);
    const id = this.nextId++;
    // The values are read once; structured cloning gives each worker its own copy.
    const values = shards.slice(1).some((shard) => shard.length > 0) ? params.map((p) => p.dataSync() as Float32Array) : [];
    const remote = this.workers.map((worker, i) =>
      shards[i + 1].length === 0 ? Promise.resolve(null) : worker.request({ kind: "gradients", id, values, batches: shards[i + 1], normaliser }),
    );
    // Errors of the remote requests are awaited below, after the local share is done.
    remote.forEach((request) => request.catch(() => undefined));
    const local = localGradients(decoder, params, shards[0], normaliser);
    let answers: Array<FromWorker | null>;
    try {
      answers = await Promise.all(remote);
    } catch (error) {
      tf.dispose(local.grads);
      throw error;
    }
    let { loss, grads } = local;
    for (const answer of answers) {
      if (answer === null) continue;
      if (answer.kind !== "gradients" || answer.id !== id || answer.grads.length !== params.length) {
        tf.dispose(grads);
        throw new Error("gradient worker: mismatched answer");
      }
      loss += answer.loss;
      grads = addRemote(grads, answer, params);
    }
    return { loss, grads };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** grads[i] + the worker's gradient i, disposing the old tensors. */
function addRemote(grads: tf.Tensor[], answer: Answer, params: readonly tf.Variable[]): tf.Tensor[] {
  const summed = tf.tidy(() => grads.map((g, i) => tf.add(g, tf.tensor(answer.grads[i], params[i].shape, "float32"))));
  tf.dispose(grads);
  return summed;
}

// The worker thread a run executes in (started by RunSession): the trainer's steps are CPU-bound
// JavaScript and WebAssembly, and run on the thread that calls them, so a run on the extension
// host's own thread would freeze every extension for the length of each training step. Here the
// engine runs beside it: events go to the host as messages, and a "stop" message aborts the run
// at its next safe point. Pure of vscode.
//
//   host -> worker: { type: "stop" }
//   worker -> host: { type: "event", event: RunEvent } ... then { type: "end", outcome } or { type: "end", error }

import { parentPort, workerData } from "node:worker_threads";
import { executeRun, type RunEvent, type RunOutcome } from "../restem";

export interface RunWorkerData {
  store: string;
  runId: string;
  /** The run's lock, handed over by the host (a run it just created); absent: the worker takes it. */
  lockToken?: string;
}

export type FromRunWorker = { type: "event"; event: RunEvent } | { type: "end"; outcome: RunOutcome } | { type: "end"; error: { message: string; stack: string | null } };

export type ToRunWorker = { type: "stop" };

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error("runWorker.js runs only as a worker thread (RunSession starts it)");
  const { store, runId, lockToken } = workerData as RunWorkerData;
  const controller = new AbortController();
  port.on("message", (message: ToRunWorker) => {
    if (message.type === "stop") controller.abort();
  });
  const post = (message: FromRunWorker): void => port.postMessage(message);
  executeRun(store, runId, { signal: controller.signal, onEvent: (event) => post({ type: "event", event }), adoptLock: lockToken }).then(
    (outcome) => post({ type: "end", outcome }),
    (error: unknown) => {
      const failure = error instanceof Error ? error : new Error(String(error));
      post({ type: "end", error: { message: failure.message, stack: failure.stack ?? null } });
    },
  );
}

main();

// The run the extension host is executing: creates runs (createRun), executes and resumes them
// with executeRun in a worker thread (src/ui/runWorker.ts: training steps would otherwise block
// the extension host), stops them at their next safe point, and fans their events out to the
// views (tree, dashboard, status bar, progress, output channel). One run at a time: the E-step,
// the sandbox and the trainer each want every core. A new run's lock (run.lock) is taken by
// createRunLocked here and handed to the worker, so the run is never unlocked in between; a
// lock the worker leaves behind (a crash of the thread) is removed when it ends. Pure of
// vscode, so it is tested with the real engine; also here, the one-line log format of run
// events for the output channel.

import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { createRunLocked, releaseThreadLocks, runPaths, type RestemConfig, type RunEvent, type RunOutcome } from "../restem";
import type { FromRunWorker, RunWorkerData, ToRunWorker } from "./runWorker";
import { percent, phaseName } from "./runTreeModel";

/** The compiled worker next to this file: out/src/ui/runWorker.js, or dist/runWorker.js in the bundle. */
export function runWorkerScript(): string {
  const script = path.join(__dirname, "runWorker.js");
  if (!fs.existsSync(script)) throw new Error(`the run worker ${script} is missing: rebuild restem (npm run build)`);
  return script;
}

export type RunEventListener = (runId: string, event: RunEvent) => void;
export type RunEndListener = (runId: string, outcome: RunOutcome | null, error: Error | null) => void;

export interface ActiveRun {
  runId: string;
  store: string;
  /** Resolves when the run ends (completed, cancelled or failed); never rejects. */
  done: Promise<RunOutcome | null>;
}

export class RunSession {
  private active: (ActiveRun & { worker: Worker }) | null = null;
  private readonly eventListeners = new Set<RunEventListener>();
  private readonly endListeners = new Set<RunEndListener>();

  /** The run in progress, or null. */
  get current(): ActiveRun | null {
    return this.active;
  }

  isRunning(runId: string): boolean {
    return this.active?.runId === runId;
  }

  onEvent(listener: RunEventListener): { dispose(): void } {
    this.eventListeners.add(listener);
    return { dispose: () => this.eventListeners.delete(listener) };
  }

  onEnd(listener: RunEndListener): { dispose(): void } {
    this.endListeners.add(listener);
    return { dispose: () => this.endListeners.delete(listener) };
  }

  /** Creates a run from a validated config and starts it; `file` names the config in errors. */
  async start(store: string, config: RestemConfig, file: string): Promise<ActiveRun> {
    this.assertIdle();
    const { id, lock } = await createRunLocked(store, config, { file });
    return this.execute(store, id, lock.handOff());
  }

  /** Continues a cancelled, failed or interrupted run from its first unfinished piece of work. */
  resume(store: string, runId: string): ActiveRun {
    this.assertIdle();
    return this.execute(store, runId);
  }

  /** Asks the run to stop at its next safe point; true when a run was going. */
  stop(): boolean {
    if (this.active === null) return false;
    this.active.worker.postMessage({ type: "stop" } satisfies ToRunWorker);
    return true;
  }

  /** Stops the run and waits for it to reach its safe point (extension deactivation). */
  async dispose(): Promise<void> {
    const active = this.active;
    if (active === null) return;
    this.stop();
    await active.done;
  }

  private assertIdle(): void {
    if (this.active !== null) throw new Error(`run ${this.active.runId} is still going: stop it (ReST-EM: Stop Run) or wait for it to finish`);
  }

  /** Runs `runId` in a worker thread; `lockToken`: the run's lock, handed over for the worker to adopt. */
  private execute(store: string, runId: string, lockToken?: string): ActiveRun {
    const emit = (event: RunEvent): void => {
      for (const listener of this.eventListeners) {
        try {
          listener(runId, event);
        } catch {
          // A view's failure never reaches the run.
        }
      }
    };
    let worker: Worker;
    try {
      worker = new Worker(runWorkerScript(), { workerData: { store, runId, lockToken } satisfies RunWorkerData });
    } catch (error) {
      if (lockToken !== undefined) void releaseThreadLocks(runPaths(store, runId).dir, { token: lockToken });
      throw error;
    }
    const threadId = worker.threadId;
    const done = new Promise<RunOutcome | null>((resolve) => {
      let ended = false;
      const end = (outcome: RunOutcome | null, error: Error | null): void => {
        if (ended) return;
        ended = true;
        // The worker releases the run's lock itself; one it left (it died) is removed here.
        void releaseThreadLocks(runPaths(store, runId).dir, { token: lockToken, thread: threadId })
          .catch(() => undefined)
          .then(() => resolve(this.finish(runId, outcome, error)));
        void worker.terminate();
      };
      worker.on("message", (message: FromRunWorker) => {
        if (message.type === "event") emit(message.event);
        else if ("outcome" in message) end(message.outcome, null);
        else end(null, Object.assign(new Error(message.error.message), { stack: message.error.stack ?? undefined }));
      });
      worker.on("error", (error) => end(null, error));
      worker.on("exit", (code) => end(null, new Error(`the run's worker thread exited (code ${code}) before the run ended; Resume Run continues it`)));
    });
    this.active = { runId, store, worker, done };
    return this.active;
  }

  private finish(runId: string, outcome: RunOutcome | null, error: Error | null): RunOutcome | null {
    if (this.active?.runId === runId) this.active = null;
    for (const listener of this.endListeners) {
      try {
        listener(runId, outcome, error);
      } catch {
        // As above.
      }
    }
    return outcome;
  }
}


/** One line of the run log for an event, or null for events too frequent to log (per sample). */
export function formatRunEvent(event: RunEvent): string | null {
  const time = event.time.slice(11, 19);
  const line = (text: string): string => `[${time}] ${text}`;
  switch (event.type) {
    case "run_started":
      return line(`run ${event.id} started: ${event.variant}, ${event.iterations} iteration(s), ${event.problems} problems (train ${event.splits.train}, validation ${event.splits.validation}, test ${event.splits.test})`);
    case "run_resumed":
      return line(`run ${event.id} resumed at iteration ${event.iteration} ${phaseName(event.phase)}`);
    case "phase_started":
      return line(`iteration ${event.iteration}: ${phaseName(event.phase)} started${event.total > 0 ? ` (${event.total} samples)` : ""}`);
    case "phase_done":
      return line(`iteration ${event.iteration}: ${phaseName(event.phase)} done ${summarize(event.summary)}`);
    case "problem_error":
      return line(`iteration ${event.iteration} ${phaseName(event.phase)}: problem ${event.problem_id} failed: ${event.message}`);
    case "validation":
      return line(`iteration ${event.iteration} M-step: validation reward ${percent(event.score)} after step ${event.step}${event.best ? " (best so far)" : ""}`);
    case "train_step":
      return event.step % 10 === 0 || event.step === 1 ? line(`iteration ${event.iteration} M-step: step ${event.step} epoch ${event.epoch + 1} loss ${event.loss.toFixed(4)} (${Math.round(event.tokensPerSecond)} tokens/s)`) : null;
    case "run_completed":
      return line("run completed");
    case "run_cancelled":
      return line(`run cancelled${event.phase ? ` during iteration ${event.iteration} ${phaseName(event.phase)}` : ""}; Resume Run continues it`);
    case "run_failed":
      return line(`run failed: ${event.message}`);
    case "log":
      return line(event.message);
    case "sandbox":
      return line(`sandbox: ${event.message}`);
    case "sample_judged":
      return null;
  }
}

/** A phase summary as "key value, ..." with fractions as percentages. */
function summarize(summary: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(summary)) {
    if (typeof value === "number") parts.push(`${key} ${Number.isInteger(value) || value > 1 ? Number(value.toFixed(3)) : percent(value)}`);
    else if (typeof value === "string") parts.push(`${key} ${value}`);
  }
  return parts.length > 0 ? `(${parts.join(", ")})` : "";
}

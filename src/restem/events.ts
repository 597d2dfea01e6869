// What a run reports while it goes, and how it is recorded. Every event goes to the caller's
// listener (the CLI's progress bars, later the VS Code views); the durable ones are also
// appended to events.jsonl, which is also how resume knows which pieces of work are finished
// (a piece is done when its phase_done event is on disk). Progress events (one per sample or
// training step) are not persisted: samples.jsonl already holds every sample.

import { JsonlAppender } from "./store";

/** The pieces of work of a run, in the order Algorithm 1 does them. */
export type Phase = "eval" | "estep" | "filter" | "mstep";

/** Events appended to events.jsonl (docs/run-store.md). */
export type DurableEvent =
  | { type: "run_started"; id: string; iterations: number; variant: string; problems: number; splits: { train: number; validation: number; test: number } }
  | { type: "run_resumed"; id: string; iteration: number; phase: Phase }
  | { type: "phase_started"; iteration: number; phase: Phase; total: number }
  | { type: "phase_done"; iteration: number; phase: Phase; summary: Record<string, unknown> }
  | { type: "problem_error"; iteration: number; phase: Phase; problem_id: string; message: string }
  | { type: "validation"; iteration: number; step: number; score: number; best: boolean }
  | { type: "run_completed" }
  | { type: "run_cancelled"; iteration: number; phase: Phase | null }
  | { type: "run_failed"; message: string }
  /** What the sandbox said: its image being built, containers of dead processes removed, Docker lost or back. */
  | { type: "sandbox"; message: string };

/** Events only the listener sees. */
export type ProgressEvent =
  | { type: "sample_judged"; iteration: number; phase: Phase; problem_id: string; index: number; reward: number; done: number; total: number }
  | { type: "train_step"; iteration: number; step: number; epoch: number; loss: number; lr: number; tokensPerSecond: number }
  | { type: "log"; message: string };

export type RunEvent = (DurableEvent | ProgressEvent) & { time: string };

export type RunListener = (event: RunEvent) => void;

const DURABLE = new Set<string>(["run_started", "run_resumed", "phase_started", "phase_done", "problem_error", "validation", "run_completed", "run_cancelled", "run_failed", "sandbox"]);

export function isDurable(event: DurableEvent | ProgressEvent): event is DurableEvent {
  return DURABLE.has(event.type);
}

/**
 * The run's event sink: stamps the time, hands every event to the listener (a throwing
 * listener never breaks the run), and appends the durable ones to events.jsonl.
 */
export class EventLog {
  private readonly appender: JsonlAppender;

  constructor(
    file: string,
    private readonly listener: RunListener | undefined,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.appender = new JsonlAppender(file);
  }

  /** Reports an event; for durable events, resolves once it is on disk. */
  async emit(event: DurableEvent | ProgressEvent): Promise<void> {
    const stamped = { time: this.now().toISOString(), ...event } as RunEvent;
    try {
      this.listener?.(stamped);
    } catch {
      // The UI's problem, not the run's.
    }
    if (isDurable(event)) await this.appender.append(stamped);
  }

  /** Reports a progress event without waiting (never persisted). */
  progress(event: ProgressEvent): void {
    void this.emit(event);
  }

  async flush(): Promise<void> {
    await this.appender.flush();
  }
}

/** A piece of work: one phase of one iteration. */
export interface WorkItem {
  iteration: number;
  phase: Phase;
}

export const workKey = (item: WorkItem): string => `${item.iteration}:${item.phase}`;

/**
 * The run's pieces of work in order: the base model's evaluation (iteration 0), then per
 * iteration E-step, filter, M-step, evaluation. SFT has no E-step (its filter takes the human
 * solutions).
 */
export function workPlan(iterations: number, variant: "restem" | "sft"): WorkItem[] {
  const plan: WorkItem[] = [{ iteration: 0, phase: "eval" }];
  for (let i = 1; i <= iterations; i++) {
    if (variant === "restem") plan.push({ iteration: i, phase: "estep" });
    plan.push({ iteration: i, phase: "filter" }, { iteration: i, phase: "mstep" }, { iteration: i, phase: "eval" });
  }
  return plan;
}

/** What resume needs to know about a store: finished pieces, and which iterations have weights. */
export interface StoreState {
  /** workKey of every phase_done event. */
  done: ReadonlySet<string>;
  /** Iterations whose weights/ directory holds a complete model. */
  weights: ReadonlySet<number>;
}

/** True when `item` is finished: its phase_done event is recorded (and, for an M-step, its weights exist). */
export function isWorkDone(item: WorkItem, state: StoreState): boolean {
  if (!state.done.has(workKey(item))) return false;
  return item.phase !== "mstep" || state.weights.has(item.iteration);
}

/**
 * The first unfinished piece of work, or null when the run is complete. Everything after it
 * is redone even if recorded (e.g. an evaluation of weights that were trained again), except
 * that partial sample files are continued, not restarted.
 */
export function nextWork(plan: readonly WorkItem[], state: StoreState): WorkItem | null {
  return plan.find((item) => !isWorkDone(item, state)) ?? null;
}

/** The StoreState recorded in a list of events (and the iterations found with weights). */
export function storeStateFrom(events: readonly { type: string; iteration?: number; phase?: string }[], weights: Iterable<number>): StoreState {
  const done = new Set<string>();
  for (const event of events) {
    if (event.type === "phase_done" && typeof event.iteration === "number" && typeof event.phase === "string") {
      done.add(workKey({ iteration: event.iteration, phase: event.phase as Phase }));
    }
  }
  return { done, weights: new Set(weights) };
}

// A fixed-size pool of warm sandbox slots (containers running the judge server).
//
// `use(work)` lends a slot to one piece of work at a time. A slot that comes back
// unhealthy (its program broke out of its limits, its server died, it stopped
// answering) is disposed of and a fresh one is started in its place, so later runs
// never inherit a dirty container. Slots start lazily up to `size`, or all at once
// with `warm()`. The pool knows slots only through the SandboxSlot interface, which
// lets its unit tests use a fake factory.

import type { SandboxSlot } from "./container";

export type SlotFactory = () => Promise<SandboxSlot>;

export interface PoolStats {
  started: number;
  replaced: number;
  live: number;
  idle: number;
  waiting: number;
}

interface Waiter {
  resolve: (slot: SandboxSlot) => void;
  reject: (error: Error) => void;
}

export class SandboxPool {
  private readonly idle: SandboxSlot[] = [];
  private readonly waiters: Waiter[] = [];
  private live = 0;
  private started = 0;
  private replaced = 0;
  private closed = false;

  constructor(
    private readonly factory: SlotFactory,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`sandbox pool size must be a positive integer, got ${size}`);
  }

  stats(): PoolStats {
    return {
      started: this.started,
      replaced: this.replaced,
      live: this.live,
      idle: this.idle.length,
      waiting: this.waiters.length,
    };
  }

  /** Starts every slot now; fails if none could be started. */
  async warm(): Promise<void> {
    const missing = this.size - this.live;
    const slots = await Promise.allSettled(Array.from({ length: missing }, () => this.startSlot()));
    const failures = slots.filter((s): s is PromiseRejectedResult => s.status === "rejected");
    for (const slot of slots) if (slot.status === "fulfilled") this.release(slot.value);
    if (failures.length === missing && missing > 0) throw failures[0].reason as Error;
  }

  /** Runs work with a slot lent for its duration. */
  async use<T>(work: (slot: SandboxSlot) => Promise<T>): Promise<T> {
    const slot = await this.acquire();
    try {
      return await work(slot);
    } finally {
      this.release(slot);
    }
  }

  private acquire(): Promise<SandboxSlot> {
    if (this.closed) return Promise.reject(new Error("sandbox pool is closed"));
    const slot = this.idle.pop();
    if (slot) return Promise.resolve(slot);
    if (this.live < this.size) return this.startSlot();
    return new Promise<SandboxSlot>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(slot: SandboxSlot): void {
    if (this.closed) {
      this.retire(slot);
      return;
    }
    if (!slot.healthy) {
      this.retire(slot);
      this.replaced++;
      this.refill();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(slot);
    else this.idle.push(slot);
  }

  /**
   * Starts slots for waiters while there is room. Every place where room appears calls it
   * (a slot retired, a start that failed): a waiter left in the queue with no slot on its way
   * would wait forever, and a process waiting on nothing but it exits as if it had finished.
   */
  private refill(): void {
    while (this.waiters.length > 0 && this.live < this.size && !this.closed) {
      const waiter = this.waiters.shift()!;
      this.startSlot().then(waiter.resolve, waiter.reject);
    }
  }

  private async startSlot(): Promise<SandboxSlot> {
    this.live++;
    try {
      const slot = await this.factory();
      this.started++;
      return slot;
    } catch (error) {
      this.live--;
      this.refill();
      throw error;
    }
  }

  private retire(slot: SandboxSlot): void {
    this.live--;
    void slot.dispose().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error("sandbox pool is closed"));
    const idle = this.idle.splice(0);
    this.live -= idle.length;
    await Promise.all(idle.map((slot) => slot.dispose().catch(() => undefined)));
  }
}

// Unit tests of the sandbox pool's logic with a fake slot factory.
// The real containers are exercised by test/integration/sandbox.test.ts.
import assert from "node:assert/strict";
import type { SandboxSlot } from "../../src/sandbox/container";
import { SandboxPool } from "../../src/sandbox/pool";
import type { VerdictFrame } from "../../src/sandbox/protocol";

class FakeSlot implements SandboxSlot {
  healthy = true;
  disposed = false;
  busy = 0;
  constructor(readonly name: string) {}
  async run(): Promise<VerdictFrame> {
    this.busy++;
    await new Promise((r) => setTimeout(r, 2));
    this.busy--;
    return { op: "verdict", id: 1, results: [true], accepted_by: ["equal"], details: [null], error: null, clean: true, ms: 1 };
  }
  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

function fakeFactory(): { slots: FakeSlot[]; factory: () => Promise<FakeSlot> } {
  const slots: FakeSlot[] = [];
  return {
    slots,
    factory: async () => {
      const slot = new FakeSlot(`slot-${slots.length}`);
      slots.push(slot);
      return slot;
    },
  };
}

describe("sandbox pool", () => {
  it("never lends one slot to two pieces of work at once and never exceeds its size", async () => {
    const { slots, factory } = fakeFactory();
    const pool = new SandboxPool(factory, 3);
    let concurrent = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 30 }, () =>
        pool.use(async (slot) => {
          concurrent++;
          peak = Math.max(peak, concurrent);
          assert.equal((slot as FakeSlot).busy, 0);
          await (slot as FakeSlot).run();
          concurrent--;
        }),
      ),
    );
    assert.equal(peak, 3);
    assert.equal(slots.length, 3);
    await pool.close();
    assert.ok(slots.every((s) => s.disposed));
  });

  it("replaces a slot that comes back unhealthy and keeps serving waiters", async () => {
    const { slots, factory } = fakeFactory();
    const pool = new SandboxPool(factory, 1);
    await pool.use(async (slot) => {
      (slot as FakeSlot).healthy = false;
    });
    assert.equal(slots[0].disposed, true);
    const names: string[] = [];
    await Promise.all([1, 2, 3].map(() => pool.use(async (slot) => void names.push(slot.name))));
    assert.deepEqual(names, ["slot-1", "slot-1", "slot-1"]);
    assert.equal(pool.stats().replaced, 1);
    await pool.close();
  });

  it("replaces an unhealthy slot while others are waiting for it", async () => {
    const { slots, factory } = fakeFactory();
    const pool = new SandboxPool(factory, 1);
    const first = pool.use(async (slot) => {
      await new Promise((r) => setTimeout(r, 5));
      (slot as FakeSlot).healthy = false;
    });
    const second = pool.use(async (slot) => slot.name);
    await first;
    assert.equal(await second, "slot-1");
    assert.equal(slots.length, 2);
    await pool.close();
  });

  it("reports a factory failure to the caller instead of hanging", async () => {
    let calls = 0;
    const pool = new SandboxPool(async () => {
      calls++;
      throw new Error("docker is gone");
    }, 2);
    await assert.rejects(pool.use(async () => 1), /docker is gone/);
    await assert.rejects(pool.warm(), /docker is gone/);
    assert.ok(calls >= 3);
    assert.equal(pool.stats().live, 0);
  });

  it("strands no waiter when every slot dies and no new one can start (Docker lost)", async () => {
    let docker = true;
    const pool = new SandboxPool(async () => {
      if (!docker) throw new Error("connect ENOENT");
      const slot = new FakeSlot("s");
      slot.run = async () => {
        await new Promise((r) => setTimeout(r, 5));
        slot.healthy = false;
        throw new Error("stream ended");
      };
      return slot;
    }, 2);
    await pool.warm();
    docker = false;
    // Ten pieces of work for two slots: eight wait, both slots die, no replacement starts.
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => pool.use((slot) => slot.run({} as never, {} as never))));
    assert.ok(outcomes.every((o) => o.status === "rejected"), "every waiter hears of the failure");
    assert.equal(pool.stats().waiting, 0);
    assert.equal(pool.stats().live, 0);
  });

  it("rejects waiters when closed and refuses new work", async () => {
    const { factory } = fakeFactory();
    const pool = new SandboxPool(factory, 1);
    let release: () => void = () => undefined;
    const holding = pool.use(() => new Promise<void>((r) => (release = r)));
    await new Promise((r) => setTimeout(r, 1));
    const waiting = pool.use(async () => 1);
    await pool.close();
    await assert.rejects(waiting, /closed/);
    release();
    await holding;
    await assert.rejects(pool.use(async () => 1), /closed/);
  });

  it("refuses a size that is not a positive integer", () => {
    assert.throws(() => new SandboxPool(fakeFactory().factory, 0), /positive integer/);
  });
});

// Unit tests of the run store's crash-safety helpers (src/restem/store.ts): atomic whole-file
// writes, JSONL appends in order with fsync, readers that skip a torn last line, repair before
// appending again, and sortable run ids.
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { JsonlAppender, listRunIds, newRunId, parseJsonl, readJson, readJsonl, repairJsonl, RUN_ID_PATTERN, runPaths, writeJsonAtomic } from "../../src/restem";

describe("restem run store", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "restem-store-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("writes whole files atomically, leaving no temp files", async () => {
    const file = path.join(dir, "sub", "status.json");
    await writeJsonAtomic(file, { status: "running" });
    await writeJsonAtomic(file, { status: "completed" });
    assert.deepEqual(await readJson(file), { status: "completed" });
    assert.deepEqual(await readdir(path.dirname(file)), ["status.json"]);
    assert.equal(await readJson(path.join(dir, "missing.json")), null);
  });

  it("appends JSON lines in call order, batching concurrent appends", async () => {
    const file = path.join(dir, "samples.jsonl");
    const appender = new JsonlAppender(file);
    await Promise.all(Array.from({ length: 50 }, (_, i) => appender.append({ i })));
    await appender.flush();
    assert.deepEqual(
      (await readJsonl<{ i: number }>(file)).map((r) => r.i),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it("skips a torn last line and repairs the file before the next append", async () => {
    const file = path.join(dir, "events.jsonl");
    await writeFile(file, '{"a":1}\n{"a":2}\n{"a":');
    assert.deepEqual(parseJsonl('{"a":1}\n{"a":'), [{ a: 1 }]);
    assert.deepEqual(await readJsonl(file), [{ a: 1 }, { a: 2 }]);
    assert.equal(await repairJsonl(file), 5);
    assert.equal(await repairJsonl(file), 0);
    await new JsonlAppender(file).append({ a: 3 });
    assert.equal(await readFile(file, "utf8"), '{"a":1}\n{"a":2}\n{"a":3}\n');
    assert.deepEqual(await readJsonl(path.join(dir, "none.jsonl")), []);
    assert.equal(await repairJsonl(path.join(dir, "none.jsonl")), 0);
  });

  it("a line appended after a torn one is not lost once repaired", async () => {
    const file = path.join(dir, "x.jsonl");
    await appendFile(file, '{"ok":true}\n{"torn"');
    await repairJsonl(file);
    await appendFile(file, '{"ok":false}\n');
    assert.deepEqual(await readJsonl(file), [{ ok: true }, { ok: false }]);
  });

  it("makes run ids that sort by time and lists them in order", async () => {
    const early = newRunId(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)), "ffff");
    const late = newRunId(new Date(Date.UTC(2024, 10, 2, 3, 4, 5, 6)), "0000");
    assert.equal(early, "20240102-030405-006-ffff");
    assert.ok(RUN_ID_PATTERN.test(newRunId()));
    assert.ok(early < late);
    for (const id of [late, early, "not-a-run"]) await writeJsonAtomic(runPaths(dir, id).status, {});
    assert.deepEqual(await listRunIds(dir), [early, late]);
    assert.deepEqual(await listRunIds(path.join(dir, "nowhere")), []);
    assert.equal(path.basename(runPaths(dir, early).iteration(2).samples), "samples.jsonl");
    assert.equal(path.basename(runPaths(dir, early).iteration(2).dir), "iter-2");
  });
});

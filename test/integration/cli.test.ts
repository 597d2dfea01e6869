// The `restem` CLI contract, run as a child process the way other tools call it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, openJudgeOrSkip } from "./support";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function restem(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { cwd: REPO_ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const EXAMPLES = path.join(REPO_ROOT, "examples");

describe("restem CLI (real Docker)", function () {
  this.timeout(300_000);

  before(async function () {
    // Builds the image if needed and proves Docker is reachable (or skips with RESTEM_SKIP_DOCKER=1).
    await (await openJudgeOrSkip(this, { concurrency: 1 })).close();
  });

  it("judge --json prints one line per program, in input order, with the contract's fields", async () => {
    const programsFile = path.join(EXAMPLES, "programs.jsonl");
    const run = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--programs", programsFile, "--json");
    assert.equal(run.code, 0, run.stderr);
    const inputs = (await readFile(programsFile, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { problem_id: string });
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, inputs.length);
    lines.forEach((line, i) => {
      assert.equal(line.problem_id, inputs[i].problem_id);
      for (const key of ["passed", "results", "error", "ms"]) assert.ok(key in line, `line ${i + 1} lacks ${key}`);
      assert.equal(typeof line.passed, "boolean");
      assert.ok(Array.isArray(line.results));
    });
    const passed = lines.map((l) => l.passed);
    assert.deepEqual(passed, [true, false, false, true, true, false, true, false, false, true, false, true, false, true, false, false]);
    assert.deepEqual(lines[10].results, [-2]);
    assert.match(String(lines[10].error), /SyntaxError/);
    assert.deepEqual(lines[15].results, [true, true, -1, true, true, true]);
  });

  it("judge --strict rejects an answer only the evaluator's float tolerance accepts", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "restem-cli-"));
    const all = (await readFile(path.join(EXAMPLES, "programs.jsonl"), "utf8")).trim().split("\n");
    const programs = path.join(dir, "programs.jsonl");
    await writeFile(programs, [all[3], all[4]].join("\n") + "\n");
    const lenient = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--programs", programs, "--json");
    const strict = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--programs", programs, "--json", "--strict");
    const passed = (run: Run) => run.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { passed: boolean }).passed);
    assert.deepEqual(passed(lenient), [true, true]);
    assert.deepEqual(passed(strict), [true, false]);
  });

  it("judge --reference passes every bundled reference solution and prints a table", async () => {
    const run = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--reference");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^#\s+problem\s+verdict/m);
    const summary = /(\d+) programs: (\d+) passed/.exec(run.stdout);
    assert.ok(summary, run.stdout);
    assert.equal(summary[1], summary[2]);
  });

  it("reports bad lines and unknown problems per line without stopping the rest", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "restem-cli-"));
    const programs = path.join(dir, "programs.jsonl");
    await writeFile(programs, ['{"problem_id": "1", "code": "print(1)"}', "not json", '{"problem_id": "nope", "code": "x"}', '{"problem_id": "5"}', ""].join("\n"));
    const run = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--programs", programs, "--json");
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { passed: boolean; error: string | null; results: unknown[] });
    assert.equal(lines.length, 4);
    assert.equal(lines[0].passed, false);
    assert.equal(lines[0].results.length, 5);
    assert.match(String(lines[1].error), /programs\.jsonl:2: not JSON/);
    assert.match(String(lines[2].error), /unknown problem_id "nope"/);
    assert.match(String(lines[3].error), /programs\.jsonl:4: "code" must be a string/);
  });

  it("fails with one clear line for a missing problem set or programs file", async () => {
    const missing = await restem("judge", "--problems", "/nonexistent/problems", "--reference");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^restem: .*\/nonexistent\/problems/m);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, "no stack trace");
    const noPrograms = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--programs", "/nonexistent.jsonl");
    assert.equal(noPrograms.code, 1);
    assert.match(noPrograms.stderr, /cannot read programs file \/nonexistent\.jsonl: ENOENT/);
    const usage = await restem("judge", "--problems", path.join(EXAMPLES, "problems"), "--concurrency", "zero", "--reference");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /must be a positive integer/);
  });

  it("check-env reports Docker and the sandbox image", async () => {
    const run = await restem("check-env", "--json");
    const report = JSON.parse(run.stdout) as { checks: { name: string; ok: boolean }[] };
    assert.deepEqual(report.checks.map((c) => [c.name, c.ok]).slice(0, 2), [["docker", true], ["sandbox image", true]]);
    const model = await restem("check-env", "--model", "/nonexistent-model");
    assert.match(model.stdout, /model\s+model directory \/nonexistent-model does not exist/);
  });
});

// A short ReST-EM run on the bundled demo through the CLI (real Docker judge, ONNX Runtime,
// TensorFlow.js): demo/problems with the pretrained demo/model, a small preset of
// demo/restem.json (few samples per problem, one short epoch, greedy evaluation only).
// It checks that the demo's base model sits in the competence band the demo needs
// (test pass@1 between 5% and 60%), that the E-step finds correct programs to keep, and that
// the run completes and is listed by `restem runs --json`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openJudgeOrSkip, REPO_ROOT } from "./support";

interface RunLine {
  id: string;
  status: string;
  iterations: { iteration: number; pass_at_1: number; kept: number | null; kept_fraction: number | null }[];
}

function restem(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { maxBuffer: 64 << 20, timeout: 600_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("demo: a short ReST-EM run on demo/problems with demo/model (real Docker, ONNX, tfjs)", function () {
  this.timeout(900_000);
  let scratch: string;

  before(async function () {
    await (await openJudgeOrSkip(this, { concurrency: 1 })).close();
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-demo-run-"));
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("completes one iteration with a partially competent base model and kept programs", async () => {
    const demo = JSON.parse(await readFile(path.join(REPO_ROOT, "demo/restem.json"), "utf8")) as Record<string, unknown>;
    const preset = {
      ...demo,
      problems: path.join(REPO_ROOT, "demo/problems"),
      model: path.join(REPO_ROOT, "demo/model"),
      sampling: { samplesPerProblem: 2, maxNewTokens: 160 },
      mstep: { lr: 0.001, epochs: 1, batchSize: 16 },
      evaluation: { passK: [1], samples: 0, trainGreedy: false },
    };
    const config = path.join(scratch, "restem.json");
    await writeFile(config, JSON.stringify(preset));
    const store = path.join(scratch, "store");
    const run = await restem(["run", "--config", config, "--store", store]);
    assert.equal(run.code, 0, run.stderr.slice(-2000));
    const runs = (await restem(["runs", "--json", "--store", store])).stdout.trim().split("\n").map((l) => JSON.parse(l) as RunLine);
    assert.equal(runs.length, 1);
    assert.equal(runs[0].status, "completed");
    const [base, first] = [0, 1].map((i) => runs[0].iterations.find((it) => it.iteration === i));
    assert.ok(base && first, JSON.stringify(runs[0]));
    assert.ok(base.pass_at_1 >= 0.05 && base.pass_at_1 <= 0.6, `base test pass@1 ${base.pass_at_1} outside [5%, 60%]`);
    assert.ok((first.kept ?? 0) > 0, "the E-step kept no correct program");
    assert.ok(first.pass_at_1 >= 0 && first.pass_at_1 <= 1);
  });
});

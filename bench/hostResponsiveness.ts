// How responsive the VS Code extension host stays while a run works: the delay of its event loop
// (what every other extension and the views wait on) during one short ReST-EM run, measured with
// perf_hooks.monitorEventLoopDelay. Two ways in the same process:
//   baseline  executeRun on the calling thread (how the run would go without the worker);
//   session   RunSession, which executes the run in a worker thread (src/ui/runWorker.ts).
// Same run both times: the demo model on a slice of the demo problems (real Docker judge, ONNX
// Runtime sampler, tfjs trainer), 1 iteration, 4 samples per problem, 3 epochs in batches of 16.
//
//   node out/bench/hostResponsiveness.js
//
// Prints the p99 and max event-loop delay of each and the ratio baseline / session.

import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createRun, executeRun, parseConfig, type RestemConfig } from "../src/restem";
import { RunSession } from "../src/ui/runSession";

const REPO_ROOT = path.resolve(__dirname, "../..");

async function sliceProblems(dest: string): Promise<void> {
  const counts: Record<string, number> = { train: 24, valid: 4, test: 6 };
  for (const [split, count] of Object.entries(counts)) {
    const names = (await readdir(path.join(REPO_ROOT, "demo/problems", split))).sort();
    const stride = Math.floor(names.length / count);
    for (let i = 0; i < count; i++) await cp(path.join(REPO_ROOT, "demo/problems", split, names[i * stride]), path.join(dest, split, names[i * stride]), { recursive: true });
  }
}

interface Delay {
  p99Ms: number;
  maxMs: number;
  seconds: number;
}

/** Runs `work` while sampling the event loop's delay every 10 ms. */
async function measure(work: () => Promise<unknown>): Promise<Delay> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  const started = performance.now();
  histogram.enable();
  await work();
  histogram.disable();
  return { p99Ms: histogram.percentile(99) / 1e6, maxMs: histogram.max / 1e6, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), "restem-bench-host-"));
  try {
    const problems = path.join(scratch, "problems");
    await sliceProblems(problems);
    const config: RestemConfig = parseConfig(
      {
        problems,
        model: path.join(REPO_ROOT, "demo/model"),
        iterations: 1,
        sampling: { samplesPerProblem: 4, maxNewTokens: 160 },
        mstep: { epochs: 3, batchSize: 16, lr: 0.0003 },
        evaluation: { passK: [1], samples: 0, trainGreedy: false },
      },
      "(bench)",
    );
    const store = path.join(scratch, ".restem");

    const baselineId = await createRun(store, config);
    const baseline = await measure(() => executeRun(store, baselineId));

    const session = new RunSession();
    const sessionDelay = await measure(async () => {
      const active = await session.start(store, config, "(bench)");
      const outcome = await active.done;
      if (outcome?.status !== "completed") throw new Error(`the session run ended ${outcome?.status ?? "with an error"}`);
    });

    const line = (name: string, d: Delay): string => `${name.padEnd(34)} p99 ${d.p99Ms.toFixed(1).padStart(7)} ms   max ${d.maxMs.toFixed(1).padStart(7)} ms   (run ${d.seconds.toFixed(1)} s)`;
    console.log("event-loop delay of the host thread during one run");
    console.log(line("baseline: executeRun on this thread", baseline));
    console.log(line("RunSession: run in a worker thread", sessionDelay));
    console.log(`ratio (baseline / worker): p99 ${(baseline.p99Ms / sessionDelay.p99Ms).toFixed(1)}x, max ${(baseline.maxMs / sessionDelay.maxMs).toFixed(1)}x`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

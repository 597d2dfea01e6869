// bench/sandbox: judged programs per second through the warm container pool, against a
// baseline of one `docker run` per program, both measured in this process on this machine.
//
//   node out/bench/sandbox.js [--programs 1000] [--baseline 40] [--concurrency N]
//
// Workload: short standard-input programs (a few lines, one to three tests each), half
// correct and half wrong, as an E-step produces them. The baseline does the same job the
// way a naive judge would: one fresh `docker run --rm -i --network none` of the same image
// per program, in which a small driver runs the program once per test input and prints
// its outputs, compared on the host.

import { execFile } from "node:child_process";
import { availableParallelism } from "node:os";
import type { Problem } from "../src/problems";
import { connectDocker } from "../src/sandbox/docker";
import { ensureImage } from "../src/sandbox/image";
import { Judge, defaultConcurrency } from "../src/sandbox/judge";

interface Workload {
  problem: Problem;
  code: string;
  tests: { input: string; output: string }[];
}

function stdinProblem(id: string, tests: { input: string; output: string }[]): Problem {
  return {
    id,
    split: null,
    source: "(bench)",
    question: "",
    starterCode: null,
    fnName: null,
    testCount: tests.length,
    inputsJson: JSON.stringify(tests.map((t) => t.input)),
    outputsJson: JSON.stringify(tests.map((t) => t.output)),
    solutions: [],
    difficulty: null,
    url: null,
  };
}

function workloads(): Workload[] {
  const sumTests = [
    { input: "1 2\n", output: "3\n" },
    { input: "40 2\n", output: "42\n" },
  ];
  const maxTests = [
    { input: "3\n1 5 2\n", output: "5\n" },
    { input: "1\n7\n", output: "7\n" },
    { input: "4\n-1 -5 -2 -9\n", output: "-1\n" },
  ];
  const sum = stdinProblem("sum", sumTests);
  const max = stdinProblem("max", maxTests);
  return [
    { problem: sum, code: "a, b = map(int, input().split())\nprint(a + b)\n", tests: sumTests },
    { problem: sum, code: "a, b = map(int, input().split())\nprint(a * b)\n", tests: sumTests },
    { problem: max, code: "input()\nprint(max(map(int, input().split())))\n", tests: maxTests },
    { problem: max, code: "n = int(input())\nxs = list(map(int, input().split()))\nprint(sorted(xs)[n // 2])\n", tests: maxTests },
  ];
}

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

// Runs the program (argv[1]) once per test input (a JSON list on stdin); prints a JSON list of stdouts.
const BASELINE_DRIVER = [
  "import json, subprocess, sys",
  "inputs = json.load(sys.stdin)",
  "runs = [subprocess.run([sys.executable, '-c', sys.argv[1]], input=i, capture_output=True, text=True, timeout=4) for i in inputs]",
  "print(json.dumps([r.stdout for r in runs]))",
].join("\n");

function dockerRun(image: string, code: string, inputs: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "docker",
      ["run", "--rm", "-i", "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534", "--memory", "1g", "--pids-limit", "64", image, "python3", "-c", BASELINE_DRIVER, code],
      { timeout: 30_000, maxBuffer: 8 << 20 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout) as string[])),
    );
    child.stdin?.end(JSON.stringify(inputs));
  });
}

async function baselineRate(image: string, items: Workload[], count: number, concurrency: number): Promise<{ rate: number; passed: number }> {
  let next = 0;
  let passed = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const item = items[next++ % items.length];
      const stdouts = await dockerRun(image, item.code, item.tests.map((t) => t.input));
      if (item.tests.every((test, i) => stdouts[i].trim() === test.output.trim())) passed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rate: count / ((performance.now() - started) / 1000), passed };
}

async function poolRate(judge: Judge, items: Workload[], count: number): Promise<{ rate: number; passed: number }> {
  const batch = Array.from({ length: count }, (_, i) => items[i % items.length]);
  const started = performance.now();
  const verdicts = await judge.judgeAll(batch);
  const seconds = (performance.now() - started) / 1000;
  return { rate: count / seconds, passed: verdicts.filter((v) => v.passed).length };
}

async function main(): Promise<void> {
  const programs = argument("programs", 1000);
  const baselinePrograms = argument("baseline", 40);
  const concurrency = argument("concurrency", defaultConcurrency(availableParallelism()));
  const docker = await connectDocker();
  const image = await ensureImage(docker, { onLog: (line) => process.stderr.write(line.endsWith("\n") ? line : line + "\n") });
  const items = workloads();
  const judge = await Judge.open({ docker, image, concurrency });
  try {
    await poolRate(judge, items, 50); // warm-up: containers, page cache
    const pool = await poolRate(judge, items, programs);
    const baseline = await baselineRate(image, items, baselinePrograms, concurrency);
    const expectedPassed = (n: number): number => Math.ceil(n / 2);
    console.log(`cores: ${availableParallelism()}, concurrency: ${concurrency}, image: ${image}`);
    console.log(`pool:     ${pool.rate.toFixed(1)} programs/s (${programs} programs, ${pool.passed} passed, expected ${expectedPassed(programs)})`);
    console.log(`baseline: ${baseline.rate.toFixed(2)} programs/s (one docker run per program; ${baselinePrograms} programs, ${baseline.passed} passed)`);
    console.log(`ratio:    ${(pool.rate / baseline.rate).toFixed(1)}x`);
    if (pool.passed !== expectedPassed(programs) || baseline.passed !== expectedPassed(baselinePrograms)) {
      throw new Error("verdicts are wrong: the benchmark measured a broken judge");
    }
  } finally {
    await judge.close();
  }
}

main().catch((error: unknown) => {
  console.error(`bench/sandbox: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

// The reward function of ReST-EM: judge programs against APPS problems in the sandbox.
//
// `Judge.open()` connects to Docker, makes sure the sandbox image for the current
// harness exists, and warms a pool of containers. `judge(problem, code)` returns the
// official APPS per-test results, which comparison accepted each test, and the binary
// reward (every test true). A sandbox failure never throws out of `judge`: it becomes a
// failed verdict with the reason, so one broken sample never sinks a run.

import type Docker from "dockerode";
import { availableParallelism } from "node:os";
import type { Problem } from "../problems";
import { JudgeContainer, type ContainerOptions, type SandboxSlot } from "./container";
import { connectDocker } from "./docker";
import { ensureImage } from "./image";
import { SandboxPool, type PoolStats, type SlotFactory } from "./pool";
import { APPS_LIMITS, type SandboxLimits, type TestResult, type VerdictFrame } from "./protocol";

export interface Verdict {
  problemId: string;
  /** The ReST-EM reward: true only if every test passed. */
  passed: boolean;
  /** APPS per-test results: true, false, -1 (runtime error / timeout), -2 (compile error: a single entry). */
  results: TestResult[];
  /** Name of the comparison that accepted each test, null where none did. */
  acceptedBy: (string | null)[];
  /** Why each test failed (exception, "wrong answer"), null where it passed. */
  details: (string | null)[];
  /** The first failure in words, or null when passed. */
  error: string | null;
  /** Wall-clock milliseconds of the judging, from sending the program to its verdict. */
  ms: number;
}

export interface JudgeOptions {
  /** Containers judging in parallel. Default: one per CPU core, at least 2. */
  concurrency?: number;
  /** Strict comparisons instead of the official evaluator's lenient ones. */
  strict?: boolean;
  limits?: Partial<SandboxLimits>;
  /** An existing image tag; by default the image for the current harness is built if missing. */
  image?: string;
  docker?: Docker;
  /** CPUs each container may use. */
  cpusPerContainer?: number;
  onLog?: (line: string) => void;
}

export function defaultConcurrency(cores: number): number {
  return Math.max(2, cores);
}

/** The reward of the paper: 1 only if the program passes every unit test. */
export function allTestsPassed(results: readonly TestResult[], testCount: number): boolean {
  return results.length === testCount && testCount > 0 && results.every((r) => r === true);
}

export function verdictFromFrame(problem: Problem, frame: VerdictFrame, ms: number): Verdict {
  return {
    problemId: problem.id,
    passed: allTestsPassed(frame.results, problem.testCount),
    results: frame.results,
    acceptedBy: frame.accepted_by,
    details: frame.details,
    error: frame.error,
    ms,
  };
}

export function sandboxFailureVerdict(problem: Problem, reason: string, ms: number): Verdict {
  return {
    problemId: problem.id,
    passed: false,
    results: Array<TestResult>(problem.testCount).fill(-1),
    acceptedBy: Array<string | null>(problem.testCount).fill(null),
    details: Array<string | null>(problem.testCount).fill(reason),
    error: `sandbox failure: ${reason}`,
    ms,
  };
}

export class Judge {
  private constructor(
    private readonly pool: SandboxPool,
    private readonly limits: SandboxLimits,
    private readonly strict: boolean,
  ) {}

  /** A judge over any slot factory (the real containers, or a fake in unit tests). */
  static withFactory(factory: SlotFactory, size: number, limits: SandboxLimits, strict: boolean): Judge {
    return new Judge(new SandboxPool(factory, size), limits, strict);
  }

  static async open(options: JudgeOptions = {}): Promise<Judge> {
    const docker = options.docker ?? (await connectDocker());
    const image = options.image ?? (await ensureImage(docker, { onLog: options.onLog }));
    const limits = { ...APPS_LIMITS, ...options.limits };
    const containerOptions: ContainerOptions = {
      image,
      memoryBytes: limits.memoryBytes,
      cpus: options.cpusPerContainer ?? 1,
      pidsLimit: 64,
      tmpfsBytes: 16 << 20,
      startTimeoutMs: 30_000,
    };
    const size = options.concurrency ?? defaultConcurrency(availableParallelism());
    const judge = Judge.withFactory(() => JudgeContainer.start(docker, containerOptions), size, limits, options.strict ?? false);
    await judge.pool.warm();
    return judge;
  }

  get concurrency(): number {
    return this.pool.size;
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  /** Judges one program; sandbox failures are retried once on a fresh container, then scored -1. */
  async judge(problem: Problem, code: string): Promise<Verdict> {
    const request = {
      code,
      fnName: problem.fnName,
      inputsJson: problem.inputsJson,
      outputsJson: problem.outputsJson,
      strict: this.strict,
    };
    let lastError = "unknown";
    const firstStarted = performance.now();
    for (let attempt = 0; attempt < 2; attempt++) {
      const started = performance.now();
      try {
        const frame = await this.pool.use((slot: SandboxSlot) => slot.run(request, this.limits));
        return verdictFromFrame(problem, frame, performance.now() - started);
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        if (/pool is closed/.test(lastError)) break;
      }
    }
    return sandboxFailureVerdict(problem, lastError, performance.now() - firstStarted);
  }

  /**
   * Judges many programs with the pool's concurrency; verdicts come back in input order,
   * and onVerdict sees each as soon as it is ready.
   */
  async judgeAll(
    items: readonly { problem: Problem; code: string }[],
    onVerdict?: (index: number, verdict: Verdict) => void,
  ): Promise<Verdict[]> {
    const verdicts = new Array<Verdict>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const index = next++;
        verdicts[index] = await this.judge(items[index].problem, items[index].code);
        onVerdict?.(index, verdicts[index]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.pool.size, items.length) }, worker));
    return verdicts;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

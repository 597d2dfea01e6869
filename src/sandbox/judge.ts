// The reward function of ReST-EM: judge programs against APPS problems in the sandbox.
//
// `Judge.open()` connects to Docker, removes the containers of restem processes that no longer
// run, makes sure the sandbox image for the current harness exists, and warms a pool of
// containers. `judge(problem, code)` returns the official APPS per-test results, which
// comparison accepted each test, and the binary reward (every test true).
//
// A sandbox failure is never a reward. When a container dies under a program it is replaced
// and the program judged again; when Docker itself cannot be reached (or no container can be
// started) the judge keeps retrying with backoff for a bounded window (RESTEM_SANDBOX_RETRY_S,
// default 60 s), and past it returns a verdict with `sandboxFailure` set: not a judgement of
// the program, which callers must never count (the run loop fails loudly on it, `restem
// judge` exits non-zero). A program that kills three fresh containers in a row while Docker
// is fine is the program's fault: a runtime error (-1) like any other crash.

import type Docker from "dockerode";
import { availableParallelism } from "node:os";
import type { Problem } from "../problems";
import { JudgeContainer, type ContainerOptions, type SandboxSlot } from "./container";
import { connectDocker } from "./docker";
import { ensureImage, imageStatus } from "./image";
import { describeReap, reapOrphans } from "./owners";
import { SandboxPool, type PoolStats, type SlotFactory } from "./pool";
import { APPS_LIMITS, MIN_MEMORY_MB, type SandboxLimits, type TestResult, type VerdictFrame } from "./protocol";

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
  /**
   * True when the sandbox, not the program, failed (Docker lost past the retry window): the
   * verdict says nothing about the program and must never count as a reward or a verdict.
   */
  sandboxFailure: boolean;
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
  /** The sandbox image build's own output, line by line (default: onLog). */
  onBuildLog?: (line: string) => void;
  /** How long to keep retrying while Docker is unreachable (default RESTEM_SANDBOX_RETRY_S or 60 s). */
  retryWindowMs?: number;
}

export { MIN_MEMORY_MB };

/** Checks a memory limit against the floor; `what` names the option or field in the message. */
export function checkMemoryLimit(bytes: number, what: string): void {
  const mb = bytes / (1 << 20);
  if (!(mb >= MIN_MEMORY_MB)) {
    throw new Error(
      `${what} is ${Number.isFinite(mb) ? Math.round(mb * 100) / 100 : bytes} MiB, below the minimum of ${MIN_MEMORY_MB} MiB: ` +
        `the limit is the program's address space, and the Python that runs it already takes about 60 MiB of it. Give at least ${MIN_MEMORY_MB}.`,
    );
  }
}

/** The retry window from RESTEM_SANDBOX_RETRY_S (seconds), else 60 s. */
export function defaultRetryWindowMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.RESTEM_SANDBOX_RETRY_S?.trim();
  if (text) {
    const seconds = Number(text);
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`RESTEM_SANDBOX_RETRY_S must be a number of seconds >= 0, got ${JSON.stringify(text)}`);
    return seconds * 1000;
  }
  return 60_000;
}

/** A judging error raised while the program ran in a container (not while getting one). */
class RunFailure extends Error {}

/** Times a program may take its container down with Docker healthy before it is blamed. */
const PROGRAM_CRASH_LIMIT = 3;
const BACKOFF_START_MS = 250;
const BACKOFF_MAX_MS = 5_000;
const PROBE_TIMEOUT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
    sandboxFailure: false,
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
    sandboxFailure: true,
  };
}

/** The verdict of a program that took down every fresh container it ran in, Docker being fine. */
export function crashedSandboxVerdict(problem: Problem, reason: string, ms: number): Verdict {
  const detail = `the program's sandbox container died ${PROGRAM_CRASH_LIMIT} times while running it (${reason})`;
  return {
    problemId: problem.id,
    passed: false,
    results: Array<TestResult>(problem.testCount).fill(-1),
    acceptedBy: Array<string | null>(problem.testCount).fill(null),
    details: Array<string | null>(problem.testCount).fill(detail),
    error: detail,
    ms,
    sandboxFailure: false,
  };
}

/** Index of the first unpaired surrogate in a string, or -1. */
export function loneSurrogateAt(text: string): number {
  const match = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.exec(text);
  return match ? match.index : -1;
}

/** A verdict for a program that cannot be judged as given (empty); null when it can be. */
export function unjudgeableVerdict(problem: Problem, code: string): Verdict | null {
  const surrogate = loneSurrogateAt(code);
  const detail =
    code.trim() === ""
      ? "the program is empty"
      : code.split("\n").every((line) => line.trim() === "" || line.trim().startsWith("#"))
        ? "the program is empty (only comments)"
        : surrogate >= 0
        ? `the program is not valid Unicode (a lone UTF-16 surrogate at character ${surrogate + 1})`
        : null;
  if (detail === null) return null;
  return {
    problemId: problem.id,
    passed: false,
    results: [-2],
    acceptedBy: [null],
    details: [detail],
    error: `compile error: ${detail}`,
    ms: 0,
    sandboxFailure: false,
  };
}

export interface JudgeTuning {
  /** How long to keep retrying while the sandbox cannot be reached; 0: one retry only. */
  retryWindowMs?: number;
  /** Whether Docker answers (a ping); without it every failure counts as the sandbox's. */
  probe?: () => Promise<boolean>;
  onLog?: (line: string) => void;
}

/** The image for the current harness; a missing one is built, saying so first (it takes minutes). */
async function buildImageIfMissing(docker: Docker, options: JudgeOptions): Promise<string> {
  const status = await imageStatus(docker);
  if (status.present) return status.tag;
  const started = Date.now();
  options.onLog?.(`the sandbox image ${status.tag} is not built yet: building it now (a few minutes, once per harness version)`);
  const tag = await ensureImage(docker, { onLog: options.onBuildLog ?? options.onLog });
  options.onLog?.(`sandbox image ${tag} ready after ${Math.round((Date.now() - started) / 1000)} s`);
  return tag;
}

export class Judge {
  /** When the sandbox was first seen unreachable in the current outage; null while it works. */
  private outageSince: number | null = null;

  private constructor(
    private readonly pool: SandboxPool,
    private readonly limits: SandboxLimits,
    private readonly strict: boolean,
    private readonly tuning: JudgeTuning,
  ) {}

  /** A judge over any slot factory (the real containers, or a fake in unit tests). */
  static withFactory(factory: SlotFactory, size: number, limits: SandboxLimits, strict: boolean, tuning: JudgeTuning = {}): Judge {
    return new Judge(new SandboxPool(factory, size), limits, strict, tuning);
  }

  static async open(options: JudgeOptions = {}): Promise<Judge> {
    const limits = { ...APPS_LIMITS, ...options.limits };
    checkMemoryLimit(limits.memoryBytes, "the memory limit");
    const retryWindowMs = options.retryWindowMs ?? defaultRetryWindowMs();
    const docker = options.docker ?? (await connectDocker());
    const reaped = await reapOrphans(docker).catch(() => null);
    if (reaped && (reaped.removed.length > 0 || reaped.failed.length > 0)) options.onLog?.(describeReap(reaped));
    const image = options.image ?? (await buildImageIfMissing(docker, options));
    const containerOptions: ContainerOptions = {
      image,
      memoryBytes: limits.memoryBytes,
      cpus: options.cpusPerContainer ?? 1,
      pidsLimit: 64,
      tmpfsBytes: 16 << 20,
      startTimeoutMs: 30_000,
    };
    const size = options.concurrency ?? defaultConcurrency(availableParallelism());
    const probe = (): Promise<boolean> =>
      Promise.race([
        docker.ping().then(
          () => true,
          () => false,
        ),
        sleep(PROBE_TIMEOUT_MS).then(() => false),
      ]);
    const judge = Judge.withFactory(() => JudgeContainer.start(docker, containerOptions), size, limits, options.strict ?? false, { retryWindowMs, probe, onLog: options.onLog });
    try {
      await judge.pool.warm();
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (await probe()) throw error;
      throw new Error(`lost the Docker daemon while starting the sandbox containers (${reason}); check that Docker runs (\`docker info\`) and try again`);
    }
    return judge;
  }

  get concurrency(): number {
    return this.pool.size;
  }

  stats(): PoolStats {
    return this.pool.stats();
  }

  /**
   * Judges one program. A container that dies under it is replaced and the program run again;
   * while the sandbox cannot be reached it retries with backoff up to the retry window, then
   * returns a sandbox-failure verdict (see the file's header).
   */
  async judge(problem: Problem, code: string): Promise<Verdict> {
    const unjudgeable = unjudgeableVerdict(problem, code);
    if (unjudgeable) return unjudgeable;
    const request = {
      code,
      fnName: problem.fnName,
      inputsJson: problem.inputsJson,
      outputsJson: problem.outputsJson,
      strict: this.strict,
    };
    const firstStarted = performance.now();
    const windowMs = this.tuning.retryWindowMs ?? 0;
    let crashes = 0;
    let attempts = 0;
    let backoffMs = BACKOFF_START_MS;
    for (;;) {
      const started = performance.now();
      attempts++;
      let reason: string;
      let duringRun = false;
      try {
        const frame = await this.pool.use((slot: SandboxSlot) =>
          slot.run(request, this.limits).catch((error: unknown) => {
            throw new RunFailure(error instanceof Error ? error.message : String(error));
          }),
        );
        this.sandboxBack();
        return verdictFromFrame(problem, frame, performance.now() - started);
      } catch (error) {
        reason = error instanceof Error ? error.message : String(error);
        duringRun = error instanceof RunFailure;
        if (/pool is closed/.test(reason)) return sandboxFailureVerdict(problem, reason, performance.now() - firstStarted);
      }
      const dockerAnswers = this.tuning.probe ? await this.tuning.probe() : false;
      if (dockerAnswers && duringRun) {
        // Docker is fine and the container died while running this program: run it again on a
        // fresh container; a program that keeps killing its container is itself at fault.
        if (++crashes >= PROGRAM_CRASH_LIMIT) return crashedSandboxVerdict(problem, reason, performance.now() - firstStarted);
        continue;
      }
      // The sandbox cannot be reached, or no container could be started: wait and retry.
      const now = performance.now();
      if (this.outageSince === null) {
        this.outageSince = now;
        if (windowMs > 0) this.tuning.onLog?.(`sandbox unavailable (${reason}); retrying for up to ${Math.round(windowMs / 1000)} s`);
      }
      const outageMs = now - this.outageSince;
      if (outageMs >= windowMs && attempts >= 2) return sandboxFailureVerdict(problem, reason, now - firstStarted);
      await sleep(Math.min(backoffMs, Math.max(0, windowMs - outageMs)));
      backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
    }
  }

  /** Ends an outage once a verdict came back. */
  private sandboxBack(): void {
    if (this.outageSince === null) return;
    const seconds = Math.round((performance.now() - this.outageSince) / 1000);
    this.outageSince = null;
    this.tuning.onLog?.(`sandbox is back after ${seconds} s`);
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

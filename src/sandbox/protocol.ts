// The host's half of the judge server's wire protocol (sandbox/harness/wire.py).
//
// A frame is an ASCII decimal byte length, "\n", then that many bytes of UTF-8 JSON.
// The host sends a "run" frame (program + test inputs) and an "expect" frame (expected
// outputs) back to back; the server answers with one "verdict" frame. Inputs and
// outputs travel as the raw JSON text sliced from the problem files, never through JS
// numbers, so integers past 2^53 and the int/float distinction reach Python intact.

/** Per-run resource limits, in the units the server expects. */
export interface SandboxLimits {
  /** Per-test wall clock, raised inside the program as APPS's TimeoutException (APPS: 4 s). */
  timeoutS: number;
  /** Whole-program wall clock; past it every test scores -1 (APPS: 10 s + 1 s join). */
  globalTimeoutS: number;
  /** Address-space limit of the program's process. */
  memoryBytes: number;
  /** Most characters a program may print (or bytes its return value may take) per test. */
  outputLimit: number;
  /** Largest file the program may write to its scratch /tmp. */
  fileLimit: number;
}

/**
 * The smallest memory limit a program may be given, in MiB. The limit is the program process's
 * address space (RLIMIT_AS, as the APPS evaluator sets it), and the runner is forked from a
 * Python that has already loaded the judge and numpy: about 60 MiB before the program
 * allocates a byte. Linux lets RLIMIT_AS be set below what is already mapped, so a smaller
 * limit did not stop a program that allocates nothing new (`--memory-mb 1` "worked") while any
 * real program failed with MemoryError. 96 MiB leaves a program at least ~32 MiB of its own.
 */
export const MIN_MEMORY_MB = 96;

export const APPS_LIMITS: SandboxLimits = {
  timeoutS: 4,
  globalTimeoutS: 11,
  memoryBytes: 1 << 30,
  outputLimit: 8 << 20,
  fileLimit: 4 << 20,
};

/** One program to judge against one problem's tests. */
export interface RunRequest {
  code: string;
  fnName: string | null;
  /** Raw JSON text of the inputs array. */
  inputsJson: string;
  /** Raw JSON text of the expected outputs array. */
  outputsJson: string;
  strict: boolean;
}

/** APPS per-test result: true, false, -1 (runtime error or timeout), -2 (compile error). */
export type TestResult = boolean | -1 | -2;

export interface VerdictFrame {
  op: "verdict";
  id: number;
  results: TestResult[];
  accepted_by: (string | null)[];
  details: (string | null)[];
  error: string | null;
  clean: boolean;
  ms: number;
}

export interface HelloFrame {
  op: "hello";
  protocol: number;
  python: string;
  numpy: string;
  uid: number;
}

export function encodeFrame(json: string): Buffer {
  const body = Buffer.from(json, "utf8");
  return Buffer.concat([Buffer.from(`${body.length}\n`, "ascii"), body]);
}

/** The two frames of one run, as one buffer, built by concatenation around the raw JSON. */
export function encodeRun(id: number, request: RunRequest, limits: SandboxLimits): Buffer {
  const run =
    `{"op":"run","id":${id},"code":${JSON.stringify(request.code)},` +
    `"fn_name":${JSON.stringify(request.fnName)},"inputs":${request.inputsJson},` +
    `"timeout_s":${Math.ceil(limits.timeoutS)},"global_timeout_s":${limits.globalTimeoutS},` +
    `"memory_bytes":${Math.floor(limits.memoryBytes)},"output_limit":${Math.floor(limits.outputLimit)},` +
    `"file_limit":${Math.floor(limits.fileLimit)}}`;
  const expect = `{"op":"expect","id":${id},"outputs":${request.outputsJson},"strict":${request.strict}}`;
  return Buffer.concat([encodeFrame(run), encodeFrame(expect)]);
}

/** Splits a byte stream into decoded JSON frames. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(
    private readonly onFrame: (frame: unknown) => void,
    private readonly maxBytes = 256 << 20,
  ) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const newline = this.buffered.indexOf(0x0a);
      if (newline < 0) {
        if (this.buffered.length > 16) throw new Error("judge server sent a malformed frame header");
        return;
      }
      const header = this.buffered.subarray(0, newline).toString("ascii");
      if (!/^\d{1,12}$/.test(header)) throw new Error(`judge server sent a bad frame header ${JSON.stringify(header)}`);
      const length = Number(header);
      if (length > this.maxBytes) throw new Error(`judge server frame of ${length} bytes is too large`);
      const end = newline + 1 + length;
      if (this.buffered.length < end) return;
      const body = this.buffered.subarray(newline + 1, end).toString("utf8");
      this.buffered = this.buffered.subarray(end);
      this.onFrame(JSON.parse(body));
    }
  }
}

export function isVerdict(frame: unknown): frame is VerdictFrame {
  return typeof frame === "object" && frame !== null && (frame as { op?: unknown }).op === "verdict";
}

export function isHello(frame: unknown): frame is HelloFrame {
  return typeof frame === "object" && frame !== null && (frame as { op?: unknown }).op === "hello";
}

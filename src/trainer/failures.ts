// Never silently wrong: every way the trainer's backend can fail becomes one TrainerError that
// names the operation, the tensor shapes, the memory in use and what to do.
//
// The failures this file turns into errors:
//   - XNNPACK refusing an operator (tfjs-backend-wasm prints "XNN status for xnn_create_... is
//     not successful. Got status 6" and carries on with an output of zeros): the print is caught
//     (console.warn/console.log, which the emscripten module binds as its printErr/print when it
//     is created, so the hook goes in before the wasm backend starts) and the kernel that caused
//     it throws.
//   - A wasm abort ("Aborted(). Build with -sASSERTIONS for more info.", e.g. a C++ allocation
//     that failed): the kernel's error is rethrown with the kernel, the shapes and the memory.
//   - A tensor the heap cannot hold (_malloc returns 0, or an offset past the heap's end): the
//     backend's move() throws instead of writing over offset 0.
//   - A NaN or infinite loss or gradient norm: assertFinite() before the optimizer step.
//   - A gradient worker that dies (abort, out of memory, exit): parallel.ts names it with
//     workerFailure().
// The pure pieces (parsing the XNN line, formatting bytes and shapes, the hints) are exported for
// unit tests; installWasmGuards() is the one impure entry and is idempotent per backend.

import * as tf from "@tensorflow/tfjs-core";
import type { KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";

export type TrainerErrorCode =
  | "RESTEM_BACKEND_OP_FAILED"
  | "RESTEM_WASM_ABORTED"
  | "RESTEM_OUT_OF_MEMORY"
  | "RESTEM_NON_FINITE"
  | "RESTEM_WORKER_FAILED"
  | "RESTEM_MEMORY_PREFLIGHT";

/** The wasm backend's heap ceiling (emscripten's getHeapMax() of tfjs-backend-wasm 4.x). */
export const WASM_HEAP_LIMIT_BYTES = 4294901760;

/** What to do, one sentence per kind of failure. */
export const FAILURE_HINTS: Record<TrainerErrorCode, string> = {
  RESTEM_BACKEND_OP_FAILED:
    "the wasm heap (4 GiB) is most likely full: train with --lora-rank 8, --batch 1 or a shorter --max-seq-len, or use a GPU backend (see README, GPUs)",
  RESTEM_WASM_ABORTED:
    "the wasm backend stopped (most likely out of memory in its 4 GiB heap) and cannot be used again in this process: train with --lora-rank 8, --batch 1 or a shorter --max-seq-len, or use a GPU backend (see README, GPUs); a run resumes with `restem resume`",
  RESTEM_OUT_OF_MEMORY:
    "the tensor does not fit in the wasm heap (4 GiB): train with --lora-rank 8, --batch 1 or a shorter --max-seq-len, or use a GPU backend (see README, GPUs)",
  RESTEM_NON_FINITE:
    "lower the learning rate (--lr, mstep.lr) or the gradient clip; check the training data's rewards; the weights were not updated with it",
  RESTEM_WORKER_FAILED:
    "a gradient worker holds a full replica of the model: train with one replica (workers 1), --lora-rank 8 or --batch 1; a run resumes with `restem resume`",
  RESTEM_MEMORY_PREFLIGHT: "see the fixes listed above",
};

export interface MemoryInUse {
  /** Resident set size of the whole process (all threads), bytes. */
  rssBytes: number;
  /** Size of this thread's wasm heap (its high-water mark; wasm memory never shrinks), bytes; null off wasm. */
  heapBytes: number | null;
  /** Bytes held by live tfjs tensors in this thread. */
  tensorBytes: number;
}

export interface FailureDetails {
  /** The kernel or step that failed, e.g. "BatchMatMul" or "optimizer step 3". */
  operation: string;
  /** Input shapes, e.g. ["[1,4,896]", "[896,151936]"]. */
  shapes?: string[];
  /** What the backend said (the XNN status line, the abort text, the worker's error). */
  cause?: string;
  memory?: MemoryInUse;
  /** Overrides the code's default hint. */
  hint?: string;
}

/** A failure of the trainer's backend, with everything needed to act on it. */
export class TrainerError extends Error {
  override readonly name = "TrainerError";

  constructor(
    readonly code: TrainerErrorCode,
    readonly summary: string,
    readonly details: FailureDetails,
  ) {
    super(formatFailure(code, summary, details));
    // The message is the whole story; a stack trace would only bury it.
    this.stack = `${this.name}: ${this.message}`;
  }
}

const GIB = 1024 ** 3;

/** Bytes as GiB (or MiB below 1 GiB) with two significant decimals. */
export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(2)} GiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** "wasm heap 3.98 GiB of 4.00 GiB, tensors 3.61 GiB, process RSS 5.20 GiB". */
export function formatMemory(memory: MemoryInUse): string {
  const parts: string[] = [];
  if (memory.heapBytes !== null) parts.push(`wasm heap ${formatBytes(memory.heapBytes)} of ${formatBytes(WASM_HEAP_LIMIT_BYTES)}`);
  parts.push(`tensors ${formatBytes(memory.tensorBytes)}`, `process RSS ${formatBytes(memory.rssBytes)}`);
  return parts.join(", ");
}

/** The one-paragraph message of a TrainerError. */
export function formatFailure(code: TrainerErrorCode, summary: string, details: FailureDetails): string {
  const shapes = details.shapes && details.shapes.length > 0 ? ` on ${details.shapes.join(" x ")}` : "";
  const lines = [`[${code}] ${details.operation}${shapes}: ${summary}`];
  if (details.cause) lines.push(`  backend said: ${details.cause.split("\n").join("\n    ")}`);
  if (details.memory) lines.push(`  memory: ${formatMemory(details.memory)}`);
  lines.push(`  what to do: ${details.hint ?? FAILURE_HINTS[code]}`);
  return lines.join("\n");
}

/** XNNPACK's xnn_status values (include/xnnpack.h). */
const XNN_STATUS_NAMES: Record<number, string> = {
  0: "success",
  1: "uninitialized",
  2: "invalid parameter",
  3: "invalid state",
  4: "unsupported parameter",
  5: "unsupported hardware",
  6: "out of memory",
  7: "reallocation required",
};

export interface XnnStatus {
  /** The XNNPACK function that failed, e.g. xnn_create_fully_connected_nc_f32. */
  xnnFunction: string;
  status: number;
  statusName: string;
}

/** Parses tfjs-backend-wasm's "XNN status for <fn> is not successful. Got status <n>." line. */
export function parseXnnStatus(text: string): XnnStatus | null {
  const match = /XNN status for (\w+) is not successful\. Got status (\d+)/.exec(text);
  if (!match) return null;
  const status = Number(match[2]);
  return { xnnFunction: match[1], status, statusName: XNN_STATUS_NAMES[status] ?? "unknown status" };
}

/** True for the errors of a wasm module that stopped: emscripten's abort, or a trap. */
export function isWasmAbort(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  // WebAssembly.RuntimeError: an abort, or a trap such as "memory access out of bounds" (an
  // allocation that failed and was used anyway).
  const name = error instanceof Error ? error.constructor.name : "";
  return /^Aborted\(/.test(message) || name === "RuntimeError";
}

/** "[2,3]" for a shape. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/** Shapes of a kernel's inputs in a stable order ("a [1,4] x b [4,8]" reads as "[1,4] x [4,8]"). */
function inputShapes(inputs: NamedTensorInfoMap): string[] {
  return Object.values(inputs)
    .filter((info): info is TensorInfo => info !== undefined && info !== null)
    .map((info) => formatShape(info.shape));
}

/** Memory of this thread now (heap of the active backend when it is wasm). */
export function memoryInUse(): MemoryInUse {
  let heapBytes: number | null = null;
  try {
    const backend = tf.getBackend() === "wasm" ? (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }) : null;
    heapBytes = backend?.wasm?.HEAPU8?.length ?? null;
  } catch {
    heapBytes = null;
  }
  let tensorBytes = 0;
  try {
    tensorBytes = tf.memory().numBytes;
  } catch {
    tensorBytes = 0;
  }
  return { rssBytes: process.memoryUsage.rss(), heapBytes, tensorBytes };
}

/** Throws RESTEM_NON_FINITE when `value` is NaN or infinite. */
export function assertFinite(what: string, value: number, operation: string): void {
  if (Number.isFinite(value)) return;
  throw new TrainerError("RESTEM_NON_FINITE", `the ${what} is ${value}; training stopped before the optimizer step`, { operation, memory: memoryInUse() });
}

/** The named error for a gradient worker that failed; `cause` is its error or exit. */
export function workerFailure(index: number, cause: string, memory: MemoryInUse = memoryInUse()): TrainerError {
  const abort = /Aborted\(/.test(cause);
  const outOfMemory = /ERR_WORKER_OUT_OF_MEMORY|out of memory|heap limit/i.test(cause);
  const summary = abort
    ? "its wasm backend aborted (most likely out of memory in its 4 GiB heap)"
    : outOfMemory
      ? "it ran out of memory"
      : "it failed";
  // A TrainerError from the worker keeps its whole message; another error loses its stack frames.
  const text = cause.replace(/^TrainerError: /, "");
  const kept = text.startsWith("[RESTEM_") ? text : text.split("\n").filter((line) => !/^\s+at /.test(line)).join("\n");
  return new TrainerError("RESTEM_WORKER_FAILED", summary, { operation: `gradient worker ${index + 1}`, cause: kept, memory });
}

// ---- the wasm guards -------------------------------------------------------------------------

/** XNN status lines printed since the running kernel started (normally none). */
let pendingXnn: XnnStatus[] = [];
let printHooked = false;

/**
 * Routes console.warn and console.log (the emscripten module's printErr and print) through a
 * filter that records XNN status lines instead of printing them. Must run before the wasm
 * backend is created: the module binds the functions it finds then.
 */
export function hookWasmPrints(): void {
  if (printHooked) return;
  printHooked = true;
  for (const method of ["warn", "log"] as const) {
    const original = console[method];
    console[method] = function (this: Console, ...args: unknown[]): void {
      const status = args.length > 0 && typeof args[0] === "string" ? parseXnnStatus(args[0]) : null;
      if (status) {
        pendingXnn.push(status);
        return;
      }
      // emscripten prints "Aborted(...)" before it throws; the TrainerError made of it says more.
      if (args.length === 1 && typeof args[0] === "string" && /^Aborted\(/.test(args[0])) return;
      original.apply(this, args);
    };
  }
}

/** Test hook: pretend the backend printed `line` (as XNNPACK does on failure). */
export function simulateBackendPrint(line: string): void {
  const status = parseXnnStatus(line);
  if (status) pendingXnn.push(status);
}

let aborted: string | null = null;

/** Tests only: forget a simulated abort (a real one leaves the module unusable). */
export function forgetWasmAbort(): void {
  aborted = null;
}

/** RESTEM_WASM_ABORTED for `operation`; every later kernel of this process is refused. */
function abortError(operation: string, shapes: string[], error: unknown): TrainerError {
  aborted = error instanceof Error ? error.message : String(error);
  return new TrainerError("RESTEM_WASM_ABORTED", "the wasm backend aborted here", { operation, shapes, cause: aborted, memory: memoryInUse() });
}

/** Runs one kernel and turns what the backend swallowed or threw into a TrainerError. */
export function runGuarded(kernelName: string, inputs: NamedTensorInfoMap, run: () => TensorInfo | TensorInfo[]): TensorInfo | TensorInfo[] {
  if (aborted !== null) {
    throw new TrainerError("RESTEM_WASM_ABORTED", "the wasm backend aborted earlier in this process", { operation: kernelName, shapes: inputShapes(inputs), cause: aborted, memory: memoryInUse() });
  }
  pendingXnn = [];
  let output: TensorInfo | TensorInfo[];
  try {
    output = run();
  } catch (error) {
    if (error instanceof TrainerError) throw error;
    const text = error instanceof Error ? error.message : String(error);
    if (isWasmAbort(error)) throw abortError(kernelName, inputShapes(inputs), error);
    if (error instanceof RangeError) {
      throw new TrainerError("RESTEM_OUT_OF_MEMORY", "the kernel's output did not fit in the wasm heap", { operation: kernelName, shapes: inputShapes(inputs), cause: text, memory: memoryInUse() });
    }
    throw error;
  }
  if (pendingXnn.length > 0) {
    const failed = pendingXnn[0];
    pendingXnn = [];
    // The output holds zeros: free it before reporting.
    const outputs = Array.isArray(output) ? output : [output];
    for (const info of outputs) tf.backend().disposeData(info.dataId, true);
    throw new TrainerError("RESTEM_BACKEND_OP_FAILED", `XNNPACK refused the operation (${failed.xnnFunction}: status ${failed.status}, ${failed.statusName}); its output would have been zeros`, {
      operation: kernelName,
      shapes: inputShapes(inputs),
      cause: `XNN status for ${failed.xnnFunction} is not successful. Got status ${failed.status}`,
      memory: memoryInUse(),
    });
  }
  return output;
}

const guardedKernels = new Set<string>();

/** Wraps every kernel registered for `backendName` (and not yet wrapped) with runGuarded. */
export function guardKernels(backendName: string): number {
  let wrapped = 0;
  for (const config of tf.getKernelsForBackend(backendName)) {
    const key = `${backendName}/${config.kernelName}`;
    if (guardedKernels.has(key)) continue;
    guardedKernels.add(key);
    const original = config.kernelFunc;
    const guarded: KernelFunc = (args) => runGuarded(config.kernelName, args.inputs, () => original(args));
    const replacement: KernelConfig = { ...config, kernelFunc: guarded };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(replacement);
    wrapped++;
  }
  return wrapped;
}

interface WasmBackendMemory {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number | null } | undefined };
  move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void;
}

const guardedBackends = new WeakSet<object>();

/** Makes the wasm backend's move() (every tensor allocation) throw when the heap is full. */
export function guardAllocations(backend: unknown): void {
  const candidate = backend as Partial<WasmBackendMemory> | null;
  if (candidate === null || typeof candidate !== "object" || guardedBackends.has(candidate)) return;
  if (typeof candidate.move !== "function" || !candidate.wasm || !candidate.dataIdMap) return;
  guardedBackends.add(candidate);
  const target = candidate as WasmBackendMemory;
  const move = target.move.bind(target);
  target.move = (dataId, values, shape, dtype, refCount): void => {
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === "bool" ? 1 : 4);
    const fail = (cause: string): TrainerError =>
      new TrainerError("RESTEM_OUT_OF_MEMORY", `allocating a ${dtype} tensor of ${formatBytes(bytes)} failed`, { operation: "tensor allocation", shapes: [formatShape(shape)], cause, memory: memoryInUse() });
    try {
      move(dataId, values, shape, dtype, refCount);
    } catch (error) {
      if (error instanceof RangeError) throw fail(error.message);
      if (isWasmAbort(error)) throw abortError("tensor allocation", [formatShape(shape)], error);
      throw error;
    }
    if (dtype === "string" || bytes === 0) return;
    const offset = target.dataIdMap.get(dataId)?.memoryOffset ?? null;
    if (offset === null || offset === 0 || offset + bytes > target.wasm.HEAPU8.length) throw fail(`_malloc(${bytes}) returned ${offset}`);
  };
}

/** Installs every guard on the active wasm backend (idempotent). */
export function installWasmGuards(): void {
  hookWasmPrints();
  guardKernels("wasm");
  if (tf.getBackend() === "wasm") {
    guardAllocations(tf.backend());
    reserveFromEnvironment();
  }
}

/**
 * Fills the wasm heap up to its 4 GiB ceiling, then gives back about `leaveFreeBytes` (with
 * fillFreeLists false: only the room the heap can still grow by, less leaveFreeBytes), with
 * allocations that are never written (so they cost address space, not RSS); returns a function
 * that frees them. A test and diagnostic tool: it reproduces a full heap with a tiny model.
 */
export function reserveWasmHeap(leaveFreeBytes: number, fillFreeLists = true): () => void {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array; _malloc(n: number): number; _free(p: number): void } };
  const wasm = tf.getBackend() === "wasm" ? backend.wasm : undefined;
  if (!wasm) throw new Error("reserveWasmHeap: the active backend is not wasm");
  const chunks: Array<[number, number]> = [];
  // One block for the room the heap can still grow by, then ever smaller ones for its free lists.
  // A pointer whose end is past the heap is how this malloc says no to a large request.
  let size = Math.max(16, WASM_HEAP_LIMIT_BYTES - wasm.HEAPU8.length);
  if (!fillFreeLists) size = Math.max(16, size - leaveFreeBytes);
  const smallest = fillFreeLists ? 16 : size;
  while (size >= smallest) {
    const pointer = wasm._malloc(size) >>> 0;
    if (pointer === 0 || pointer + size > wasm.HEAPU8.length) {
      size = size > 8 << 20 ? 8 << 20 : size >> 1;
      continue;
    }
    chunks.push([pointer, size]);
  }
  // Give back chunks, smallest first, while the total stays within leaveFreeBytes.
  let freed = 0;
  const kept = [...chunks].reverse().filter(([pointer, bytes]) => {
    if (freed + bytes > leaveFreeBytes) return true;
    wasm._free(pointer);
    freed += bytes;
    return false;
  });
  return () => kept.forEach(([pointer]) => wasm._free(pointer));
}

/** RESTEM_WASM_RESERVE_FREE_MB=n: reserve the wasm heap but n MiB at start (reproduces a full heap). */
function reserveFromEnvironment(): void {
  const value = process.env.RESTEM_WASM_RESERVE_FREE_MB;
  if (value === undefined || value === "" || reservedFromEnvironment) return;
  const mib = Number(value);
  if (!Number.isFinite(mib) || mib < 0) throw new Error(`RESTEM_WASM_RESERVE_FREE_MB must be a number of MiB >= 0, got ${JSON.stringify(value)}`);
  reservedFromEnvironment = true;
  reserveWasmHeap(mib * 1024 ** 2);
}

let reservedFromEnvironment = false;

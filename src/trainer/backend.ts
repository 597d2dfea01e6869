// Chooses and initialises the TensorFlow.js backend the trainer runs on.
//
// Order of preference:
//   1. @tensorflow/tfjs-node-gpu  ("tensorflow" backend on CUDA)   optional, usually absent
//   2. @tensorflow/tfjs-node      ("tensorflow" backend on the CPU) optional, usually absent
//   3. @tensorflow/tfjs-backend-wasm ("wasm", XNNPACK + SIMD)       always installed
// The optional packages download libtensorflow at install time, so they are loaded with a
// guarded require and skipped when missing. The plain-JS "cpu" backend (a dependency of the
// wasm package) is registered too, as a baseline for benchmarks and tests.
//
// The wasm backend ships without the UnsortedSegmentSum kernel, which is the gradient of
// tf.gather (the embedding lookup), so training would fail on its first backward pass; this
// module registers a scatter-add kernel of its own for it.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { hookWasmPrints, installWasmGuards } from "./failures";
import "./gradients";
import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";

export type TrainerBackendName = "tensorflow" | "wasm" | "cpu";

export interface BackendReport {
  /** The tfjs backend now active: "tensorflow" (tfjs-node[-gpu]), "wasm" or "cpu". */
  name: TrainerBackendName;
  /** The npm package providing it. */
  packageName: string;
  /** wasm only: whether the SIMD build is in use, and the XNNPACK thread count. */
  simd?: boolean;
  threads?: number;
  /** Why better backends were skipped (missing packages, failed initialisation). */
  notes: string[];
}

interface WasmModule {
  setWasmPaths(prefixOrFileMap: string, usePlatformFetch?: boolean): void;
  setThreadsCount(threads: number): void;
  getThreadsCount(): number;
}

let report: BackendReport | null = null;
let wasmModule: WasmModule | null = null;
let cpuRegistered = false;

/**
 * Requires an optional package; null when it is not installed or fails to load. `load` does the
 * require where the name must be a literal for the extension bundler to include the package.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
function tryRequire(name: string, notes: string[], load: () => unknown = () => require(name)): unknown {
  try {
    return load();
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    notes.push(`${name}: not available (${message})`);
    return null;
  }
}

/**
 * The directory holding the wasm binaries of @tensorflow/tfjs-backend-wasm, with a trailing slash.
 * In the extension bundle (dist/extension.js, dist/worker.js) scripts/bundle.mjs copies them to
 * dist/wasm/ and the package itself is not shipped; from tsc's output they are in the package.
 */
export function wasmBinaryDirectory(): string {
  const bundled = path.join(__dirname, "wasm");
  if (fs.existsSync(path.join(bundled, "tfjs-backend-wasm.wasm"))) return bundled + path.sep;
  const packageJson = require.resolve("@tensorflow/tfjs-backend-wasm/package.json");
  return path.join(path.dirname(packageJson), "dist") + path.sep;
}

/** Scatter-add over the leading dimensions: out[segmentIds[i], ...] += x[i, ...]. */
export function unsortedSegmentSumValues(
  x: ArrayLike<number>,
  segmentIds: ArrayLike<number>,
  innerSize: number,
  numSegments: number,
  out: Float32Array | Int32Array,
): void {
  for (let i = 0; i < segmentIds.length; i++) {
    const segment = segmentIds[i];
    // As in TensorFlow, negative ids (and, here, ids past the end) are dropped.
    if (segment < 0 || segment >= numSegments) continue;
    const source = i * innerSize;
    const target = segment * innerSize;
    for (let j = 0; j < innerSize; j++) out[target + j] += x[source + j];
  }
}

/** The UnsortedSegmentSum kernel for a backend that lacks it (reads inputs, writes a new tensor). */
function unsortedSegmentSumKernel(args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const backend = args.backend as KernelBackend;
  const x = args.inputs.x;
  const segmentIds = args.inputs.segmentIds;
  if (!x || !segmentIds) throw new Error("UnsortedSegmentSum: expects inputs x and segmentIds");
  const numSegments = Number(args.attrs?.numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) throw new Error(`UnsortedSegmentSum: bad numSegments ${numSegments}`);
  const idCount = segmentIds.shape.reduce((a, b) => a * b, 1);
  // segmentIds' shape is a prefix of x's shape; the rest of x is summed as a block.
  const prefix = x.shape.slice(0, segmentIds.shape.length);
  if (prefix.length !== segmentIds.shape.length || prefix.some((d, i) => d !== segmentIds.shape[i])) {
    throw new Error(`UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] is not a prefix of x shape [${x.shape}]`);
  }
  const innerShape = x.shape.slice(segmentIds.shape.length);
  const innerSize = innerShape.reduce((a, b) => a * b, 1);
  const values = backend.readSync(x.dataId) as ArrayLike<number>;
  const ids = backend.readSync(segmentIds.dataId) as ArrayLike<number>;
  const outShape = [numSegments, ...innerShape];
  const out = x.dtype === "int32" ? new Int32Array(numSegments * innerSize) : new Float32Array(numSegments * innerSize);
  if (idCount > 0) unsortedSegmentSumValues(values, ids, innerSize, numSegments, out);
  const dtype = x.dtype === "int32" ? "int32" : "float32";
  const dataId = backend.write(out, outShape, dtype);
  return { dataId, shape: outShape, dtype };
}

/** Kernels the training graph needs that the wasm backend does not ship. */
export const WASM_MISSING_TRAINING_KERNELS = ["UnsortedSegmentSum"] as const;

/** Registers the trainer's own kernels for `backendName` where tfjs has none (idempotent). */
export function registerMissingKernels(backendName: string): void {
  for (const kernelName of WASM_MISSING_TRAINING_KERNELS) {
    if (tf.getKernel(kernelName, backendName) !== undefined) continue;
    tf.registerKernel({ kernelName, backendName, kernelFunc: unsortedSegmentSumKernel });
  }
}

/** Registers the pure-JS "cpu" backend (no-op when already registered); false if missing. */
export function registerCpuBackend(): boolean {
  if (cpuRegistered || tf.findBackendFactory("cpu") !== null) return (cpuRegistered = true);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = tryRequire("@tensorflow/tfjs-backend-cpu", [], () => require("@tensorflow/tfjs-backend-cpu"));
  cpuRegistered = loaded !== null && tf.findBackendFactory("cpu") !== null;
  return cpuRegistered;
}

/** Loads the wasm package, points it at its binaries and asks for one thread per core. */
function loadWasm(): WasmModule {
  if (wasmModule) return wasmModule;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require("@tensorflow/tfjs-backend-wasm") as WasmModule;
  // Before the module is created: it binds console.warn/log as its printErr/print (failures.ts).
  hookWasmPrints();
  module.setWasmPaths(wasmBinaryDirectory());
  // Honoured only by the threaded build; tfjs disables wasm threads under Node
  // (tensorflow/tfjs#3830), so in practice XNNPACK runs on one thread here.
  module.setThreadsCount(Math.max(1, os.availableParallelism()));
  registerMissingKernels("wasm");
  wasmModule = module;
  return module;
}

/**
 * Initialises the best available backend (or `prefer`, when given and available) and
 * returns what runs. Safe to call repeatedly; the first call decides unless `prefer` differs.
 */
export async function initBackend(prefer?: TrainerBackendName): Promise<BackendReport> {
  if (report && (prefer === undefined || prefer === report.name)) return report;
  const notes: string[] = [];
  registerCpuBackend();
  const candidates: TrainerBackendName[] = prefer ? [prefer] : ["tensorflow", "wasm", "cpu"];
  for (const name of candidates) {
    if (name === "tensorflow") {
      for (const packageName of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
        if (tryRequire(packageName, notes) === null) continue;
        // The package registers "tensorflow" in its own copy of tfjs-core if versions differ.
        if (tf.findBackendFactory("tensorflow") === null) {
          notes.push(`${packageName}: loaded but its backend is not registered with this tfjs-core`);
          continue;
        }
        if (await tf.setBackend("tensorflow")) {
          report = { name, packageName, notes };
          return report;
        }
        notes.push(`${packageName}: backend failed to initialise`);
      }
    } else if (name === "wasm") {
      try {
        const module = loadWasm();
        if (await tf.setBackend("wasm")) {
          await tf.ready();
          installWasmGuards(); // XNNPACK failures, aborts and full heaps become errors
          const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
          report = { name, packageName: "@tensorflow/tfjs-backend-wasm", simd, threads: module.getThreadsCount(), notes };
          return report;
        }
        notes.push("@tensorflow/tfjs-backend-wasm: backend failed to initialise");
      } catch (error) {
        notes.push(`@tensorflow/tfjs-backend-wasm: ${error instanceof Error ? error.message : String(error)}`);
      }
    } else if (registerCpuBackend() && (await tf.setBackend("cpu"))) {
      report = { name, packageName: "@tensorflow/tfjs-backend-cpu", notes };
      return report;
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${notes.join("; ")}`);
}

/** The backend the trainer set up ("tensorflow", "wasm" or "cpu"); null before initBackend. */
export function activeBackendName(): TrainerBackendName | null {
  return report ? report.name : null;
}

/** The full report of the last initBackend call; null before it. */
export function backendReport(): BackendReport | null {
  return report;
}

/** One line for logs: backend, package, SIMD and threads. */
export function describeBackend(value: BackendReport): string {
  const extras = value.name === "wasm" ? ` (simd ${value.simd ? "on" : "off"}, ${value.threads ?? 1} thread(s))` : "";
  return `${value.name} via ${value.packageName}${extras}`;
}

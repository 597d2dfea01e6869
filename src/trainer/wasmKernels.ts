// Kernels of the trainer's own for the wasm backend that work on views of the wasm heap.
//
// The wasm backend reaches XNNPACK's fast matrix product only for a single [1, m, k] x [1, k, n]
// product; a batch of products falls back to a naive loop, and picking the matrices out first
// (gather, slice, unstack) copies far more than the products cost. "RestemBatchedMatMul" does a
// batch of products [B, m, k] x [B, k, n] in one kernel call without copies: for each matrix it
// registers temporary tensor ids that point into the inputs' and the output's heap memory (the
// backend's registerTensor(id, size, offset)) and runs the backend's own BatchMatMul entry on
// them, so every product is XNNPACK's, exactly as a single tf.matMul would compute it.
//
// This leans on internals of @tensorflow/tfjs-backend-wasm 4.x (its `wasm` module, dataIdMap and
// id counter). wasmViewsAvailable() checks they are there; callers fall back to tf ops if not.

import * as tf from "@tensorflow/tfjs-core";
import type { NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs-core";
import { guardKernels } from "./failures";

export const BATCHED_MATMUL_KERNEL = "RestemBatchedMatMul";

interface WasmTensorData {
  id: number;
  memoryOffset: number;
}

type CwrapArg = "number" | "array";

interface WasmModuleInternals {
  cwrap(name: string, returnType: null, argTypes: CwrapArg[]): (...args: Array<number | boolean | Uint8Array>) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

/** The parts of tfjs-backend-wasm's BackendWasm the view kernels use. */
interface WasmBackendInternals {
  wasm: WasmModuleInternals;
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
}

function isWasmBackend(value: unknown): value is WasmBackendInternals {
  if (typeof value !== "object" || value === null) return false;
  const candidate = value as Partial<WasmBackendInternals>;
  const wasm = candidate.wasm as Partial<WasmModuleInternals> | undefined;
  return (
    typeof candidate.dataIdNextNumber === "number" &&
    typeof candidate.makeOutput === "function" &&
    typeof candidate.dataIdMap?.get === "function" &&
    typeof wasm?.cwrap === "function" &&
    typeof wasm.tfjs?.registerTensor === "function" &&
    typeof wasm.tfjs.disposeData === "function"
  );
}

type BatchMatMulEntry = (...args: Array<number | boolean | Uint8Array>) => void;
const entries = new WeakMap<WasmModuleInternals, BatchMatMulEntry>();

/** The backend's C entry BatchMatMul(aId, aShape, aRank, bId, bShape, bRank, tA, tB, outId). */
function batchMatMulEntry(wasm: WasmModuleInternals): BatchMatMulEntry {
  let entry = entries.get(wasm);
  if (!entry) {
    entry = wasm.cwrap("BatchMatMul", null, ["number", "array", "number", "number", "array", "number", "number", "number", "number"]);
    entries.set(wasm, entry);
  }
  return entry;
}

function shapeBytes(shape: readonly number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

function heapData(backend: WasmBackendInternals, info: TensorInfo): WasmTensorData {
  const data = backend.dataIdMap.get(info.dataId);
  if (!data) throw new Error(`${BATCHED_MATMUL_KERNEL}: tensor data not on the wasm heap`);
  return data;
}

/** a [B, m, k] x b [B, k, n] → [B, m, n]: B XNNPACK products on heap views, no copies. */
function batchedMatMulKernel(args: { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap }): TensorInfo {
  const backend = args.backend;
  if (!isWasmBackend(backend)) throw new Error(`${BATCHED_MATMUL_KERNEL}: needs the wasm backend`);
  const { a, b } = args.inputs;
  if (!a || !b || a.shape.length !== 3 || b.shape.length !== 3) throw new Error(`${BATCHED_MATMUL_KERNEL}: expects rank-3 a and b`);
  const [batch, m, k] = a.shape;
  const n = b.shape[2];
  if (b.shape[0] !== batch || b.shape[1] !== k) throw new Error(`${BATCHED_MATMUL_KERNEL}: shapes [${a.shape}] x [${b.shape}] do not match`);
  if (a.dtype !== "float32" || b.dtype !== "float32") throw new Error(`${BATCHED_MATMUL_KERNEL}: float32 only`);
  const out = backend.makeOutput([batch, m, n], "float32");
  if (batch * m * n === 0) return out;
  const run = batchMatMulEntry(backend.wasm);
  const registry = backend.wasm.tfjs;
  const aBase = heapData(backend, a).memoryOffset;
  const bBase = heapData(backend, b).memoryOffset;
  const outBase = heapData(backend, out).memoryOffset;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, n]);
  for (let i = 0; i < batch; i++) {
    // Fresh ids each time: the backend caches XNNPACK operators by the weight tensor's id and
    // drops them when that id is disposed, so a reused id could meet a stale operator.
    const aId = backend.dataIdNextNumber++;
    const bId = backend.dataIdNextNumber++;
    const outId = backend.dataIdNextNumber++;
    registry.registerTensor(aId, m * k, aBase + 4 * i * m * k);
    registry.registerTensor(bId, k * n, bBase + 4 * i * k * n);
    registry.registerTensor(outId, m * n, outBase + 4 * i * m * n);
    try {
      run(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
    } finally {
      // Unregisters the views only; the memory belongs to a, b and out.
      registry.disposeData(aId);
      registry.disposeData(bId);
      registry.disposeData(outId);
    }
  }
  return out;
}

let registered = false;

/** Registers the view kernels for the wasm backend (idempotent). */
export function registerWasmViewKernels(): void {
  if (registered) return;
  registered = true;
  if (tf.getKernel(BATCHED_MATMUL_KERNEL, "wasm") === undefined) {
    tf.registerKernel({ kernelName: BATCHED_MATMUL_KERNEL, backendName: "wasm", kernelFunc: batchedMatMulKernel });
  }
  guardKernels("wasm"); // its XNNPACK products fail like tfjs's own (failures.ts)
}

/** Whether the active backend is wasm with the internals the view kernels need. */
export function wasmViewsAvailable(): boolean {
  return tf.getBackend() === "wasm" && isWasmBackend(tf.backend());
}

/** a [B, m, k] x b [B, k, n] with the view kernel (no gradient of its own; see ops.ts). */
export function batchedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  registerWasmViewKernels();
  return tf.engine().runKernel(BATCHED_MATMUL_KERNEL, { a, b }, {}) as tf.Tensor3D;
}

// Never silently wrong: backend failures become TrainerErrors naming the operation, the shapes,
// the memory and what to do. The XNNPACK failure is the real one (a full wasm heap, reserved
// without being written, so it costs no RSS); the NaN loss comes from a real training step with
// a NaN reward; the worker failure is a real worker thread that exits; the CLI
// test runs bin/restem.js in a child process with the heap reserved (RESTEM_WASM_RESERVE_FREE_MB).

import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { Worker } from "node:worker_threads";
import { parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import {
  assertFinite,
  formatBytes,
  forgetWasmAbort,
  formatFailure,
  isWasmAbort,
  parseXnnStatus,
  reserveWasmHeap,
  runGuarded,
  TrainerError,
  workerFailure,
} from "../../src/trainer/failures";
import { train } from "../../src/trainer/train";
import { copyTaskExamples, useBackend } from "./trainer-support";
import { TINY_QWEN2_CONFIG, TOKENIZER_FIXTURE } from "../support/cliModel";

const XNN_LINE = "XNN status for xnn_create_fully_connected_nc_f32 is not successful. Got status 6. Use -c dbg to see XNN logs.";

describe("trainer failures: pure pieces", () => {
  it("parses tfjs-backend-wasm's XNN status line", () => {
    assert.deepEqual(parseXnnStatus(XNN_LINE), { xnnFunction: "xnn_create_fully_connected_nc_f32", status: 6, statusName: "out of memory" });
    assert.equal(parseXnnStatus("some other warning"), null);
  });

  it("recognises emscripten aborts", () => {
    assert.equal(isWasmAbort(new Error("Aborted(). Build with -sASSERTIONS for more info.")), true);
    assert.equal(isWasmAbort(new Error("shapes do not match")), false);
  });

  it("formats a failure with operation, shapes, cause, memory and a fix", () => {
    const text = formatFailure("RESTEM_BACKEND_OP_FAILED", "XNNPACK refused", {
      operation: "BatchMatMul",
      shapes: ["[1,4,896]", "[1,896,151936]"],
      cause: XNN_LINE,
      memory: { rssBytes: 5 * 1024 ** 3, heapBytes: 4 * 1024 ** 3, tensorBytes: 3.5 * 1024 ** 3 },
    });
    assert.match(text, /^\[RESTEM_BACKEND_OP_FAILED\] BatchMatMul on \[1,4,896\] x \[1,896,151936\]: XNNPACK refused/);
    assert.match(text, /wasm heap 4\.00 GiB of 4\.00 GiB, tensors 3\.50 GiB, process RSS 5\.00 GiB/);
    assert.match(text, /what to do: .*--lora-rank/);
    assert.equal(formatBytes(1.5 * 1024 ** 2), "1.5 MiB");
  });

  it("throws RESTEM_NON_FINITE for NaN and Inf only", () => {
    assertFinite("loss", 1.25, "step 1");
    assert.throws(() => assertFinite("loss", Number.NaN, "optimizer step 3"), (e: TrainerError) => e.code === "RESTEM_NON_FINITE" && /optimizer step 3: the loss is NaN/.test(e.message));
    assert.throws(() => assertFinite("gradient norm", Number.POSITIVE_INFINITY, "s"), /gradient norm is Infinity/);
  });

  it("names a worker that aborted, keeping a TrainerError's whole story", () => {
    const memory = { rssBytes: 1, heapBytes: null, tensorBytes: 0 };
    const abort = workerFailure(0, "RuntimeError: Aborted(). Build with -sASSERTIONS for more info.\n    at abort (wasm.js:1:1)", memory);
    assert.equal(abort.code, "RESTEM_WORKER_FAILED");
    assert.match(abort.message, /gradient worker 1: its wasm backend aborted \(most likely out of memory/);
    assert.doesNotMatch(abort.message, /at abort/);
    const inner = workerFailure(1, "TrainerError: [RESTEM_WASM_ABORTED] BatchMatMul on [2,3] x [3,4]: aborted\n  what to do: x", memory);
    assert.match(inner.message, /gradient worker 2: it failed\n {2}backend said: \[RESTEM_WASM_ABORTED\] BatchMatMul on \[2,3\] x \[3,4\]/);
  });

  it("turns an abort thrown by a kernel into RESTEM_WASM_ABORTED, and refuses later kernels", () => {
    const inputs = { a: { dataId: {}, shape: [2, 3], dtype: "float32" as const } };
    assert.throws(
      () => runGuarded("Fake", inputs, () => { throw Object.assign(new Error("Aborted(). Build with -sASSERTIONS for more info.")); }),
      (e: TrainerError) => e.code === "RESTEM_WASM_ABORTED" && /Fake on \[2,3\]: the wasm backend aborted here/.test(e.message),
    );
    // Every later kernel is refused: the module's memory may be inconsistent after an abort.
    assert.throws(() => runGuarded("Next", inputs, () => []), (e: TrainerError) => e.code === "RESTEM_WASM_ABORTED" && /aborted earlier in this process/.test(e.message));
    forgetWasmAbort(); // the abort above was simulated; the real backend in this process is fine
  });
});

describe("trainer failures: the real wasm backend", function () {
  this.timeout(60000);
  before(async () => {
    await useBackend("wasm");
  });

  it("a matmul whose packed weights do not fit the heap throws, naming the kernel and shapes (no zeros)", () => {
    // Earlier tests in this process (the 0.5B ones) leave large free blocks in the heap: make one
    // here too, so the test holds whatever ran before it, and fill the free lists as well.
    tf.ones([16 * 1024 ** 2]).dispose();
    const x = tf.ones([1, 1024]);
    const w = tf.ones([1024, 4096]); // 16 MiB; XNNPACK's packed copy needs as much again
    const release = reserveWasmHeap(4 * 1024 ** 2, true); // at most 4 MiB left, in small blocks
    try {
      assert.throws(
        () => tf.matMul(x, w).dataSync(),
        (e: TrainerError) => {
          assert.equal(e.code, "RESTEM_BACKEND_OP_FAILED");
          assert.match(e.message, /BatchMatMul on \[1,1024\] x \[1024,4096\]/);
          assert.match(e.message, /xnn_create_fully_connected_nc_f32: status 6, out of memory/);
          assert.match(e.message, /wasm heap (3\.9\d|4\.00) GiB of 4\.00 GiB/);
          return true;
        },
      );
    } finally {
      release();
      tf.dispose([x, w]);
    }
    // The backend still works once there is room again.
    const y = tf.matMul(tf.ones([1, 8]), tf.ones([8, 2]));
    assert.deepEqual(Array.from(y.dataSync()), [8, 8]);
    y.dispose();
  });

  it("a NaN loss stops training with RESTEM_NON_FINITE before any update", async () => {
    const config = parseModelConfig(tinyConfig(), "tiny config.json");
    const weights = randomWeights(config, 3);
    const norm = weights.get("model.norm.weight");
    assert.ok(norm);
    norm.data[0] = Number.NaN; // what a broken kernel or an overflowing update leaves behind
    const examples = copyTaskExamples(4, 32);
    await assert.rejects(
      train(config, weights, examples, { epochs: 1, batchSize: 4, workers: 1 }),
      (e: TrainerError) => e.code === "RESTEM_NON_FINITE" && /optimizer step 1 \(epoch 1\): the loss is NaN/.test(e.message),
    );
  });

  it("a gradient worker whose wasm backend aborts fails training with a named error; the process lives", async () => {
    const config = parseModelConfig(tinyConfig(), "tiny config.json");
    // The worker (not this thread, whose backend is already set up) starts with a full heap.
    process.env.RESTEM_WASM_RESERVE_FREE_MB = "0";
    try {
      await assert.rejects(train(config, randomWeights(config, 3), copyTaskExamples(4, 32), { epochs: 1, batchSize: 4, workers: 2 }), (e: TrainerError) => {
        assert.equal(e.code, "RESTEM_WORKER_FAILED");
        assert.match(e.message, /^\[RESTEM_WORKER_FAILED\] gradient worker 1: /);
        assert.match(e.message, /backend said: \[RESTEM_(WASM_ABORTED|OUT_OF_MEMORY)\] /);
        return true;
      });
    } finally {
      delete process.env.RESTEM_WASM_RESERVE_FREE_MB;
    }
    // This thread's backend is untouched.
    const y = tf.add(tf.scalar(1), tf.scalar(2));
    assert.equal(y.dataSync()[0], 3);
    y.dispose();
  });

  it("a gradient worker that exits becomes a named error", async () => {
    const worker = new Worker("process.exit(3)", { eval: true });
    const code = await new Promise<number>((resolve) => worker.on("exit", resolve));
    const error = workerFailure(0, `the worker thread exited (code ${code}) without an answer`);
    assert.match(error.message, /^\[RESTEM_WORKER_FAILED\] gradient worker 1: it failed\n {2}backend said: the worker thread exited \(code 3\)/);
    assert.match(error.message, /process RSS/);
  });
});

describe("trainer failures: the CLI", function () {
  this.timeout(120000);
  let scratch: string;
  before(async () => {
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), "restem-failures-"));
  });
  after(async () => {
    await fs.rm(scratch, { recursive: true, force: true });
  });

  it("`restem forward --engine tfjs` on a full wasm heap exits 1 with the failing operation, not zeros", async function () {
    if (!existsSync(path.join(TOKENIZER_FIXTURE, "tokenizer.json"))) this.skip();
    const modelDir = path.join(scratch, "tiny");
    const config = parseModelConfig(TINY_QWEN2_CONFIG, "config.json");
    await saveModelDirectory(modelDir, config, randomWeights(config, 5, 0.5), { dtype: "F32", tokenizerFrom: TOKENIZER_FIXTURE });
    const bin = path.resolve(__dirname, "../../../bin/restem.js");
    const args = [bin, "forward", "--engine", "tfjs", "--model", modelDir, "--ids", "1,2,3"];
    // The real failure: the heap is reserved (not written) up to its 4 GiB ceiling first.
    const full = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, RESTEM_WASM_RESERVE_FREE_MB: "0" } });
    assert.equal(full.status, 1, full.stderr);
    assert.equal(full.stdout, "");
    assert.match(full.stderr, /^restem: \[RESTEM_(OUT_OF_MEMORY|BACKEND_OP_FAILED|WASM_ABORTED)\] \S.* on \[[\d,]+\]/);
    assert.match(full.stderr, /memory: wasm heap [\d.]+ GiB of 4\.00 GiB/);
    assert.match(full.stderr, /what to do: /);
    // The same command with room to spare prints the logits.
    const ok = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as number[]).length, config.vocabSize);
  });
});

function tinyConfig(): Record<string, unknown> {
  return {
    architectures: ["Qwen2ForCausalLM"],
    model_type: "qwen2",
    vocab_size: 32,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    max_position_embeddings: 64,
    tie_word_embeddings: true,
  };
}

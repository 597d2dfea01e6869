// Checks that the engine's native and binary parts load from an installed VSIX, not from the
// repository: ONNX Runtime runs a forward pass of the demo model, tokenizers encodes with the
// demo tokenizer, and the bundled gradient worker (dist/worker.js) starts the TensorFlow.js
// wasm backend from dist/wasm/ and computes a loss and gradients. dist/extension.js itself
// needs the vscode module and is exercised in code-server by extension.e2e.test.ts.
//
// It runs as its own process, `node out/test/e2e/installedEngine.js <extensionDir> <modelDir>
// <scratchDir>`, so that the repository's copies of the same native libraries (loaded by other
// tests) cannot stand in for the installed ones; it prints one JSON report line and exits 0,
// or prints the error and exits 1. runInstalledEngineCheck() spawns it.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { loadModelWeights } from "../../src/model/checkpoint";
import { loadModelConfig } from "../../src/model/config";
import { writeOnnxModel } from "../../src/sampler/onnxExport";
import { initBackend } from "../../src/trainer/backend";
import { TfDecoder } from "../../src/trainer/decoder";
import { packBatch } from "../../src/trainer/loss";
import type { FromWorker, ToWorker } from "../../src/trainer/shards";

export interface InstalledEngineReport {
  /** Where onnxruntime-node and tokenizers were loaded from. */
  onnxruntime: string;
  tokenizers: string;
  /** Logits of the last position of a short prompt: count and whether all are finite. */
  logits: number;
  logitsFinite: boolean;
  tokenIds: number[];
  /** The gradient worker's answer to one micro-batch. */
  workerTrainables: number;
  workerLoss: number;
  workerGradients: number;
}

/** Resolves `name` as the extension would: from its own directory, failing if it escapes it. */
function installedRequire(extensionDir: string, name: string): { module: unknown; file: string } {
  const extensionRequire = createRequire(path.join(extensionDir, "package.json"));
  const file = extensionRequire.resolve(name);
  if (!file.startsWith(path.resolve(extensionDir) + path.sep)) throw new Error(`${name} resolved outside the extension: ${file}`);
  return { module: extensionRequire(name), file };
}

async function runOnnx(extensionDir: string, modelDir: string, scratchDir: string, ids: number[]): Promise<{ file: string; logits: Float32Array }> {
  const { module, file } = installedRequire(extensionDir, "onnxruntime-node");
  const ort = module as typeof import("onnxruntime-node");
  const config = await loadModelConfig(modelDir);
  const weights = await loadModelWeights(modelDir);
  const exported = writeOnnxModel(path.join(scratchDir, "onnx"), config, weights);
  const session = await ort.InferenceSession.create(exported.modelPath, { executionProviders: ["cpu"], logSeverityLevel: 3 });
  try {
    const seq = ids.length;
    const feeds: Record<string, import("onnxruntime-node").Tensor> = {
      input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, seq]),
      attention_mask: new ort.Tensor("int64", new BigInt64Array(seq).fill(1n), [1, seq]),
      position_ids: new ort.Tensor("int64", BigInt64Array.from(ids.keys(), BigInt), [1, seq]),
    };
    // Every other input is an empty KV cache [1, kvHeads, 0, headDim].
    for (const name of session.inputNames) {
      if (!(name in feeds)) feeds[name] = new ort.Tensor("float32", new Float32Array(0), [1, config.numKvHeads, 0, config.headDim]);
    }
    const results = await session.run(feeds);
    const all = results.logits.data as Float32Array;
    return { file, logits: all.slice(all.length - config.vocabSize) };
  } finally {
    await session.release();
  }
}

async function tokenize(extensionDir: string, modelDir: string, text: string): Promise<{ file: string; ids: number[] }> {
  const { module, file } = installedRequire(extensionDir, "tokenizers");
  const { Tokenizer } = module as typeof import("tokenizers");
  const tokenizer = Tokenizer.fromFile(path.join(modelDir, "tokenizer.json"));
  return { file, ids: (await tokenizer.encode(text)).getIds() };
}

/** Starts the installed gradient worker on the demo model and asks for one micro-batch's gradients. */
async function runWorker(extensionDir: string, modelDir: string, ids: number[]): Promise<{ trainables: number; loss: number; gradients: number }> {
  const config = await loadModelConfig(modelDir);
  const weights = await loadModelWeights(modelDir);
  const worker = new Worker(path.join(extensionDir, "dist", "worker.js"));
  const answers: FromWorker[] = [];
  let wake: (() => void) | null = null;
  worker.on("message", (message: FromWorker) => {
    answers.push(message);
    wake?.();
  });
  let failure: Error | null = null;
  worker.on("error", (error) => {
    failure = error;
    wake?.();
  });
  const next = async (): Promise<FromWorker> => {
    const deadline = setTimeout(() => {
      failure = new Error("the gradient worker did not answer within 120 s");
      wake?.();
    }, 120_000);
    while (answers.length === 0 && !failure) await new Promise<void>((resolve) => (wake = resolve));
    clearTimeout(deadline);
    if (failure) throw failure;
    const answer = answers.shift() as FromWorker;
    if (answer.kind === "error") throw new Error(`gradient worker: ${answer.message}`);
    return answer;
  };
  try {
    worker.postMessage({ kind: "init", init: { config, weights: [...weights], lora: null, backend: "wasm" } } satisfies ToWorker);
    const ready = await next();
    if (ready.kind !== "ready") throw new Error(`unexpected answer to init: ${ready.kind}`);
    // The current trainable values, in the decoder's order, as the training loop sends them
    // (a replica on the repository's CPU backend in this thread reads them off).
    await initBackend("cpu");
    const replica = new TfDecoder(config, weights, { lora: null });
    const values = replica.trainableVariables().map((v) => v.dataSync() as Float32Array);
    replica.dispose();
    if (values.length !== ready.trainables) throw new Error(`the worker holds ${ready.trainables} trainables, the replica ${values.length}`);
    const batch = packBatch([{ promptIds: ids.slice(0, 2), completionIds: ids.slice(2), reward: 1 }], 64, config.padTokenId ?? 0);
    worker.postMessage({ kind: "gradients", id: 1, values, batches: [batch], normaliser: batch.completionTokens } satisfies ToWorker);
    const answer = await next();
    if (answer.kind !== "gradients") throw new Error(`unexpected answer to gradients: ${answer.kind}`);
    const finite = answer.grads.every((g) => g.every(Number.isFinite));
    if (!Number.isFinite(answer.loss) || answer.loss <= 0 || !finite) throw new Error(`the worker's loss ${answer.loss} or gradients are not finite and positive`);
    return { trainables: ready.trainables, loss: answer.loss, gradients: answer.grads.length };
  } finally {
    worker.postMessage({ kind: "close" } satisfies ToWorker);
    await worker.terminate();
  }
}

export async function checkInstalledEngine(extensionDir: string, modelDir: string, scratchDir: string): Promise<InstalledEngineReport> {
  for (const file of ["dist/extension.js", "dist/worker.js", "dist/wasm/tfjs-backend-wasm.wasm", "sandbox/Dockerfile"]) {
    if (!fs.existsSync(path.join(extensionDir, file))) throw new Error(`the installed extension lacks ${file}`);
  }
  // The wasm backend has to come from dist/wasm: the package itself is not shipped.
  if (fs.existsSync(path.join(extensionDir, "node_modules", "@tensorflow"))) throw new Error("the VSIX ships @tensorflow packages; the bundle should hold them");
  const { file: tokenizersFile, ids } = await tokenize(extensionDir, modelDir, "def solve(n):\n    return n * 2\n");
  const { file: onnxFile, logits } = await runOnnx(extensionDir, modelDir, scratchDir, ids);
  const worker = await runWorker(extensionDir, modelDir, ids);
  return {
    onnxruntime: onnxFile,
    tokenizers: tokenizersFile,
    logits: logits.length,
    logitsFinite: logits.every(Number.isFinite),
    tokenIds: ids,
    workerTrainables: worker.trainables,
    workerLoss: worker.loss,
    workerGradients: worker.gradients,
  };
}

/** Runs the check in a child process and returns its report (throws with its output on failure). */
export function runInstalledEngineCheck(extensionDir: string, modelDir: string, scratchDir: string): InstalledEngineReport {
  const result = spawnSync(process.execPath, [__filename, extensionDir, modelDir, scratchDir], { encoding: "utf8", timeout: 300_000 });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status !== 0) throw new Error(`installed-engine check failed (status ${result.status ?? result.signal}):\n${output}`);
  const line = (result.stdout ?? "").trim().split("\n").pop() ?? "";
  return JSON.parse(line) as InstalledEngineReport;
}

if (require.main === module) {
  const [extensionDir, modelDir, scratchDir] = process.argv.slice(2);
  if (!extensionDir || !modelDir || !scratchDir) {
    console.error("usage: node installedEngine.js <extensionDir> <modelDir> <scratchDir>");
    process.exit(2);
  }
  checkInstalledEngine(extensionDir, modelDir, scratchDir).then(
    (report) => {
      console.log(JSON.stringify(report));
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
      process.exit(1);
    },
  );
}

// Bundles the VS Code extension with esbuild into dist/, the layout the VSIX ships:
//   dist/extension.js  the extension host entry (src/extension.ts) with the engine inside;
//   dist/worker.js     the trainer's data-parallel gradient worker (src/trainer/worker.ts),
//                      which src/trainer/parallel.ts starts from `path.join(__dirname, "worker.js")`;
//   dist/runWorker.js  the thread a run executes in (src/ui/runWorker.ts), which
//                      src/ui/runSession.ts starts from `path.join(__dirname, "runWorker.js")`;
//   dist/wasm/*.wasm   @tensorflow/tfjs-backend-wasm's binaries, which
//                      src/trainer/backend.ts wasmBinaryDirectory() prefers when present.
// The CLI runs from tsc's output (out/), so only the extension host needs a bundle.
//
// Native modules stay external and are shipped in the VSIX's node_modules by
// scripts/package.mjs: tokenizers (its platform binaries sit inside the package) and
// onnxruntime-node with onnxruntime-common (external too, so that there is one copy of ONNX
// Runtime's backend registry). ssh2, which dockerode's modem requires at load time, is pure
// JavaScript and is bundled; its optional native parts (cpu-features, the sshcrypto binding) are
// required inside try/catch and simply absent. The optional tfjs-node builds are absent as well.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const require = createRequire(import.meta.url);

export const EXTERNALS = [
  "vscode",
  "tokenizers",
  "onnxruntime-node",
  "onnxruntime-common",
  "@tensorflow/tfjs-node",
  "@tensorflow/tfjs-node-gpu",
  "cpu-features",
  // Only reached by tsc's output (the bundle finds the binaries in dist/wasm/ first).
  "@tensorflow/tfjs-backend-wasm/package.json",
  // ssh2's optional compiled crypto binding (require("./crypto/build/Release/sshcrypto.node")).
  "*.node",
];

rmSync(dist, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { extension: "src/extension.ts", worker: "src/trainer/worker.ts", runWorker: "src/ui/runWorker.ts" },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outdir: "dist",
  external: EXTERNALS,
  // import("tokenizers") becomes a require, as in tsc's output: the same CommonJS loading (and
  // named exports) whether the engine runs from out/ or from the bundle.
  supported: { "dynamic-import": false },
  sourcemap: true,
  logLevel: "warning",
});

// The wasm binaries (plain, SIMD, threaded SIMD) go next to the bundles.
const wasmPackage = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
const wasmSource = join(wasmPackage, "dist");
const wasmTarget = join(dist, "wasm");
mkdirSync(wasmTarget, { recursive: true });
const binaries = readdirSync(wasmSource).filter((name) => name.endsWith(".wasm"));
if (binaries.length === 0) throw new Error(`no .wasm files in ${wasmSource}`);
for (const name of binaries) copyFileSync(join(wasmSource, name), join(wasmTarget, name));

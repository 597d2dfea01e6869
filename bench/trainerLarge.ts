// LoRA training throughput at the Qwen2.5-Coder-0.5B shape on the streamed engine, against
// PyTorch doing the same step in the same run.
//
//   node out/bench/trainerLarge.js [--model <dir>] [--layers L] [--steps N] [--workers W] [--torch-steps M] [--no-torch]
//
// Model: the random-weight 0.5B checkpoint (scripts/make-random-model.mjs; --model, default
// ~/.cache/restem/models/qwen2.5-coder-0.5b, generated when absent), all 24 layers unless
// --layers L keeps the first L (both sides). Step: LoRA rank 16 (alpha 32) on q, k, v, o, gate,
// up and down, sequences of 256 tokens, "batch 1" per replica: each of the W replicas (wasm
// instances on their own core, default min(2, cores)) takes one sequence of the step (loss on
// all 256 positions), backward, clipping, AdamW. One warm-up step, then N timed steps; tokens/s
// counts every sequence of the step.
// Plain (everything in the heap) does not fit at this size: 2 GB of F32 weights plus XNNPACK's
// packed copies exceed the 4 GiB wasm heap (XNNPACK status 6), so there is no in-heap figure.
// Rival: bench/trainer_large_torch.py under /usr/bin/python3 (PyTorch, 2 threads), same shape.

import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseModelConfig, readSafetensors, readSafetensorsHeader } from "../src/model";
import { describeBackend, initBackend } from "../src/trainer/backend";
import { loraSettings } from "../src/trainer/lora";
import { defaultReplicaCount } from "../src/trainer/parallel";
import type { TrainExample } from "../src/trainer/loss";
import { trainStreamed } from "../src/trainer/streamed/trainLarge";
import { resolveTrainOptions } from "../src/trainer/train";

const SEQ = 256;
const ROOT = path.resolve(__dirname, "..", "..");

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

function modelDir(): string {
  const at = process.argv.indexOf("--model");
  if (at !== -1) return process.argv[at + 1];
  const dir = path.join(os.homedir(), ".cache", "restem", "models", "qwen2.5-coder-0.5b");
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "make-random-model.mjs"), "qwen2.5-coder-0.5b", dir], { stdio: "inherit" });
  }
  return dir;
}

function torchRival(layers: number, steps: number): { tokensPerSecond: number; peakRssGiB: number } | string {
  const script = path.join(ROOT, "bench", "trainer_large_torch.py");
  const run = spawnSync("/usr/bin/python3", [script, "--layers", String(layers), "--seq", String(SEQ), "--steps", String(steps), "--threads", "2"], {
    encoding: "utf8",
    timeout: 30 * 60 * 1000,
  });
  if (run.status !== 0) return `PyTorch run failed (status ${run.status}): ${(run.stderr ?? "").split("\n").slice(-3).join(" ")}`;
  const result = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as { tokens_per_second: number; peak_rss_gib: number };
  return { tokensPerSecond: result.tokens_per_second, peakRssGiB: result.peak_rss_gib };
}

async function main(): Promise<void> {
  const dir = modelDir();
  const steps = flag("--steps", 3);
  const raw = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const layers = flag("--layers", Number(raw.num_hidden_layers));
  const config = parseModelConfig({ ...raw, num_hidden_layers: layers, max_window_layers: layers }, dir);
  const names = new Set<string>(["model.embed_tokens.weight", "model.norm.weight"]);
  for (const entry of (await readSafetensorsHeader(path.join(dir, "model.safetensors"))).entries) {
    const match = /^model\.layers\.(\d+)\./.exec(entry.name);
    if (match && Number(match[1]) < layers) names.add(entry.name);
  }
  const { tensors: weights } = await readSafetensors(path.join(dir, "model.safetensors"), names);
  const backend = await initBackend("wasm");
  let state = 7;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % config.vocabSize;
  const replicas = flag("--workers", defaultReplicaCount());
  const examples: TrainExample[] = Array.from({ length: (steps + 1) * replicas }, () => ({ promptIds: [next()], completionIds: Array.from({ length: SEQ }, next), reward: 1 }));
  const options = resolveTrainOptions({ epochs: 1, batchSize: replicas, lr: 2e-4, seed: 0, workers: replicas });
  console.log(
    `streamed LoRA r16 (q,k,v,o,gate,up,down), ${layers} layers of the 0.5B shape, seq ${SEQ}, batch 1 per replica: ${replicas} replica(s) (wasm instances, one per core) each take one sequence per step; backend ${describeBackend(backend)}`,
  );
  const result = await trainStreamed(config, weights, examples, options, loraSettings(16, 32), {
    onStep: (info) => console.log(`  step ${info.step}: loss ${info.loss.toFixed(3)}, ${info.tokensPerSecond.toFixed(2)} tok/s`),
  });
  const timed = result.history.slice(1);
  const tokensPerSecond = (timed.length * SEQ * replicas) / timed.reduce((sum, s) => sum + (SEQ * replicas) / s.tokensPerSecond, 0);
  const peak = process.resourceUsage().maxRSS / 1024 ** 2;
  console.log(`restem streamed: ${tokensPerSecond.toFixed(2)} tok/s over ${timed.length} steps; peak RSS ${peak.toFixed(2)} GiB (process, incl. the loaded checkpoint)`);
  console.log("in-heap (plain) decoder: does not fit at this size (weights + XNNPACK packed copies > 4 GiB wasm heap)");
  if (process.argv.includes("--no-torch")) return;
  const torch = torchRival(layers, flag("--torch-steps", 2));
  if (typeof torch === "string") {
    console.log(torch);
    return;
  }
  console.log(`PyTorch (2 threads): ${torch.tokensPerSecond.toFixed(2)} tok/s; peak RSS ${torch.peakRssGiB.toFixed(2)} GiB`);
  console.log(`ratio restem / PyTorch: ${(tokensPerSecond / torch.tokensPerSecond).toFixed(2)}x  (load average now ${os.loadavg()[0].toFixed(1)} on ${os.availableParallelism()} cores)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

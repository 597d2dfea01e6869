// The loop side of large models, on a tiny model with a forced threshold:
//   * mstep.loraAboveParams below the model's size makes the M-step train LoRA (rank 8): the
//     merged weights are written for the next E-step, the PEFT adapter is kept beside them, and
//     train.jsonl has the loss curve the dashboard draws;
//   * a NaN loss in the M-step (a learning rate that makes the weights overflow) fails the run
//     with RESTEM_NON_FINITE, status "failed"; after the config is fixed `restem resume`'s
//     executeRun finishes it from the M-step without redoing the work before it.
// Real ONNX Runtime and TensorFlow.js; the variant "sft" trains on the problems' human solutions,
// and the reward is a stand-in that passes no program (the real Docker judge is covered by
// restem-loop.test.ts): these runs are about the M-step, not the rewards.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import type { Problem } from "../../src/problems";
import { createRun, executeRun, parseConfig, readJson, readJsonl, runPaths, type RunStatus } from "../../src/restem";
import type { Verdict } from "../../src/sandbox/judge";
import { REPO_ROOT } from "./support";

const PROBLEMS = path.join(REPO_ROOT, "examples/problems");
const TOKENIZER = path.join(REPO_ROOT, "test/fixtures/model/tiny-tokenizer");
const QWEN2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 512,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 1024,
  tie_word_embeddings: true,
  bos_token_id: 510,
  eos_token_id: 509,
};

/** Stand-in reward (see the header): every program fails. */
const noReward = async (): Promise<{ judge: (p: Problem, c: string) => Promise<Verdict>; close: () => Promise<void> }> => ({
  judge: async (problem) => ({ problemId: problem.id, passed: false, results: [false], acceptedBy: [null], details: ["stand-in"], error: "stand-in", ms: 0, sandboxFailure: false }),
  close: async () => undefined,
});

function runConfig(model: string, mstep: Record<string, unknown>): Record<string, unknown> {
  return {
    problems: PROBLEMS,
    model,
    variant: "sft",
    iterations: 1,
    seed: 1,
    sampling: { maxNewTokens: 4, batchSize: 2 },
    evaluation: { samples: 0, passK: [1], trainGreedy: false },
    mstep: { epochs: 1, batchSize: 2, maxSeqLen: 256, loraAboveParams: 1000, workers: 1, ...mstep },
  };
}

describe("M-step of a model above mstep.loraAboveParams (tiny model, forced threshold)", function () {
  this.timeout(300_000);
  let scratch: string;
  let model: string;

  before(async function () {
    if (!existsSync(path.join(TOKENIZER, "tokenizer.json"))) this.skip();
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-mstep-safety-"));
    model = path.join(scratch, "model");
    const config = parseModelConfig(QWEN2, path.join(model, "config.json"));
    await saveModelDirectory(model, config, randomWeights(config, 7, 0.05), { dtype: "F32", tokenizerFrom: TOKENIZER });
  });
  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("trains LoRA, writes merged weights and keeps the PEFT adapter and the loss curve", async () => {
    const store = path.join(scratch, "store-lora");
    const raw = runConfig(model, { lr: 1e-3 });
    const id = await createRun(store, parseConfig(raw, "restem.json"));
    const outcome = await executeRun(store, id, { openRewarder: noReward });
    assert.equal(outcome.status, "completed");
    const iter = runPaths(store, id).iteration(1);
    for (const file of ["config.json", "model.safetensors", "adapter/adapter_config.json", "adapter/adapter_model.safetensors"]) {
      assert.ok(existsSync(path.join(iter.weights, file)), file);
    }
    const adapter = JSON.parse(await readFile(path.join(iter.weights, "adapter/adapter_config.json"), "utf8")) as { r: number };
    assert.equal(adapter.r, 8);
    const steps = await readJsonl<{ step: number; loss: number }>(iter.train);
    assert.ok(steps.length >= 1 && steps.every((s) => Number.isFinite(s.loss)), "train.jsonl holds the loss curve");
    const events = await readJsonl<{ type: string; phase?: string; summary?: { lora_rank?: number | null } }>(runPaths(store, id).events);
    assert.equal(events.find((e) => e.type === "phase_done" && e.phase === "mstep")?.summary?.lora_rank, 8);
  });

  it("a NaN loss fails the run with RESTEM_NON_FINITE; once fixed it resumes at the M-step", async () => {
    const store = path.join(scratch, "store-nan");
    const raw = runConfig(model, { lr: 1e30, batchSize: 1 });
    const id = await createRun(store, parseConfig(raw, "restem.json"));
    await assert.rejects(executeRun(store, id, { openRewarder: noReward }), /RESTEM_NON_FINITE[\s\S]*optimizer step \d+ \(epoch 1\): the (loss|gradient norm) is (NaN|Infinity)/);
    const paths = runPaths(store, id);
    const status = await readJson<RunStatus>(paths.status);
    assert.equal(status?.status, "failed");
    assert.match(status?.message ?? "", /RESTEM_NON_FINITE/);
    assert.ok(!existsSync(paths.iteration(1).weights), "no weights from the failed M-step");

    // The user lowers the learning rate in the run's config and resumes.
    const stored = JSON.parse(await readFile(paths.config, "utf8")) as { mstep: { lr: number } };
    stored.mstep.lr = 1e-3;
    await writeFile(paths.config, JSON.stringify(stored));
    const outcome = await executeRun(store, id, { openRewarder: noReward });
    assert.equal(outcome.status, "completed");
    const events = await readJsonl<{ type: string; phase?: string; iteration?: number }>(paths.events);
    const resumed = events.find((e) => e.type === "run_resumed");
    assert.equal(resumed?.phase, "mstep");
    const done = events.filter((e) => e.type === "phase_done").map((e) => `${e.iteration}:${e.phase}`);
    assert.deepEqual(done, ["0:eval", "1:filter", "1:mstep", "1:eval"], "nothing before the M-step was redone");
    assert.ok(existsSync(path.join(paths.iteration(1).weights, "adapter/adapter_config.json")));
  });
});

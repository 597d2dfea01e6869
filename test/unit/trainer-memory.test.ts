// The memory preflight's estimator (pure functions of config.json) and its refusals: parameter
// counts of the published Qwen2.5-Coder shapes, the parts that grow with LoRA/full, batch and
// sequence, the streamed engine's heap, the fixes it names, and the M-step's mode choice
// (LoRA above mstep.loraAboveParams) and preflight at the 1.5B shape.

import * as assert from "node:assert/strict";
import { parseModelConfig } from "../../src/model";
import { DEFAULT_CONFIG } from "../../src/restem";
import { AUTO_LORA_RANK, chooseTrainingMode, mstepPlan, preflightMStep } from "../../src/restem/mstep";
import { TrainerError, WASM_HEAP_LIMIT_BYTES } from "../../src/trainer/failures";
import { checkTraining, estimateForward, estimateTraining, loraParams, memoryProblems, modelShape, parameterCount, type TrainingPlan } from "../../src/trainer/memory";
import { preflightForward, preflightTraining } from "../../src/trainer/preflight";

/** The published config.json fields of Qwen2.5-Coder-0.5B and -1.5B (the shapes that matter). */
function qwen(size: "0.5b" | "1.5b"): ReturnType<typeof parseModelConfig> {
  const common = { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 151936, rms_norm_eps: 1e-6, rope_theta: 1e6, max_position_embeddings: 32768, tie_word_embeddings: true };
  const shape =
    size === "0.5b"
      ? { hidden_size: 896, intermediate_size: 4864, num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2 }
      : { hidden_size: 1536, intermediate_size: 8960, num_attention_heads: 12, num_hidden_layers: 28, num_key_value_heads: 2 };
  return parseModelConfig({ ...common, ...shape }, `qwen2.5-coder-${size}/config.json`);
}

const GIB = 1024 ** 3;
const bigHost = { totalBytes: 1024 * GIB, availableBytes: 1024 * GIB };
const thisKindOfHost = { totalBytes: 24 * GIB, availableBytes: 16 * GIB };
const plan = (overrides: Partial<TrainingPlan> = {}): TrainingPlan => ({ engine: "wasm", loraRank: null, batchSize: 4, maxSeqLen: 64, replicas: 2, ...overrides });

describe("trainer memory: the estimator", () => {
  it("counts the parameters of the published shapes exactly", () => {
    assert.equal(parameterCount(modelShape(qwen("0.5b"))), 494032768); // the safetensors file holds 494,032,768
    assert.equal(parameterCount(modelShape(qwen("1.5b"))), 1543714304);
    assert.equal(loraParams(modelShape(qwen("0.5b")), 8), 24 * 8 * (896 + 896 + 2 * (896 + 128) + 896 + 896 + 2 * (896 + 4864) + 4864 + 896));
  });

  it("full fine-tuning of 0.5B needs several wasm heaps; LoRA a fraction of it", () => {
    const s = modelShape(qwen("0.5b"));
    const full = estimateTraining(s, plan());
    const lora = estimateTraining(s, plan({ loraRank: 8 }));
    assert.ok(full.heapBytes !== null && full.heapBytes > 3 * WASM_HEAP_LIMIT_BYTES, `full ${full.heapBytes}`);
    assert.ok(lora.heapBytes !== null && lora.heapBytes < full.heapBytes / 2);
    // The process holds every replica's heap.
    assert.ok(full.rssBytes > 2 * full.heapBytes);
    // Parts are named and add up to the heap.
    assert.equal(full.parts.reduce((sum, [, b]) => sum + b, 0), full.heapBytes);
    assert.ok(full.parts.some(([name]) => /AdamW/.test(name)));
  });

  it("grows with batch and sequence; the streamed engine keeps the heap to about a layer", () => {
    const s = modelShape(qwen("0.5b"));
    const small = estimateTraining(s, plan({ loraRank: 8, batchSize: 1 }));
    const large = estimateTraining(s, plan({ loraRank: 8, batchSize: 8, maxSeqLen: 512 }));
    assert.ok((large.heapBytes ?? 0) > (small.heapBytes ?? 0));
    const streamed = estimateTraining(s, plan({ engine: "streamed", loraRank: 8, batchSize: 1, maxSeqLen: 512, replicas: 1 }));
    assert.ok(streamed.heapBytes !== null && streamed.heapBytes < 1 * GIB, `streamed heap ${streamed.heapBytes}`);
    // ...and holds the f32 base weights once, outside the heap.
    assert.ok(streamed.rssBytes > 494032768 * 4);
    const tensorflow = estimateTraining(s, plan({ engine: "tensorflow", loraRank: 8 }));
    assert.equal(tensorflow.heapBytes, null);
  });

  it("a tfjs forward pass of 0.5B does not fit one heap (weights + XNNPACK's packed copies)", () => {
    const forward = estimateForward(modelShape(qwen("0.5b")), 3);
    assert.ok(forward.heapBytes !== null && forward.heapBytes > WASM_HEAP_LIMIT_BYTES);
    assert.ok(memoryProblems(forward, bigHost)[0].startsWith("needs ~4."));
  });

  it("names the first cumulative change that fits, or none", () => {
    // A 110M model (GPT-2-small-like widths): full fine-tuning just overflows one heap.
    const mid = parseModelConfig(
      { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", vocab_size: 32000, hidden_size: 768, intermediate_size: 2048, num_attention_heads: 12, num_hidden_layers: 12, num_key_value_heads: 12, rms_norm_eps: 1e-6, rope_theta: 1e4, max_position_embeddings: 2048, tie_word_embeddings: true },
      "mid/config.json",
    );
    const verdict = checkTraining(modelShape(mid), plan({ maxSeqLen: 256 }), thisKindOfHost);
    assert.equal(verdict.ok, false);
    assert.match(verdict.problems[0], /^needs ~\d\.\d\d GiB in one wasm heap \(limit 4\.00 GiB, of which 85% usable\)$/);
    assert.match(verdict.fix ?? "", /^--lora-rank 8 \(needs ~2\.\d\d GiB per heap, [\d.]+ GiB RSS\)$/);
    assert.match(checkTraining(modelShape(mid), plan({ maxSeqLen: 256 }), thisKindOfHost, "config").fix ?? "", /^mstep\.loraRank 8 \(/);
    // 0.5B does not fit one wasm heap in any setting (weights + packed copies > 4 GiB)...
    assert.equal(checkTraining(modelShape(qwen("0.5b")), plan(), thisKindOfHost).fix, null);
    // ...but does with the streamed engine, LoRA, batch 1 and one replica.
    assert.equal(checkTraining(modelShape(qwen("0.5b")), plan({ loraRank: 8, batchSize: 1, replicas: 1, engine: "streamed" }), thisKindOfHost).ok, true);
  });

  it("compares the process's RSS with the host's total and available memory", () => {
    const estimate = { heapBytes: null, rssBytes: 20 * GIB, parts: [], params: 1 };
    assert.deepEqual(memoryProblems(estimate, { totalBytes: 16 * GIB, availableBytes: 8 * GIB }), ["needs ~20.00 GiB of RAM (this machine has 16.00 GiB)"]);
    assert.deepEqual(memoryProblems(estimate, { totalBytes: 64 * GIB, availableBytes: 8 * GIB }), ["needs ~20.00 GiB of RAM (8.00 GiB available now of 64.00 GiB)"]);
  });
});

describe("trainer memory: the preflight refusals", () => {
  it("refuses `restem train` at the 1.5B shape with the numbers and what to do", () => {
    assert.throws(
      () => preflightTraining("restem train", qwen("1.5b"), plan({ loraRank: 8, batchSize: 1, replicas: 1 }), { host: thisKindOfHost }),
      (e: TrainerError) => {
        assert.equal(e.code, "RESTEM_MEMORY_PREFLIGHT");
        assert.match(e.message, /^\[RESTEM_MEMORY_PREFLIGHT\] memory preflight of restem train: LoRA rank 8, batch 1, sequence 64, 1 replica\(s\), engine wasm \(1544M parameters\) needs ~\d+\.\d\d GiB in one wasm heap \(limit 4\.00 GiB, of which 85% usable\)/);
        assert.match(e.message, /no smaller setting fits here: a machine with a GPU/);
        assert.match(e.message, /Largest parts: base weights \(f32\) 5\.75 GiB/);
        assert.match(e.message, /what to do: pass --ignore-memory-check/);
        return true;
      },
    );
  });

  it("a tfjs forward pass of 0.5B runs streamed: accepted here, refused with the numbers and --engine onnx on a small host", () => {
    assert.doesNotThrow(() => preflightForward(qwen("0.5b"), 3, thisKindOfHost));
    const smallHost = { totalBytes: 4 * GIB, availableBytes: 3 * GIB };
    assert.throws(() => preflightForward(qwen("0.5b"), 3, smallHost), /RESTEM_MEMORY_PREFLIGHT.*needs ~\d+\.\d\d GiB of RAM[\s\S]*--engine onnx/);
  });
});

describe("M-step mode: LoRA above mstep.loraAboveParams", () => {
  const mstep = DEFAULT_CONFIG.mstep;

  it("defaults to 100M: full fine-tuning for small models, LoRA rank 8 for 0.5B", () => {
    assert.equal(mstep.loraAboveParams, 100_000_000);
    assert.equal(chooseTrainingMode(50e6, mstep).loraRank, null);
    const big = chooseTrainingMode(494032768, mstep);
    assert.equal(big.loraRank, AUTO_LORA_RANK);
    assert.match(big.reason, /494M parameters > mstep\.loraAboveParams \(100M\): LoRA rank 8/);
    assert.equal(chooseTrainingMode(494032768, { ...mstep, loraRank: 2 }).loraRank, 2); // explicit wins
    assert.equal(chooseTrainingMode(5000, { ...mstep, loraAboveParams: 1000 }).loraRank, AUTO_LORA_RANK); // forced threshold
  });

  it("plans the M-step with the chosen mode, and refuses the 1.5B M-step with restem.json fields", () => {
    assert.equal(mstepPlan(qwen("0.5b"), mstep, "wasm").loraRank, 8);
    assert.equal(mstepPlan(qwen("0.5b"), { ...mstep, workers: 1 }, "wasm").replicas, 1);
    assert.throws(() => preflightMStep(qwen("1.5b"), mstep, 1, "wasm"), (e: TrainerError) => e.code === "RESTEM_MEMORY_PREFLIGHT" && /the M-step of iteration 1/.test(e.message) && /restem resume/.test(e.message));
    preflightMStep(qwen("1.5b"), { ...mstep, ignoreMemoryCheck: true }, 1, "wasm"); // asked to try anyway
  });
});

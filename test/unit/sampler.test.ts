// Tests of the ONNX decoder export (src/sampler/onnxGraph.ts, onnxExport.ts, session.ts): logits
// against the Float64 reference for tiny Llama / Qwen2 configs, KV-cache decoding and left
// padding against full recomputation, and external-data weight updates.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { ModelConfig } from "../../src/model/types";
import { onesMask, positionRange, leftPadBatch, logitsAt } from "../../src/sampler/kvCache";
import { decodeModel } from "../../src/sampler/onnxBuilder";
import { ensureOnnxModel, onnxCacheDir, onnxWeightsStamp, updateOnnxWeights, writeOnnxModel } from "../../src/sampler/onnxExport";
import { ONNX_OPSET } from "../../src/sampler/onnxGraph";
import { cudaAvailability, OnnxDecoderSession } from "../../src/sampler/session";
import { referenceLogits } from "../support/referenceDecoder";
import { exportAndOpen, fullLogits, tempDir } from "../support/samplerFixture";
import { LLAMA3_SCALING, maxAbsDiff, perturbWeights, tinyConfig, tinyWeights } from "../support/tinyModel";

const TOLERANCE = 1e-4;
const IDS = [1, 7, 3, 44, 12, 9, 30, 2, 17, 5, 40, 21];

const CONFIGS: Array<[string, ModelConfig]> = [
  ["llama, GQA 4/2, untied head", tinyConfig({ architecture: "llama", numHeads: 4, numKvHeads: 2 })],
  [
    "llama, MHA, tied head, llama3 rope scaling, mlp bias, attention bias",
    tinyConfig({ architecture: "llama", numKvHeads: 4, tieWordEmbeddings: true, ropeScaling: LLAMA3_SCALING, mlpBias: true, attentionBias: true }),
  ],
  ["qwen2, GQA 4/2, q/k/v biases, tied head, head_dim 16 != hidden/heads", tinyConfig({ architecture: "qwen2", headDim: 16, tieWordEmbeddings: true, ropeTheta: 1e6 })],
  ["qwen2, MQA 4/1, untied head, 3 layers", tinyConfig({ architecture: "qwen2", numKvHeads: 1, numLayers: 3, vocabSize: 61 })],
];

/** Logits row `position` of [seq, vocab] vs the reference row. */
function diffAt(logits: Float32Array, reference: Float32Array[], position: number, vocab: number): number {
  return maxAbsDiff(logits.subarray(position * vocab, (position + 1) * vocab), reference[position]);
}

describe("sampler: ONNX decoder graph", function () {
  this.timeout(20000);
  const scratch = tempDir();
  after(() => scratch.cleanup());

  for (const [label, config] of CONFIGS) {
    it(`matches the Float64 reference: ${label}`, async () => {
      const weights = tinyWeights(config, 11);
      const model = await exportAndOpen(path.join(scratch.dir, label.replace(/\W+/g, "_")), config, weights);
      try {
        const logits = await fullLogits(model.session, IDS); // [12, vocab]
        const reference = referenceLogits(config, weights, IDS);
        for (let t = 0; t < IDS.length; t++) assert.ok(diffAt(logits, reference, t, config.vocabSize) < TOLERANCE, `position ${t}`);

        // Prefill 5 tokens, a chunk of 3 with past, then one token at a time: every row must
        // match the reference at its absolute position.
        const chunks = [IDS.slice(0, 5), IDS.slice(5, 8), ...IDS.slice(8).map((id) => [id])];
        let past = null;
        let done = 0;
        for (const chunk of chunks) {
          const out = await model.session.forward({
            batch: 1,
            seq: chunk.length,
            inputIds: BigInt64Array.from(chunk, (id) => BigInt(id)),
            attentionMask: onesMask(1, done + chunk.length),
            positionIds: positionRange(1, done, chunk.length),
            past,
          });
          for (let i = 0; i < chunk.length; i++) {
            assert.ok(maxAbsDiff(out.logits.subarray(i * config.vocabSize, (i + 1) * config.vocabSize), reference[done + i]) < TOLERANCE);
          }
          assert.equal(out.present.length, done + chunk.length);
          assert.equal(out.present.keys[0].length, config.numKvHeads * (done + chunk.length) * config.headDim);
          past = out.present;
          done += chunk.length;
        }
      } finally {
        await model.close();
      }
    });
  }

  it("left-padded batches (prefill and a cached step) match each prompt alone", async () => {
    const config = CONFIGS[0][1];
    const weights = tinyWeights(config, 5);
    const model = await exportAndOpen(path.join(scratch.dir, "padding"), config, weights);
    try {
      const prompts = [[4, 8, 15, 16, 23], [42, 3, 1, 4, 1, 5, 9, 2, 6], [7]];
      const next = [11, 13, 17];
      const padded = leftPadBatch(prompts, 0);
      const prefill = await model.session.forward({ ...padded, past: null });
      const mask = new BigInt64Array(padded.batch * (padded.seq + 1));
      for (let b = 0; b < padded.batch; b++) {
        for (let t = 0; t < padded.seq; t++) mask[b * (padded.seq + 1) + t] = padded.attentionMask[b * padded.seq + t];
        mask[b * (padded.seq + 1) + padded.seq] = 1n;
      }
      const step = await model.session.forward({
        batch: padded.batch,
        seq: 1,
        inputIds: BigInt64Array.from(next, (id) => BigInt(id)),
        attentionMask: mask,
        positionIds: BigInt64Array.from(prompts, (p) => BigInt(p.length)),
        past: prefill.present,
      });
      prompts.forEach((prompt, b) => {
        const reference = referenceLogits(config, weights, [...prompt, next[b]]);
        const last = logitsAt(prefill.logits, padded.seq, config.vocabSize, b, padded.seq - 1);
        assert.ok(maxAbsDiff(last, reference[prompt.length - 1]) < TOLERANCE, `prefill row ${b}`);
        assert.ok(maxAbsDiff(logitsAt(step.logits, 1, config.vocabSize, b, 0), reference[prompt.length]) < TOLERANCE, `step row ${b}`);
      });
    } finally {
      await model.close();
    }
  });

  it("uses opset 17 standard ops and stores every weight as external data", () => {
    const config = CONFIGS[2][1];
    const files = writeOnnxModel(path.join(scratch.dir, "proto"), config, tinyWeights(config, 2));
    const model = decodeModel(fs.readFileSync(files.modelPath));
    assert.deepEqual(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [["", ONNX_OPSET]]);
    assert.ok((model.graph?.node ?? []).every((n) => !n.domain));
    const initializers = model.graph?.initializer ?? [];
    const external = initializers.filter((t) => t.dataLocation === 1);
    assert.ok(external.some((t) => t.name === "model.layers.0.self_attn.q_proj.weight.T"));
    assert.ok(external.every((t) => (t.externalData ?? []).find((e) => e.key === "location")?.value === "model.onnx.data"));
    const inline = initializers.filter((t) => t.dataLocation !== 1);
    assert.ok(inline.every((t) => (t.rawData?.length ?? 0) <= 4 * 64), "only small constants are inline");
    assert.ok(fs.statSync(files.modelPath).size < 64 * 1024);
    assert.deepEqual((model.graph?.input ?? []).map((i) => i.name).slice(0, 4), ["input_ids", "attention_mask", "position_ids", "past_key_values.0.key"]);
    assert.deepEqual((model.graph?.output ?? []).map((o) => o.name).slice(0, 2), ["present.0.key", "present.0.value"]);
  });

  it("updating the external data changes logits exactly as a re-export does, graph untouched", async () => {
    const config = CONFIGS[1][1];
    const before = tinyWeights(config, 3);
    const after = perturbWeights(before, 4);
    const updatedDir = path.join(scratch.dir, "updated");
    const files = writeOnnxModel(updatedDir, config, before);
    const graphBytes = fs.readFileSync(files.modelPath);
    const old = await OnnxDecoderSession.create(files.modelPath, config, { threads: 1 });
    const oldLogits = await fullLogits(old, IDS);

    updateOnnxWeights(updatedDir, config, after);
    assert.deepEqual(fs.readFileSync(files.modelPath), graphBytes);
    // The open session keeps its weights; a new one sees the update.
    assert.deepEqual(await fullLogits(old, IDS), oldLogits);
    await old.release();
    const updated = await exportAndOpen(updatedDir + "-reopen", config, after);
    const fresh = await OnnxDecoderSession.create(files.modelPath, config, { threads: 1 });
    try {
      const updatedLogits = await fullLogits(fresh, IDS);
      assert.deepEqual(updatedLogits, await fullLogits(updated.session, IDS));
      assert.ok(maxAbsDiff(updatedLogits, oldLogits) > 1e-3);
      const reference = referenceLogits(config, after, IDS);
      assert.ok(diffAt(updatedLogits, reference, IDS.length - 1, config.vocabSize) < TOLERANCE);
    } finally {
      await fresh.release();
      await updated.close();
    }
    assert.throws(() => updateOnnxWeights(updatedDir, CONFIGS[0][1], tinyWeights(CONFIGS[0][1], 1)), /does not hold an ONNX export of this config/);
    const missing = new Map(after);
    missing.delete("model.norm.weight");
    assert.throws(() => updateOnnxWeights(updatedDir, config, missing), /lack model\.norm\.weight/);
  });

  it("caches exports next to the model, keyed by config; a matching weights stamp skips the rewrite", async () => {
    const config = CONFIGS[0][1];
    const modelDir = path.join(scratch.dir, "model-dir");
    const first = await ensureOnnxModel(modelDir, config, tinyWeights(config, 1), { weightsStamp: "a" });
    assert.equal(first.dir, onnxCacheDir(modelDir, config));
    assert.ok(first.dir.startsWith(path.join(modelDir, ".restem-onnx")));
    const graphTime = fs.statSync(first.modelPath).mtimeMs;
    let loads = 0;
    const loader = async (): Promise<ReturnType<typeof tinyWeights>> => (loads++, tinyWeights(config, 2));
    const same = await ensureOnnxModel(modelDir, config, loader, { weightsStamp: "a" });
    assert.equal(loads, 0, "weights not loaded when the stamp matches");
    assert.equal(same.modelPath, first.modelPath);
    const dataBefore = fs.readFileSync(first.dataPath);
    await ensureOnnxModel(modelDir, config, loader, { weightsStamp: "b" });
    assert.equal(loads, 1);
    assert.equal(onnxWeightsStamp(first.dir), "b");
    assert.notDeepEqual(fs.readFileSync(first.dataPath), dataBefore);
    assert.equal(fs.statSync(first.modelPath).mtimeMs, graphTime, "graph not rewritten");
    assert.notEqual(onnxCacheDir(modelDir, CONFIGS[3][1]), first.dir);
    assert.ok(onnxCacheDir(modelDir, config, "/elsewhere").startsWith("/elsewhere"));
  });

  it("refuses CUDA with a clear error when it is not installed", async function () {
    if (cudaAvailability().available) this.skip();
    const config = CONFIGS[0][1];
    const files = writeOnnxModel(path.join(scratch.dir, "cuda"), config, tinyWeights(config, 1));
    await assert.rejects(OnnxDecoderSession.create(files.modelPath, config, { executionProvider: "cuda" }), /CUDA was requested but is not available/);
  });
});

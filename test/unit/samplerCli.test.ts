// Tests of the sampler's CLI commands (src/cli/sampleCommands.ts) on a real model directory: a
// tiny random Qwen2 checkpoint written with src/model's saveModelDirectory next to the test
// tokenizer fixture, driven through a commander program with captured output.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { registerSampleCommands } from "../../src/cli/sampleCommands";
import { parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import type { ModelConfig, WeightMap } from "../../src/model/types";
import { referenceLogits } from "../support/referenceDecoder";
import { tempDir } from "../support/samplerFixture";
import { maxAbsDiff } from "../support/tinyModel";
import { runCommand, TINY_QWEN2_CONFIG, TOKENIZER_FIXTURE } from "../support/cliModel";

const runCli = (args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => runCommand(registerSampleCommands, args);

describe("sampler: CLI commands", function () {
  this.timeout(20000);
  const scratch = tempDir();
  const modelDir = path.join(scratch.dir, "model");
  let config: ModelConfig;
  let weights: WeightMap;

  before(async function () {
    if (!fs.existsSync(path.join(TOKENIZER_FIXTURE, "tokenizer.json"))) this.skip();
    config = parseModelConfig(TINY_QWEN2_CONFIG, "config.json");
    weights = randomWeights(config, 5, 0.5);
    await saveModelDirectory(modelDir, config, weights, { dtype: "F32", tokenizerFrom: TOKENIZER_FIXTURE });
  });
  after(() => scratch.cleanup());

  it("forward prints the last position's logits as a JSON array (onnx engine)", async () => {
    const ids = [5, 17, 300, 42];
    const { stdout, code } = await runCli(["forward", "--model", modelDir, "--ids", ids.join(","), "--threads", "1"]);
    assert.equal(code, 0);
    const logits = JSON.parse(stdout) as number[];
    assert.equal(logits.length, 512);
    const reference = referenceLogits(config, weights, ids);
    assert.ok(maxAbsDiff(logits, reference[ids.length - 1]) < 1e-4);
    assert.ok(fs.existsSync(path.join(modelDir, ".restem-onnx")), "export cached next to the model");
    await assert.rejects(runCli(["forward", "--model", modelDir, "--ids", "1,x"]), /comma-separated/);
  });

  it("sample prints one JSON line per sample, reproducible with --seed", async () => {
    const args = ["sample", "--model", modelDir, "--prompt", "def add(a, b):", "-n", "3", "--max-new-tokens", "6", "--seed", "4", "--json"];
    const first = await runCli(args);
    assert.equal(first.code, 0);
    const lines = first.stdout.trim().split("\n").map((line) => JSON.parse(line) as { text: string; tokens: number[]; finish_reason: string });
    assert.equal(lines.length, 3);
    for (const line of lines) {
      assert.equal(typeof line.text, "string");
      assert.ok(line.tokens.length >= 1 && line.tokens.length <= 6);
    }
    assert.match(first.stderr, /tokens in .* s \(seed 4/);
    const again = await runCli(args);
    assert.equal(again.stdout, first.stdout);
    await assert.rejects(runCli(["sample", "--model", modelDir]), /exactly one of --prompt and --prompt-file/);
  });

  it("the tfjs engine either matches the reference or says it is not available", async () => {
    const ids = [9, 8, 7];
    try {
      const { stdout } = await runCli(["forward", "--model", modelDir, "--ids", ids.join(","), "--engine", "tfjs"]);
      const logits = JSON.parse(stdout) as number[];
      assert.ok(maxAbsDiff(logits, referenceLogits(config, weights, ids)[2]) < 1e-3);
    } catch (error) {
      assert.match(String(error), /tfjs engine is not available yet/);
    }
  });
});

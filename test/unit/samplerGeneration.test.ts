// Tests of generation from parts (src/sampler/generation.ts, logitsProcessors.ts, stopping.ts,
// rng.ts): processors on hand-made logits, seeded reproducibility, greedy decoding against the
// reference, stop strings and EOS, the shared prefill and the dropping of finished rows.

import * as assert from "node:assert/strict";
import * as path from "node:path";
import { generate, generateWithoutCache } from "../../src/sampler/generation";
import { buildLogitsProcessors, MinNewTokensLogitsProcessor, RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper } from "../../src/sampler/logitsProcessors";
import { deriveSeed, GreedySampler, MultinomialSampler, Rng, softmax } from "../../src/sampler/rng";
import { buildStoppingCriteria, StopStringCriteria } from "../../src/sampler/stopping";
import { referenceGreedy } from "../support/referenceDecoder";
import { CharTokenizer, exportAndOpen, type OpenedModel, RecordingRunner, tempDir } from "../support/samplerFixture";
import { tinyConfig, tinyWeights } from "../support/tinyModel";

const context = { inputIds: [1, 2, 3], generatedCount: 0 };
const isFinite = (x: number): boolean => x !== -Infinity;

describe("sampler: logits processors and samplers", () => {
  it("temperature divides logits", () => {
    const logits = Float32Array.from([2, -4, 1]);
    new TemperatureLogitsWarper(0.5).process(logits);
    assert.deepEqual(Array.from(logits), [4, -8, 2]);
    assert.throws(() => new TemperatureLogitsWarper(0), /positive/);
  });

  it("top-k keeps the k largest (and ties with the k-th)", () => {
    const logits = Float32Array.from([0.1, 3, -1, 2, 2, 0.5]);
    new TopKLogitsWarper(2).process(logits);
    assert.deepEqual(Array.from(logits).map(isFinite), [false, true, false, true, true, false]);
    const one = Float32Array.from([0.1, 3, -1]);
    new TopKLogitsWarper(1).process(one);
    assert.deepEqual(Array.from(one).map(isFinite), [false, true, false]);
  });

  it("top-p keeps the smallest set reaching p", () => {
    const probs = [0.5, 0.3, 0.15, 0.05];
    const fresh = (): Float32Array => Float32Array.from(probs.map(Math.log));
    const kept = (p: number): boolean[] => {
      const logits = fresh();
      new TopPLogitsWarper(p).process(logits);
      return Array.from(logits).map(isFinite);
    };
    assert.deepEqual(kept(0.5), [true, false, false, false]);
    assert.deepEqual(kept(0.6), [true, true, false, false]);
    assert.deepEqual(kept(0.9), [true, true, true, false]);
    assert.deepEqual(kept(0.96), [true, true, true, true]);
    assert.deepEqual(kept(0.01), [true, false, false, false]);
    const logits = fresh();
    new TopPLogitsWarper(0.9).process(logits);
    const renormalised = softmax(logits);
    assert.ok(Math.abs(renormalised[0] - 0.5 / 0.95) < 1e-6);
  });

  it("repetition penalty, min-new-tokens and the processor chain", () => {
    const logits = Float32Array.from([2, -2, 1, 5]);
    new RepetitionPenaltyLogitsProcessor(2).process(logits, { inputIds: [0, 1, 1], generatedCount: 0 });
    assert.deepEqual(Array.from(logits), [1, -4, 1, 5]);
    const eos = Float32Array.from([1, 1, 1]);
    new MinNewTokensLogitsProcessor(2, [2]).process(eos, context);
    assert.equal(eos[2], -Infinity);
    assert.equal(buildLogitsProcessors({ temperature: 0, topK: 5, topP: 0.5 }).length, 0, "greedy has no warpers");
    const chain = buildLogitsProcessors({ temperature: 0.7, topK: 40, topP: 0.9 }).processors;
    assert.deepEqual(chain.map((p) => p.constructor.name), ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]);
  });

  it("samplers: greedy argmax, seeded multinomial follows the distribution", () => {
    assert.equal(new GreedySampler().sample(Float32Array.from([0, 3, 3, 1])), 1);
    const logits = Float32Array.from([Math.log(0.7), Math.log(0.2), Math.log(0.1), -Infinity]);
    const counts = [0, 0, 0, 0];
    const rng = new Rng(123);
    const sampler = new MultinomialSampler();
    for (let i = 0; i < 20000; i++) counts[sampler.sample(logits, rng)]++;
    assert.equal(counts[3], 0);
    assert.ok(Math.abs(counts[0] / 20000 - 0.7) < 0.02 && Math.abs(counts[2] / 20000 - 0.1) < 0.02, String(counts));
    const a = new Rng(deriveSeed(5, 0));
    const b = new Rng(deriveSeed(5, 0));
    assert.deepEqual([a.next(), a.next()], [b.next(), b.next()]);
    assert.notEqual(deriveSeed(5, 0), deriveSeed(5, 1));
  });

  it("stopping criteria: EOS before stop strings before length; text cut at the earliest stop", () => {
    const criteria = buildStoppingCriteria({ maxNewTokens: 3, eosTokenIds: [9], stop: ["\n\n", "END"] });
    assert.equal(criteria.check({ tokens: [1], text: "ab" }), null);
    assert.deepEqual(criteria.check({ tokens: [1, 9], text: "ab" }), { reason: "eos" });
    assert.deepEqual(criteria.check({ tokens: [1, 2], text: "xEND\n\ny" }), { reason: "stop", text: "x" });
    assert.deepEqual(criteria.check({ tokens: [1, 2, 3], text: "abc" }), { reason: "length" });
    assert.equal(new StopStringCriteria(["", "zz"]).firstStop("azzb"), 1);
  });
});

describe("sampler: generation", function () {
  this.timeout(20000);
  const config = tinyConfig({ architecture: "qwen2", vocabSize: 40, numLayers: 2 });
  const weights = tinyWeights(config, 21, 1.5);
  const prompt = [3, 1, 4, 1, 5, 9, 2, 6];
  const scratch = tempDir();
  let model: OpenedModel;
  before(async () => (model = await exportAndOpen(path.join(scratch.dir, "gen"), config, weights)));
  after(async () => {
    await model.close();
    scratch.cleanup();
  });

  it("greedy decoding equals the reference's full recomputation and is deterministic", async () => {
    const tokenizer = new CharTokenizer();
    const first = await generate(model.session, tokenizer, prompt, { temperature: 0, maxNewTokens: 10, numSamples: 3 });
    assert.deepEqual(first.tokens[0], referenceGreedy(config, weights, prompt, 10));
    assert.deepEqual(first.tokens[1], first.tokens[0]);
    assert.deepEqual(first.tokens[2], first.tokens[0]);
    assert.deepEqual(first.finishReasons, ["length", "length", "length"]);
    assert.equal(first.texts[0], tokenizer.decode(first.tokens[0]));
    const topK1 = await generate(model.session, tokenizer, prompt, { temperature: 1.3, topK: 1, maxNewTokens: 10, seed: 9 });
    assert.deepEqual(topK1.tokens[0], first.tokens[0]);
  });

  it("the same seed gives the same samples; streams do not depend on batch size; matches no-cache decoding", async () => {
    const tokenizer = new CharTokenizer();
    const options = { temperature: 1.2, topP: 0.95, maxNewTokens: 12, seed: 77 };
    const a = await generate(model.session, tokenizer, prompt, { ...options, numSamples: 6 });
    const b = await generate(model.session, tokenizer, prompt, { ...options, numSamples: 6 });
    assert.deepEqual(a.tokens, b.tokens);
    assert.ok(new Set(a.tokens.map((t) => t.join(","))).size > 1, "samples differ from each other");
    const c = await generate(model.session, tokenizer, prompt, { ...options, seed: 78, numSamples: 6 });
    assert.notDeepEqual(c.tokens, a.tokens);
    const tail = await generate(model.session, tokenizer, prompt, { ...options, numSamples: 2, sampleIndexOffset: 4 });
    assert.deepEqual(tail.tokens, a.tokens.slice(4));
    const slow = await generateWithoutCache(model.session, tokenizer, prompt, { ...options, numSamples: 3 });
    assert.deepEqual(slow.tokens, a.tokens.slice(0, 3));
  });

  it("N samples share one prefill and finished rows leave the batch", async () => {
    const runner = new RecordingRunner(model.session);
    const tokenizer = new CharTokenizer([0, 7, 11, 13, 17]);
    const result = await generate(runner, tokenizer, prompt, { numSamples: 8, temperature: 1.5, maxNewTokens: 16, seed: 3 });
    assert.deepEqual(runner.calls[0], { batch: 1, seq: prompt.length, past: 0 });
    assert.ok(runner.calls.slice(1).every((c) => c.seq === 1), "only single-token steps after the prefill");
    assert.equal(result.forwardRuns, runner.calls.length);
    // Every decode row is a token that did not end its sample.
    const decodeRows = runner.calls.slice(1).reduce((sum, c) => sum + c.batch, 0);
    assert.equal(decodeRows, result.generatedTokens - 8);
    assert.ok(result.finishReasons.includes("eos"), "some sample hit EOS");
    const batches = runner.calls.slice(1).map((c) => c.batch);
    assert.equal(batches[0], 8 - result.tokens.filter((t) => t.length === 1).length);
    assert.ok(batches.every((b, i) => i === 0 || b <= batches[i - 1]) && batches[batches.length - 1] < 8);
    result.tokens.forEach((tokens, i) => {
      if (result.finishReasons[i] === "eos") {
        assert.ok(tokenizer.eosTokenIds.includes(tokens[tokens.length - 1]));
        assert.equal(result.texts[i], tokenizer.decode(tokens.slice(0, -1)));
      } else assert.equal(tokens.length, 16);
    });
  });

  it("stop strings and EOS end a greedy sample where they first occur", async () => {
    const tokenizer = new CharTokenizer();
    const free = await generate(model.session, tokenizer, prompt, { temperature: 0, maxNewTokens: 12 });
    const text = free.texts[0];
    const stop = text.slice(4, 6);
    const cut = text.indexOf(stop);
    const stopped = await generate(model.session, tokenizer, prompt, { temperature: 0, maxNewTokens: 12, stop: ["@@", stop] });
    assert.equal(stopped.finishReasons[0], "stop");
    assert.equal(stopped.texts[0], text.slice(0, cut));
    assert.deepEqual(stopped.tokens[0], free.tokens[0].slice(0, cut + stop.length));

    const eosId = free.tokens[0][5];
    const first = free.tokens[0].indexOf(eosId);
    const ended = await generate(model.session, new CharTokenizer([eosId]), prompt, { temperature: 0, maxNewTokens: 12 });
    assert.equal(ended.finishReasons[0], "eos");
    assert.deepEqual(ended.tokens[0], free.tokens[0].slice(0, first + 1));
    assert.equal(ended.texts[0], text.slice(0, first));
  });

  it("streams tokens and progress", async () => {
    const tokenizer = new CharTokenizer();
    const seen: Array<[number, number, string]> = [];
    const steps: number[] = [];
    const result = await generate(model.session, tokenizer, prompt, {
      numSamples: 2,
      maxNewTokens: 4,
      seed: 1,
      onToken: (sample, token, text) => seen.push([sample, token, text]),
      onProgress: (p) => steps.push(p.active),
    });
    assert.equal(seen.length, 8);
    assert.deepEqual(seen.filter(([s]) => s === 1).map(([, t]) => t), result.tokens[1]);
    assert.equal(seen[seen.length - 1][2], result.texts[1]);
    assert.deepEqual(steps, [2, 2, 2, 0]);
    await assert.rejects(generate(model.session, tokenizer, [999], {}), /outside the vocabulary/);
  });
});

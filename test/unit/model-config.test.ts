// Unit tests for src/model's config.json parsing (Llama with GQA, tied/untied embeddings and
// llama3 rope scaling; Qwen2 with its attention biases; every validation error and its
// message) and for the weight layout: expected HF names and shapes, validation messages,
// and the deterministic random weights other tests across the project build on.

import * as assert from "node:assert/strict";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  expectedWeightShapes,
  loadModelConfig,
  ModelConfig,
  parseModelConfig,
  randomWeights,
  validateWeights,
  WeightMap,
} from "../../src/model";

// Compiled to out/test/unit, so the repository root is three levels up.
const CONFIGS = path.resolve(__dirname, "../../../test/fixtures/model/configs");

function configJson(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(CONFIGS, name), "utf8")) as Record<string, unknown>;
}

/** tiny-llama.json with some fields replaced, or removed when the value is undefined. */
function tinyLlama(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const json = { ...configJson("tiny-llama.json"), ...overrides };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) {
      delete json[key];
    }
  }
  return json;
}

function parseTiny(overrides: Record<string, unknown>): ModelConfig {
  return parseModelConfig(tinyLlama(overrides), "tiny/config.json");
}

describe("model config: parseModelConfig", () => {
  it("reads Llama 3.2 1B: GQA, explicit head_dim, tied embeddings, llama3 rope scaling, eos list", () => {
    const config = parseModelConfig(configJson("llama-3.2-1b.json"), "llama/config.json");
    assert.equal(config.architecture, "llama");
    assert.equal(config.architectureClass, "LlamaForCausalLM");
    assert.deepEqual(
      [config.vocabSize, config.hiddenSize, config.intermediateSize, config.numLayers],
      [128256, 2048, 8192, 16],
    );
    assert.deepEqual([config.numHeads, config.numKvHeads, config.headDim], [32, 8, 64]);
    assert.equal(config.rmsNormEps, 1e-5);
    assert.equal(config.ropeTheta, 500000);
    assert.deepEqual(config.ropeScaling, {
      ropeType: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    assert.equal(config.maxPositionEmbeddings, 131072);
    assert.equal(config.tieWordEmbeddings, true);
    assert.equal(config.attentionBias, false);
    assert.equal(config.mlpBias, false);
    assert.equal(config.bosTokenId, 128000);
    assert.deepEqual(config.eosTokenIds, [128001, 128008, 128009]);
    assert.equal(config.padTokenId, null);
    assert.equal(config.raw["torch_dtype"], "bfloat16");
  });

  it("reads Qwen2.5 0.5B: q/k/v biases always on, no MLP biases, tied, single eos", () => {
    const config = parseModelConfig(configJson("qwen2.5-0.5b.json"), "qwen/config.json");
    assert.equal(config.architecture, "qwen2");
    assert.deepEqual([config.numHeads, config.numKvHeads, config.headDim], [14, 2, 64]);
    assert.equal(config.attentionBias, true);
    assert.equal(config.mlpBias, false);
    assert.equal(config.tieWordEmbeddings, true);
    assert.equal(config.ropeTheta, 1000000);
    assert.equal(config.ropeScaling, null);
    assert.deepEqual(config.eosTokenIds, [151643]);
    assert.equal(config.bosTokenId, 151643);
  });

  it("applies defaults: kv heads = heads, head_dim = hidden / heads, theta 10000, untied, no biases", () => {
    const config = parseTiny({
      num_key_value_heads: undefined,
      rope_theta: undefined,
      tie_word_embeddings: undefined,
      attention_bias: undefined,
      mlp_bias: undefined,
      rms_norm_eps: undefined,
      max_position_embeddings: undefined,
      eos_token_id: undefined,
      pad_token_id: undefined,
    });
    assert.deepEqual([config.numHeads, config.numKvHeads, config.headDim], [4, 4, 8]);
    assert.equal(config.ropeTheta, 10000);
    assert.equal(config.tieWordEmbeddings, false);
    assert.equal(config.attentionBias, false);
    assert.equal(config.mlpBias, false);
    assert.equal(config.rmsNormEps, 1e-6);
    assert.equal(config.maxPositionEmbeddings, 2048);
    assert.deepEqual(config.eosTokenIds, []);
    assert.equal(config.padTokenId, null);
  });

  it("reads Llama's attention_bias and mlp_bias, and a head_dim that differs from hidden / heads", () => {
    const config = parseTiny({ attention_bias: true, mlp_bias: true, head_dim: 16 });
    assert.equal(config.attentionBias, true);
    assert.equal(config.mlpBias, true);
    assert.equal(config.headDim, 16);
  });

  it("falls back to model_type when architectures is absent, and accepts rope_type 'default' as no scaling", () => {
    const llama = parseTiny({ architectures: undefined, rope_scaling: { rope_type: "default" } });
    assert.equal(llama.architectureClass, "LlamaForCausalLM");
    assert.equal(llama.ropeScaling, null);
    const qwen = parseModelConfig({ ...configJson("tiny-qwen2.json"), architectures: [] }, "q.json");
    assert.equal(qwen.architectureClass, "Qwen2ForCausalLM");
  });

  it("accepts the legacy 'type' key for llama3 rope scaling", () => {
    const scaling = { type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    assert.equal(parseTiny({ rope_scaling: scaling }).ropeScaling?.factor, 8);
  });

  it("deduplicates repeated eos ids", () => {
    assert.deepEqual(parseTiny({ eos_token_id: [2, 3, 2] }).eosTokenIds, [2, 3]);
  });
});

describe("model config: errors name the file and the field", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["unknown architecture", { architectures: ["MistralForCausalLM"] }, /tiny\/config\.json: architecture "MistralForCausalLM" is not supported; restem reads LlamaForCausalLM, Qwen2ForCausalLM/],
    ["unknown model_type", { architectures: undefined, model_type: "gpt2" }, /tiny\/config\.json: .*model_type "gpt2" is not supported.*LlamaForCausalLM, Qwen2ForCausalLM/],
    ["missing hidden_size", { hidden_size: undefined }, /tiny\/config\.json: "hidden_size" must be a positive integer \(got missing\)/],
    ["fractional layers", { num_hidden_layers: 2.5 }, /"num_hidden_layers" must be a positive integer \(got 2\.5\)/],
    ["zero heads", { num_attention_heads: 0 }, /"num_attention_heads" must be a positive integer \(got 0\)/],
    ["string vocab", { vocab_size: "512" }, /"vocab_size" must be a positive integer \(got "512"\)/],
    ["negative intermediate", { intermediate_size: -4 }, /"intermediate_size" must be a positive integer/],
    ["kv heads not dividing heads", { num_key_value_heads: 3 }, /"num_key_value_heads" \(3\) must divide num_attention_heads \(4\)/],
    ["hidden not divisible by heads", { hidden_size: 30 }, /"hidden_size" \(30\) must be a multiple of num_attention_heads \(4\) when head_dim is not given/],
    ["bad head_dim", { head_dim: 0 }, /"head_dim" must be a positive integer/],
    ["bad rms_norm_eps", { rms_norm_eps: -1 }, /"rms_norm_eps" must be a positive number \(got -1\)/],
    ["bad rope_theta", { rope_theta: "big" }, /"rope_theta" must be a positive number/],
    ["bad tie flag", { tie_word_embeddings: "yes" }, /"tie_word_embeddings" must be true or false \(got "yes"\)/],
    ["bad attention_bias", { attention_bias: 1 }, /"attention_bias" must be true or false/],
    ["bad eos", { eos_token_id: [1, -2] }, /"eos_token_id" must be a token id or a list of token ids/],
    ["bad bos", { bos_token_id: 1.5 }, /"bos_token_id" must be a non-negative integer token id or null/],
    ["bad pad", { pad_token_id: "x" }, /"pad_token_id" must be a non-negative integer token id or null/],
    ["linear rope", { rope_scaling: { type: "linear", factor: 2 } }, /"rope_scaling" type "linear" is unsupported; restem supports only "llama3"/],
    ["yarn rope", { rope_scaling: { rope_type: "yarn", factor: 4 } }, /"rope_scaling" type "yarn" is unsupported/],
    ["rope not an object", { rope_scaling: 2 }, /"rope_scaling" must be an object or null/],
    ["llama3 missing factor", { rope_scaling: { rope_type: "llama3", low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, /tiny\/config\.json: rope_scaling: "factor" must be a positive number \(got missing\)/],
    ["llama3 swapped factors", { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } }, /high_freq_factor > low_freq_factor/],
    ["llama3 bad original length", { rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 0 } }, /rope_scaling: "original_max_position_embeddings" must be a positive integer/],
    ["gelu activation", { hidden_act: "gelu" }, /"hidden_act" "gelu" is unsupported; restem supports only "silu"/],
    ["sliding window", { use_sliding_window: true }, /"use_sliding_window" true is unsupported/],
  ];
  for (const [label, overrides, message] of cases) {
    it(label, () => {
      assert.throws(() => parseTiny(overrides), message);
    });
  }

  it("refuses non-object JSON", () => {
    assert.throws(() => parseModelConfig([1, 2], "c.json"), /c\.json: expected a JSON object \(got an array\)/);
    assert.throws(() => parseModelConfig(null, "c.json"), /c\.json: expected a JSON object \(got null\)/);
  });
});

describe("model config: loadModelConfig", () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-config-"));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("loads config.json from a directory", async () => {
    await fs.writeFile(path.join(dir, "config.json"), JSON.stringify(tinyLlama()));
    const config = await loadModelConfig(dir);
    assert.equal(config.hiddenSize, 32);
  });

  it("names the file when it is missing or not JSON", async () => {
    const empty = path.join(dir, "empty");
    await fs.mkdir(empty);
    await assert.rejects(loadModelConfig(empty), /empty\/config\.json: cannot read the model configuration/);
    await fs.writeFile(path.join(empty, "config.json"), "{ nope");
    await assert.rejects(loadModelConfig(empty), /empty\/config\.json: not valid JSON/);
  });
});

describe("model weights: expected shapes and validation", () => {
  const llama = parseTiny({});
  const qwen = parseModelConfig(configJson("tiny-qwen2.json"), "qwen.json");

  it("lists Llama's tensors with HF names and shapes (GQA, untied)", () => {
    const shapes = expectedWeightShapes(llama);
    assert.equal(shapes.size, 1 + 2 * 9 + 2);
    assert.deepEqual(shapes.get("model.embed_tokens.weight"), [512, 32]);
    assert.deepEqual(shapes.get("model.layers.1.self_attn.q_proj.weight"), [32, 32]);
    assert.deepEqual(shapes.get("model.layers.1.self_attn.k_proj.weight"), [16, 32]);
    assert.deepEqual(shapes.get("model.layers.1.self_attn.v_proj.weight"), [16, 32]);
    assert.deepEqual(shapes.get("model.layers.1.self_attn.o_proj.weight"), [32, 32]);
    assert.deepEqual(shapes.get("model.layers.0.mlp.gate_proj.weight"), [64, 32]);
    assert.deepEqual(shapes.get("model.layers.0.mlp.up_proj.weight"), [64, 32]);
    assert.deepEqual(shapes.get("model.layers.0.mlp.down_proj.weight"), [32, 64]);
    assert.deepEqual(shapes.get("model.layers.0.input_layernorm.weight"), [32]);
    assert.deepEqual(shapes.get("model.layers.0.post_attention_layernorm.weight"), [32]);
    assert.deepEqual(shapes.get("model.norm.weight"), [32]);
    assert.deepEqual(shapes.get("lm_head.weight"), [512, 32]);
    assert.equal(shapes.has("model.layers.0.self_attn.q_proj.bias"), false);
  });

  it("adds Qwen2's q/k/v biases (not o_proj) and drops lm_head when tied", () => {
    const shapes = expectedWeightShapes(qwen);
    assert.deepEqual(shapes.get("model.layers.0.self_attn.q_proj.bias"), [32]);
    assert.deepEqual(shapes.get("model.layers.0.self_attn.k_proj.bias"), [16]);
    assert.deepEqual(shapes.get("model.layers.0.self_attn.v_proj.bias"), [16]);
    assert.equal(shapes.has("model.layers.0.self_attn.o_proj.bias"), false);
    assert.equal(shapes.has("lm_head.weight"), false);
  });

  it("adds Llama's MLP biases and uses head_dim for projection widths", () => {
    const shapes = expectedWeightShapes(parseTiny({ mlp_bias: true, head_dim: 16 }));
    assert.deepEqual(shapes.get("model.layers.0.mlp.gate_proj.bias"), [64]);
    assert.deepEqual(shapes.get("model.layers.0.mlp.down_proj.bias"), [32]);
    assert.deepEqual(shapes.get("model.layers.0.self_attn.q_proj.weight"), [64, 32]);
    assert.deepEqual(shapes.get("model.layers.0.self_attn.o_proj.weight"), [32, 64]);
  });

  it("accepts complete weights and ignores rotary inv_freq buffers", () => {
    const weights = randomWeights(llama, 1);
    weights.set("model.layers.0.self_attn.rotary_emb.inv_freq", { shape: [4], data: new Float32Array(4) });
    validateWeights(llama, weights, "w");
  });

  it("lists missing tensors (first five and a count), unexpected ones and shape mismatches", () => {
    const weights: WeightMap = randomWeights(llama, 1);
    for (const name of [...weights.keys()].filter((key) => key.startsWith("model.layers.1."))) {
      weights.delete(name);
    }
    weights.set("model.extra.weight", { shape: [1], data: new Float32Array(1) });
    weights.set("model.norm.weight", { shape: [31], data: new Float32Array(31) });
    let message = "";
    try {
      validateWeights(llama, weights, "ckpt/model.safetensors");
    } catch (error) {
      message = (error as Error).message;
    }
    assert.match(message, /^ckpt\/model\.safetensors: weights do not match the LlamaForCausalLM configuration/);
    assert.match(message, /9 missing tensor\(s\): model\.layers\.1\.input_layernorm\.weight, .* and 4 more/);
    assert.match(message, /1 unexpected tensor\(s\): model\.extra\.weight/);
    assert.match(message, /1 shape mismatch\(es\): model\.norm\.weight is \[31\], expected \[32\]/);
  });

  it("reports data whose length does not fit its shape", () => {
    const weights = randomWeights(llama, 1);
    weights.set("model.norm.weight", { shape: [32], data: new Float32Array(5) });
    assert.throws(() => validateWeights(llama, weights, "w"), /model\.norm\.weight holds 5 values for shape \[32\]/);
  });
});

describe("model weights: randomWeights", () => {
  const config = parseTiny({});

  it("is deterministic for a seed and differs between seeds", () => {
    const first = randomWeights(config, 7);
    const again = randomWeights(config, 7);
    const other = randomWeights(config, 8);
    for (const [name, tensor] of first) {
      assert.deepEqual(again.get(name)?.data, tensor.data, name);
    }
    assert.notDeepEqual(other.get("model.embed_tokens.weight")?.data, first.get("model.embed_tokens.weight")?.data);
  });

  it("draws N(0, scale²) matrices and sets norms to exactly one unless noise is asked for", () => {
    const weights = randomWeights(config, 3, 0.05);
    const embedding = weights.get("model.embed_tokens.weight")?.data ?? new Float32Array();
    const mean = embedding.reduce((sum, value) => sum + value, 0) / embedding.length;
    const variance = embedding.reduce((sum, value) => sum + (value - mean) ** 2, 0) / embedding.length;
    assert.ok(Math.abs(mean) < 0.003, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(variance) - 0.05) < 0.003, `std ${Math.sqrt(variance)}`);
    assert.ok((weights.get("model.norm.weight")?.data ?? []).every((value) => value === 1));
    const noisy = randomWeights(config, 3, 0.05, { normNoise: 0.1 }).get("model.norm.weight")?.data ?? new Float32Array();
    assert.ok(noisy.some((value) => value !== 1) && noisy.every((value) => Math.abs(value - 1) < 0.6));
  });

  it("gives each tensor its own stream, so layer 0 does not depend on the number of layers", () => {
    const small = randomWeights(parseTiny({ num_hidden_layers: 1 }), 11);
    const large = randomWeights(parseTiny({ num_hidden_layers: 3 }), 11);
    const name = "model.layers.0.mlp.up_proj.weight";
    assert.deepEqual(small.get(name)?.data, large.get(name)?.data);
    assert.notDeepEqual(large.get("model.layers.0.mlp.up_proj.weight")?.data.slice(0, 8), large.get("model.layers.1.mlp.up_proj.weight")?.data.slice(0, 8));
  });
});

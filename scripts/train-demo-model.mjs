// Builds restem's bundled demo model, demo/model/: a tiny Llama-family decoder in Hugging Face
// layout (config.json, model.safetensors in F16, tokenizer.json, tokenizer_config.json),
// pretrained with restem's own trainer (src/trainer, TensorFlow.js) on a corpus this script
// generates from the demo families (scripts/demo-families.mjs):
//
//   "QUESTION:\n<question>\nUse Standard Input format\nANSWER:\n" + <program> + <|endoftext|>
//
// The corpus never contains a demo problem (train, valid or test): instances whose family,
// variant and constants match any of them are skipped. A fraction of the corpus programs carry a
// small bug (a wrong constant, a flipped operator), like the noisy code of real pretraining data,
// so the base model is only partially competent and its samples mix correct and wrong programs.
//
//   npm ci && node scripts/train-demo-model.mjs [outDir] [--examples N]   (default demo/model)
//
// About 15 minutes on a 2-core machine. Seeded: reruns give the same corpus and tokenizer; the
// weights match up to floating-point nondeterminism of the backend.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import tokenizers from "tokenizers";
import { drawInstance, generateSplits, int, pick, seededRandom } from "./demo-families.mjs";

const require = createRequire(import.meta.url);
const { parseModelConfig, randomWeights, saveModelDirectory } = require("../out/src/model");
const { train } = require("../out/src/trainer/train");
const { BPE, Tokenizer, byteLevelAlphabet, byteLevelPreTokenizer } = tokenizers;

const CORPUS_SEED = 777; // seed of the pretraining corpus (independent of the problems' seed)
const CORPUS_EXAMPLES = 16000; // question/program pairs seen once each (20000 gives a base model that is too good: 68% test pass@1)
const BUG_RATE = 0.2; // fraction of corpus programs with one injected bug
const TOKENIZER_DOCS = 3000; // corpus documents the BPE tokenizer is trained on
const VOCAB_SIZE = 1024; // byte alphabet + merges + 3 special tokens
const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const INIT_SEED = 1; // weight initialisation seed

// The model: hidden 128, 3 layers, 4 heads of 32, tied embeddings (about 0.7M parameters).
const MODEL_CONFIG = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  vocab_size: VOCAB_SIZE,
  hidden_size: 128,
  intermediate_size: 384,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  hidden_act: "silu",
  max_position_embeddings: 512,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  rope_scaling: null,
  tie_word_embeddings: true,
  attention_bias: false,
  mlp_bias: false,
  bos_token_id: null,
  eos_token_id: VOCAB_SIZE - SPECIAL_TOKENS.length, // <|endoftext|>
  pad_token_id: VOCAB_SIZE - SPECIAL_TOKENS.length,
  torch_dtype: "float16",
};

// Pretraining hyperparameters (one pass over the corpus).
const TRAIN_OPTIONS = {
  epochs: 1, // each corpus example once
  batchSize: 16, // examples per optimizer step
  lr: 2e-3, // peak learning rate: high, as usual for a model this small
  warmupSteps: 50, // linear warmup, then cosine decay to a tenth of the peak
  weightDecay: 0.01, // light AdamW decay
  maxSeqLen: 320, // longer than any corpus example
  seed: 3, // batch shuffling
};

// ---------------------------------------------------------------------------------------------
// Corpus

/** One plausible bug, as in noisy pretraining code: a constant off, an operator flipped. */
function injectBug(program, r) {
  const swaps = [
    [" + ", " - "], [" - ", " + "], [" > ", " >= "], [" < ", " <= "], ["max(", "min("], ["min(", "max("],
    [" == ", " != "], [".upper()", ".lower()"], ["[::-1]", ""], ["n + 1)", "n)"], ["sum(", "len("],
  ].filter(([from]) => program.includes(from));
  const numbers = [...program.matchAll(/\b\d+\b/g)].filter((m) => Number(m[0]) >= 2);
  if (numbers.length > 0 && (swaps.length === 0 || r() < 0.6)) {
    const m = pick(r, numbers);
    const value = Number(m[0]);
    const wrong = r() < 0.5 ? value + pick(r, [-1, 1]) : int(r, 2, 60);
    return program.slice(0, m.index) + String(wrong) + program.slice(m.index + m[0].length);
  }
  if (swaps.length === 0) return program;
  const [from, to] = pick(r, swaps);
  return program.replace(from, to);
}

/** Corpus examples {prompt, completion}; demo problems' keys and questions are excluded. */
function generateCorpus(count) {
  const held = new Set();
  for (const problems of Object.values(generateSplits())) {
    for (const problem of problems) held.add(problem.key).add(problem.question);
  }
  const r = seededRandom(CORPUS_SEED);
  const examples = [];
  let skipped = 0;
  let bugs = 0;
  while (examples.length < count) {
    const instance = drawInstance(r);
    if (held.has(instance.key) || held.has(instance.question)) {
      skipped += 1;
      continue;
    }
    let program = instance.model;
    if (r() < BUG_RATE) {
      program = injectBug(program, r);
      bugs += 1;
    }
    examples.push({ prompt: instance.prompt, completion: program, human: instance.human(r) });
  }
  console.log(`corpus: ${examples.length} examples (${bugs} with a bug), ${skipped} draws skipped as demo problems`);
  return examples;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer: byte-level BPE trained on the corpus (questions, model and human programs).

function trainTokenizer(examples, workDir) {
  const text = examples
    .slice(0, TOKENIZER_DOCS)
    .map((e) => [e.prompt + e.completion, ...e.human].join("\n\n"))
    .join("\n\n");
  const corpusFile = join(workDir, "corpus.txt");
  const trainedFile = join(workDir, "trained.json");
  writeFileSync(corpusFile, text);
  const trainer = new Tokenizer(BPE.empty());
  trainer.setPreTokenizer(byteLevelPreTokenizer(false, true));
  // The bindings train with default settings only: train to exhaustion, keep the first merges
  // (greedy BPE, so this equals training with the smaller vocabulary).
  trainer.train([corpusFile]);
  trainer.save(trainedFile, false);
  const trained = JSON.parse(readFileSync(trainedFile, "utf8"));
  const merges = trained.model.merges.map((m) => (typeof m === "string" ? m.split(" ") : m));
  const alphabet = [...byteLevelAlphabet()].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  const vocab = new Map(alphabet.map((symbol, id) => [symbol, id]));
  const kept = [];
  for (const [left, right] of merges) {
    if (vocab.size >= VOCAB_SIZE - SPECIAL_TOKENS.length) break;
    kept.push([left, right]);
    if (!vocab.has(left + right)) vocab.set(left + right, vocab.size);
  }
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
  const json = {
    ...trained,
    decoder: { ...byteLevel, trim_offsets: true },
    post_processor: byteLevel,
    model: { ...trained.model, vocab: Object.fromEntries(vocab), merges: kept },
  };
  const tokenizer = Tokenizer.fromString(JSON.stringify(json));
  tokenizer.addSpecialTokens(SPECIAL_TOKENS);
  return tokenizer;
}

function tokenizerConfig() {
  const firstSpecial = VOCAB_SIZE - SPECIAL_TOKENS.length;
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      SPECIAL_TOKENS.map((content, i) => [String(firstSpecial + i), { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true }]),
    ),
    additional_special_tokens: SPECIAL_TOKENS.slice(1),
    bos_token: null,
    clean_up_tokenization_spaces: false,
    eos_token: "<|endoftext|>",
    errors: "replace",
    model_max_length: MODEL_CONFIG.max_position_embeddings,
    pad_token: "<|endoftext|>",
    split_special_tokens: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    unk_token: null,
  };
}

async function encode(tokenizer, text) {
  return (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = process.argv.slice(2);
  const examplesFlag = args.indexOf("--examples");
  const count = examplesFlag >= 0 ? Number(args.splice(examplesFlag, 2)[1]) : CORPUS_EXAMPLES;
  const outDir = resolve(args[0] ?? "demo/model");
  const started = Date.now();

  const corpus = generateCorpus(count);
  const workDir = mkdtempSync(join(tmpdir(), "demo-model-"));
  mkdirSync(outDir, { recursive: true });
  try {
    const tokenizer = trainTokenizer(corpus, workDir);
    if (tokenizer.getVocabSize(true) !== VOCAB_SIZE) throw new Error(`tokenizer has ${tokenizer.getVocabSize(true)} tokens, expected ${VOCAB_SIZE}`);
    tokenizer.save(join(outDir, "tokenizer.json"), true);
    writeFileSync(join(outDir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig(), null, 2)}\n`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  // Tokenise with the saved tokenizer, as `restem train` would (completion + EOS).
  const tokenizer = Tokenizer.fromFile(join(outDir, "tokenizer.json"));
  const eos = MODEL_CONFIG.eos_token_id;
  const examples = [];
  let tokens = 0;
  for (const e of corpus) {
    const promptIds = await encode(tokenizer, e.prompt);
    const completionIds = [...(await encode(tokenizer, e.completion)), eos];
    tokens += promptIds.length + completionIds.length;
    examples.push({ promptIds, completionIds, reward: 1 });
  }
  console.log(`tokens: ${tokens} (${(tokens / examples.length).toFixed(1)} per example)`);

  const config = parseModelConfig(MODEL_CONFIG, "demo model config");
  const initial = randomWeights(config, INIT_SEED);
  const result = await train(config, initial, examples, { ...TRAIN_OPTIONS, padId: eos }, {
    onStep: (s) => {
      if (s.step % 50 === 0) {
        const minutes = ((Date.now() - started) / 60000).toFixed(1);
        console.log(`step ${s.step} loss ${s.loss.toFixed(3)} lr ${s.lr.toExponential(2)} ${Math.round(s.tokensPerSecond)} tok/s ${minutes} min`);
      }
    },
  });
  await saveModelDirectory(outDir, config, result.weights, { dtype: "F16" });
  console.log(`wrote ${outDir} in ${((Date.now() - started) / 60000).toFixed(1)} min (${result.steps} steps)`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
});

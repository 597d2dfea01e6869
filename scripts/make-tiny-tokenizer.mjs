// Trains the tiny byte-level BPE tokenizer used by restem's tests and demo model, with the
// Hugging Face `tokenizers` library itself, on a Python corpus this script generates from
// templates (competitive-programming style). Writes tokenizer.json and tokenizer_config.json.
//
//   node scripts/make-tiny-tokenizer.mjs [outDir]   (default test/fixtures/model/tiny-tokenizer)
//
// The bindings only expose training with the model's default BpeTrainer (no vocab_size or
// initial alphabet), so the script trains to exhaustion and keeps the first merges: BPE
// training is greedy, so that is exactly what training with a smaller vocab_size learns.
// Ids 0-255 are the full byte-level alphabet (any UTF-8 text encodes), then the merges, then
// the special tokens. The corpus is seeded, so reruns reproduce the same files.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import tokenizers from "tokenizers";

const { BPE, Tokenizer, byteLevelAlphabet, byteLevelPreTokenizer } = tokenizers;

const VOCAB_SIZE = 512;
const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const PROGRAM_COUNT = 90;
const SEED = 20240607;

/** The project's seeded PRNG (mulberry32 of src/model, from tsc's out/: run `npm run build` first). */
const seededRandom = createRequire(import.meta.url)("../out/src/model").mulberry32;

function pick(random, items) {
  return items[Math.floor(random() * items.length)];
}

function integer(random, low, high) {
  return low + Math.floor(random() * (high - low + 1));
}

const NAMES = ["a", "b", "arr", "nums", "values", "items", "data", "xs", "heights", "costs"];
const COUNTERS = ["n", "m", "k", "count", "size", "length"];
const INDICES = ["i", "j", "idx", "pos"];
const ACCUMULATORS = ["total", "ans", "result", "best", "acc", "res"];
const COMMENTS = [
  "# read the input",
  "# compute the answer",
  "# edge case: empty input",
  "# résumé: greedy works here",
  "# 计算答案",
  "# π ≈ 3.14159, ∑ over all i",
  "# TODO: optimise → O(n log n)",
];

const TEMPLATES = [
  (r) => [
    `${pick(r, COUNTERS)} = int(input())`,
    `${pick(r, NAMES)} = list(map(int, input().split()))`,
    `print(sum(${pick(r, NAMES)}) ${pick(r, ["+", "-", "*", "%"])} ${integer(r, 1, 99)})`,
  ],
  (r) => {
    const [n, acc, i] = [pick(r, COUNTERS), pick(r, ACCUMULATORS), pick(r, INDICES)];
    return [
      `def solve(${n}):`,
      `    ${acc} = ${integer(r, 0, 9)}`,
      `    for ${i} in range(${n}):`,
      `        ${acc} += ${i} * ${integer(r, 1, 50)}`,
      `    return ${acc}`,
      "",
      `print(solve(int(input())))`,
    ];
  },
  (r) => [
    "def gcd(a, b):",
    "    while b:",
    "        a, b = b, a % b",
    "    return a",
    "",
    "def lcm(a, b):",
    "    return a // gcd(a, b) * b",
    "",
    `x, y = map(int, input().split())`,
    `print(gcd(x, y), lcm(x, y) % ${integer(r, 1000, 1000000007)})`,
  ],
  (r) => [
    `LIMIT = ${integer(r, 100, 100000)}`,
    "is_prime = [True] * (LIMIT + 1)",
    "is_prime[0] = is_prime[1] = False",
    "for p in range(2, int(LIMIT ** 0.5) + 1):",
    "    if is_prime[p]:",
    "        for q in range(p * p, LIMIT + 1, p):",
    "            is_prime[q] = False",
    `print(sum(1 for v in range(LIMIT + 1) if is_prime[v]))`,
  ],
  (r) => {
    const xs = pick(r, NAMES);
    return [
      `def lower_bound(${xs}, target):`,
      `    lo, hi = 0, len(${xs})`,
      "    while lo < hi:",
      "        mid = (lo + hi) // 2",
      `        if ${xs}[mid] < target:`,
      "            lo = mid + 1",
      "        else:",
      "            hi = mid",
      "    return lo",
    ];
  },
  (r) => [
    "from collections import deque",
    "",
    "def bfs(grid, start):",
    "    rows, cols = len(grid), len(grid[0])",
    "    dist = [[-1] * cols for _ in range(rows)]",
    "    queue = deque([start])",
    "    dist[start[0]][start[1]] = 0",
    "    while queue:",
    "        r, c = queue.popleft()",
    "        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):",
    "            nr, nc = r + dr, c + dc",
    `            if 0 <= nr < rows and 0 <= nc < cols and grid[nr][nc] != '${pick(r, ["#", "X", "*"])}' and dist[nr][nc] < 0:`,
    "                dist[nr][nc] = dist[r][c] + 1",
    "                queue.append((nr, nc))",
    "    return dist",
  ],
  (r) => [
    "import sys",
    "from functools import lru_cache",
    "",
    `sys.setrecursionlimit(${integer(r, 10, 99) * 1000})`,
    "",
    "@lru_cache(maxsize=None)",
    "def fib(n):",
    "    if n < 2:",
    "        return n",
    `    return (fib(n - 1) + fib(n - 2)) % ${integer(r, 1000, 998244353)}`,
  ],
  (r) => {
    const s = pick(r, ["s", "word", "line", "text"]);
    return [
      `${s} = input().strip()`,
      `if ${s} == ${s}[::-1]:`,
      `    print("YES")`,
      "else:",
      `    print("NO")`,
    ];
  },
  (r) => {
    const xs = pick(r, NAMES);
    return [
      `${xs} = [tuple(map(int, input().split())) for _ in range(int(input()))]`,
      `${xs}.sort(key=lambda pair: (pair[1], -pair[0]))`,
      `for first, second in ${xs}:`,
      `    print(f"{first} {second}")`,
    ];
  },
  (r) => [
    `class ${pick(r, ["Graph", "Fenwick", "UnionFind", "Counter"])}:`,
    '    """A small helper structure."""',
    "",
    "    def __init__(self, size):",
    "        self.size = size",
    "        self.parent = list(range(size))",
    "",
    "    def find(self, x):",
    "        while self.parent[x] != x:",
    "            self.parent[x] = self.parent[self.parent[x]]",
    "            x = self.parent[x]",
    "        return x",
  ],
  (r) => [
    "from collections import Counter",
    "",
    `counts = Counter(input().split())`,
    `for word, times in counts.most_common(${integer(r, 1, 10)}):`,
    "    print(word, times)",
  ],
  (r) => {
    const t = pick(r, ["t", "T", "tests", "cases"]);
    return [
      `${t} = int(input())`,
      `for _ in range(${t}):`,
      "    n, k = map(int, input().split())",
      `    print(max(0, n - k * ${integer(r, 1, 9)}))`,
    ];
  },
  (r) => {
    const [xs, acc] = [pick(r, NAMES), pick(r, ACCUMULATORS)];
    return [
      `left, right = 0, len(${xs}) - 1`,
      `${acc} = 0`,
      "while left < right:",
      `    ${acc} = max(${acc}, min(${xs}[left], ${xs}[right]) * (right - left))`,
      `    if ${xs}[left] < ${xs}[right]:`,
      "        left += 1",
      "    else:",
      "        right -= 1",
      `print(${acc})`,
    ];
  },
  (r) => [
    "try:",
    "    value = int(input())",
    "except ValueError:",
    "    value = 0",
    `print(value * ${integer(r, 2, 9)} if value > 0 else -1)`,
  ],
  (r) => [
    `def knapsack(weights, values, capacity):`,
    "\tdp = [0] * (capacity + 1)",
    "\tfor w, v in zip(weights, values):",
    "\t\tfor c in range(capacity, w - 1, -1):",
    "\t\t\tdp[c] = max(dp[c], dp[c - w] + v)",
    "\treturn dp[capacity]",
    `# capacity up to ${integer(r, 10, 10000)}`,
  ],
];

/** The training corpus: seeded programs, each with a comment and blank lines between. */
function generateCorpus() {
  const random = seededRandom(SEED);
  const programs = [];
  for (let index = 0; index < PROGRAM_COUNT; index++) {
    const template = TEMPLATES[index % TEMPLATES.length];
    programs.push([pick(random, COMMENTS), ...template(random)].join("\n"));
  }
  return `${programs.join("\n\n\n")}\n`;
}

/** Trains BPE to exhaustion on `corpus`; returns the library's tokenizer JSON. */
function trainExhaustively(corpus, workDir) {
  const corpusFile = join(workDir, "corpus.py");
  const trainedFile = join(workDir, "trained.json");
  writeFileSync(corpusFile, corpus);
  const tokenizer = new Tokenizer(BPE.empty());
  tokenizer.setPreTokenizer(byteLevelPreTokenizer(false, true));
  tokenizer.train([corpusFile]);
  tokenizer.save(trainedFile, false);
  return JSON.parse(readFileSync(trainedFile, "utf8"));
}

/** Full byte alphabet first, then merge results in learned order, up to `size` tokens. */
function truncatedVocabulary(merges, size) {
  const alphabet = [...byteLevelAlphabet()].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  const vocab = new Map(alphabet.map((symbol, id) => [symbol, id]));
  const kept = [];
  for (const [left, right] of merges) {
    if (vocab.size >= size) {
      break;
    }
    kept.push([left, right]);
    if (!vocab.has(left + right)) {
      vocab.set(left + right, vocab.size);
    }
  }
  if (vocab.size < size) {
    throw new Error(`the corpus only yields ${vocab.size} tokens, fewer than ${size}`);
  }
  return { vocab: Object.fromEntries(vocab), merges: kept };
}

/** The final tokenizer: truncated BPE, byte-level decoding, special tokens appended. */
function buildTokenizer(trained) {
  const merges = trained.model.merges.map((merge) => (typeof merge === "string" ? merge.split(" ") : merge));
  const { vocab, merges: kept } = truncatedVocabulary(merges, VOCAB_SIZE - SPECIAL_TOKENS.length);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true };
  const json = {
    ...trained,
    decoder: { ...byteLevel, trim_offsets: true },
    post_processor: byteLevel,
    model: { ...trained.model, vocab, merges: kept },
  };
  const tokenizer = Tokenizer.fromString(JSON.stringify(json));
  tokenizer.addSpecialTokens(SPECIAL_TOKENS);
  return tokenizer;
}

function tokenizerConfig(tokenizer) {
  const addedTokensDecoder = Object.fromEntries(
    SPECIAL_TOKENS.map((content) => [
      String(tokenizer.tokenToId(content)),
      { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]),
  );
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: SPECIAL_TOKENS.slice(1),
    bos_token: null,
    chat_template:
      "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    clean_up_tokenization_spaces: false,
    eos_token: "<|endoftext|>",
    errors: "replace",
    model_max_length: 2048,
    pad_token: "<|endoftext|>",
    split_special_tokens: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    unk_token: null,
  };
}

/** Fails loudly unless the tokenizer decodes what it encodes. */
async function checkRoundTrip(tokenizer, samples) {
  for (const sample of samples) {
    const encoding = await tokenizer.encode(sample, null, { addSpecialTokens: false });
    const decoded = await tokenizer.decode(encoding.getIds(), false);
    if (decoded !== sample) {
      throw new Error(`round trip failed for ${JSON.stringify(sample.slice(0, 80))}`);
    }
  }
}

async function main() {
  const outDir = resolve(process.argv[2] ?? "test/fixtures/model/tiny-tokenizer");
  const workDir = mkdtempSync(join(tmpdir(), "tiny-tokenizer-"));
  try {
    const corpus = generateCorpus();
    const tokenizer = buildTokenizer(trainExhaustively(corpus, workDir));
    await checkRoundTrip(tokenizer, [corpus, "naïve Unicode ✓ 🙂 and\ttabs\r\n", "\u0000\u007f\u00ff"]);
    mkdirSync(outDir, { recursive: true });
    tokenizer.save(join(outDir, "tokenizer.json"), true);
    writeFileSync(join(outDir, "tokenizer_config.json"), `${JSON.stringify(tokenizerConfig(tokenizer), null, 2)}\n`);
    console.log(`wrote ${outDir} (vocabulary ${tokenizer.getVocabSize(true)}, corpus ${corpus.split("\n").length} lines)`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

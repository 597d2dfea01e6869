// The "chat" prompt format for instruct models: a problem becomes a user message (the
// question, its starter code, and the instruction to read standard input or to complete the
// named function), after an optional system prompt, rendered with the checkpoint's own chat
// template. The program is taken from the reply by samples.ts's extractProgram (its first
// fenced block). The M-step trains on the same rendering, with the answer written as one
// ```python block. See docs/config.md and docs/model-files.md.

import type { ChatMessage, ChatTemplate, ChatTrainingText } from "../model";
import type { Problem } from "../problems";

export type ChatProblem = Pick<Problem, "question" | "starterCode" | "fnName">;

/**
 * Template variables restem always passes: Qwen3's enable_thinking=false makes the generation
 * prompt end in an empty <think></think> block, so the model answers at once and the prompt is
 * a prefix of the rendered training conversation. Templates that do not use it ignore it.
 */
export const CHAT_TEMPLATE_VARIABLES: Readonly<Record<string, unknown>> = { enable_thinking: false };

/** The instruction for a stdin/stdout problem or a call-based one naming its function. */
export function chatInstruction(fnName: string | null): string {
  if (fnName === null) {
    return "Write a complete Python 3 program that reads the input from standard input and writes the answer to standard output.";
  }
  return `Complete the function \`${fnName}\` in Python 3; it is called with the test inputs as arguments and its return value is checked.`;
}

/** The user message for `problem`. */
export function chatUserMessage(problem: ChatProblem): string {
  let text = problem.question.replace(/\s+$/, "") + "\n\n";
  if (problem.starterCode !== null && problem.starterCode.trim() !== "") {
    text += "Starter code:\n```python\n" + problem.starterCode.replace(/\s+$/, "") + "\n```\n\n";
  }
  return text + chatInstruction(problem.fnName) + " Reply with the whole program in one ```python code block.";
}

/** The conversation for `problem`: the optional system prompt, then the user message. */
export function chatMessages(problem: ChatProblem, system: string | null): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (system !== null && system.trim() !== "") messages.push({ role: "system", content: system });
  messages.push({ role: "user", content: chatUserMessage(problem) });
  return messages;
}

/** The prompt text the sampler continues: the conversation plus the assistant header. */
export function renderChatPrompt(template: ChatTemplate, problem: ChatProblem, system: string | null): string {
  return template.render(chatMessages(problem, system), { addGenerationPrompt: true, variables: CHAT_TEMPLATE_VARIABLES });
}

/** A program as the assistant's reply: one ```python block. */
export function chatAnswer(program: string): string {
  return "```python\n" + program.replace(/\s+$/, "") + "\n```";
}

/**
 * The training text for a correct `program`: the same prompt the sampler saw and the
 * assistant's part (the answer through the template's end-of-turn token), which alone gets loss.
 */
export function chatTrainingText(
  template: ChatTemplate,
  problem: ChatProblem,
  system: string | null,
  program: string,
  endOfTurn: string | null,
): ChatTrainingText {
  return template.splitForTraining(chatMessages(problem, system), chatAnswer(program), endOfTurn, CHAT_TEMPLATE_VARIABLES);
}

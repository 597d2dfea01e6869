// Shared by the CLI tests (samplerCli, trainer-cli): the tiny random Qwen2 checkpoint they write
// next to the test tokenizer fixture, and a commander program that runs one command group with
// its output captured instead of printed.
import * as path from "node:path";
import { Command } from "commander";
import type { CommandIo } from "../../src/cli/args";

/** The tokenizer made by scripts/make-tiny-tokenizer.mjs (vocabulary 512). */
export const TOKENIZER_FIXTURE = path.resolve(__dirname, "../../../test/fixtures/model/tiny-tokenizer");

/** config.json of a tiny Qwen2 (GQA, tied embeddings) matching the fixture's vocabulary. */
export const TINY_QWEN2_CONFIG = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 512,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
  eos_token_id: 509,
};

/** Runs `restem <args>` on a program with the commands `register` adds; resolves with what they wrote. */
export async function runCommand(register: (program: Command, io: CommandIo) => void, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = "";
  let stderr = "";
  let code = -1;
  const program = new Command("restem").exitOverride().configureOutput({ writeErr: () => undefined });
  register(program, { out: (t) => (stdout += t), err: (t) => (stderr += t), setExitCode: (c) => (code = c) });
  await program.parseAsync(["node", "restem", ...args]);
  return { stdout, stderr, code };
}

// Shared set-up of the integration tests that need the real Docker sandbox.
//
// They open a real Judge (Docker engine, the sandbox image for the current harness,
// warm containers). When Docker is unreachable they fail with its message, unless
// RESTEM_SKIP_DOCKER=1 asks to skip them; CI never sets it.
import path from "node:path";
import type { Problem } from "../../src/problems";
import { Judge, type JudgeOptions } from "../../src/sandbox/judge";

export const REPO_ROOT = path.resolve(__dirname, "../../..");
export const SHARED_APPS_SAMPLE = path.resolve(REPO_ROOT, "../shared/apps-sample");

export async function openJudgeOrSkip(context: Mocha.Context, options: JudgeOptions = {}): Promise<Judge> {
  try {
    return await Judge.open({ concurrency: 2, ...options });
  } catch (error) {
    if (process.env.RESTEM_SKIP_DOCKER === "1") {
      console.log(`      skipped: Docker sandbox unavailable (${(error as Error).message})`);
      context.skip();
    }
    throw error;
  }
}

/** A problem built in memory; JSON.stringify is exact for the small values tests use. */
export function problemOf(options: { id?: string; fnName?: string | null; inputs: unknown[]; outputs: unknown[] }): Problem {
  return {
    id: options.id ?? "test",
    split: null,
    source: "(test)",
    question: "",
    starterCode: null,
    fnName: options.fnName ?? null,
    testCount: options.inputs.length,
    inputsJson: JSON.stringify(options.inputs),
    outputsJson: JSON.stringify(options.outputs),
    solutions: [],
    difficulty: null,
    url: null,
  };
}

export const lines = (...parts: string[]): string => parts.join("\n");

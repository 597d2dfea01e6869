// `restem judge`: score programs against APPS problems in the sandbox.
//
// With --json, one line per input program in input order:
//   {"problem_id", "passed", "results", "error", "ms", "accepted_by"}
// (plus "solution" with --reference), streamed as soon as every earlier line is out.
// Without it, a table and a summary. Progress goes to stderr when it is a terminal.
// A program the sandbox could not judge (Docker lost past the retry window) gets
// "passed": null and "sandbox_failure": true: no verdict. The command then exits 1 and
// says how many programs were left unjudged.

import { loadProblems } from "../problems";
import { Judge, type Verdict } from "../sandbox/judge";
import type { SandboxLimits } from "../sandbox/protocol";
import { Progress } from "./progress";
import { readProgramsJsonl, referenceItems, type JudgeItem } from "./programs";

export interface JudgeCommandOptions {
  problems: string;
  programs?: string;
  reference?: boolean;
  json?: boolean;
  concurrency?: number;
  strict?: boolean;
  limits?: Partial<SandboxLimits>;
}

export interface JudgeLine {
  problem_id: string;
  solution?: number;
  /** The verdict; null when the sandbox failed and there is none. */
  passed: boolean | null;
  /** Present (true) only when the sandbox failed: the line is not a verdict. */
  sandbox_failure?: true;
  results: (boolean | number)[];
  error: string | null;
  ms: number;
  accepted_by: (string | null)[];
}

export function toJudgeLine(item: JudgeItem, verdict: Verdict | null): JudgeLine {
  const line: JudgeLine = {
    problem_id: item.problemId,
    passed: verdict?.passed ?? false,
    results: verdict?.results ?? [],
    error: verdict ? verdict.error : item.error,
    ms: verdict ? Math.round(verdict.ms * 100) / 100 : 0,
    accepted_by: verdict?.acceptedBy ?? [],
  };
  if (item.solution !== undefined) line.solution = item.solution;
  if (verdict?.sandboxFailure) {
    line.passed = null;
    line.sandbox_failure = true;
  }
  return line;
}

type Outcome = "passed" | "wrong answer" | "runtime error/timeout" | "compile error" | "not judged" | "sandbox failure";

export function outcomeOf(line: JudgeLine): Outcome {
  if (line.sandbox_failure) return "sandbox failure";
  if (line.passed) return "passed";
  if (line.results.length === 0) return "not judged";
  if (line.results.includes(-2)) return "compile error";
  if (line.results.includes(-1)) return "runtime error/timeout";
  return "wrong answer";
}

function formatResults(results: (boolean | number)[]): string {
  const symbols = results.map((r) => (r === true ? "." : r === false ? "x" : r === -1 ? "E" : "C"));
  const text = symbols.join("");
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

export function formatTable(lines: JudgeLine[]): string {
  const rows = lines.map((line, index) => [
    String(index + 1),
    line.solution === undefined ? line.problem_id : `${line.problem_id}#${line.solution}`,
    outcomeOf(line),
    formatResults(line.results),
    line.ms.toFixed(1),
    (line.error ?? "").replace(/\s+/g, " ").slice(0, 70),
  ]);
  const header = ["#", "problem", "verdict", "tests", "ms", "first failure"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const render = (cells: string[]): string => cells.map((cell, c) => pad(cell, c === cells.length - 1 ? 0 : widths[c])).join("  ").trimEnd();
  return [render(header), ...rows.map(render)].join("\n");
}

export function formatSummary(lines: JudgeLine[], seconds: number): string {
  const counts = new Map<Outcome, number>();
  for (const line of lines) counts.set(outcomeOf(line), (counts.get(outcomeOf(line)) ?? 0) + 1);
  const passed = counts.get("passed") ?? 0;
  const parts = [...counts.entries()].filter(([k]) => k !== "passed").map(([k, v]) => `${v} ${k}`);
  const pct = lines.length ? ((100 * passed) / lines.length).toFixed(1) : "0.0";
  const rate = seconds > 0 ? (lines.length / seconds).toFixed(1) : "-";
  return (
    `${lines.length} programs: ${passed} passed (${pct}%)${parts.length ? ", " + parts.join(", ") : ""}` +
    `\njudged in ${seconds.toFixed(2)} s (${rate} programs/s); legend: . pass  x wrong  E runtime error/timeout  C compile error`
  );
}

/** Writes lines in input order as they complete. */
class OrderedWriter {
  private readonly ready = new Map<number, string>();
  private next = 0;
  constructor(private readonly write: (text: string) => void) {}
  put(index: number, text: string): void {
    this.ready.set(index, text);
    while (this.ready.has(this.next)) {
      this.write(this.ready.get(this.next)!);
      this.ready.delete(this.next++);
    }
  }
}

export async function runJudgeCommand(options: JudgeCommandOptions, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  if (!options.programs && !options.reference) throw new Error("give --programs <jsonl> or --reference");
  const set = await loadProblems(options.problems);
  for (const problemError of set.errors) err(`skipped problem ${problemError.path}: ${problemError.message}\n`);
  const items = options.reference ? referenceItems(set) : await readProgramsJsonl(options.programs!, set);
  if (items.length === 0) {
    err(options.reference ? "no problem has a solutions.json to judge\n" : "the programs file has no programs\n");
    return 1;
  }
  const judge = await Judge.open({
    concurrency: options.concurrency,
    strict: options.strict,
    limits: options.limits,
    onLog: (line) => err(line.endsWith("\n") ? line : line + "\n"),
  });
  const started = performance.now();
  const lines = new Array<JudgeLine>(items.length);
  const writer = new OrderedWriter((text) => out(text));
  const progress = new Progress(items.length, "judged", err);
  try {
    const judgeable = items.map((item, index) => ({ item, index })).filter(({ item }) => item.problem !== null);
    items.forEach((item, index) => {
      if (item.problem === null) {
        lines[index] = toJudgeLine(item, null);
        if (options.json) writer.put(index, JSON.stringify(lines[index]) + "\n");
        progress.tick();
      }
    });
    await judge.judgeAll(
      judgeable.map(({ item }) => ({ problem: item.problem!, code: item.code })),
      (k, verdict) => {
        const { item, index } = judgeable[k];
        lines[index] = toJudgeLine(item, verdict);
        if (options.json) writer.put(index, JSON.stringify(lines[index]) + "\n");
        progress.tick();
      },
    );
  } finally {
    progress.done();
    await judge.close();
  }
  const seconds = (performance.now() - started) / 1000;
  if (!options.json) out(formatTable(lines) + "\n\n" + formatSummary(lines, seconds) + "\n");
  const unjudged = lines.filter((line) => line.sandbox_failure);
  if (unjudged.length > 0) {
    err(
      `restem judge: ${unjudged.length} of ${lines.length} programs could not be judged: the Docker sandbox failed ` +
        `(${(unjudged[0].error ?? "").replace(/^sandbox failure: /, "")}). Their lines are no verdicts ("passed": null, "sandbox_failure": true); ` +
        `check \`docker info\` and judge them again once Docker is back.\n`,
    );
    return 1;
  }
  return 0;
}

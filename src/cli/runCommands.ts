// The ReST-EM loop's commands for the `restem` CLI, registered by registerRunCommands():
//
//   restem run --problems <dir> --model <dir> [--config restem.json] [--iterations I]
//              [--variant restem|sft] [--store .restem]
//   restem resume <id> [--store .restem]
//   restem eval --model <dir> --problems <dir> [--split test] [--config restem.json] [--json]
//   restem runs [--json] [--store .restem]
//
// Long work draws progress bars (count, rate, ETA) on stderr; the end of a run prints a
// table per iteration on stdout. Ctrl-C cancels at the next safe point (status "cancelled",
// `restem resume <id>` continues); a second Ctrl-C exits at once.

import * as fs from "node:fs";
import { type Command, Option } from "commander";
import {
  assertRunInputs,
  createRunLocked,
  DEFAULT_CONFIG,
  evaluateModel,
  executeRun,
  formatSummaryTable,
  listRuns,
  loadConfigFile,
  parseConfig,
  resolveRunId,
  summarizeIteration,
  type RestemConfig,
  type RunEvent,
  type RunLock,
  type RunOutcome,
} from "../restem";
import { Progress } from "./progress";
import { type CommandIo, integerAtLeast } from "./args";


/** Exit code of a cancelled run (as for SIGINT). */
const EXIT_CANCELLED = 130;


/** The run's config: restem.json (when given) with the command-line flags over it. */
export async function configFromOptions(options: { config?: string; problems?: string; model?: string; iterations?: number; variant?: string }): Promise<RestemConfig> {
  const overrides: Record<string, unknown> = {};
  if (options.problems !== undefined) overrides.problems = options.problems;
  if (options.model !== undefined) overrides.model = options.model;
  if (options.iterations !== undefined) overrides.iterations = options.iterations;
  if (options.variant !== undefined) overrides.variant = options.variant;
  if (options.config !== undefined) return loadConfigFile(options.config, overrides);
  return parseConfig(overrides, "(command line)");
}

/** Turns run events into progress bars and one-line notes on stderr. */
export function progressReporter(err: (text: string) => void, enabled = Boolean(process.stderr.isTTY)): (event: RunEvent) => void {
  let bar: Progress | null = null;
  let seen = 0;
  const close = (): void => {
    bar?.done();
    bar = null;
  };
  return (event) => {
    switch (event.type) {
      case "phase_started":
        close();
        err(`iteration ${event.iteration}: ${event.phase}\n`);
        bar = new Progress(event.total, `${event.phase} ${event.iteration}`, err, enabled);
        seen = 0;
        break;
      case "sample_judged":
        if (bar === null) break;
        // `done` counts records already on disk too (a resumed phase starts part-way).
        bar.tick(Math.max(0, event.done - seen));
        seen = Math.max(seen, event.done);
        break;
      case "train_step":
        if (enabled) err(`\r  step ${event.step} epoch ${event.epoch + 1} loss ${event.loss.toFixed(4)} ${Math.round(event.tokensPerSecond)} tok/s\x1b[K`);
        break;
      case "validation":
        if (enabled) err("\n");
        err(`  validation at step ${event.step}: reward ${(event.score * 100).toFixed(1)}%${event.best ? " (best)" : ""}\n`);
        break;
      case "phase_done":
        close();
        break;
      case "problem_error":
        err(`  problem ${event.problem_id}: ${event.message}\n`);
        break;
      case "run_failed":
        close();
        err(`run failed: ${event.message}\n`);
        break;
      case "sandbox":
        err(`sandbox: ${event.message}\n`);
        break;
      case "log":
        err(`${event.message}\n`);
        break;
      default:
        break;
    }
  };
}

/** Aborts on the first SIGINT; a second one exits at once. Returns the signal and a cleanup. */
function cancelOnSigint(err: (text: string) => void): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT_CANCELLED);
    err("\ncancelling at the next safe point (Ctrl-C again to quit now)...\n");
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  return { signal: controller.signal, dispose: () => process.off("SIGINT", onSigint) };
}

/** Executes (or resumes) a run with progress and SIGINT handling; prints the table. `lock`: the run's lock when createRunLocked took it. */
async function execute(store: string, id: string, io: CommandIo, lock?: RunLock): Promise<number> {
  const { signal, dispose } = cancelOnSigint(io.err);
  let outcome: RunOutcome;
  try {
    outcome = await executeRun(store, id, { signal, onEvent: progressReporter(io.err), lock });
  } finally {
    dispose();
  }
  if (outcome.metrics.length > 0) io.out(formatSummaryTable(outcome.metrics.map(summarizeIteration)));
  io.err(`run ${id}: ${outcome.status}${outcome.status === "cancelled" ? ` (continue with: restem resume ${id})` : ""}\n`);
  return outcome.status === "completed" ? 0 : EXIT_CANCELLED;
}

interface RunOptions {
  problems?: string;
  model?: string;
  config?: string;
  iterations?: number;
  variant?: string;
  store: string;
}

/** Adds `run`, `resume`, `eval` and `runs` to the program. */
export function registerRunCommands(program: Command, io: CommandIo): void {
  program
    .command("run")
    .description("start a ReST-EM run: evaluate the base model, then E-step, filter, M-step and evaluation per iteration")
    .option("--problems <path>", "APPS directory tree (train/ and test/ split folders) or JSONL file")
    .option("--model <dir>", "base model directory")
    .option("--config <file>", "restem.json with the run's settings (flags win over it)")
    .option("--iterations <n>", `ReST-EM iterations (default ${DEFAULT_CONFIG.iterations})`, integerAtLeast(0))
    .addOption(new Option("--variant <variant>", "restem: train on own correct samples; sft: on human solutions").choices(["restem", "sft"]))
    .option("--store <dir>", "run store directory", ".restem")
    .action(async (options: RunOptions) => {
      const config = await configFromOptions(options);
      const { id, lock } = await createRunLocked(options.store, config, { file: options.config ?? "(command line)" });
      io.err(`run ${id} in ${options.store}\n`);
      io.setExitCode(await execute(options.store, id, io, lock));
    });

  program
    .command("resume")
    .description("continue a killed or cancelled run from its first unfinished piece of work")
    .argument("<id>", "run id (or a unique prefix)")
    .option("--store <dir>", "run store directory", ".restem")
    .action(async (given: string, options: { store: string }) => {
      const id = await resolveRunId(options.store, given);
      io.err(`resuming run ${id}\n`);
      io.setExitCode(await execute(options.store, id, io));
    });

  program
    .command("eval")
    .description("evaluate a model: greedy pass@1 and pass@k on a split, without a run store")
    .requiredOption("--model <dir>", "model directory")
    .requiredOption("--problems <path>", "APPS directory tree or JSONL file")
    .option("--split <name>", "split folder to evaluate ('all' for every problem)", "test")
    .option("--config <file>", "restem.json for sampling, evaluation and judge settings")
    .option("--json", "print the metrics as one JSON line")
    .action(async (options: { model: string; problems: string; split: string; config?: string; json?: boolean }) => {
      const config = await configFromOptions({ config: options.config, model: options.model, problems: options.problems });
      await assertRunInputs({ problems: options.problems, model: options.model }, "(command line)");
      const { signal, dispose } = cancelOnSigint(io.err);
      let bar: Progress | null = null;
      try {
        const { metrics, problems } = await evaluateModel({
          model: options.model,
          problems: options.problems,
          split: options.split === "all" ? null : options.split,
          config,
          signal,
          onRecord: (_record, done, total) => {
            bar ??= new Progress(total, "eval", io.err);
            bar.tick();
            if (done === total) bar.done();
          },
          log: (line) => io.err(`${line}\n`),
        });
        if (metrics === null) {
          io.err("cancelled\n");
          io.setExitCode(EXIT_CANCELLED);
          return;
        }
        if (options.json) io.out(JSON.stringify({ problems, ...metrics }) + "\n");
        else io.out(formatSummaryTable([{ iteration: 0, pass_at_1: metrics.pass_at_1, pass_at_k: metrics.pass_at_k, train_pass_rate: null, train_pass_at_1: null, train_test_gap: null, kept: null, kept_fraction: null }]));
        io.setExitCode(0);
      } finally {
        dispose();
      }
    });

  program
    .command("runs")
    .description("list the runs in the store with their metrics per iteration")
    .option("--json", 'one line per run: {"id", "status", "variant", "model", "problems", "iterations": [...], "error"} (iteration 0 = the base model)')
    .option("--store <dir>", "run store directory", ".restem")
    .action(async (options: { json?: boolean; store: string }) => {
      const runs = await listRuns(options.store);
      for (const run of runs) {
        if (options.json) {
          const iterations = run.iterations.map((m) => ({
            iteration: m.iteration,
            pass_at_1: m.pass_at_1,
            pass_at_k: m.pass_at_k,
            train_pass_rate: m.train_pass_rate,
            kept_fraction: m.kept_fraction,
            kept: m.kept,
          }));
          io.out(JSON.stringify({ id: run.id, status: run.status, variant: run.variant, model: run.model, problems: run.problems, iterations, error: run.error }) + "\n");
        } else {
          io.out(`${run.id}  ${run.status}${run.variant ? `  ${run.variant}` : ""}${run.model ? `  model ${run.model}` : ""}${run.problems ? `  problems ${run.problems}` : ""}\n`);
          if (run.error !== null) io.out(`  cannot read the run: ${run.error}\n`);
          if (run.iterations.length > 0) io.out(formatSummaryTable(run.iterations).replace(/^/gm, "  "));
        }
      }
      if (!options.json && runs.length === 0 && !fs.existsSync(options.store)) io.err(`no run store at ${options.store}\n`);
      io.setExitCode(0);
    });
}

// The `restem` command line: the engine without VS Code.
//
//   restem judge --problems <dir|jsonl> (--programs <jsonl> | --reference) [--json] [--concurrency N] [--strict]
//   restem check-env [--model <dir>] [--json]
//   restem image build [--force] | restem image status
//   restem sandbox prune
//
// main() returns the exit code; bin/restem.js calls it. Errors reach the user as one
// line naming what is wrong, never as a stack trace.

import { Command } from "commander";
import { runJudgeCommand } from "./cli/judgeCommand";
import { registerRunCommands } from "./cli/runCommands";
import { registerSampleCommands } from "./cli/sampleCommands";
import { registerTrainCommand } from "./cli/trainCommand";
import { checkRunEnvironment } from "./restem/environment";
import { formatEnvironment } from "./sandbox/environment";
import { connectDocker } from "./sandbox/docker";
import { ensureImage, imageStatus } from "./sandbox/image";
import { checkMemoryLimit } from "./sandbox/judge";
import { describeReap, reapOrphans } from "./sandbox/owners";
import { positiveInteger, positiveNumber } from "./cli/args";



const out = (text: string): void => void process.stdout.write(text);
const err = (text: string): void => void process.stderr.write(text);

function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("restem")
    .description("ReST-EM self-training for code models: judge, sample, train and evaluate on APPS-style problems")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("judge")
    .description("judge programs against APPS problems in the Docker sandbox (official APPS semantics)")
    .requiredOption("--problems <path>", "APPS directory tree or APPS JSONL file")
    .option("--programs <jsonl>", 'programs to judge, one {"problem_id", "code"} per line')
    .option("--reference", "judge every problem's own solutions.json instead")
    .option("--json", "one JSON line per program, in input order")
    .option("--concurrency <n>", "sandbox containers judging in parallel", positiveInteger)
    .option("--strict", "strict comparisons instead of the APPS evaluator's lenient ones")
    .option("--timeout <seconds>", "per-test time limit (APPS: 4)", positiveNumber)
    .option("--memory-mb <mb>", "memory limit (address space) of a program in MiB (default 1024, at least 96)", positiveInteger)
    .action(async (options: Record<string, unknown>) => {
      const limits: Record<string, number> = {};
      if (typeof options.timeout === "number") {
        limits.timeoutS = options.timeout;
        limits.globalTimeoutS = Math.max(11, options.timeout * 2.5);
      }
      if (typeof options.memoryMb === "number") {
        limits.memoryBytes = options.memoryMb * (1 << 20);
        checkMemoryLimit(limits.memoryBytes, "--memory-mb");
      }
      setExitCode(
        await runJudgeCommand(
          {
            problems: options.problems as string,
            programs: options.programs as string | undefined,
            reference: Boolean(options.reference),
            json: Boolean(options.json),
            concurrency: options.concurrency as number | undefined,
            strict: Boolean(options.strict),
            limits,
          },
          out,
          err,
        ),
      );
    });

  program
    .command("check-env")
    .description("report Docker, the sandbox image and a model directory")
    .option("--model <dir>", "Hugging Face model directory to check")
    .option("--json", "print the report as JSON")
    .action(async (options: { model?: string; json?: boolean }) => {
      const report = await checkRunEnvironment({ modelDir: options.model });
      out(options.json ? JSON.stringify(report) + "\n" : formatEnvironment(report) + "\n");
      setExitCode(report.ok ? 0 : 1);
    });

  const image = program.command("image").description("the sandbox image");
  image
    .command("build")
    .description("build the sandbox image for the current harness (offline when no registry is reachable)")
    .option("--force", "rebuild even if the image exists")
    .action(async (options: { force?: boolean }) => {
      const docker = await connectDocker();
      const tag = await ensureImage(docker, { force: Boolean(options.force), onLog: (line) => err(line.endsWith("\n") ? line : line + "\n") });
      out(`${tag}\n`);
    });
  image
    .command("status")
    .description("show the image tag for the current harness and whether it is built")
    .action(async () => {
      const status = await imageStatus(await connectDocker());
      out(`${status.tag} ${status.present ? "present" : "missing"}\n`);
      setExitCode(status.present ? 0 : 1);
    });

  const sandbox = program.command("sandbox").description("the sandbox's containers");
  sandbox
    .command("prune")
    .description("remove the sandbox containers of restem processes that no longer run (those of running ones are left alone)")
    .action(async () => {
      const result = await reapOrphans(await connectDocker());
      out(`${describeReap(result)}\n`);
      setExitCode(result.failed.length > 0 ? 1 : 0);
    });

  registerSampleCommands(program, { out, err, setExitCode });
  registerTrainCommand(program, { out, err, setExitCode });
  registerRunCommands(program, { out, err, setExitCode });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("commander.")) {
      return code === "commander.helpDisplayed" || code === "commander.version" || code === "commander.help" ? 0 : 2;
    }
    err(`restem: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  return exitCode;
}

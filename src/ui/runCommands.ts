// The palette commands that drive the engine: Start Run (problem set -> model -> preset -> config
// file), Stop Run, Resume Run, Evaluate Model, Build Sandbox Image and Open Dashboard. Each turns
// errors into an actionable message (showError) instead of a stack trace.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";
import { connectDocker } from "../sandbox/docker";
import { ensureImage } from "../sandbox/image";
import { evaluateModel, formatSummaryTable, type EvalMetrics, type RestemConfig } from "../restem";
import { DashboardPanel } from "./dashboardPanel";
import { displayPath, pickConfigFile, pickModelDirectory, pickPreset, pickProblemSet, pickRun } from "./pickers";
import type { ProblemsTreeProvider } from "./problemsTree";
import { showError, type RunFeedback } from "./runFeedback";
import type { RunSession } from "./runSession";
import { buildRunConfig, configFileContent, configFileLayer, overridesFromSettings, type RunChoices } from "./runSettings";
import type { RunsTreeProvider } from "./runsTree";
import { percent, type RunNode } from "./runTreeModel";

export interface CommandContext {
  extensionUri: vscode.Uri;
  output: vscode.OutputChannel;
  session: RunSession;
  feedback: RunFeedback;
  runsTree: RunsTreeProvider;
  runsView: vscode.TreeView<unknown>;
  problemsTree: ProblemsTreeProvider;
  /** The run store directory, or null without a workspace folder. */
  store: () => string | null;
}

const settings = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration("restem");

/** A setting that holds a path: absolute, or relative to the first workspace folder. */
function settingPath(key: string): string | null {
  const value = settings().get<string>(key);
  if (!value) return null;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return path.isAbsolute(value) || !folder ? value : path.join(folder, value);
}

/** The restem.* config fields the user set (null and unset mean "let the preset decide"). */
function settingsLayer(): Record<string, unknown> {
  const config = settings();
  return overridesFromSettings((key) => {
    const inspected = config.inspect(key);
    return inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
  });
}

/** Runs `work`, showing any error as a message; returns undefined on error. */
async function guarded<T>(ctx: CommandContext, what: string, work: () => Promise<T>): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    ctx.output.appendLine(`${what} failed: ${message}`);
    await showError(`${what}: ${message}`, ctx.output);
    return undefined;
  }
}

function requireStore(ctx: CommandContext): string | null {
  const store = ctx.store();
  if (store === null) void vscode.window.showWarningMessage("ReST-EM: open a folder first; runs are stored in it (restem.store).");
  return store;
}

/** A problem set of the workspace (as the Problems view found them), the configured one, or one browsed to. */
async function pickWorkspaceProblems(ctx: CommandContext, title: string): Promise<string | undefined> {
  const sets = (await ctx.problemsTree.problemSets()).filter((s) => s.failure === null);
  return pickProblemSet({
    title,
    sets: sets.map((s) => ({ root: s.root, label: s.label, problems: s.problems.length, errors: s.errors.length })),
    configured: settingPath("problems.directory"),
  });
}

async function startRun(ctx: CommandContext): Promise<string | undefined> {
  const store = requireStore(ctx);
  if (store === null) return undefined;
  const problems = await pickWorkspaceProblems(ctx, "Start Run (1/4): problem set");
  if (!problems) return undefined;
  const model = await pickModelDirectory({ title: "Start Run (2/4): base model", configured: settingPath("model.directory") });
  if (!model) return undefined;
  const preset = await pickPreset("Start Run (3/4): preset", settings().get<string>("preset") ?? "small");
  if (!preset) return undefined;
  const fileChoice = await pickConfigFile("Start Run (4/4): config file");
  if (!fileChoice) return undefined;
  return guarded(ctx, "Start Run", async () => {
    const choices: RunChoices = { problems, model, preset, settings: settingsLayer(), file: null };
    if (fileChoice.kind === "existing") {
      choices.file = { path: fileChoice.file, raw: configFileLayer(JSON.parse(await fs.readFile(fileChoice.file, "utf8")), fileChoice.file) };
    }
    const config = buildRunConfig(choices);
    if (fileChoice.kind === "save") {
      await fs.writeFile(fileChoice.file, configFileContent(choices, fileChoice.file), { flag: "wx" });
      ctx.output.appendLine(`wrote ${fileChoice.file}`);
    }
    return launch(ctx, store, config, choices.file?.path ?? (fileChoice.kind === "save" ? fileChoice.file : `preset ${preset.id}`));
  });
}

async function launch(ctx: CommandContext, store: string, config: RestemConfig, file: string): Promise<string> {
  ctx.output.appendLine(`starting a run: problems ${displayPath(config.problems)}, model ${displayPath(config.model)}, ${config.iterations} iteration(s), ${config.sampling.samplesPerProblem} samples per problem (${file})`);
  const active = await ctx.session.start(store, config, file);
  ctx.feedback.begin(active.runId, "Running");
  // An open dashboard follows the new run, live.
  if (DashboardPanel.current) DashboardPanel.show(ctx.extensionUri, store, active.runId);
  ctx.runsTree.refresh();
  void revealRun(ctx, active.runId);
  return active.runId;
}

async function revealRun(ctx: CommandContext, runId: string): Promise<void> {
  const node = await ctx.runsTree.findRun(runId);
  if (node) await ctx.runsView.reveal(node, { select: true, focus: false, expand: true });
}

async function resumeRun(ctx: CommandContext, given?: RunNode | string): Promise<string | undefined> {
  const store = requireStore(ctx);
  if (store === null) return undefined;
  const resumable = (r: RunNode): boolean => r.status === "cancelled" || r.status === "failed" || r.status === "interrupted";
  const runId = typeof given === "string" ? given : given?.runId ?? (await pickRun(store, { title: "Resume Run: which run?", filter: resumable }))?.runId;
  if (!runId) return undefined;
  return guarded(ctx, "Resume Run", async () => {
    ctx.session.resume(store, runId);
    ctx.feedback.begin(runId, "Resuming");
    if (DashboardPanel.current) DashboardPanel.show(ctx.extensionUri, store, runId);
    ctx.runsTree.refresh();
    return runId;
  });
}

function stopRun(ctx: CommandContext): void {
  const current = ctx.session.current;
  if (!ctx.session.stop() || current === null) {
    void vscode.window.showInformationMessage("ReST-EM: no run is going in this window.");
    return;
  }
  ctx.output.appendLine(`stopping run ${current.runId} at the next safe point`);
  void vscode.window.setStatusBarMessage(`ReST-EM: stopping ${current.runId}...`, 5000);
}

async function evaluateModelCommand(ctx: CommandContext): Promise<EvalMetrics | null | undefined> {
  const model = await pickModelDirectory({ title: "Evaluate Model (1/3): model", configured: settingPath("model.directory"), store: ctx.store() });
  if (!model) return undefined;
  const problems = await pickWorkspaceProblems(ctx, "Evaluate Model (2/3): problem set");
  if (!problems) return undefined;
  const preset = await pickPreset("Evaluate Model (3/3): decoding and pass@k settings", settings().get<string>("preset") ?? "small");
  if (!preset) return undefined;
  return guarded(ctx, "Evaluate Model", async () => {
    const config = buildRunConfig({ problems, model, preset, settings: settingsLayer(), file: null });
    // The test split when the set has one (a set browsed to outside the workspace: every problem).
    const set = (await ctx.problemsTree.problemSets()).find((s) => s.root === path.resolve(problems));
    const split = set?.problems.some((p) => p.split === config.splits.test) ? config.splits.test : null;
    ctx.output.appendLine(`evaluating ${displayPath(model)} on ${displayPath(problems)}${split ? ` (split ${split})` : ""}`);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ReST-EM: evaluating ${path.basename(model)}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        let last = 0;
        return evaluateModel({
          model,
          problems,
          split,
          config,
          signal: controller.signal,
          log: (line) => ctx.output.appendLine(line),
          onRecord: (_record, done, total) => {
            progress.report({ message: `${done}/${total} samples judged`, increment: ((done - last) / Math.max(1, total)) * 100 });
            last = done;
          },
        });
      },
    );
    if (result.metrics === null) {
      void vscode.window.showInformationMessage("ReST-EM: evaluation cancelled.");
      return null;
    }
    const m = result.metrics;
    const row = { iteration: 0, pass_at_1: m.pass_at_1, pass_at_k: m.pass_at_k, train_pass_rate: null, train_pass_at_1: null, train_test_gap: null, kept_fraction: null, kept: null };
    ctx.output.appendLine(formatSummaryTable([row]));
    const ks = Object.entries(m.pass_at_k).map(([k, v]) => `pass@${k} ${percent(v)}`);
    void vscode.window.showInformationMessage(`ReST-EM: ${path.basename(model)} on ${result.problems} problems: greedy pass@1 ${percent(m.pass_at_1)}${ks.length ? `, ${ks.join(", ")}` : ""}.`);
    return m;
  });
}

async function buildImageCommand(ctx: CommandContext): Promise<string | undefined> {
  return guarded(ctx, "Build Sandbox Image", async () =>
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: "ReST-EM: building the sandbox image" }, async (progress) => {
      ctx.output.show(true);
      const docker = await connectDocker();
      const tag = await ensureImage(docker, {
        onLog: (line) => {
          ctx.output.appendLine(line);
          progress.report({ message: line.slice(0, 80) });
        },
      });
      void vscode.window.showInformationMessage(`ReST-EM: sandbox image ${tag} is ready.`);
      return tag;
    }),
  );
}

async function openDashboard(ctx: CommandContext, given?: RunNode | string): Promise<void> {
  const store = requireStore(ctx);
  if (store === null) return;
  let runId = typeof given === "string" ? given : given?.runId;
  runId ??= ctx.session.current?.runId ?? DashboardPanel.current?.runId;
  runId ??= (await pickRun(store, { title: "Open Dashboard: which run?" }))?.runId;
  if (!runId) return;
  const panel = DashboardPanel.show(ctx.extensionUri, store, runId);
  await panel.refresh();
}

export function registerRunCommands(ctx: CommandContext): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("restem.startRun", () => startRun(ctx)),
    vscode.commands.registerCommand("restem.stopRun", () => stopRun(ctx)),
    vscode.commands.registerCommand("restem.resumeRun", (node?: RunNode | string) => resumeRun(ctx, node)),
    vscode.commands.registerCommand("restem.evaluateModel", () => evaluateModelCommand(ctx)),
    vscode.commands.registerCommand("restem.buildImage", () => buildImageCommand(ctx)),
    vscode.commands.registerCommand("restem.openDashboard", (node?: RunNode | string) => openDashboard(ctx, node)),
    vscode.commands.registerCommand("restem.refreshRuns", () => ctx.runsTree.refresh()),
    vscode.commands.registerCommand("restem.refreshProblems", () => ctx.problemsTree.refresh()),
    vscode.commands.registerCommand("restem.revealRunFolder", (node?: RunNode) => {
      const store = ctx.store();
      if (node && store) void vscode.commands.executeCommand("revealInExplorer", vscode.Uri.file(path.join(store, "runs", node.runId)));
    }),
  ];
}

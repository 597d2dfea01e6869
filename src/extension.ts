// VS Code entry point: wires the views and commands to the engine (src/restem, which never
// imports vscode). Every disposable is registered on the extension context; a run still going
// when the window closes is stopped at its next safe point and can be resumed.
import * as path from "node:path";
import * as vscode from "vscode";
import { reapAtStartup } from "./sandbox/owners";
import { applyProgress, stateRunId, type LiveProgress } from "./ui/dashboardModel";
import { DashboardPanel } from "./ui/dashboardPanel";
import { registerEnvironmentCommand } from "./ui/environmentCommand";
import { ProblemsTreeProvider } from "./ui/problemsTree";
import { registerRunCommands } from "./ui/runCommands";
import { RunFeedback } from "./ui/runFeedback";
import { RunSession } from "./ui/runSession";
import { RunsTreeProvider, SAMPLE_REFRESH_MS } from "./ui/runsTree";
import { registerSampleDiff } from "./ui/sampleDiff";
import { forgetProblemSets } from "./ui/sampleDiffModel";

let session: RunSession | null = null;

/** The run store: restem.store (default .restem) in the first workspace folder. */
function storeDirectory(): string | null {
  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === "file");
  if (!folder) return null;
  const setting = vscode.workspace.getConfiguration("restem").get<string>("store") || ".restem";
  return path.isAbsolute(setting) ? setting : path.join(folder.uri.fsPath, setting);
}

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("ReST-EM");
  // Judge containers of extension hosts or CLI runs that died without cleaning up.
  void reapAtStartup((line) => output.appendLine(`sandbox: ${line}`));
  const runs = (session = new RunSession());
  const views = createViews(runs);
  const feedback = new RunFeedback(runs, output);
  context.subscriptions.push(
    output,
    feedback,
    ...views.disposables,
    { dispose: () => void runs.dispose() },
    registerEnvironmentCommand(output),
    ...registerSampleDiff(storeDirectory),
    ...registerRunCommands({ extensionUri: context.extensionUri, output, session: runs, feedback, ...views.trees, store: storeDirectory }),
    registerDashboardSerializer(context.extensionUri),
  );
}

/** The Runs and Problems views, kept live: run events, the store on disk, settings and folders. */
function createViews(runs: RunSession): {
  trees: { runsTree: RunsTreeProvider; runsView: vscode.TreeView<unknown>; problemsTree: ProblemsTreeProvider };
  disposables: vscode.Disposable[];
} {
  const runsTree = new RunsTreeProvider(storeDirectory, () => new Set(runs.current ? [runs.current.runId] : []));
  runsTree.watch(storeDirectory());
  const runsView = vscode.window.createTreeView("restem.runs", { treeDataProvider: runsTree, showCollapseAll: true });
  const problemsTree = new ProblemsTreeProvider();
  const problemsView = vscode.window.createTreeView("restem.problems", { treeDataProvider: problemsTree, showCollapseAll: true });
  // Another store (restem.store) or workspace folder: watch and show that one.
  const storeMoved = (): void => {
    runsTree.watch(storeDirectory());
    runsTree.refresh();
  };
  const disposables = [
    runsTree,
    runsView,
    problemsTree,
    problemsView,
    wireLiveViews(runs, runsTree),
    vscode.workspace.onDidChangeConfiguration((change) => change.affectsConfiguration("restem.store") && storeMoved()),
    vscode.workspace.onDidChangeWorkspaceFolders(storeMoved),
    // Problem files changed: the diffs read reference solutions afresh.
    problemsTree.onDidChangeTreeData(() => forgetProblemSets()),
  ];
  return { trees: { runsTree, runsView: runsView as vscode.TreeView<unknown>, problemsTree }, disposables };
}

/** A dashboard left open when the window closed comes back on the run it showed. */
function registerDashboardSerializer(extensionUri: vscode.Uri): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(DashboardPanel.viewType, {
    deserializeWebviewPanel: async (panel: vscode.WebviewPanel, state: unknown) => {
      const store = storeDirectory();
      const runId = stateRunId(state);
      if (store === null || runId === null) return panel.dispose();
      await DashboardPanel.revive(panel, extensionUri, store, runId).refresh();
    },
  });
}

/** The in-process run's events: the tree refreshes on durable ones, the dashboard on all. */
function wireLiveViews(runs: RunSession, runsTree: RunsTreeProvider): vscode.Disposable {
  let live: LiveProgress | null = null;
  const events = runs.onEvent((runId, event) => {
    live = applyProgress(live, event);
    const panel = DashboardPanel.current;
    if (panel && panel.runId === runId) {
      panel.setLive(live);
      if (event.type !== "sample_judged" && event.type !== "train_step" && event.type !== "log") void panel.refresh();
    }
    if (event.type === "phase_started" || event.type === "phase_done" || event.type === "run_started" || event.type === "run_resumed" || event.type === "problem_error") runsTree.scheduleRefresh();
    else if (event.type === "sample_judged") runsTree.scheduleRefresh(SAMPLE_REFRESH_MS);
  });
  const ends = runs.onEnd((runId) => {
    live = null;
    runsTree.refresh();
    const panel = DashboardPanel.current;
    if (panel && panel.runId === runId) {
      panel.setLive(null);
      void panel.refresh();
    }
  });
  return { dispose: () => (events.dispose(), ends.dispose()) };
}

export async function deactivate(): Promise<void> {
  // Stop a run that is still going at its next safe point, so it can be resumed.
  await session?.dispose();
  session = null;
}

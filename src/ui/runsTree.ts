// The Runs view: runs -> iterations -> problems -> samples of the workspace's run store, with
// pass/fail icons, counts and pass rates as descriptions, context menus (by contextValue), and a
// live refresh: the store is watched on disk (a run started from the CLI shows up too) and the
// in-process run's events refresh it, both debounced.

import * as vscode from "vscode";
import {
  iterationNodes,
  loadRunNodes,
  presentNode,
  problemNodes,
  readIterationSamples,
  samplesOf,
  type NodePresentation,
  type RunNode,
  type RunTreeNode,
} from "./runTreeModel";

const ICONS: Record<NodePresentation["icon"], vscode.ThemeIcon> = {
  pass: new vscode.ThemeIcon("pass", new vscode.ThemeColor("testing.iconPassed")),
  fail: new vscode.ThemeIcon("error", new vscode.ThemeColor("testing.iconFailed")),
  kept: new vscode.ThemeIcon("pass-filled", new vscode.ThemeColor("testing.iconPassed")),
  running: new vscode.ThemeIcon("sync~spin"),
  pending: new vscode.ThemeIcon("circle-outline"),
  cancelled: new vscode.ThemeIcon("debug-pause"),
  interrupted: new vscode.ThemeIcon("debug-disconnect"),
  error: new vscode.ThemeIcon("warning", new vscode.ThemeColor("problemsWarningIcon.foreground")),
  run: new vscode.ThemeIcon("beaker"),
};

/** Refreshes arrive at most this often after a phase or file change. */
const REFRESH_DEBOUNCE_MS = 500;

/** While samples are judged (hundreds a second), the counts under an open iteration refresh this often. */
export const SAMPLE_REFRESH_MS = 2000;

export class RunsTreeProvider implements vscode.TreeDataProvider<RunTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | null = null;
  private readonly disposables: vscode.Disposable[] = [this.changed];
  private storeWatchers: vscode.Disposable[] = [];

  /**
   * @param store   the run store directory, read anew on every refresh (a setting may change it)
   * @param activeRunIds  runs this extension host is executing right now
   */
  constructor(
    private readonly store: () => string | null,
    private readonly activeRunIds: () => ReadonlySet<string>,
  ) {}

  /**
   * Watches the store for runs written by any process (the CLI included): state and metrics
   * files refresh soon, the sample files (appended to all the time) at the slower pace. Called
   * again when the restem.store setting changes; the previous store is no longer watched.
   */
  watch(store: string | null): void {
    for (const d of this.storeWatchers) d.dispose();
    this.storeWatchers = [];
    if (store === null) return;
    const patterns: Array<[string, number]> = [
      ["runs/**/{status.json,metrics.json,events.jsonl,kept.jsonl}", REFRESH_DEBOUNCE_MS],
      ["runs/**/{samples.jsonl,eval.jsonl}", SAMPLE_REFRESH_MS],
    ];
    for (const [glob, delay] of patterns) {
      const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(store), glob));
      const schedule = (): void => this.scheduleRefresh(delay);
      this.storeWatchers.push(watcher, watcher.onDidCreate(schedule), watcher.onDidChange(schedule), watcher.onDidDelete(schedule));
    }
  }

  refresh(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.changed.fire(undefined);
  }

  /** A refresh within `delayMs`, merging bursts of changes into one. */
  scheduleRefresh(delayMs: number = REFRESH_DEBOUNCE_MS): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.refresh(), delayMs);
  }

  getTreeItem(node: RunTreeNode): vscode.TreeItem {
    const look = presentNode(node);
    const item = new vscode.TreeItem(look.label, look.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = nodeId(node);
    item.description = look.description;
    item.tooltip = look.tooltip;
    item.iconPath = ICONS[look.icon];
    item.contextValue = look.contextValue;
    if (node.kind === "sample") {
      item.command = node.kept
        ? { command: "restem.showSampleDiff", title: "Show Accepted Sample Diff", arguments: [node] }
        : { command: "restem.openSample", title: "Open Sample", arguments: [node] };
    }
    return item;
  }

  async getChildren(node?: RunTreeNode): Promise<RunTreeNode[]> {
    if (node === undefined) {
      const store = this.store();
      return store === null ? [] : loadRunNodes(store, this.activeRunIds());
    }
    switch (node.kind) {
      case "run":
        return iterationNodes(node);
      case "iteration": {
        const samples = await readIterationSamples(node.store, node.runId, node.iteration);
        return problemNodes(node.store, node.runId, node.iteration, samples);
      }
      case "problem": {
        const samples = await readIterationSamples(node.store, node.runId, node.iteration);
        return samplesOf(samples, node.problemId);
      }
      case "sample":
        return [];
    }
  }

  /** The run node of a run id (for reveal after Start Run). */
  async findRun(runId: string): Promise<RunNode | undefined> {
    const runs = (await this.getChildren()) as RunNode[];
    return runs.find((r) => r.runId === runId);
  }

  getParent(node: RunTreeNode): vscode.ProviderResult<RunTreeNode> {
    // Only runs are revealed; they are roots.
    void node;
    return undefined;
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    for (const d of [...this.storeWatchers, ...this.disposables]) d.dispose();
  }
}

/** Stable ids keep expansion state across refreshes. */
function nodeId(node: RunTreeNode): string {
  switch (node.kind) {
    case "run":
      return `run:${node.runId}`;
    case "iteration":
      return `iter:${node.runId}:${node.iteration}`;
    case "problem":
      return `problem:${node.runId}:${node.iteration}:${node.problemId}`;
    case "sample":
      return `sample:${node.runId}:${node.iteration}:${node.problemId}:${node.source}:${node.index}`;
  }
}

// The Problems view: the APPS problem sets of the workspace as a run would load them (splits,
// problems with their test counts, and every problem that would be skipped, with the reason),
// refreshed when problem files change. Clicking a problem opens its question.txt; clicking a
// validation error opens the offending file.

import * as path from "node:path";
import * as vscode from "vscode";
import { discoverProblemSets, loadProblemSetNode, presentProblemNode, problemChildren, type ProblemPresentation, type ProblemSetNode, type ProblemTreeNode } from "./problemsModel";

const ICONS: Record<ProblemPresentation["icon"], vscode.ThemeIcon> = {
  set: new vscode.ThemeIcon("library"),
  split: new vscode.ThemeIcon("folder"),
  problem: new vscode.ThemeIcon("symbol-method"),
  warning: new vscode.ThemeIcon("warning", new vscode.ThemeColor("problemsWarningIcon.foreground")),
  error: new vscode.ThemeIcon("error", new vscode.ThemeColor("problemsErrorIcon.foreground")),
};

const REFRESH_DEBOUNCE_MS = 1000;

export class ProblemsTreeProvider implements vscode.TreeDataProvider<ProblemTreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ProblemTreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private sets: Promise<ProblemSetNode[]> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor() {
    const watcher = vscode.workspace.createFileSystemWatcher("**/{question.txt,input_output.json,solutions.json,metadata.json,starter_code.py,*.jsonl}");
    const schedule = (): void => this.scheduleRefresh();
    this.disposables.push(
      watcher,
      watcher.onDidCreate(schedule),
      watcher.onDidChange(schedule),
      watcher.onDidDelete(schedule),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
    );
  }

  refresh(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.sets = null;
    this.changed.fire(undefined);
  }

  private scheduleRefresh(): void {
    if (this.timer === null) this.timer = setTimeout(() => this.refresh(), REFRESH_DEBOUNCE_MS);
  }

  /** The workspace's problem sets, loaded once per refresh. */
  problemSets(): Promise<ProblemSetNode[]> {
    this.sets ??= loadWorkspaceProblemSets();
    return this.sets;
  }

  getTreeItem(node: ProblemTreeNode): vscode.TreeItem {
    const look = presentProblemNode(node);
    const item = new vscode.TreeItem(look.label, look.collapsible ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.description = look.description;
    item.tooltip = look.tooltip;
    item.iconPath = ICONS[look.icon];
    item.contextValue = look.contextValue;
    if (node.kind === "set") item.collapsibleState = vscode.TreeItemCollapsibleState.Expanded;
    if (look.file !== null) {
      item.resourceUri = vscode.Uri.file(look.file);
      item.command = { command: "vscode.open", title: "Open", arguments: [vscode.Uri.file(look.file)] };
    }
    return item;
  }

  async getChildren(node?: ProblemTreeNode): Promise<ProblemTreeNode[]> {
    if (node === undefined) return this.problemSets();
    return problemChildren(node);
  }

  dispose(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}

async function loadWorkspaceProblemSets(): Promise<ProblemSetNode[]> {
  const sets: ProblemSetNode[] = [];
  for (const folder of vscode.workspace.workspaceFolders ?? []) {
    if (folder.uri.scheme !== "file") continue;
    for (const root of await discoverProblemSets(folder.uri.fsPath)) sets.push(await loadProblemSetNode(root, folder.uri.fsPath));
  }
  return sets.sort((a, b) => a.label.localeCompare(b.label) || path.basename(a.root).localeCompare(path.basename(b.root)));
}

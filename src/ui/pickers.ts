// Quick picks shared by the commands: a run of the store, a problem set of the workspace, a model
// directory (found in the workspace, from the settings, a run's fine-tuned weights, or browsed
// to), a preset, and a restem.json. Each returns undefined when the user cancels.

import * as fs from "node:fs/promises";
import * as path from "node:path";
import * as vscode from "vscode";
import { hasModelFiles, runPaths } from "../restem";
import { loadRunNodes, percent, type RunNode } from "./runTreeModel";
import { PRESETS, type Preset } from "./runSettings";

const BROWSE = "$(folder-opened) Browse...";

export async function pickRun(store: string, options: { title: string; filter?: (run: RunNode) => boolean }): Promise<RunNode | undefined> {
  const runs = (await loadRunNodes(store)).filter(options.filter ?? (() => true));
  if (runs.length === 0) {
    void vscode.window.showInformationMessage("ReST-EM: no runs to choose from. Start one with ReST-EM: Start Run.");
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({
      label: run.runId,
      description: run.status,
      detail: run.metrics.length > 0 ? `greedy test pass@1 ${run.metrics.map((m) => percent(m.eval.pass_at_1)).join(" → ")}` : undefined,
      run,
    })),
    { title: options.title, matchOnDescription: true },
  );
  return picked?.run;
}

/** Folders of the workspace that hold a model (config.json, tokenizer.json, safetensors), searched 3 levels deep. */
export async function findModelDirectories(): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string, level: number): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const names = entries.map((e) => e.name);
    if (names.includes("config.json") && names.includes("tokenizer.json") && (await hasModelFiles(dir))) {
      found.push(dir);
      return;
    }
    if (level >= 3) return;
    for (const e of entries) {
      if (e.isDirectory() && !e.name.startsWith(".") && e.name !== "node_modules") await visit(path.join(dir, e.name), level + 1);
    }
  };
  for (const folder of vscode.workspace.workspaceFolders ?? []) if (folder.uri.scheme === "file") await visit(folder.uri.fsPath, 0);
  return found.sort();
}

/** Shows a path relative to the first workspace folder when it is inside it. */
export function displayPath(target: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  if (!folder) return target;
  const rel = path.relative(folder, target);
  return rel.startsWith("..") || path.isAbsolute(rel) ? target : rel || ".";
}

async function browseFolder(title: string): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({ canSelectFiles: false, canSelectFolders: true, canSelectMany: false, title, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
  return picked?.[0]?.fsPath;
}

export async function pickModelDirectory(options: { title: string; configured: string | null; store?: string | null }): Promise<string | undefined> {
  const items: Array<vscode.QuickPickItem & { dir?: string }> = [];
  const seen = new Set<string>();
  const add = (dir: string, description: string): void => {
    if (seen.has(dir)) return;
    seen.add(dir);
    items.push({ label: displayPath(dir), description, dir });
  };
  if (options.configured) add(options.configured, "restem.model.directory");
  for (const dir of await findModelDirectories()) add(dir, "in the workspace");
  if (options.store) {
    for (const run of await loadRunNodes(options.store)) {
      for (let i = run.iterations; i >= 1; i--) {
        const weights = runPaths(options.store, run.runId).iteration(i).weights;
        if (await hasModelFiles(weights)) add(weights, `run ${run.runId}, iteration ${i}`);
      }
    }
  }
  items.push({ label: BROWSE });
  const picked = await vscode.window.showQuickPick(items, { title: options.title, matchOnDescription: true });
  if (!picked) return undefined;
  return picked.dir ?? browseFolder(options.title);
}

export async function pickProblemSet(options: { title: string; sets: Array<{ root: string; label: string; problems: number; errors: number }>; configured: string | null }): Promise<string | undefined> {
  const items: Array<vscode.QuickPickItem & { root?: string }> = options.sets.map((set) => ({
    label: set.label,
    description: `${set.problems} problems${set.errors > 0 ? ` · ${set.errors} skipped` : ""}${options.configured && path.resolve(options.configured) === set.root ? " · restem.problems.directory" : ""}`,
    root: set.root,
  }));
  if (options.configured && !options.sets.some((s) => s.root === path.resolve(options.configured ?? ""))) {
    items.unshift({ label: displayPath(options.configured), description: "restem.problems.directory", root: options.configured });
  }
  items.push({ label: BROWSE });
  const picked = await vscode.window.showQuickPick(items, { title: options.title, matchOnDescription: true });
  if (!picked) return undefined;
  return picked.root ?? browseFolder(options.title);
}

export async function pickPreset(title: string, preferred: string): Promise<Preset | undefined> {
  const ordered = [...PRESETS].sort((a, b) => Number(b.id === preferred) - Number(a.id === preferred));
  const picked = await vscode.window.showQuickPick(
    ordered.map((preset) => ({ label: preset.label, description: preset.id === preferred ? "restem.preset" : undefined, detail: preset.detail, preset })),
    { title },
  );
  return picked?.preset;
}

export type ConfigFileChoice = { kind: "none" } | { kind: "existing"; file: string } | { kind: "save"; file: string };

/** No file, an existing restem*.json of the workspace, or save the choices as a new one. */
export async function pickConfigFile(title: string): Promise<ConfigFileChoice | undefined> {
  const files = await vscode.workspace.findFiles("**/restem*.json", "{**/node_modules/**,**/.restem/**}", 50);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? null;
  type Item = vscode.QuickPickItem & { choice: ConfigFileChoice };
  const items: Item[] = [{ label: "No config file", detail: "the preset and your restem.* settings only", choice: { kind: "none" } }];
  for (const uri of files.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
    items.push({ label: displayPath(uri.fsPath), detail: "its fields win over the preset and settings; the problems and model picked above win over it", choice: { kind: "existing", file: uri.fsPath } });
  }
  if (folder) {
    const target = await freeName(path.join(folder, "restem.json"));
    items.push({ label: `Save these choices as ${path.basename(target)}`, detail: "writes the preset and settings to a file you can edit and reuse", choice: { kind: "save", file: target } });
  }
  const picked = await vscode.window.showQuickPick(items, { title });
  return picked?.choice;
}

async function freeName(file: string): Promise<string> {
  const exists = async (p: string): Promise<boolean> => fs.access(p).then(() => true, () => false);
  if (!(await exists(file))) return file;
  for (let i = 2; ; i++) {
    const candidate = file.replace(/\.json$/, `.${i}.json`);
    if (!(await exists(candidate))) return candidate;
  }
}

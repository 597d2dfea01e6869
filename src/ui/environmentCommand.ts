// The "ReST-EM: Check Environment" command: Docker, sandbox image, model, GPU and TensorFlow.js
// backend, written to the output channel, with a notification that offers the next step.
import * as path from "node:path";
import * as vscode from "vscode";
import { checkRunEnvironment } from "../restem/environment";
import { formatEnvironment } from "../sandbox/environment";
import { findModelDirectories } from "./pickers";

export function registerEnvironmentCommand(output: vscode.OutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand("restem.checkEnvironment", async () => {
    const configured = vscode.workspace.getConfiguration("restem").get<string>("model.directory") || undefined;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    // Without the setting, the first model directory found in the workspace is checked.
    const modelDir = configured ? (folder && !path.isAbsolute(configured) ? path.join(folder, configured) : configured) : (await findModelDirectories())[0];
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "ReST-EM: checking the environment" },
      () => checkRunEnvironment({ modelDir }),
    );
    output.appendLine(`[${new Date().toISOString()}] environment check`);
    output.appendLine(formatEnvironment(report));
    const problems = report.checks.filter((c) => !c.ok && !c.optional);
    if (problems.length === 0) {
      const notes = report.checks.filter((c) => !c.ok && c.optional).map((c) => ` Note: ${c.name}: ${c.detail}.`);
      void vscode.window.showInformationMessage(`ReST-EM: Docker, the sandbox image, the model and the trainer are ready.${notes.join("")}`, "Show Details").then((choice) => {
        if (choice === "Show Details") output.show(true);
      });
    } else {
      const choice = await vscode.window.showWarningMessage(`ReST-EM: ${problems[0].name}: ${problems[0].detail}`, "Show Details");
      if (choice === "Show Details") output.show(true);
    }
    return report;
  });
}

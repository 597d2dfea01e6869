// The "ReST-EM: Check Environment" command: Docker, sandbox image and model status,
// written to the output channel, with a notification that offers the next step.
import * as vscode from "vscode";
import { checkEnvironment, formatEnvironment } from "../sandbox/environment";

export function registerEnvironmentCommand(output: vscode.OutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand("restem.checkEnvironment", async () => {
    const modelDir = vscode.workspace.getConfiguration("restem").get<string>("model.directory") || undefined;
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "ReST-EM: checking the environment" },
      () => checkEnvironment({ modelDir }),
    );
    output.appendLine(`[${new Date().toISOString()}] environment check`);
    output.appendLine(formatEnvironment(report));
    const problems = report.checks.filter((c) => !c.ok);
    if (problems.length === 0) {
      void vscode.window.showInformationMessage("ReST-EM: Docker, the sandbox image and the model are ready.");
    } else {
      const choice = await vscode.window.showWarningMessage(`ReST-EM: ${problems[0].name}: ${problems[0].detail}`, "Show Details");
      if (choice === "Show Details") output.show(true);
    }
    return report;
  });
}

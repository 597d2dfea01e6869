// VS Code entry point: wires commands to the engine. The engine itself never imports vscode.
import * as vscode from "vscode";
import { registerEnvironmentCommand } from "./ui/environmentCommand";

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("ReST-EM");
  context.subscriptions.push(output, registerEnvironmentCommand(output));
}

export function deactivate(): void {
  // Every disposable is registered on the extension context; nothing else to release.
}

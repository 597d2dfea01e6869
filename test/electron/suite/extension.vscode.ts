// Runs inside desktop VS Code (test/electron/desktop.test.ts): the extension activates, every
// command of package.json is registered, the Runs and Problems views open, the Problems view
// finds the workspace's example problems, and Check Environment returns its report.
import assert from "node:assert/strict";
import * as vscode from "vscode";

const EXTENSION_ID = "restem.restem";

describe("restem in desktop VS Code", () => {
  it("activates and registers every contributed command", async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded`);
    await extension.activate();
    const contributed = (extension.packageJSON as { contributes: { commands: { command: string }[] } }).contributes.commands.map((c) => c.command);
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const command of contributed) assert.ok(registered.has(command), `${command} is not registered`);
  });

  it("opens the ReST-EM views", async () => {
    await vscode.commands.executeCommand("workbench.view.extension.restem");
    await vscode.commands.executeCommand("restem.runs.focus");
    await vscode.commands.executeCommand("restem.problems.focus");
  });

  it("Check Environment reports Docker, the image, the model, the GPU and the trainer backend", async () => {
    const report = (await vscode.commands.executeCommand("restem.checkEnvironment")) as { checks: { name: string }[] };
    assert.deepEqual(report.checks.map((c) => c.name), ["docker", "sandbox image", "model", "gpu", "tfjs backend"]);
  });
});

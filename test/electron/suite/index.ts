// Entry point @vscode/test-electron loads inside desktop VS Code: runs the *.vscode.js suites of
// this folder with mocha and reports failures through the returned promise.
import path from "node:path";
import Mocha from "mocha";

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: "bdd", color: true, timeout: 120_000 });
  mocha.addFile(path.join(__dirname, "extension.vscode.js"));
  await new Promise<void>((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} test(s) failed`)) : resolve()));
  });
}

// The extension in desktop VS Code through @vscode/test-electron: downloads VS Code (cached in
// .vscode-test/), launches it on a copy of the shipped example problems with this repository as
// the extension under development, and runs test/electron/suite inside it. Machines that cannot
// download VS Code (no network, as in this project's CI, where code-server covers end to end:
// test/e2e) skip it with the reason; RESTEM_REQUIRE_DESKTOP_VSCODE=1 turns the skip into a failure.
import { cp, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { downloadAndUnzipVSCode, runTests } from "@vscode/test-electron";

const REPO_ROOT = path.resolve(__dirname, "../../..");
const VERSION = process.env.RESTEM_VSCODE_VERSION ?? "1.100.0";

describe("desktop VS Code (@vscode/test-electron)", function () {
  this.timeout(900_000);
  let executable: string | null = null;
  let workspace: string | null = null;

  before(async function () {
    try {
      executable = await downloadAndUnzipVSCode({ version: VERSION, cachePath: path.join(REPO_ROOT, ".vscode-test"), timeout: 20_000 });
    } catch (error) {
      const reason = `desktop VS Code ${VERSION} cannot be downloaded here (${(error as Error).message.split("\n")[0]})`;
      if (process.env.RESTEM_REQUIRE_DESKTOP_VSCODE === "1") throw new Error(reason);
      console.log(`      skipped: ${reason}; the code-server end-to-end test (test/e2e) covers the extension in real VS Code`);
      this.skip();
    }
    if (process.platform === "linux" && !process.env.DISPLAY) {
      const reason = "desktop VS Code needs a display (run under xvfb-run)";
      if (process.env.RESTEM_REQUIRE_DESKTOP_VSCODE === "1") throw new Error(reason);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    workspace = await mkdtemp(path.join(os.tmpdir(), "restem-electron-"));
    await cp(path.join(REPO_ROOT, "examples/problems"), path.join(workspace, "problems"), { recursive: true });
  });
  after(async () => {
    if (workspace) await rm(workspace, { recursive: true, force: true });
  });

  it("activates, registers every command, shows the trees, and checks the environment", async () => {
    if (executable === null || workspace === null) throw new Error("not set up");
    const code = await runTests({
      vscodeExecutablePath: executable,
      extensionDevelopmentPath: REPO_ROOT,
      extensionTestsPath: path.join(REPO_ROOT, "out/test/electron/suite/index.js"),
      launchArgs: [workspace, "--disable-extensions", "--disable-workspace-trust", "--no-sandbox"],
    });
    if (code !== 0) throw new Error(`the in-VS Code suite failed (exit code ${code})`);
  });
});

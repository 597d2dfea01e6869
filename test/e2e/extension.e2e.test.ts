// End-to-end: the packaged extension (the VSIX) installed into a real VS Code (code-server) and
// driven through chromium. First the engine's binary parts are checked from the installed
// directory, then the workbench runs "ReST-EM: Check Environment" from the command palette and
// a ReST-EM notification must come back. Screenshots and logs go to test-artifacts/e2e/.
// Skipped (with the reason printed) without code-server or chromium; under CI=true that fails.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { installVsix } from "./codeServer";
import { runInstalledEngineCheck } from "./installedEngine";
import { E2ESession, ensureVsix, REPO_ROOT, requireE2EPrerequisites } from "./session";
import { exactly } from "./workbench";

const DEMO_MODEL = path.join(REPO_ROOT, "demo", "model");

describe("e2e: the VSIX in code-server", function () {
  this.timeout(600_000);
  let entry = "";
  let vsix = "";

  before(function () {
    entry = requireE2EPrerequisites(this);
    vsix = ensureVsix();
  });

  it("installs with code-server, and the engine's native parts load from the extension directory", function () {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "restem-e2e-install-"));
    try {
      const extensionDir = installVsix(entry, vsix, path.join(root, "extensions"), path.join(root, "scratch"));
      const manifest = JSON.parse(fs.readFileSync(path.join(extensionDir, "package.json"), "utf8")) as { main: string };
      assert.equal(manifest.main, "./dist/extension.js");
      const report = runInstalledEngineCheck(extensionDir, DEMO_MODEL, path.join(root, "scratch"));
      assert.ok(report.onnxruntime.startsWith(extensionDir), report.onnxruntime);
      assert.ok(report.tokenizers.startsWith(extensionDir), report.tokenizers);
      assert.ok(report.tokenIds.length > 3, `tokenizer produced ${report.tokenIds.length} ids`);
      assert.equal(report.logits, 1024);
      assert.ok(report.logitsFinite, "ONNX Runtime logits are finite");
      assert.ok(report.workerTrainables > 0);
      assert.equal(report.workerGradients, report.workerTrainables);
      assert.ok(report.workerLoss > 0 && Number.isFinite(report.workerLoss), `worker loss ${report.workerLoss}`);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  describe("the workbench", function () {
    let session: E2ESession | null = null;

    before(async function () {
      session = await E2ESession.start(entry, vsix, {
        name: "check-environment",
        settings: { "restem.model.directory": DEMO_MODEL },
        populateWorkspace: (workspace) => {
          fs.writeFileSync(path.join(workspace, "NOTES.md"), "# Problems to train on\n\nThe e2e workspace.\n");
        },
      });
    });

    afterEach(async function () {
      if (session && this.currentTest?.state === "failed") {
        const shot = await session.workbench.screenshot(`failed-${this.currentTest.title}`).catch(() => null);
        console.log(`      screenshot: ${shot}; logs: ${session.saveLogs()}`);
      }
    });

    after(async function () {
      await session?.stop();
    });

    it("opens the workspace with the extension installed", async function () {
      const wb = session!.workbench;
      await wb.openViewContainer("Explorer");
      await wb.waitForTreeItem(path.basename(session!.workspace), "NOTES.md");
      await wb.openViewContainer("ReST-EM");
      await wb.page.locator(".part.sidebar .pane-header .title", { hasText: exactly("Runs") }).first().waitFor({ timeout: 30_000 });
      await wb.screenshot("workbench");
    });

    it("runs ReST-EM: Check Environment from the command palette and shows its result", async function () {
      const wb = session!.workbench;
      await wb.runCommand("ReST-EM: Check Environment");
      // A progress notification comes first; the result follows (ready, or the first problem).
      const { message } = await wb.waitForNotification((text) => text.startsWith("ReST-EM:") && !/checking/i.test(text), 120_000);
      assert.match(message, /^ReST-EM: /);
      await wb.screenshot("check-environment");
      console.log(`      notification: ${message}`);
    });

    it("reads a webview's content (the markdown preview)", async function () {
      const wb = session!.workbench;
      await wb.openFile("NOTES.md");
      await wb.runCommand("Markdown: Open Preview");
      const text = await wb.webviewText("Problems to train on");
      assert.match(text, /The e2e workspace\./);
      await wb.screenshot("webview");
    });
  });
});

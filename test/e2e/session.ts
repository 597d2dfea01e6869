// End-to-end harness, setup: what every workbench test needs before its first click. Checks the
// prerequisites (code-server, chromium; a missing one skips the suite, or fails it under
// CI=true), finds or builds the VSIX (RESTEM_VSIX, or restem-<version>-<platform>-<arch>.vsix
// from `npm run package`), installs it into a fresh extensions directory, writes the user
// settings, starts code-server on a workspace and opens it in chromium. E2ESession.stop()
// saves the logs to test-artifacts/e2e/ and ends the browser and the server.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Context } from "mocha";
import { CodeServer, findCodeServer, installVsix, writeUserSettings } from "./codeServer";
import { ARTIFACTS_DIR, chromiumMissing, launchBrowser, Workbench, type BrowserSession } from "./workbench";

export const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");

/**
 * Skips the calling suite (after printing why) when code-server or chromium is missing; under
 * CI=true a missing prerequisite is an error instead. Returns code-server's entry point.
 */
export function requireE2EPrerequisites(context: Context): string {
  const codeServer = findCodeServer();
  const reasons = [codeServer.entry === null ? codeServer.reason : null, chromiumMissing()].filter((r): r is string => r !== null);
  if (reasons.length > 0 || codeServer.entry === null) {
    const message = `end-to-end tests need: ${reasons.join("; ")}`;
    if (process.env.CI === "true") throw new Error(`${message} (CI=true: not skipping; .ci/install-e2e.sh installs them)`);
    console.log(`      skipped: ${message}`);
    context.skip();
  }
  return codeServer.entry as string;
}

function newestMtime(dir: string, filter: (file: string) => boolean): number {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(file, filter));
    else if (filter(file)) newest = Math.max(newest, fs.statSync(file).mtimeMs);
  }
  return newest;
}

function mtime(file: string): number {
  return fs.existsSync(file) ? fs.statSync(file).mtimeMs : 0;
}

/**
 * The VSIX to test: RESTEM_VSIX when set; otherwise the repository's
 * restem-<version>-<platform>-<arch>.vsix, packaged first (scripts/package.mjs) when it is
 * missing or older than the bundles, package.json or .vscodeignore (and the bundles rebuilt
 * when the sources are newer than them).
 */
export function ensureVsix(): string {
  const given = process.env.RESTEM_VSIX;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`RESTEM_VSIX=${given} does not exist`);
    return path.resolve(given);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { name: string; version: string };
  const vsix = path.join(REPO_ROOT, `${manifest.name}-${manifest.version}-${process.platform}-${process.arch}.vsix`);
  const at = (file: string): number => mtime(path.join(REPO_ROOT, file));
  const bundles = Math.min(at("dist/extension.js"), at("dist/worker.js"), at("dist/runWorker.js"));
  const sources = Math.max(newestMtime(path.join(REPO_ROOT, "src"), (f) => f.endsWith(".ts")), at("scripts/bundle.mjs"));
  const inputs = Math.max(bundles, at("package.json"), at(".vscodeignore"), newestMtime(path.join(REPO_ROOT, "media"), () => true));
  if (fs.existsSync(vsix) && bundles >= sources && mtime(vsix) >= inputs) return vsix;
  const args = [path.join(REPO_ROOT, "scripts", "package.mjs"), "--out", vsix];
  if (bundles >= sources) args.push("--no-build");
  console.log(`      packaging ${path.basename(vsix)} (node scripts/package.mjs ${args.slice(1).join(" ")})`);
  const result = spawnSync(process.execPath, args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 600_000 });
  if (result.status !== 0) throw new Error(`scripts/package.mjs failed (status ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
  return vsix;
}

export interface E2ESessionOptions {
  /** Extra user settings (over QUIET_SETTINGS). */
  settings?: Record<string, unknown>;
  /** Fills the workspace folder before code-server opens it. */
  populateWorkspace?: (workspace: string) => void;
  /** Extra environment for code-server and the extension host. */
  env?: NodeJS.ProcessEnv;
  /** Name used for the log file in test-artifacts/e2e/ (default "code-server"). */
  name?: string;
}

/** An installed extension, a code-server serving a workspace, and a browser on its workbench. */
export class E2ESession {
  private constructor(
    readonly root: string,
    readonly workspace: string,
    readonly extensionDir: string,
    readonly server: CodeServer,
    readonly browser: BrowserSession,
    readonly workbench: Workbench,
    private readonly name: string,
  ) {}

  /**
   * Installs `vsix` with code-server `entry` into a fresh extensions directory under a new
   * temporary root, starts code-server on a new workspace and opens the workbench.
   */
  static async start(entry: string, vsix: string, options: E2ESessionOptions = {}): Promise<E2ESession> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "restem-e2e-"));
    const workspace = path.join(root, "workspace");
    const userDataDir = path.join(root, "user-data");
    const extensionsDir = path.join(root, "extensions");
    const scratchDir = path.join(root, "scratch");
    fs.mkdirSync(workspace, { recursive: true });
    options.populateWorkspace?.(workspace);
    writeUserSettings(userDataDir, options.settings);
    const extensionDir = installVsix(entry, vsix, extensionsDir, scratchDir);
    const server = await CodeServer.start({ entry, workspace, userDataDir, extensionsDir, scratchDir, env: options.env });
    let browser: BrowserSession | null = null;
    try {
      browser = await launchBrowser();
      const workbench = await Workbench.open(browser.page, server.workbenchUrl());
      return new E2ESession(root, workspace, extensionDir, server, browser, workbench, options.name ?? "code-server");
    } catch (error) {
      await browser?.close();
      fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS_DIR, `${options.name ?? "code-server"}.log`), server.fullLog());
      await server.stop();
      throw error;
    }
  }

  /** Writes code-server's and VS Code's logs to test-artifacts/e2e/<name>.log; returns the path. */
  saveLogs(): string {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, `${this.name}.log`);
    fs.writeFileSync(file, this.server.fullLog());
    return file;
  }

  /** Saves the logs, closes the browser, stops code-server and removes the temporary root. */
  async stop(): Promise<void> {
    this.saveLogs();
    await this.browser.close();
    await this.server.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

// End-to-end harness, server side: finds the code-server that scripts/install-code-server.sh
// installs, installs a VSIX into an extensions directory with it, and starts and stops a
// code-server (VS Code with a Node extension host, served over HTTP) on a free 127.0.0.1 port
// with a given workspace, user data directory (settings written beforehand) and extensions
// directory. Everything it writes (config, XDG data, logs) stays under directories the caller
// owns; the server runs in its own process group so stop() ends it with all its children.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const CODE_SERVER_VERSION = process.env.RESTEM_CODE_SERVER_VERSION ?? "4.100.3";

/** Where scripts/install-code-server.sh puts code-server (RESTEM_CODE_SERVER_DIR overrides). */
export function codeServerInstallDir(): string {
  return process.env.RESTEM_CODE_SERVER_DIR ?? path.join(os.homedir(), ".cache", "restem", `code-server-${CODE_SERVER_VERSION}`);
}

/** code-server's Node entry point, or null (with the reason) when it is not installed. */
export function findCodeServer(): { entry: string } | { entry: null; reason: string } {
  const dir = codeServerInstallDir();
  const entry = path.join(dir, "node_modules", "code-server", "out", "node", "entry.js");
  if (!fs.existsSync(entry)) return { entry: null, reason: `code-server is not installed at ${dir} (run scripts/install-code-server.sh)` };
  if (!fs.existsSync(path.join(dir, ".restem-installed"))) {
    return { entry: null, reason: `code-server at ${dir} is incompletely installed (run scripts/install-code-server.sh again)` };
  }
  return { entry };
}

/** Settings that keep the workbench quiet and deterministic for tests; callers add their own. */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  "security.workspace.trust.enabled": false,
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "workbench.enableExperiments": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "git.enabled": false,
  "chat.commandCenter.enabled": false,
  "window.commandCenter": false,
};

/** Writes <userDataDir>/User/settings.json: QUIET_SETTINGS overlaid with `settings`. */
export function writeUserSettings(userDataDir: string, settings: Record<string, unknown> = {}): string {
  const file = path.join(userDataDir, "User", "settings.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...QUIET_SETTINGS, ...settings }, null, 2) + "\n");
  return file;
}

/**
 * Installs `vsix` into `extensionsDir` with code-server's own installer (the same unpacking and
 * validation a user's install goes through) and returns the installed extension's directory.
 */
export function installVsix(entry: string, vsix: string, extensionsDir: string, scratchDir: string): string {
  fs.mkdirSync(extensionsDir, { recursive: true });
  const result = spawnSync(
    process.execPath,
    [entry, "--install-extension", vsix, "--force", "--extensions-dir", extensionsDir, "--user-data-dir", path.join(scratchDir, "install-user-data")],
    { encoding: "utf8", env: isolatedEnv(scratchDir), timeout: 120_000 },
  );
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.status !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`code-server --install-extension ${vsix} failed (status ${result.status}):\n${output}`);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionsDir, "extensions.json"), "utf8")) as Array<{
    identifier: { id: string };
    relativeLocation?: string;
    location?: { path?: string };
  }>;
  const installed = manifest.find((e) => e.identifier.id.toLowerCase() === "restem.restem");
  if (!installed) throw new Error(`restem.restem is not in ${extensionsDir}/extensions.json after the install:\n${output}`);
  const dir = installed.relativeLocation ? path.join(extensionsDir, installed.relativeLocation) : installed.location?.path;
  if (!dir || !fs.existsSync(path.join(dir, "package.json"))) throw new Error(`the installed extension directory ${dir} has no package.json`);
  return dir;
}

/** The environment for code-server processes: its config and XDG data under `scratchDir`. */
function isolatedEnv(scratchDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    XDG_CONFIG_HOME: path.join(scratchDir, "xdg-config"),
    XDG_DATA_HOME: path.join(scratchDir, "xdg-data"),
    // code-server reads these as defaults for flags; none may leak in from the caller's shell.
    PASSWORD: undefined,
    HASHED_PASSWORD: undefined,
    PORT: undefined,
    ...extra,
  };
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/** GET `url`; resolves with the status code, or null when nothing answers. */
function probe(url: string, timeoutMs = 2_000): Promise<number | null> {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.resume();
      resolve(response.statusCode ?? null);
    });
    request.setTimeout(timeoutMs, () => request.destroy());
    request.on("error", () => resolve(null));
  });
}

export interface CodeServerOptions {
  /** code-server's entry.js (findCodeServer). */
  entry: string;
  /** The folder the workbench opens. */
  workspace: string;
  userDataDir: string;
  extensionsDir: string;
  /** Config file, XDG directories and the log go here. */
  scratchDir: string;
  /** Extra environment for the server and so for the extension host. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the server to answer (default 60 s). */
  startTimeoutMs?: number;
}

export class CodeServer {
  private readonly output: string[] = [];
  private exited: Promise<void>;
  private exitCode: number | string | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly options: CodeServerOptions,
    readonly logFile: string,
  ) {
    const log = fs.createWriteStream(logFile, { flags: "a" });
    const collect = (chunk: Buffer): void => {
      this.output.push(chunk.toString("utf8"));
      log.write(chunk);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        log.end();
        resolve();
      });
    });
  }

  /** Starts code-server and resolves once it answers HTTP; retries on another port if the chosen one was taken. */
  static async start(options: CodeServerOptions): Promise<CodeServer> {
    fs.mkdirSync(options.scratchDir, { recursive: true });
    let lastError: Error | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const logFile = path.join(options.scratchDir, `code-server-${port}.log`);
      const args = [
        options.entry,
        "--auth",
        "none",
        "--bind-addr",
        `127.0.0.1:${port}`,
        "--config",
        path.join(options.scratchDir, "code-server.yaml"),
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--user-data-dir",
        options.userDataDir,
        "--extensions-dir",
        options.extensionsDir,
        options.workspace,
      ];
      const child = spawn(process.execPath, args, {
        cwd: options.scratchDir,
        env: isolatedEnv(options.scratchDir, options.env),
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: stop() signals the extension host and helpers with it.
        detached: true,
      });
      const server = new CodeServer(child, port, options, logFile);
      try {
        await server.waitUntilServing(options.startTimeoutMs ?? 60_000);
        return server;
      } catch (error) {
        lastError = error instanceof Error ? error : new Error(String(error));
        await server.stop();
        if (!/EADDRINUSE/.test(server.log())) break;
      }
    }
    throw lastError ?? new Error("code-server did not start");
  }

  /** The server's root URL, e.g. http://127.0.0.1:12345/. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** The workbench URL opening `folder` (default: the workspace it was started with). */
  workbenchUrl(folder: string = this.options.workspace): string {
    return `${this.url}?folder=${encodeURIComponent(path.resolve(folder))}`;
  }

  /** What the server has printed so far. */
  log(): string {
    return this.output.join("");
  }

  /**
   * The server's output followed by VS Code's own logs under the user data directory (the
   * extension host's, the remote agent's, output channels), each headed by its path.
   */
  fullLog(): string {
    const parts = [`=== code-server (${this.logFile})\n${this.log()}`];
    const logsDir = path.join(this.options.userDataDir, "logs");
    const walk = (dir: string): void => {
      if (!fs.existsSync(dir)) return;
      for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name.endsWith(".log")) parts.push(`=== ${path.relative(logsDir, file)}\n${fs.readFileSync(file, "utf8")}`);
      }
    };
    walk(logsDir);
    return parts.join("\n");
  }

  /** Polls /healthz until the server answers; fails early if the process exits. */
  private async waitUntilServing(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`code-server exited (${this.exitCode}) before serving:\n${this.log()}`);
      const status = await probe(`${this.url}healthz`);
      if (status === 200) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`code-server did not answer on ${this.url} within ${timeoutMs} ms:\n${this.log()}`);
  }

  /** Ends the server's process group (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  async stop(graceMs = 10_000): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || this.exitCode !== null) return;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    signalGroup("SIGTERM");
    const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs).unref());
    if ((await Promise.race([this.exited.then(() => "exited" as const), timer])) === "timeout") {
      signalGroup("SIGKILL");
      await this.exited;
    }
    // Helpers (pty host, file watcher) may outlive the main process by a moment.
    signalGroup("SIGKILL");
  }
}

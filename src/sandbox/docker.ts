// Connecting to the Docker daemon that runs the sandbox containers.
//
// connectDocker() opens dockerode on the default socket (or DOCKER_HOST) and pings
// it. When Docker is missing, stopped, or not ours to use, it throws a
// DockerUnavailableError whose message is the one thing to tell the user: what is
// wrong and the command that fixes it.

import Docker from "dockerode";
import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";

const DEFAULT_SOCKET = "/var/run/docker.sock";
const PING_TIMEOUT_MS = 10_000;

const START_HINT =
  "Start it with `sudo systemctl start docker`, or where there is no systemd with " +
  "`sudo dockerd --bridge=none &` (sandbox containers need no network).";
const INSTALL_HINT =
  "Install it (Debian/Ubuntu: `sudo apt-get install docker.io`), then start the daemon: " +
  "`sudo systemctl start docker`, or where there is no systemd `sudo dockerd --bridge=none &`.";
const GROUP_HINT =
  "Add yourself to the docker group with `sudo usermod -aG docker $USER` and log in again " +
  "(or run `newgrp docker`), or run restem as root.";

/** Docker cannot be used; the message says what to do about it. */
export class DockerUnavailableError extends Error {
  override readonly name = "DockerUnavailableError";

  constructor(
    message: string,
    /** The low-level cause (an errno code such as ENOENT), when there is one. */
    readonly reason?: string,
  ) {
    super(message);
    // The message is the whole story; a stack trace would only bury it.
    this.stack = `${this.name}: ${message}`;
  }
}

export interface ConnectOptions {
  /** How long the daemon has to answer the ping (default 10 s). */
  timeoutMs?: number;
}

/** A dockerode client for the local daemon (or DOCKER_HOST), checked with a ping. */
export async function connectDocker(options: ConnectOptions = {}): Promise<Docker> {
  const timeoutMs = options.timeoutMs ?? PING_TIMEOUT_MS;
  const dockerHost = process.env.DOCKER_HOST?.trim() || undefined;
  const where = dockerHost ? `DOCKER_HOST=${dockerHost}` : DEFAULT_SOCKET;

  let docker: Docker;
  try {
    docker = new Docker();
  } catch (err) {
    throw new DockerUnavailableError(
      `Cannot use ${where}: ${errorText(err)}. Fix or unset DOCKER_HOST (unset, restem uses ${DEFAULT_SOCKET}).`,
      errorCode(err),
    );
  }

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    // dockerode's ping takes an abortSignal at run time; its typings omit the argument.
    const ping = docker.ping as unknown as (opts: { abortSignal: AbortSignal }) => Promise<unknown>;
    await ping.call(docker, { abortSignal: controller.signal });
    return docker;
  } catch (err) {
    if (controller.signal.aborted) {
      throw new DockerUnavailableError(
        `The Docker daemon at ${where} did not answer within ${Math.round(timeoutMs / 1000)} s. ` +
          `Check that it is running and healthy (\`sudo systemctl status docker\`, or restart \`sudo dockerd --bridge=none &\`)` +
          (dockerHost ? " and that DOCKER_HOST points at it." : "."),
        "ETIMEDOUT",
      );
    }
    throw unavailable(err, dockerHost);
  } finally {
    clearTimeout(timer);
  }
}

/** The daemon's version, for `restem doctor`-style reports and logs. */
export interface DockerVersionInfo {
  version: string;
  apiVersion: string;
  minApiVersion?: string;
  os: string;
  arch: string;
  kernelVersion?: string;
}

export async function dockerVersion(docker: Docker): Promise<DockerVersionInfo> {
  const v = await docker.version();
  return {
    version: v.Version,
    apiVersion: v.ApiVersion,
    minApiVersion: v.MinAPIVersion,
    os: v.Os,
    arch: v.Arch,
    kernelVersion: v.KernelVersion,
  };
}

/** What is known about a failed connection, for explainDockerFailure. */
export interface DockerFailure {
  /** errno code (ENOENT, EACCES, ECONNREFUSED, ...) or "HTTP <status>", if any. */
  code?: string;
  /** The low-level error's first line. */
  detail: string;
  /** DOCKER_HOST, when set. */
  dockerHost?: string;
  /** Whether docker/dockerd binaries are installed here. */
  installed: boolean;
}

/** The one message that says what is wrong with the Docker connection and what to do. */
export function explainDockerFailure(failure: DockerFailure): string {
  const { code, detail, dockerHost, installed } = failure;
  const socket = unixSocketOf(dockerHost);
  if (socket === undefined) {
    // A remote daemon (tcp://, ssh://, ...): only the user knows what it should be.
    return (
      `Cannot reach the Docker daemon at DOCKER_HOST=${dockerHost} (${detail}). ` +
      `Check DOCKER_HOST — unset it to use the local ${DEFAULT_SOCKET} — and that the daemon there is running.`
    );
  }
  const hostNote =
    dockerHost && socket !== DEFAULT_SOCKET
      ? ` If that is the wrong socket, fix DOCKER_HOST=${dockerHost} or unset it to use ${DEFAULT_SOCKET}.`
      : "";
  if (code === "EACCES" || code === "EPERM") {
    return `Permission denied on the Docker socket ${socket}. ${GROUP_HINT}${hostNote}`;
  }
  if (code === "ENOENT" || code === "ECONNREFUSED") {
    if (!installed) return `Docker is not installed (no daemon at ${socket}). ${INSTALL_HINT}${hostNote}`;
    return `Docker is installed but its daemon is not running (nothing answers at ${socket}). ${START_HINT}${hostNote}`;
  }
  // The daemon answered, but not with OK (e.g. it is still starting, or broken).
  return (
    `The Docker daemon at ${socket} is not usable (${detail}). ` +
    `Check \`sudo systemctl status docker\` or the dockerd log, and restart it. ${START_HINT}${hostNote}`
  );
}

function unavailable(err: unknown, dockerHost: string | undefined): DockerUnavailableError {
  const code = errorCode(err);
  const message = explainDockerFailure({ code, detail: errorText(err), dockerHost, installed: dockerInstalled() });
  return new DockerUnavailableError(message, code);
}

/** The unix socket a DOCKER_HOST names (the default one when unset); undefined for remote hosts. */
function unixSocketOf(dockerHost: string | undefined): string | undefined {
  if (!dockerHost) return DEFAULT_SOCKET;
  if (dockerHost.startsWith("unix://")) return dockerHost.slice("unix://".length);
  if (dockerHost.startsWith("/")) return dockerHost;
  return undefined;
}

/** Whether a Docker client or daemon binary is on PATH (or in the usual sbin dirs). */
function dockerInstalled(): boolean {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  dirs.push("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin");
  for (const dir of dirs) {
    for (const name of ["dockerd", "docker"]) {
      try {
        accessSync(join(dir, name), fsConstants.X_OK);
        return true;
      } catch {
        // not here
      }
    }
  }
  return false;
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === "object") {
    const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
    if (typeof code === "string") return code;
    if (typeof statusCode === "number") return `HTTP ${statusCode}`;
  }
  return undefined;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message.split("\n")[0] ?? err.message;
  return String(err);
}

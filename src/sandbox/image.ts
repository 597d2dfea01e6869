// The sandbox image: naming it after its contents, and building it when missing.
//
// The tag is restem-sandbox:<hash>, the hash covering sandbox/Dockerfile,
// sandbox/build-rootfs.sh and every file of sandbox/harness/, so any change to the
// judge gives a new tag and a stale image is never run.
//
// ensureImage() builds it one of two ways:
//  - "dockerfile": `docker build` of sandbox/ when the Dockerfile's base image is
//    here or can be pulled (a registry is reachable);
//  - "rootfs": offline — sandbox/build-rootfs.sh debootstraps Debian from an apt
//    mirror (cached), the harness is appended under opt/restem/, and the tarball is
//    `docker import`ed with the Dockerfile's USER/WORKDIR/ENV/CMD lines applied.

import type Docker from "dockerode";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const IMAGE_REPOSITORY = "restem-sandbox";
const HASH_LENGTH = 12;
/** Files of sandbox/ (besides harness/) that shape the image. */
const RECIPE_FILES = ["Dockerfile", "build-rootfs.sh"];
const HARNESS_DIR = "harness";
/** Where the harness lives in the image (the Dockerfile's COPY target). */
const HARNESS_TARGET = "opt/restem";
/** Dockerfile instructions that `docker import --change` can apply. */
const IMPORT_INSTRUCTIONS = new Set(["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR"]);
/** The PATH of Debian's official images (an imported image has none of its own). */
const DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** No answer to a pull within this long means no registry: build offline. */
const PULL_START_TIMEOUT_MS = 20_000;
/** A pull that makes no progress for this long is given up. */
const PULL_IDLE_TIMEOUT_MS = 120_000;

export type BuildMethod = "auto" | "dockerfile" | "rootfs";

export interface EnsureImageOptions {
  /** The folder holding sandbox/ (default: found upwards from this module). */
  root?: string;
  /** Build progress, one line at a time. */
  onLog?: (line: string) => void;
  /** Build even if the tag exists (the cached base rootfs is still reused). */
  force?: boolean;
  /** How to build; "auto" (default) uses the Dockerfile when its base image can be had. */
  method?: BuildMethod;
}

export interface ImageStatus {
  tag: string;
  present: boolean;
  /** Image id and size in bytes, when present. */
  id?: string;
  size?: number;
}

/** Building the sandbox image failed; the message says why and what to do. */
export class ImageBuildError extends Error {
  override readonly name = "ImageBuildError";

  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`;
  }
}

// --- locating and hashing ---------------------------------------------------

/**
 * The folder that holds sandbox/Dockerfile, searched upwards from `start` — works from
 * tsc's out/src/sandbox/, from esbuild's dist/, and from an installed extension.
 */
export function findRepoRoot(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, "sandbox", "Dockerfile"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the restem sandbox/ folder (with sandbox/Dockerfile) above ${start}`);
    }
    dir = parent;
  }
}

export function sandboxDir(root: string): string {
  return path.join(root, "sandbox");
}

/** Files under sandbox/harness/ that go into the image, relative to sandbox/, "/"-separated, sorted. */
export function harnessFiles(root: string): string[] {
  const base = sandboxDir(root);
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(base, rel), { withFileTypes: true })) {
      // Caches and hidden files are not part of the harness (and would churn the hash).
      if (entry.name.startsWith(".") || entry.name === "__pycache__") continue;
      if (entry.name.endsWith(".pyc") || entry.name.endsWith(".pyo")) continue;
      const child = `${rel}/${entry.name}`;
      const stat = fs.statSync(path.join(base, child));
      if (stat.isDirectory()) walk(child);
      else if (stat.isFile()) out.push(child);
    }
  };
  if (fs.existsSync(path.join(base, HARNESS_DIR))) walk(HARNESS_DIR);
  return out.sort(byCodePoint);
}

/** sha256 over the recipe files and the harness (sorted paths + contents), first 12 hex chars. */
export function harnessHash(root: string): string {
  const base = sandboxDir(root);
  const files = [...RECIPE_FILES, ...harnessFiles(root)].sort(byCodePoint);
  const hash = createHash("sha256");
  for (const rel of files) {
    const file = path.join(base, rel);
    if (!fs.existsSync(file)) {
      if (RECIPE_FILES.includes(rel)) throw new Error(`the sandbox recipe is incomplete: ${file} is missing`);
      continue;
    }
    const content = fs.readFileSync(file);
    // Length-prefixed so that no two different trees hash alike.
    hash.update(`${rel}\0${content.length}\0`);
    hash.update(content);
  }
  return hash.digest("hex").slice(0, HASH_LENGTH);
}

/** restem-sandbox:<harnessHash> */
export function imageTag(root: string = findRepoRoot()): string {
  return `${IMAGE_REPOSITORY}:${harnessHash(root)}`;
}

export async function imageStatus(docker: Docker, root: string = findRepoRoot()): Promise<ImageStatus> {
  const tag = imageTag(root);
  const info = await inspectImage(docker, tag);
  return info ? { tag, present: true, id: info.Id, size: info.Size } : { tag, present: false };
}

// --- building -----------------------------------------------------------------

const inFlight = new Map<string, Promise<string>>();

/** The sandbox image's tag, building the image first if it is not there. */
export async function ensureImage(docker: Docker, options: EnsureImageOptions = {}): Promise<string> {
  const root = options.root ?? findRepoRoot();
  const tag = imageTag(root);
  if (!options.force && (await inspectImage(docker, tag))) return tag;

  // Two callers in one process wanting the same image share one build.
  const pending = inFlight.get(tag);
  if (pending) return pending;
  const build = buildImage(docker, root, tag, options).finally(() => inFlight.delete(tag));
  inFlight.set(tag, build);
  return build;
}

async function buildImage(docker: Docker, root: string, tag: string, options: EnsureImageOptions): Promise<string> {
  const log = options.onLog ?? (() => undefined);
  const recipe = readDockerfile(root);
  const method = options.method ?? "auto";
  const started = Date.now();
  const previous = await inspectImage(docker, tag);

  let built = false;
  if (method === "dockerfile") {
    await buildFromDockerfile(docker, root, tag, log);
    built = true;
  } else if (method === "auto") {
    if (await baseImageAvailable(docker, recipe.baseImage, log)) {
      try {
        await buildFromDockerfile(docker, root, tag, log);
        built = true;
      } catch (err) {
        log(`docker build failed (${errorText(err)}); building offline from a Debian mirror instead`);
      }
    }
  }
  if (!built) await buildFromRootfs(docker, root, tag, recipe, Boolean(options.force), log);

  const current = await inspectImage(docker, tag);
  if (!current) {
    throw new ImageBuildError(`the build of ${tag} finished but docker does not list the image`);
  }
  if (previous && previous.Id !== current.Id) {
    // A forced rebuild leaves the old image untagged; drop it unless a container still uses it.
    await docker
      .getImage(previous.Id)
      .remove()
      .catch(() => undefined);
  }
  log(`built ${tag} in ${Math.round((Date.now() - started) / 1000)} s`);
  await pruneStaleImages(docker, tag, log);
  return tag;
}

/**
 * Remove the images of earlier harness versions (restem-sandbox:<other hash>): the
 * offline path makes each a full-size layer, and a stale tag is never used again.
 * One still in use by a container is left alone (docker refuses to remove it).
 */
async function pruneStaleImages(docker: Docker, keep: string, log: (line: string) => void): Promise<void> {
  try {
    const images = await docker.listImages({ filters: { reference: [IMAGE_REPOSITORY] } });
    for (const image of images) {
      for (const repoTag of image.RepoTags ?? []) {
        if (repoTag === keep || !repoTag.startsWith(`${IMAGE_REPOSITORY}:`)) continue;
        try {
          await docker.getImage(repoTag).remove();
          log(`removed the stale image ${repoTag}`);
        } catch {
          // in use, or already gone
        }
      }
    }
  } catch {
    // pruning is a courtesy; the build itself succeeded
  }
}

/** Whether the Dockerfile's FROM image is here, or can be pulled now. */
async function baseImageAvailable(docker: Docker, image: string, log: (line: string) => void): Promise<boolean> {
  if (await inspectImage(docker, image)) return true;
  log(`pulling ${image}`);
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), PULL_START_TIMEOUT_MS);
  try {
    const stream = await docker.pull(image, { abortSignal: controller.signal });
    await followStream(stream, (event) => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), PULL_IDLE_TIMEOUT_MS);
      logEvent(event, log);
    });
    return Boolean(await inspectImage(docker, image));
  } catch (err) {
    const why = controller.signal.aborted ? "no answer from the registry" : errorText(err);
    log(`cannot pull ${image} (${why}); building offline from a Debian mirror instead`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function buildFromDockerfile(docker: Docker, root: string, tag: string, log: (line: string) => void): Promise<void> {
  log(`docker build ${sandboxDir(root)} -t ${tag}`);
  try {
    const stream = await docker.buildImage(
      { context: sandboxDir(root), src: ["Dockerfile", ...harnessFiles(root)] },
      {
        t: tag,
        rm: true,
        forcerm: true,
        // RUN apt-get needs the network even where dockerd runs with --bridge=none.
        networkmode: "host",
        labels: { "restem.harness-hash": tag.slice(IMAGE_REPOSITORY.length + 1) },
      },
    );
    await followStream(stream, (event) => logEvent(event, log));
  } catch (err) {
    throw new ImageBuildError(`docker build of ${tag} failed: ${errorText(err)}`);
  }
}

async function buildFromRootfs(
  docker: Docker,
  root: string,
  tag: string,
  recipe: DockerfileRecipe,
  force: boolean,
  log: (line: string) => void,
): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "restem-image-"));
  try {
    // Stage exactly the hashed harness files as opt/restem/... for the script to append.
    const overlay = path.join(work, "overlay");
    const base = sandboxDir(root);
    for (const rel of harnessFiles(root)) {
      const dest = path.join(overlay, HARNESS_TARGET, rel.slice(HARNESS_DIR.length + 1));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(path.join(base, rel), dest);
    }
    fs.mkdirSync(path.join(overlay, HARNESS_TARGET), { recursive: true });

    const tarball = path.join(work, "rootfs.tar");
    log("building the sandbox root filesystem with sandbox/build-rootfs.sh (debootstrap, cached after the first run)");
    await runScript(path.join(base, "build-rootfs.sh"), ["--out", tarball, "--overlay", overlay], log);
    if (!force && (await inspectImage(docker, tag))) {
      // Another process imported it while this one waited for the script's lock.
      log(`${tag} appeared meanwhile; not importing it again`);
      return;
    }

    const [repo, version] = [IMAGE_REPOSITORY, tag.slice(IMAGE_REPOSITORY.length + 1)];
    // An imported image has no config at all: give it the PATH debian images carry.
    const changes = [`ENV PATH=${DEBIAN_PATH}`, ...recipe.importChanges, `LABEL restem.harness-hash=${version}`];
    log(`docker import ${tarball} ${tag}`);
    const started = Date.now();
    try {
      const stream = await docker.importImage(fs.createReadStream(tarball), {
        repo,
        tag: version,
        changes,
        message: "restem sandbox (built offline by sandbox/build-rootfs.sh)",
      });
      await followStream(stream, (event) => logEvent(event, log));
    } catch (err) {
      throw new ImageBuildError(`docker import of ${tag} failed: ${errorText(err)}`);
    }
    log(`imported in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Run build-rootfs.sh, streaming its output; a failure surfaces the script's own error lines. */
function runScript(script: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const collect = (line: string): void => {
      log(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
    };
    splitLines(child.stdout, collect);
    splitLines(child.stderr, collect);
    child.on("error", (err) =>
      reject(new ImageBuildError(`cannot run ${script}: ${err.message} (is bash installed?)`)),
    );
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      // The script words its failures as "build-rootfs: error: ..." (possibly several lines).
      const start = tail.findIndex((line) => line.startsWith("build-rootfs: error:"));
      const detail =
        start >= 0
          ? tail.slice(start).join("\n").replace(/^build-rootfs: error: /, "")
          : tail.slice(-15).join("\n");
      reject(
        new ImageBuildError(
          `building the sandbox image offline failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${detail}`,
        ),
      );
    });
  });
}

// --- the Dockerfile as the single source of the image's config ---------------

interface DockerfileRecipe {
  baseImage: string;
  /** USER/WORKDIR/ENV/CMD/... lines, for `docker import --change`. */
  importChanges: string[];
}

function readDockerfile(root: string): DockerfileRecipe {
  const file = path.join(sandboxDir(root), "Dockerfile");
  const lines = fs
    .readFileSync(file, "utf8")
    .replace(/\\\r?\n/g, " ") // line continuations
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  let baseImage: string | undefined;
  const importChanges: string[] = [];
  for (const line of lines) {
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const instruction = (match[1] ?? "").toUpperCase();
    const rest = match[2] ?? "";
    if (instruction === "FROM" && baseImage === undefined) {
      baseImage = rest.split(/\s+/).find((word) => !word.startsWith("--"));
    } else if (IMPORT_INSTRUCTIONS.has(instruction)) {
      importChanges.push(`${instruction} ${rest}`);
    }
  }
  if (!baseImage) throw new Error(`${file} has no FROM line`);
  return { baseImage, importChanges };
}

// --- docker API helpers -------------------------------------------------------

interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: unknown;
}

/** Read a JSON-lines progress stream (build, pull, import) to its end; reject on an error event. */
function followStream(stream: NodeJS.ReadableStream, onEvent: (event: ProgressEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let failure: string | undefined;
    let settled = false;
    let ended = false;
    const handle = (line: string): void => {
      if (!line.trim()) return;
      let event: ProgressEvent;
      try {
        event = JSON.parse(line) as ProgressEvent;
      } catch {
        event = { stream: line };
      }
      if (event.error || event.errorDetail?.message) {
        failure ??= event.errorDetail?.message || event.error;
      }
      onEvent(event);
    };
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      if (err) return reject(err);
      handle(buffer);
      buffer = "";
      if (failure) reject(new Error(failure.trim()));
      else resolve();
    };
    stream.on("data", (chunk: Buffer | string) => {
      buffer += chunk.toString();
      const lines = buffer.split("\n");
      buffer = lines.pop() ?? "";
      lines.forEach(handle);
    });
    stream.on("error", (err: unknown) => finish(err));
    stream.on("end", () => {
      ended = true;
      finish();
    });
    stream.on("close", () => finish(ended ? undefined : new Error("the Docker daemon closed the stream early")));
  });
}

/** Terminal colour codes that docker build wraps around a step's stderr. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

function logEvent(event: ProgressEvent, log: (line: string) => void): void {
  if (event.error || event.errorDetail?.message) {
    log(`error: ${(event.errorDetail?.message || event.error || "").trim()}`);
  } else if (event.stream) {
    for (const line of event.stream.replace(ANSI_COLOUR, "").split("\n")) if (line.trim()) log(line.trimEnd());
  } else if (event.status && !event.progressDetail?.current) {
    log(event.id ? `${event.id}: ${event.status}` : event.status);
  }
}

async function inspectImage(docker: Docker, name: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(name).inspect();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

function splitLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = "";
  stream.on("data", (chunk: Buffer | string) => {
    buffer += chunk.toString();
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  stream.on("end", () => {
    if (buffer) onLine(buffer);
  });
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

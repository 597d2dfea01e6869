// One warm sandbox container running the judge server, driven through dockerode.
//
// The container is created with every limit the untrusted program needs (no network,
// no capabilities, no-new-privileges, non-root, read-only root with a small tmpfs,
// memory, pids and CPU caps) and its stdin/stdout attached. The judge server inside
// stays up across programs; a run costs one frame each way, not a `docker run`.
// If the server reports it is no longer clean, stops answering, or its stream ends,
// the container is marked unhealthy and the pool replaces it. Its labels name its owner
// (owners.ts), so the containers of a dead restem process can be found and removed.

import type Docker from "dockerode";
import { PassThrough, type Duplex } from "node:stream";
import { ownerLabels } from "./owners";
import {
  FrameDecoder,
  encodeRun,
  isHello,
  isVerdict,
  type HelloFrame,
  type RunRequest,
  type SandboxLimits,
  type VerdictFrame,
} from "./protocol";

/** What the pool needs from a sandbox slot; a fake implements it in the pool's unit tests. */
export interface SandboxSlot {
  readonly name: string;
  readonly healthy: boolean;
  run(request: RunRequest, limits: SandboxLimits): Promise<VerdictFrame>;
  dispose(): Promise<void>;
}

export interface ContainerOptions {
  image: string;
  /** Memory cap of the whole container; must exceed the per-program limit plus the server. */
  memoryBytes: number;
  /** CPUs the container may use, e.g. 1. */
  cpus: number;
  /** Most processes and threads in the container. */
  pidsLimit: number;
  /** Size of the writable /tmp. */
  tmpfsBytes: number;
  /** How long to wait for the server's hello. */
  startTimeoutMs: number;
}

export { SANDBOX_LABEL } from "./owners";
const SERVER_EXTRA_MEMORY = 192 << 20;
const RUN_GRACE_MS = 15_000;
const REMOVE_TIMEOUT_MS = 10_000;

export function containerSpec(options: ContainerOptions, name: string): Docker.ContainerCreateOptions {
  const memory = options.memoryBytes + SERVER_EXTRA_MEMORY;
  return {
    name,
    Image: options.image,
    User: "65534:65534",
    WorkingDir: "/tmp",
    Env: ["OPENBLAS_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "HOME=/tmp"],
    OpenStdin: true,
    // The judge server exits at the end of its stdin: with StdinOnce, Docker closes it when the
    // owner's attached connection goes (the owner died, or the Docker connection was lost), so
    // the container ends and is auto-removed instead of idling forever.
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    NetworkDisabled: true,
    Labels: ownerLabels(options.image, "judge"),
    HostConfig: {
      NetworkMode: "none",
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      ReadonlyRootfs: true,
      Tmpfs: { "/tmp": `rw,nosuid,nodev,noexec,size=${options.tmpfsBytes},mode=1777` },
      ShmSize: 4 << 20,
      IpcMode: "private",
      Memory: memory,
      MemorySwap: memory,
      PidsLimit: options.pidsLimit,
      NanoCpus: Math.round(options.cpus * 1e9),
      Ulimits: [
        { Name: "core", Soft: 0, Hard: 0 },
        { Name: "nofile", Soft: 256, Hard: 256 },
      ],
      AutoRemove: true,
    },
  };
}

let containerCounter = 0;

/** The promise's value, or an error naming `what` once `ms` have passed. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Docker did not answer within ${Math.round(ms / 1000)} s while ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export class JudgeContainer implements SandboxSlot {
  private nextId = 1;
  private pending: { id: number; resolve: (v: VerdictFrame) => void; reject: (e: Error) => void } | null = null;
  private alive = true;
  private stderrTail = "";
  hello: HelloFrame | null = null;

  private constructor(
    readonly name: string,
    private readonly container: Docker.Container,
    private readonly stream: Duplex,
  ) {}

  get healthy(): boolean {
    return this.alive;
  }

  static async start(docker: Docker, options: ContainerOptions): Promise<JudgeContainer> {
    const name = `restem-judge-${process.pid}-${Date.now().toString(36)}-${containerCounter++}`;
    // Every Docker request has a deadline: a daemon that goes away mid-request (a dead proxy,
    // a stopped dockerd) must end in an error, never in a promise that waits forever.
    const container = await withDeadline(docker.createContainer(containerSpec(options, name)), options.startTimeoutMs, "creating a sandbox container");
    try {
      const stream = (await withDeadline(
        container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
        options.startTimeoutMs,
        "attaching to a sandbox container",
      )) as unknown as Duplex;
      const judge = new JudgeContainer(name, container, stream);
      const hello = judge.listen(docker, options.startTimeoutMs);
      hello.catch(() => undefined); // awaited below; start() may fail first
      await withDeadline(container.start(), options.startTimeoutMs, "starting a sandbox container");
      judge.hello = await hello;
      return judge;
    } catch (error) {
      await withDeadline(container.remove({ force: true }), REMOVE_TIMEOUT_MS, "removing a sandbox container").catch(() => undefined);
      throw error;
    }
  }

  /** Wires the demultiplexed stdout into the frame decoder; resolves with the server's hello. */
  private listen(docker: Docker, startTimeoutMs: number): Promise<HelloFrame> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    docker.modem.demuxStream(this.stream, stdout, stderr);
    stderr.on("data", (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-2000);
    });
    return new Promise<HelloFrame>((resolve, reject) => {
      let greeted = false;
      const timer = setTimeout(() => {
        if (!greeted) reject(new Error(`sandbox container did not start within ${startTimeoutMs} ms${this.stderrNote()}`));
      }, startTimeoutMs);
      const decoder = new FrameDecoder((frame) => {
        if (!greeted && isHello(frame)) {
          greeted = true;
          clearTimeout(timer);
          resolve(frame);
        } else if (isVerdict(frame)) {
          this.settle(frame);
        }
      });
      stdout.on("data", (chunk: Buffer) => {
        try {
          decoder.push(chunk);
        } catch (error) {
          this.fail(error as Error);
        }
      });
      this.stream.on("end", () => {
        this.fail(new Error(`sandbox judge server exited${this.stderrNote()}`));
        if (!greeted) reject(new Error(`sandbox container exited during start-up${this.stderrNote()}`));
      });
      this.stream.on("error", (error: Error) => this.fail(error));
    });
  }

  private stderrNote(): string {
    const tail = this.stderrTail.trim();
    return tail ? `: ${tail.split("\n").slice(-3).join(" | ")}` : "";
  }

  private settle(frame: VerdictFrame): void {
    const pending = this.pending;
    if (!pending || pending.id !== frame.id) return;
    this.pending = null;
    if (!frame.clean) this.alive = false;
    pending.resolve(frame);
  }

  private fail(error: Error): void {
    this.alive = false;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }

  run(request: RunRequest, limits: SandboxLimits): Promise<VerdictFrame> {
    if (!this.alive) return Promise.reject(new Error("sandbox container is no longer usable"));
    if (this.pending) return Promise.reject(new Error("sandbox container is busy"));
    const id = this.nextId++;
    const watchdogMs = limits.globalTimeoutS * 1000 + RUN_GRACE_MS;
    return new Promise<VerdictFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`sandbox stopped answering (no verdict after ${watchdogMs} ms)`));
      }, watchdogMs);
      this.pending = {
        id,
        resolve: (verdict) => {
          clearTimeout(timer);
          resolve(verdict);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.stream.write(encodeRun(id, request, limits));
    });
  }

  async dispose(): Promise<void> {
    this.alive = false;
    this.pending?.reject(new Error("sandbox container disposed"));
    this.pending = null;
    this.stream.destroy();
    await withDeadline(this.container.remove({ force: true }), REMOVE_TIMEOUT_MS, "removing a sandbox container").catch(() => undefined);
  }
}

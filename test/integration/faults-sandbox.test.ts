// Fault injection on the sandbox, with real Docker, real `restem` processes and real runs on
// the bundled examples/problems (a tiny random Qwen2: its programs are wrong, which is all a
// fault test needs).
//
//   * Docker lost mid E-step: the test points DOCKER_HOST at a unix-socket proxy it owns (a
//     Node net server piping to /var/run/docker.sock) and kills the proxy. The run exits
//     non-zero saying Docker was lost and how to resume, with status "failed" and a run_failed
//     event; once the proxy is back, `restem resume` completes and every sample has exactly
//     one verdict from a live sandbox, no sandbox failure counted as one.
//   * `restem judge` with the proxy killed exits non-zero and names the count.
//   * kill -9 of a `restem judge` holding containers: the next command removes the dead
//     owner's containers (found by their labels) and leaves a live owner's alone;
//     `restem sandbox prune` does the same on demand and says how many.
//   * `docker kill` of judge containers mid-batch changes no verdict.
//   * The memory limit: 200 MB fails under 128 MiB and passes under 512; below the floor the
//     option and the config field are refused by name.
//   * Empty programs and non-UTF-8 input get clear errors.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync, unlinkSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { parseModelConfig, randomWeights, saveModelDirectory } from "../../src/model";
import { judgedRecords, listRunIds, parseConfig, readJson, readJsonl, runPaths, type RunStatus, type SampleRecord } from "../../src/restem";
import { imageTag } from "../../src/sandbox/image";
import { OWNER_PID_LABEL, OWNER_START_LABEL, ownerLabels, processStartTime, SANDBOX_LABEL } from "../../src/sandbox/owners";
import type { Judge } from "../../src/sandbox/judge";
import { lines, openJudgeOrSkip, problemOf, REPO_ROOT } from "./support";

const PROBLEMS = path.join(REPO_ROOT, "examples/problems");
const TOKENIZER = path.join(REPO_ROOT, "test/fixtures/model/tiny-tokenizer");
const DOCKER_SOCKET = "/var/run/docker.sock";
const QWEN2 = {
  architectures: ["Qwen2ForCausalLM"],
  model_type: "qwen2",
  vocab_size: 512,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
  bos_token_id: 510,
  eos_token_id: 509,
};

/** A unix-socket proxy to the Docker daemon that the test can kill and bring back. */
class DockerProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  constructor(readonly socketPath: string) {}

  get dockerHost(): string {
    return `unix://${this.socketPath}`;
  }

  async start(): Promise<void> {
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
    this.server = net.createServer((client) => {
      const daemon = net.connect(DOCKER_SOCKET);
      for (const socket of [client, daemon]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => undefined);
      }
      client.on("close", () => daemon.destroy());
      daemon.on("close", () => client.destroy());
      client.pipe(daemon);
      daemon.pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  /** Docker is "lost": nothing answers at the socket, and every open connection drops. */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = null;
    // close() stops accepting and calls back once every connection has ended: end them now.
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    await closed;
    if (existsSync(this.socketPath)) unlinkSync(this.socketPath);
  }
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function restem(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function spawnRestem(args: string[], cwd: string, env: NodeJS.ProcessEnv): { child: ChildProcess; result: Promise<Result> } {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin/restem.js"), ...args], { cwd, env: { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const result = new Promise<Result>((resolve) => child.on("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  return { child, result };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const docker = new Docker({ socketPath: DOCKER_SOCKET });

/** Sandbox containers whose owner label is this pid. */
async function containersOf(pid: number): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${OWNER_PID_LABEL}=${pid}`] } });
}

/** A container made to look like a judge container of `labels`' owner (the sandbox image, idle). */
async function plantContainer(labels: Record<string, string>, name: string): Promise<Docker.Container> {
  const container = await docker.createContainer({
    name,
    Image: imageTag(),
    Cmd: ["python3", "-c", "import time; time.sleep(600)"],
    Labels: { ...labels, "restem.test": "faults-sandbox" },
    HostConfig: { NetworkMode: "none", AutoRemove: false },
  });
  await container.start();
  return container;
}

async function exists(container: Docker.Container): Promise<boolean> {
  return container.inspect().then(
    () => true,
    () => false,
  );
}

/** The labels of a process that has exited (its pid no longer runs). */
async function deadOwnerLabels(): Promise<Record<string, string>> {
  const child = spawn("sleep", ["0.2"]);
  const pid = child.pid!;
  const start = processStartTime(pid);
  await new Promise((resolve) => child.on("exit", resolve));
  await waitFor("the sleeper's pid to be gone", async () => processStartTime(pid) === null || processStartTime(pid) !== start, 5_000);
  return { ...ownerLabels(imageTag(), "judge"), [OWNER_PID_LABEL]: String(pid), [OWNER_START_LABEL]: start ?? "" };
}

const SLOW_PROGRAM = lines("import time", "time.sleep(1.5)", "print(input())");

describe("sandbox faults (real Docker, real runs)", function () {
  this.timeout(300_000);
  let scratch: string;
  let judge: Judge;

  before(async function () {
    judge = await openJudgeOrSkip(this, { concurrency: 2 });
    scratch = await mkdtemp(path.join(os.tmpdir(), "restem-faults-"));
  });
  after(async () => {
    await judge?.close();
    for (const c of await docker.listContainers({ all: true, filters: { label: ["restem.test=faults-sandbox"] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("Docker lost mid E-step: the run fails loudly, and resume judges every sample exactly once", async () => {
    const model = path.join(scratch, "model");
    const config = parseModelConfig(QWEN2, path.join(model, "config.json"));
    await saveModelDirectory(model, config, randomWeights(config, 7, 0.08), { dtype: "F32", tokenizerFrom: TOKENIZER });
    const samplesPerProblem = 24;
    const configFile = path.join(scratch, "lost.json");
    await writeFile(
      configFile,
      JSON.stringify({
        problems: PROBLEMS,
        model,
        iterations: 1,
        seed: 5,
        sampling: { samplesPerProblem, maxNewTokens: 16, batchSize: 8 },
        evaluation: { samples: 0, passK: [1], trainGreedy: false },
        mstep: { epochs: 1, batchSize: 4 },
        judge: { concurrency: 2 },
      }),
    );
    const store = path.join(scratch, "store-lost");
    const proxy = new DockerProxy(path.join(scratch, "docker-lost.sock"));
    await proxy.start();
    const env = { DOCKER_HOST: proxy.dockerHost, RESTEM_SANDBOX_RETRY_S: "2" };
    const { result } = spawnRestem(["run", "--config", configFile, "--store", store], scratch, env);

    // Kill the proxy as soon as the E-step has judged its first sample.
    await waitFor("the E-step's first sample", async () => {
      const [id] = await listRunIds(store).catch(() => []);
      if (!id) return null;
      const file = runPaths(store, id).iteration(1).samples;
      return existsSync(file) && (await readFile(file, "utf8")).length > 0;
    });
    await proxy.kill();
    const failed = await result;
    const [id] = await listRunIds(store);
    const paths = runPaths(store, id);
    assert.notEqual(failed.code, 0, "losing Docker is never a success");
    assert.match(failed.stderr, /Docker sandbox was lost/);
    assert.match(failed.stderr, new RegExp(`restem resume ${id}`));
    const status = await readJson<RunStatus>(paths.status);
    assert.equal(status?.status, "failed");
    const events = await readJsonl<{ type: string; message?: string }>(paths.events);
    const runFailed = events.find((e) => e.type === "run_failed");
    assert.ok(runFailed, "a run_failed event");
    assert.match(runFailed.message ?? "", /Docker sandbox was lost/);
    const before = await readJsonl<SampleRecord>(paths.iteration(1).samples);
    assert.ok(before.length < 3 * samplesPerProblem, "the E-step stopped part-way");
    const lost = before.filter((r) => r.sandbox_failure);
    assert.ok(lost.length > 0, "the samples being judged when Docker went are recorded as sandbox failures");
    assert.ok(lost.every((r) => r.failed && r.reward === 0 && /^sandbox failure: /.test(r.error ?? "")), "in the backward-compatible form");
    assert.ok(events.some((e) => e.type === "sandbox" && /sandbox unavailable/.test(e.message ?? "")), "the outage is in the run log");

    // Docker is back: resume completes.
    await proxy.start();
    const resumed = await restem(["resume", id, "--store", store], scratch, env);
    await proxy.kill();
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await readJson<RunStatus>(paths.status))?.status, "completed");
    const after = await readJsonl<SampleRecord>(paths.iteration(1).samples);
    const verdicts = after.filter((r) => !r.sandbox_failure && !(r.failed && (r.error ?? "").startsWith("sandbox failure")));
    const keys = verdicts.map((r) => `${r.problem_id}#${r.index}`);
    assert.equal(keys.length, 3 * samplesPerProblem, "every sample judged");
    assert.equal(new Set(keys).size, keys.length, "judged exactly once");
    assert.ok(verdicts.every((r) => Array.isArray(r.results) && r.results.length > 0), "each by a live sandbox");
    // A sandbox failure left in the file is followed by its verdict and never counts.
    assert.equal(judgedRecords(after).length, 3 * samplesPerProblem);
    for (const f of after.filter((r) => r.sandbox_failure)) assert.ok(keys.includes(`${f.problem_id}#${f.index}`));
    const metrics = await readJson<{ estep: { samples: number; errors: number } }>(paths.iteration(1).metrics);
    assert.equal(metrics?.estep.samples, 3 * samplesPerProblem);
    assert.equal(metrics?.estep.errors, 0);
  });

  it("`restem judge` with Docker lost exits non-zero and names the count", async () => {
    const proxy = new DockerProxy(path.join(scratch, "docker-judge.sock"));
    await proxy.start();
    const programs = path.join(scratch, "slow.jsonl");
    await writeFile(programs, Array.from({ length: 4 }, () => JSON.stringify({ problem_id: "train/1", code: SLOW_PROGRAM }) + "\n").join(""));
    const { child, result } = spawnRestem(["judge", "--problems", PROBLEMS, "--programs", programs, "--json", "--concurrency", "2"], scratch, {
      DOCKER_HOST: proxy.dockerHost,
      RESTEM_SANDBOX_RETRY_S: "1",
    });
    await waitFor("the judge's containers", async () => (await containersOf(child.pid!)).filter((c) => c.State === "running").length >= 2);
    // Past the containers' start-up (each program then runs for 7.5 s: 5 tests x 1.5 s).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await proxy.kill();
    const run = await result;
    assert.equal(run.code, 1, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    assert.match(run.stderr, /(\d) of 4 programs could not be judged: the Docker sandbox failed/);
    const judged = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { passed: boolean | null; sandbox_failure?: boolean });
    const unjudged = judged.filter((l) => l.sandbox_failure);
    assert.ok(unjudged.length >= 1 && unjudged.every((l) => l.passed === null), "no verdict for what was not judged");
    assert.equal(Number(/(\d) of 4 programs/.exec(run.stderr)?.[1]), unjudged.length);
  });

  it("kill -9 of a restem holding containers: the next command removes them, a live owner's stay", async () => {
    const programs = path.join(scratch, "slow-kill.jsonl");
    await writeFile(programs, Array.from({ length: 6 }, () => JSON.stringify({ problem_id: "train/1", code: SLOW_PROGRAM }) + "\n").join(""));
    const { child, result } = spawnRestem(["judge", "--problems", PROBLEMS, "--programs", programs, "--concurrency", "2"], scratch, {});
    const pid = child.pid!;
    const held = await waitFor("the judge's containers", async () => {
      const list = await containersOf(pid);
      return list.length >= 2 ? list : null;
    });
    const start = held[0].Labels[OWNER_START_LABEL];
    assert.ok(start && held.every((c) => c.Labels[SANDBOX_LABEL] === "1" && c.Labels["restem.purpose"] === "judge" && c.Labels["restem.image"] === imageTag()));
    child.kill("SIGKILL");
    await result;
    // Stand-ins for what a crash can leave running (a container that kept its stdin open):
    // one labelled as the killed process's, one as this live test process's.
    const orphan = await plantContainer({ ...held[0].Labels }, `restem-faults-orphan-${pid}`);
    const live = await plantContainer(ownerLabels(imageTag(), "judge"), `restem-faults-live-${process.pid}`);
    await writeFile(path.join(scratch, "one.jsonl"), JSON.stringify({ problem_id: "train/1", code: "print(input())" }) + "\n");
    const again = await restem(["judge", "--problems", PROBLEMS, "--programs", path.join(scratch, "one.jsonl"), "--json", "--concurrency", "1"], scratch);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await containersOf(pid), [], "no container of the dead owner is left");
    assert.equal(await exists(orphan), false);
    assert.equal(await exists(live), true, "a live owner's container is never touched");
    await live.remove({ force: true });
  });

  it("`restem sandbox prune` removes the dead owners' containers and says how many", async () => {
    const dead = await deadOwnerLabels();
    const orphans = [await plantContainer(dead, `restem-faults-prune-a-${dead[OWNER_PID_LABEL]}`), await plantContainer(dead, `restem-faults-prune-b-${dead[OWNER_PID_LABEL]}`)];
    const live = await plantContainer(ownerLabels(imageTag(), "judge"), `restem-faults-prune-live-${process.pid}`);
    const pruned = await restem(["sandbox", "prune"], scratch);
    assert.equal(pruned.code, 0, pruned.stderr);
    const removed = Number(/removed (\d+) sandbox container/.exec(pruned.stdout)?.[1]);
    assert.ok(removed >= 2, pruned.stdout);
    for (const orphan of orphans) assert.equal(await exists(orphan), false);
    assert.equal(await exists(live), true);
    await live.remove({ force: true });
  });

  it("`docker kill` of judge containers mid-batch changes no verdict", async () => {
    const problem = problemOf({ inputs: ["1\n", "2\n"], outputs: ["1\n", "2\n"] });
    const items = Array.from({ length: 8 }, (_, i) => ({ problem, code: i % 2 === 0 ? lines("import time", "time.sleep(0.3)", "print(input())") : "print(int(input()) + 1)" }));
    const judging = judge.judgeAll(items);
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const c of await containersOf(process.pid)) if (!c.Labels["restem.test"]) await docker.getContainer(c.Id).kill().catch(() => undefined);
    const verdicts = await judging;
    assert.deepEqual(
      verdicts.map((v) => v.passed),
      items.map((_, i) => i % 2 === 0),
    );
    assert.ok(verdicts.every((v) => !v.sandboxFailure));
  });

  it("the memory limit applies: 200 MB fails under 128 MiB and passes under 512 MiB", async function () {
    const problem = problemOf({ inputs: ["1\n"], outputs: ["1\n"] });
    const program = lines("block = bytearray(200 * 1024 * 1024)", "print(input())");
    const small = await openJudgeOrSkip(this, { concurrency: 1, limits: { memoryBytes: 128 << 20 } });
    const big = await openJudgeOrSkip(this, { concurrency: 1, limits: { memoryBytes: 512 << 20 } });
    try {
      const under128 = await small.judge(problem, program);
      assert.equal(under128.passed, false);
      assert.deepEqual(under128.results, [-1]);
      assert.match(under128.error ?? "", /MemoryError/);
      assert.equal((await small.judge(problem, "print(input())")).passed, true, "a small program runs under 128 MiB");
      assert.equal((await big.judge(problem, program)).passed, true);
    } finally {
      await small.close();
      await big.close();
    }
  });

  it("refuses a memory limit below the floor, naming the option or the field", async () => {
    const cli = await restem(["judge", "--problems", PROBLEMS, "--reference", "--memory-mb", "1"], scratch);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /--memory-mb is 1 MiB, below the minimum of 96 MiB/);
    assert.throws(() => parseConfig({ problems: PROBLEMS, model: "m", judge: { memoryMb: 1 } }, "restem.json"), /restem\.json[\s\S]*judge\.memoryMb: must be an integer >= 96/);
  });

  it("empty programs and non-UTF-8 input get clear errors, never a wrapper's compile error or replaced bytes", async () => {
    const programs = path.join(scratch, "odd.jsonl");
    const good = Buffer.from(JSON.stringify({ problem_id: "train/1", code: "" }) + "\n" + JSON.stringify({ problem_id: "train/1", code: "  \n\n" }) + "\n");
    const before = Buffer.from('{"problem_id": "train/1", "code": "print(\'');
    const latin1 = Buffer.concat([before, Buffer.from([0xe9]), Buffer.from("')\"}\n")]);
    const surrogate = Buffer.from('{"problem_id": "train/1", "code": "print(\'\\udc80\')"}\n');
    await writeFile(programs, Buffer.concat([good, latin1, surrogate]));
    const run = await restem(["judge", "--problems", PROBLEMS, "--programs", programs, "--json", "--concurrency", "1"], scratch);
    assert.equal(run.code, 0, run.stderr);
    const out = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { passed: boolean; results: unknown[]; error: string });
    assert.equal(out.length, 4);
    for (const empty of out.slice(0, 2)) {
      assert.equal(empty.passed, false);
      assert.deepEqual(empty.results, [-2]);
      assert.equal(empty.error, "compile error: the program is empty");
    }
    assert.ok(out[2].error.includes(`odd.jsonl:3: not valid UTF-8 (byte 0xe9 at byte ${before.length + 1} of the line)`), out[2].error);
    assert.deepEqual(out[2].results, [], "not judged");
    assert.match(out[3].error, /odd\.jsonl:4: "code" holds a lone UTF-16 surrogate/);
  });
});

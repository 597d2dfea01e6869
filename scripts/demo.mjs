// `npm start`: the bundled ReST-EM demo on CPU.
//
// Runs one ReST-EM iteration on demo/problems with the tiny demo/model (settings in
// demo/restem.json), then the SFT baseline (fine-tuning on the problems' human solutions) with
// the same M-step settings, and prints base / ReST-EM / SFT side by side. Both runs land in
// .restem/runs/ and can be inspected with `node bin/restem.js runs` or resumed if interrupted.
// The sandbox is Docker: without a reachable Docker engine the demo stops with what to do.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const restem = join(root, "bin", "restem.js");
const config = join(root, "demo", "restem.json");

/** Runs the restem CLI, passing its output through; resolves with everything it printed. */
function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [restem, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let printed = "";
    child.stdout.on("data", (chunk) => {
      printed += chunk;
      process.stdout.write(chunk);
    });
    child.stderr.on("data", (chunk) => {
      printed += chunk;
      process.stderr.write(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(printed) : reject(new Error(`restem ${args[0]} exited with ${code}`))));
  });
}

async function requireDocker() {
  const { connectDocker } = require(join(root, "out", "src", "sandbox", "docker.js"));
  try {
    await connectDocker();
  } catch (error) {
    const line = "!".repeat(78);
    console.error(`${line}\nThe demo judges programs in the Docker sandbox, and Docker is not reachable:\n${error.message}\n${line}`);
    process.exit(1);
  }
}

/** The run id `restem run` prints first ("run <id> in <store>"). */
function runIdOf(printed) {
  const match = /^run (\S+) in /m.exec(printed);
  if (!match) throw new Error("restem run did not print its run id");
  return match[1];
}

function metricsOf(runs, id) {
  const found = runs.find((r) => r.id === id);
  if (!found) throw new Error(`run ${id} is missing from restem runs --json`);
  return found.iterations;
}

const percent = (value) => (value === null || value === undefined ? "-" : `${(100 * value).toFixed(1)}%`);

function comparison(restemIterations, sftIterations) {
  const base = restemIterations.find((it) => it.iteration === 0);
  const last = (iterations) => iterations.filter((it) => it.iteration > 0).at(-1);
  const rows = [
    ["base model", base],
    ["ReST-EM (iteration 1)", last(restemIterations)],
    ["SFT on human solutions", last(sftIterations)],
  ];
  const ks = Object.keys(base?.pass_at_k ?? {});
  const header = ["model", "test pass@1 (greedy)", ...ks.map((k) => `pass@${k}`)];
  const body = rows.map(([name, it]) => [name, percent(it?.pass_at_1), ...ks.map((k) => percent(it?.pass_at_k?.[k]))]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const render = (cells) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ");
  return [render(header), ...body.map(render)].join("\n");
}

async function main() {
  await requireDocker();
  const started = Date.now();
  console.log("== ReST-EM: sample, judge, keep, fine-tune from the base model, evaluate");
  const restemId = runIdOf(await run(["run", "--config", config]));
  console.log("\n== SFT baseline: fine-tune the base model on the problems' human solutions");
  const sftId = runIdOf(await run(["run", "--config", config, "--variant", "sft"]));
  const runs = (await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [restem, "runs", "--json"], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("close", () => resolve(out));
  }))
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
  console.log(`\n== Demo results (${((Date.now() - started) / 60000).toFixed(1)} min)`);
  console.log(comparison(metricsOf(runs, restemId), metricsOf(runs, sftId)));
}

main().catch((error) => {
  console.error(`demo: ${error.message}`);
  process.exit(1);
});

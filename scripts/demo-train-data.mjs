// Builds `restem train` data ({"prompt", "completion", "reward"} lines) for the hand-run demo
// checks in demo/README.md, from an APPS folder and either
//
//   ReST-EM (the E-step filter): programs sampled by scripts/demo-sample.mjs and their
//   `restem judge --json` verdicts (same order); keeps the programs that pass every test, at most
//   --max-per-problem (default 10, the paper's cut-off) per problem:
//     node scripts/demo-train-data.mjs --problems demo/problems/train \
//          --programs samples.jsonl --judged judged.jsonl > restem.jsonl
//
//   SFT (the human-data baseline): every solution in each problem's solutions.json:
//     node scripts/demo-train-data.mjs --problems demo/problems/train --human > sft.jsonl
//
// The prompt is the APPS format the demo model uses (see scripts/demo-sample.mjs).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const require = createRequire(import.meta.url);
const { loadProblems } = require("../out/src/problems");

const MAX_PER_PROBLEM = 10; // the paper's cap on correct solutions kept per problem

const promptOf = (problem) => `QUESTION:\n${problem.question}\nUse ${problem.fnName ? "Call-Based" : "Standard Input"} format\nANSWER:\n`;
const readJsonl = (file) => readFileSync(file, "utf8").split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line));

async function main() {
  const args = process.argv.slice(2);
  const value = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const set = await loadProblems(resolve(value("--problems") ?? "demo/problems/train"));
  const byId = new Map(set.problems.map((problem) => [problem.id, problem]));
  const out = [];
  if (args.includes("--human")) {
    for (const problem of set.problems) {
      for (const completion of problem.solutions) out.push({ prompt: promptOf(problem), completion, reward: 1 });
    }
  } else {
    const programs = readJsonl(value("--programs"));
    const judged = readJsonl(value("--judged"));
    if (programs.length !== judged.length) throw new Error(`${programs.length} programs but ${judged.length} verdicts`);
    const cap = Number(value("--max-per-problem") ?? MAX_PER_PROBLEM);
    const kept = new Map();
    programs.forEach((program, i) => {
      if (judged[i].problem_id !== program.problem_id) throw new Error(`line ${i + 1}: verdict for another problem`);
      const problem = byId.get(program.problem_id);
      if (!judged[i].passed || problem === undefined || program.code.trim() === "") return;
      const count = kept.get(problem.id) ?? 0;
      if (count >= cap) return;
      kept.set(problem.id, count + 1);
      out.push({ prompt: promptOf(problem), completion: program.code, reward: 1 });
    });
    console.error(`demo-train-data: ${out.length} correct programs for ${kept.size}/${set.problems.length} problems`);
  }
  for (const line of out) process.stdout.write(`${JSON.stringify(line)}\n`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});

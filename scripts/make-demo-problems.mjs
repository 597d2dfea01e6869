// Writes restem's bundled demo problem set, demo/problems/{train,valid,test}/<id>/, in APPS
// format (question.txt, input_output.json, solutions.json, metadata.json), from the seeded
// families in scripts/demo-families.mjs. Reruns reproduce the same files byte for byte.
//
//   node scripts/make-demo-problems.mjs [outDir]   (default demo/problems)
//
// The folder is replaced as a whole. solutions.json holds the "human" solutions: correct, but
// written in other styles than the programs the demo model was pretrained on (see demo/README.md).

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FAMILIES, generateSplits } from "./demo-families.mjs";

function writeProblem(dir, problem) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "question.txt"), problem.question);
  writeFileSync(join(dir, "input_output.json"), `${JSON.stringify(problem.inputOutput)}\n`);
  writeFileSync(join(dir, "solutions.json"), `${JSON.stringify(problem.solutions)}\n`);
  const metadata = { difficulty: problem.difficulty, url: `restem-demo://${problem.family}` };
  writeFileSync(join(dir, "metadata.json"), `${JSON.stringify(metadata)}\n`);
}

function main() {
  const outDir = resolve(process.argv[2] ?? "demo/problems");
  const splits = generateSplits();
  rmSync(outDir, { recursive: true, force: true });
  for (const [split, problems] of Object.entries(splits)) {
    for (const problem of problems) writeProblem(join(outDir, split, problem.id), problem);
    const byDifficulty = {};
    for (const problem of problems) byDifficulty[problem.difficulty] = (byDifficulty[problem.difficulty] ?? 0) + 1;
    console.log(`${split}: ${problems.length} problems ${JSON.stringify(byDifficulty)}`);
  }
  console.log(`wrote ${outDir} (${FAMILIES.length} families)`);
}

main();

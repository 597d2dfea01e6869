// The CI and install scripts must not fail by chance. Under `set -o pipefail` a pipeline
// into a reader that stops early (`head`, `grep -q`, `grep -m`) fails whenever the reader
// closes the pipe before the writer has written everything: the writer gets SIGPIPE or
// EPIPE (ripgrep prints "error: broken pipe" and exits 2) and the whole run fails. This
// happened to `rg --version | head -n 1` in .ci/install-e2e.sh on a fresh CI machine.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "../../..");

/** Every shell script CI runs: .ci/run, .ci/*.sh, scripts/*.sh, sandbox/*.sh. */
function shellScripts(): string[] {
  const files = [path.join(REPO_ROOT, ".ci/run")];
  for (const dir of [".ci", "scripts", "sandbox"]) {
    for (const name of readdirSync(path.join(REPO_ROOT, dir)).sort()) {
      if (name.endsWith(".sh")) files.push(path.join(REPO_ROOT, dir, name));
    }
  }
  return files.filter((file) => existsSync(file));
}

/** Lines (comments dropped) that pipe into a command which may stop reading early. */
export function earlyExitPipes(text: string): string[] {
  const reader = /\|\s*(head\b|tail\s+-[a-z]*q|grep\s+(-[a-zA-Z]*[qm]|--quiet|--max-count)|sed\s+(-n\s+)?['"]?\d*q)/;
  return text
    .split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, ""))
    .filter((line) => reader.test(line));
}

describe("CI scripts: no failure by chance", () => {
  it("finds the pattern that broke CI, and only that kind of pipe", () => {
    assert.deepEqual(earlyExitPipes("rg --version | head -n 1"), ["rg --version | head -n 1"]);
    assert.equal(earlyExitPipes("dpkg-query -W x | grep -q 'install ok'").length, 1);
    assert.equal(earlyExitPipes("x | grep -v '^undefined$' || true").length, 0);
    assert.equal(earlyExitPipes("printf '%s\\n' a b | sort -u").length, 0);
    assert.equal(earlyExitPipes("# rg --version | head -n 1").length, 0);
  });

  it("has no pipe into head or grep -q in a script that sets pipefail", () => {
    const offenders: string[] = [];
    for (const file of shellScripts()) {
      const text = readFileSync(file, "utf8");
      if (!/pipefail/.test(text)) continue;
      for (const line of earlyExitPipes(text)) offenders.push(`${path.relative(REPO_ROOT, file)}: ${line.trim()}`);
    }
    assert.deepEqual(offenders, []);
  });

  it("parses every CI script with bash -n", () => {
    for (const file of shellScripts()) {
      const result = spawnSync("bash", ["-n", file], { encoding: "utf8" });
      assert.equal(result.status, 0, `${path.relative(REPO_ROOT, file)}: ${result.stderr}`);
    }
  });
});

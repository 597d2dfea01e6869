// package.json's contributions hold together: every command the code registers is declared and
// every declared command is registered, menus and the walkthrough name declared commands, the
// views live in the ReST-EM container, and every media file they point at exists.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "../../..");

interface Manifest {
  main: string;
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    viewsContainers: { activitybar: { id: string; title: string; icon: string }[] };
    views: Record<string, { id: string; name: string }[]>;
    menus: Record<string, { command: string; when?: string }[]>;
    walkthroughs: { steps: { id: string; description: string; media: { markdown?: string; image?: string } }[] }[];
  };
}

const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as Manifest;

/** Command ids passed to registerCommand anywhere under src/. */
function registeredCommands(): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (file.endsWith(".ts")) for (const m of readFileSync(file, "utf8").matchAll(/registerCommand\(\s*"([^"]+)"/g)) found.add(m[1]);
    }
  };
  walk(path.join(REPO_ROOT, "src"));
  return found;
}

describe("UI: the extension manifest", () => {
  const declared = new Set(manifest.contributes.commands.map((c) => c.command));

  it("declares exactly the commands the code registers, all in the ReST-EM category", () => {
    assert.deepEqual([...registeredCommands()].sort(), [...declared].sort());
    for (const command of manifest.contributes.commands) assert.equal(command.category, "ReST-EM", command.command);
    for (const title of ["Start Run", "Stop Run", "Resume Run", "Evaluate Model", "Open Dashboard", "Show Accepted Sample Diff", "Build Sandbox Image", "Check Environment"]) {
      assert.ok(manifest.contributes.commands.some((c) => c.title === title), `no "ReST-EM: ${title}" command`);
    }
  });

  it("menus and walkthrough steps name declared commands", () => {
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const item of items) assert.ok(declared.has(item.command), `${menu}: ${item.command} is not declared`);
    }
    for (const step of manifest.contributes.walkthroughs[0].steps) {
      for (const m of step.description.matchAll(/\(command:([\w.]+)\)/g)) {
        assert.ok(declared.has(m[1]) || /^restem\.\w+\.focus$/.test(m[1]), `walkthrough ${step.id}: ${m[1]}`);
      }
    }
  });

  it("the Runs and Problems views are in the ReST-EM activity bar container; media files exist", () => {
    const [container] = manifest.contributes.viewsContainers.activitybar;
    assert.equal(container.title, "ReST-EM");
    assert.deepEqual(manifest.contributes.views[container.id].map((v) => v.name), ["Runs", "Problems"]);
    const media = [container.icon, ...manifest.contributes.walkthroughs[0].steps.map((s) => s.media.markdown ?? s.media.image ?? "")];
    for (const file of [...media, "media/dashboard.js", "media/dashboard.css"]) assert.ok(existsSync(path.join(REPO_ROOT, file)), `${file} is missing`);
    assert.equal(manifest.main, "./dist/extension.js");
  });
});

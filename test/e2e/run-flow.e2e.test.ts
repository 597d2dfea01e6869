// End-to-end: a whole ReST-EM run driven from the workbench of a real VS Code (code-server with
// the packaged VSIX installed, Debian's chromium through Playwright). The workspace holds a
// slice of the demo problems and the demo model; "ReST-EM: Start Run" is answered through its
// four quick picks with the tiny preset; the run must appear in the Runs tree, finish there
// (real Docker judge, ONNX Runtime sampler and tfjs trainer inside the extension host), show
// the stored numbers, open an accepted sample's diff against the reference solution, and open
// the dashboard with one row per iteration, and evaluate the fine-tuned weights with Evaluate
// Model. What is on screen is compared with the run store on disk. Screenshots:
// test-artifacts/e2e/run-*.png.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Locator } from "playwright-core";
import { E2ESession, ensureVsix, REPO_ROOT, requireE2EPrerequisites } from "./session";
import { exactly, poll, type Workbench } from "./workbench";

const RUN_ID = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/;

/** Every `stride`-th problem folder of each demo split, into `dest`. */
function copyDemoSlice(dest: string, strides: Record<string, number>): void {
  for (const [split, stride] of Object.entries(strides)) {
    const names = fs.readdirSync(path.join(REPO_ROOT, "demo/problems", split)).sort();
    for (const name of names.filter((_, i) => i % stride === 0)) {
      fs.cpSync(path.join(REPO_ROOT, "demo/problems", split, name), path.join(dest, split, name), { recursive: true });
    }
  }
}

interface StoredRun {
  id: string;
  status: string;
  metrics: Array<{ iteration: number; eval: { pass_at_1: number }; estep: { kept: number; samples: number } | null }>;
  kept: Array<{ problem_id: string; index: number; code: string }>;
}

function readStoredRun(workspace: string): StoredRun {
  const runs = path.join(workspace, ".restem", "runs");
  const [id] = fs.readdirSync(runs).filter((name) => RUN_ID.test(name));
  const dir = path.join(runs, id);
  const json = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  const lines = (file: string): unknown[] => fs.readFileSync(path.join(dir, file), "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  return {
    id,
    status: (json("status.json") as { status: string }).status,
    metrics: [0, 1].map((i) => json(`iter-${i}/metrics.json`) as StoredRun["metrics"][number]),
    kept: lines("iter-1/kept.jsonl") as StoredRun["kept"],
  };
}

const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;

async function description(item: Locator): Promise<string> {
  return ((await item.locator(".label-description").first().textContent()) ?? "").trim();
}

/** Scrolls a view's tree until an item with the label shows (its list renders only what is in view). */
async function scrollToTreeItem(wb: Workbench, view: string, label: string | RegExp, timeoutMs = 60_000): Promise<Locator> {
  const item = wb.treeItem(view, label);
  const list = wb.viewPane(view).locator(".monaco-list").first();
  return poll(
    `tree item ${String(label)} in ${view}`,
    async () => {
      if (await item.isVisible()) return item;
      await list.hover();
      await wb.page.mouse.wheel(0, 150);
      return null;
    },
    timeoutMs,
    300,
  );
}

/** Expands a collapsed tree item by clicking its twistie. */
async function expand(item: Locator): Promise<void> {
  if ((await item.getAttribute("aria-expanded")) === "false") await item.locator(".monaco-tl-twistie").first().click();
}

describe("e2e: a ReST-EM run from the command palette, the Runs tree, a diff and the dashboard", function () {
  this.timeout(900_000);
  let entry = "";
  let vsix = "";
  let session: E2ESession | null = null;
  let stored: StoredRun | null = null;

  before(async function () {
    entry = requireE2EPrerequisites(this);
    vsix = ensureVsix();
    session = await E2ESession.start(entry, vsix, {
      name: "run-flow",
      settings: { "restem.preset": "tiny" },
      populateWorkspace: (workspace) => {
        copyDemoSlice(path.join(workspace, "problems"), { train: 15, valid: 10, test: 10 });
        fs.cpSync(path.join(REPO_ROOT, "demo/model"), path.join(workspace, "model"), { recursive: true, filter: (src) => !src.includes(".restem-onnx") });
      },
    });
  });

  afterEach(async function () {
    if (session && this.currentTest?.state === "failed") {
      const shot = await session.workbench.screenshot(`run-failed-${this.currentTest.title.slice(0, 40)}`).catch(() => null);
      console.log(`      screenshot: ${shot}; logs: ${session.saveLogs()}`);
    }
  });

  after(async function () {
    await session?.stop();
  });

  it("Start Run (problem set, model, tiny preset, no config file) runs to completion in the Runs tree", async function () {
    const wb = session!.workbench;
    await wb.openViewContainer("ReST-EM");
    await wb.waitForTreeItem("Problems", "problems", 60_000);
    await wb.runCommand("ReST-EM: Start Run");
    await wb.pickQuickPick("problems");
    await wb.pickQuickPick("model");
    await wb.pickQuickPick("Tiny (smoke test)");
    await wb.pickQuickPick("No config file");

    const run = await wb.waitForTreeItem("Runs", RUN_ID, 60_000);
    await poll("the run to show as running", async () => (/^running/.test(await description(run)) ? true : null), 30_000);
    await wb.waitForNotification(/^ReST-EM: Running \d{8}-/, 60_000).catch(() => null);
    await wb.screenshot("run-1-started");
    const statusBar = wb.page.locator(".part.statusbar", { hasText: /ReST-EM: iteration \d/ });
    await statusBar.first().waitFor({ state: "visible", timeout: 120_000 });

    await poll("the run to complete in the Runs tree", async () => ((await description(run)).startsWith("completed") ? true : null), 600_000, 1000);
    stored = readStoredRun(session!.workspace);
    assert.equal(stored.status, "completed");
    const [base, first] = stored.metrics;
    assert.equal(await description(run), `completed · pass@1 ${pct(base.eval.pass_at_1)} → ${pct(first.eval.pass_at_1)}`);
    const done = await wb.waitForNotification(new RegExp(`^ReST-EM: run ${stored.id} completed\\.`), 60_000);
    assert.match(done.message, new RegExp(`Greedy test pass@1 ${pct(base.eval.pass_at_1).replace(".", "\\.")} → ${pct(first.eval.pass_at_1).replace(".", "\\.")}`));
    await wb.screenshot("run-2-completed");
  });

  it("expands run → iteration → problem → accepted sample and opens its diff against the reference solution", async function () {
    assert.ok(stored, "the run did not complete");
    assert.ok(stored.kept.length > 0, "the tiny run kept no program, so there is no accepted sample to open");
    const wb = session!.workbench;
    await wb.page.locator(".part.sidebar .pane-header", { hasText: exactly("Problems") }).first().click(); // collapse: more room for Runs
    await expand(await wb.waitForTreeItem("Runs", stored.id));
    const iteration = await wb.waitForTreeItem("Runs", "iteration 1", 30_000);
    assert.match(await description(iteration), new RegExp(`^test pass@1 ${pct(stored.metrics[1].eval.pass_at_1).replace(".", "\\.")} · kept ${stored.metrics[1].estep?.kept}/${stored.metrics[1].estep?.samples}`));
    await expand(iteration);
    const accepted = stored.kept[0];
    const problem = await scrollToTreeItem(wb, "Runs", accepted.problem_id);
    assert.match(await description(problem), /\d+\/\d+ correct · \d+ kept/);
    await expand(problem);
    const sample = await scrollToTreeItem(wb, "Runs", `sample ${accepted.index}`);
    assert.match(await description(sample), /^accepted · \d+ tokens/);
    await sample.click();

    const title = `${accepted.problem_id}: reference ↔ iteration 1 sample ${accepted.index}`;
    await wb.page.locator(".tabs-container .tab", { hasText: title }).first().waitFor({ state: "visible", timeout: 30_000 });
    const diff = wb.page.locator(".monaco-diff-editor").first();
    await diff.waitFor({ state: "visible", timeout: 30_000 });
    // The right side shows the accepted program: its first line is on screen.
    const firstLine = accepted.code.split("\n").find((line) => line.trim() !== "")?.trim() ?? "";
    await poll("the accepted program in the diff editor", async () => {
      const text = (await diff.locator(".editor.modified .view-lines").textContent()) ?? "";
      return text.replace(/\u00a0/g, " ").includes(firstLine) ? true : null;
    }, 30_000);
    await wb.screenshot("run-3-diff");
  });

  it("Show Accepted Sample Diff from the palette: run, iteration, sample", async function () {
    assert.ok(stored, "the run did not complete");
    const wb = session!.workbench;
    const accepted = stored.kept[stored.kept.length - 1];
    await wb.runCommand("ReST-EM: Show Accepted Sample Diff");
    await wb.pickQuickPick(stored.id);
    await wb.pickQuickPick("iteration 1");
    const rows = await wb.quickPickLabels();
    assert.deepEqual(rows, stored.kept.map((k) => k.problem_id));
    await wb.pickQuickPick(accepted.problem_id);
    const title = `${accepted.problem_id}: reference ↔ iteration 1 sample ${accepted.index}`;
    await wb.page.locator(".tabs-container .tab", { hasText: title }).first().waitFor({ state: "visible", timeout: 30_000 });
  });

  it("opens the dashboard on the run with a row and a pass@1 point per iteration", async function () {
    assert.ok(stored, "the run did not complete");
    const wb = session!.workbench;
    await wb.runCommand("ReST-EM: Open Dashboard");
    await wb.pickQuickPick(stored.id);
    const frame = await wb.webviewFrame((text) => text.includes(stored!.id) && /completed/i.test(text), 60_000);
    assert.equal((await frame.locator("#run-id").textContent())?.trim(), stored.id);
    assert.equal(await frame.locator("#status").getAttribute("data-status"), "completed");
    const rows = frame.locator("table#iterations tr[data-iteration]");
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-iteration"))), ["0", "1"]);
    const points = frame.locator('[data-chart="pass-at-1"] circle.point');
    const values = await points.evaluateAll((circles) => circles.map((c) => Number(c.getAttribute("data-value"))));
    assert.deepEqual(values, stored.metrics.map((m) => m.eval.pass_at_1));
    assert.ok((await frame.locator('[data-chart="loss"] circle.point, [data-chart="loss"] path, [data-chart="loss"] polyline').count()) > 0, "the loss chart is empty");
    await wb.screenshot("run-4-dashboard");
  });

  it("Evaluate Model on the run's fine-tuned weights reproduces the run's greedy test pass@1", async function () {
    assert.ok(stored, "the run did not complete");
    const wb = session!.workbench;
    await wb.clearNotifications();
    await wb.runCommand("ReST-EM: Evaluate Model");
    await wb.pickQuickPick(`.restem/runs/${stored.id}/iter-1/weights`);
    await wb.pickQuickPick("problems");
    await wb.pickQuickPick("Tiny (smoke test)");
    // Same weights, greedy decoding and test split as the run's iteration-1 evaluation.
    const { message } = await wb.waitForNotification(/^ReST-EM: weights on \d+ problems: greedy pass@1/, 300_000);
    assert.equal(message, `ReST-EM: weights on 10 problems: greedy pass@1 ${pct(stored.metrics[1].eval.pass_at_1)}.`);
    await wb.screenshot("run-5-evaluate");
  });
});

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
import { copyDemoSlice } from "../support/demoProblems";
import { E2ESession, ensureVsix, REPO_ROOT, requireE2EPrerequisites } from "./session";
import { exactly, poll, type Workbench } from "./workbench";

const RUN_ID = /^\d{8}-\d{6}-\d{3}-[0-9a-f]{4}$/;

interface StoredRun {
  id: string;
  status: string;
  metrics: Array<{ iteration: number; eval: { pass_at_1: number }; estep: { kept: number; samples: number } | null }>;
  kept: Array<{ problem_id: string; index: number; code: string }>;
}

/** The run ids in the workspace's store, oldest first. */
function storedRunIds(workspace: string): string[] {
  const runs = path.join(workspace, ".restem", "runs");
  return fs.existsSync(runs) ? fs.readdirSync(runs).filter((name) => RUN_ID.test(name)).sort() : [];
}

function readStoredRun(workspace: string, id: string = storedRunIds(workspace)[0]): StoredRun {
  const runs = path.join(workspace, ".restem", "runs");
  const dir = path.join(runs, id);
  const json = (file: string): unknown => JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  const lines = (file: string): unknown[] => fs.readFileSync(path.join(dir, file), "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as unknown);
  return {
    id,
    status: (json("status.json") as { status: string }).status,
    // What exists so far: a cancelled run may have neither.
    metrics: [0, 1].filter((i) => fs.existsSync(path.join(dir, `iter-${i}/metrics.json`))).map((i) => json(`iter-${i}/metrics.json`) as StoredRun["metrics"][number]),
    kept: fs.existsSync(path.join(dir, "iter-1/kept.jsonl")) ? (lines("iter-1/kept.jsonl") as StoredRun["kept"]) : [],
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

/**
 * Runs a tree item's context-menu entry: right-clicks until the menu shows it, then clicks it
 * until the menu closes (a refresh can close a menu that just opened, and a menu ignores a
 * click that comes right after it opened).
 */
async function contextMenu(wb: Workbench, item: Locator, entry: string): Promise<void> {
  const action = wb.page.locator(".context-view .monaco-menu .action-item", { hasText: exactly(entry) }).first();
  await poll(`"${entry}" from the context menu`, async () => {
    if (!(await action.isVisible())) {
      await wb.page.keyboard.press("Escape");
      await item.click({ button: "right", timeout: 10_000 });
      await action.waitFor({ state: "visible", timeout: 5_000 }).catch(() => undefined);
      return null;
    }
    await action.click({ timeout: 5_000 }).catch(() => undefined);
    // Taken: the menu closes (it takes a moment); ignored: it stays open and the click is repeated.
    return action.waitFor({ state: "hidden", timeout: 3_000 }).then(() => true, () => null);
  }, 60_000, 300);
}

/** ReST-EM: Start Run through its four quick picks: the workspace's problems and model, the tiny preset, `config`. */
async function startRunFromPalette(wb: Workbench, config: string): Promise<void> {
  await wb.runCommand("ReST-EM: Start Run");
  await wb.pickQuickPick("problems");
  await wb.pickQuickPick("model");
  await wb.pickQuickPick("Tiny (smoke test)");
  await wb.pickQuickPick(config);
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
        // One broken problem: listed with its reason in the Problems view, skipped by the run.
        const broken = path.join(workspace, "problems", "train", "zz-broken");
        fs.mkdirSync(broken, { recursive: true });
        fs.writeFileSync(path.join(broken, "question.txt"), "Print the sum of two numbers.\n");
        fs.writeFileSync(path.join(broken, "input_output.json"), '{"inputs": ["1 2\\n"]}');
        // A config file with a bad field: Start Run must say which file and field, not throw.
        fs.writeFileSync(path.join(workspace, "restem.bad.json"), JSON.stringify({ sampling: { temperature: -1 } }));
        // A config file that asks for two iterations (the tiny preset has one).
        fs.writeFileSync(path.join(workspace, "restem.two.json"), JSON.stringify({ iterations: 2 }));
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
    const set = await wb.waitForTreeItem("Problems", "problems", 60_000);
    assert.equal(await description(set), "35 problems · 1 error");
    const skipped = await wb.waitForTreeItem("Problems", "problems skipped");
    assert.equal(await description(skipped), "1 error");
    await expand(skipped);
    const broken = await wb.waitForTreeItem("Problems", "zz-broken/input_output.json");
    assert.match(await description(broken), /outputs/);
    await wb.screenshot("run-0-problems");
    await startRunFromPalette(wb, "No config file");

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
    const title = `${accepted.problem_id}: reference ↔ iteration 1 sample ${accepted.index}`;
    const tab = wb.page.locator(".tabs-container .tab", { hasText: title }).first();
    // The tree may still re-render from the run's last file changes; a click it swallowed is repeated.
    await poll("the diff editor to open from the accepted sample", async () => {
      if (await tab.isVisible()) return true;
      await (await scrollToTreeItem(wb, "Runs", `sample ${accepted.index}`)).click();
      return (await tab.waitFor({ state: "visible", timeout: 5_000 }).then(() => true, () => null));
    }, 60_000);
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
    // The quick pick fills in as it renders: wait for as many rows as accepted samples.
    const rows = await poll("the accepted samples in the quick pick", async () => {
      const labels = await wb.quickPickLabels();
      return labels.length >= stored!.kept.length ? labels : null;
    }, 30_000);
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

  it("a run from restem.two.json: an iteration-2 accepted sample against iteration 1's, from the context menu", async function () {
    assert.ok(stored, "the first run did not complete");
    const wb = session!.workbench;
    await wb.clearNotifications();
    const first = await wb.waitForTreeItem("Runs", stored.id);
    if ((await first.getAttribute("aria-expanded")) === "true") await first.locator(".monaco-tl-twistie").first().click();
    const known = new Set(storedRunIds(session!.workspace));
    await startRunFromPalette(wb, "restem.two.json");
    const id = await poll("the two-iteration run in the store", async () => storedRunIds(session!.workspace).find((r) => !known.has(r)), 60_000);
    const run = await wb.waitForTreeItem("Runs", id, 60_000);
    await poll("the two-iteration run to complete", async () => ((await description(run)).startsWith("completed") ? true : null), 600_000, 1000);

    const dir = path.join(session!.workspace, ".restem", "runs", id);
    const kept = (i: number): StoredRun["kept"] =>
      fs.readFileSync(path.join(dir, `iter-${i}`, "kept.jsonl"), "utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as StoredRun["kept"][number]);
    const [earlier, later] = [kept(1), kept(2)];
    assert.ok(later.length > 0, "iteration 2 kept no program");
    const sample = later.find((k) => earlier.some((e) => e.problem_id === k.problem_id)) ?? later[0];
    const previous = earlier.find((e) => e.problem_id === sample.problem_id);

    await expand(run);
    await expand(await wb.waitForTreeItem("Runs", "iteration 2", 30_000));
    await expand(await scrollToTreeItem(wb, "Runs", sample.problem_id));
    const item = await scrollToTreeItem(wb, "Runs", `sample ${sample.index}`);
    await contextMenu(wb, item, "Show Diff Against the Previous Iteration");
    const title = `${sample.problem_id}: iteration 1 accepted ↔ iteration 2 sample ${sample.index}`;
    await wb.page.locator(".tabs-container .tab", { hasText: title }).first().waitFor({ state: "visible", timeout: 30_000 });
    // The left side is iteration 1's accepted program of the problem (or the note that there is none).
    const expectedLeft = previous ? (previous.code.split("\n").find((l) => l.trim() !== "") ?? "").trim() : `# no accepted sample of ${sample.problem_id} in iteration 1`;
    const diff = wb.page.locator(".monaco-diff-editor").first();
    await poll("iteration 1's program on the left of the diff", async () => {
      const text = ((await diff.locator(".editor.original .view-lines").textContent()) ?? "").replace(/\u00a0/g, " ");
      return text.includes(expectedLeft) ? true : null;
    }, 30_000);
    await wb.screenshot("run-6-previous-iteration-diff");
    await expand(run).catch(() => undefined);
    if ((await run.getAttribute("aria-expanded")) === "true") await run.locator(".monaco-tl-twistie").first().click();
  });

  it("a restem.json with a bad field gets an error naming the file and the field, and no run", async function () {
    assert.ok(stored, "the first run did not complete");
    const wb = session!.workbench;
    await wb.clearNotifications();
    const before = storedRunIds(session!.workspace);
    await startRunFromPalette(wb, "restem.bad.json");
    const { message } = await wb.waitForNotification(/^ReST-EM: Start Run: /, 60_000);
    assert.match(message, /restem\.bad\.json: sampling\.temperature: must be a number >= 0 .*got -1/);
    assert.deepEqual(storedRunIds(session!.workspace), before);
    await wb.screenshot("run-7-config-error");
    await wb.clearNotifications();
  });

  it("Cancel on the progress notification stops a run; Resume Run from the tree's context menu completes it", async function () {
    assert.ok(stored, "the first run did not complete");
    const wb = session!.workbench;
    // A tiny run takes seconds: should it finish before the click lands, start another.
    let id: string | null = null;
    let run: Locator | null = null;
    for (let attempt = 1; attempt <= 3 && id === null; attempt++) {
      await wb.clearNotifications();
      const known = new Set(storedRunIds(session!.workspace));
      await startRunFromPalette(wb, "No config file");
      const { toast } = await wb.waitForNotification(/^ReST-EM: Running \d{8}-/, 60_000);
      await wb.clickNotificationButton(toast, "Cancel");
      const started = await poll("the new run in the store", async () => storedRunIds(session!.workspace).find((r) => !known.has(r)), 30_000);
      const item = await wb.waitForTreeItem("Runs", started, 60_000);
      const ended = await poll(`run ${started} to end`, async () => {
        const text = await description(item);
        return text.startsWith("cancelled") ? "cancelled" : text.startsWith("completed") ? "completed" : null;
      }, 120_000, 500);
      if (ended === "cancelled") [id, run] = [started, item];
      else console.log(`      attempt ${attempt}: run ${started} completed before Cancel took effect; starting another`);
    }
    assert.ok(id !== null && run !== null, "three runs completed before Cancel took effect");
    assert.equal(readStoredRun(session!.workspace, id).status, "cancelled");
    await wb.waitForNotification(new RegExp(`^ReST-EM: run ${id} stopped; Resume Run continues it`), 30_000);
    await wb.screenshot("run-8-cancelled");

    await contextMenu(wb, run, "Resume Run");
    await poll("the run to be resumed", async () => (/^(running|completed)/.test(await description(run)) ? true : null), 60_000, 250);
    await poll("the resumed run to complete", async () => ((await description(run)).startsWith("completed") ? true : null), 600_000, 1000);
    const resumed = readStoredRun(session!.workspace, id);
    assert.equal(resumed.status, "completed");
    const events = fs.readFileSync(path.join(session!.workspace, ".restem", "runs", id, "events.jsonl"), "utf8");
    assert.match(events, /"type":"run_cancelled"[\s\S]*"type":"run_resumed"[\s\S]*"type":"run_completed"/);
    // The dashboard, open since the earlier test, followed the new run and shows it completed.
    const frame = await wb.webviewFrame((text) => text.includes(id), 60_000);
    await poll("the dashboard to show the resumed run completed", async () => ((await frame.locator("#status").getAttribute("data-status")) === "completed" ? true : null), 60_000, 500);
    assert.equal((await frame.locator("#run-id").textContent())?.trim(), id);
    await wb.screenshot("run-9-resumed");
  });
});

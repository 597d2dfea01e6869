// What the user sees of a run while it works, outside the views: a status bar item with the
// current phase (click: the dashboard), a progress notification per run with a Cancel button
// (cancel = Stop Run), the run log in the "ReST-EM" output channel, and the message at the end.

import * as vscode from "vscode";
import type { RunEvent, RunOutcome } from "../restem";
import { formatRunEvent, type RunSession } from "./runSession";
import { percent, phaseName } from "./runTreeModel";

/** Status bar text while a run works: "iteration 1 E-step 120/384". */
export function statusText(event: RunEvent, previous: string): string {
  switch (event.type) {
    case "phase_started":
      return `iteration ${event.iteration} ${phaseName(event.phase)}`;
    case "sample_judged":
      return `iteration ${event.iteration} ${phaseName(event.phase)} ${event.done}/${event.total}`;
    case "train_step":
      return `iteration ${event.iteration} M-step step ${event.step} loss ${event.loss.toFixed(3)}`;
    default:
      return previous;
  }
}

/** A run judges hundreds of samples a second: per-sample updates reach the window at most this often. */
const SAMPLE_UPDATE_MS = 250;

export class RunFeedback implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("restem.status", vscode.StatusBarAlignment.Left, 10);
  private readonly disposables: vscode.Disposable[] = [this.item];
  private phaseText = "";
  private progress: { report(value: { message?: string; increment?: number }): void } | null = null;
  private progressDone: (() => void) | null = null;
  /** The fraction of the phase last reported to the notification (its increments add up to it). */
  private fraction = 0;
  private lastSampleUpdateMs = 0;

  constructor(
    private readonly session: RunSession,
    private readonly output: vscode.OutputChannel,
  ) {
    this.item.name = "ReST-EM";
    this.idle();
    this.item.show();
    const events = session.onEvent((runId, event) => this.onEvent(runId, event));
    const ends = session.onEnd((runId, outcome, error) => this.onEnd(runId, outcome, error));
    this.disposables.push({ dispose: () => events.dispose() }, { dispose: () => ends.dispose() });
  }

  /** Call right after a run starts: opens its progress notification. */
  begin(runId: string, verb: "Running" | "Resuming"): void {
    this.output.appendLine(`--- ${verb.toLowerCase()} run ${runId}`);
    this.phaseText = "starting";
    this.render(runId);
    this.fraction = 0;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `ReST-EM: ${verb} ${runId}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          this.progress = progress;
          this.progressDone = resolve;
          token.onCancellationRequested(() => {
            if (this.session.stop()) progress.report({ message: "stopping at the next safe point..." });
          });
        }),
    );
  }

  private onEvent(runId: string, event: RunEvent): void {
    const line = formatRunEvent(event);
    if (line !== null) this.output.appendLine(line);
    if (event.type === "sample_judged" && !this.sampleUpdateDue(event.done, event.total)) return;
    this.phaseText = statusText(event, this.phaseText);
    this.render(runId);
    if (event.type === "phase_started") {
      this.fraction = 0;
      this.progress?.report({ message: `iteration ${event.iteration}: ${phaseName(event.phase)}` });
    } else if (event.type === "sample_judged" && event.total > 0) {
      const now = event.done / event.total;
      const increment = Math.max(0, now - this.fraction) * 100;
      this.fraction = Math.max(this.fraction, now);
      this.progress?.report({ message: `iteration ${event.iteration}: ${phaseName(event.phase)} ${event.done}/${event.total}`, increment });
    } else if (event.type === "train_step") {
      this.progress?.report({ message: `iteration ${event.iteration}: M-step step ${event.step}, loss ${event.loss.toFixed(3)}` });
    }
  }

  /** True for the last sample of a phase, and at most every SAMPLE_UPDATE_MS otherwise. */
  private sampleUpdateDue(done: number, total: number): boolean {
    const now = Date.now();
    if (done < total && now - this.lastSampleUpdateMs < SAMPLE_UPDATE_MS) return false;
    this.lastSampleUpdateMs = now;
    return true;
  }

  private onEnd(runId: string, outcome: RunOutcome | null, error: Error | null): void {
    this.progressDone?.();
    this.progress = null;
    this.progressDone = null;
    this.idle();
    if (error !== null) {
      this.output.appendLine(`run ${runId} stopped with an error: ${error.message}`);
      void showError(`run ${runId} stopped: ${error.message}`, this.output);
      return;
    }
    if (outcome === null) return;
    const last = outcome.metrics.at(-1);
    const base = outcome.metrics.find((m) => m.iteration === 0);
    const summary = last && base ? ` Greedy test pass@1 ${percent(base.eval.pass_at_1)} → ${percent(last.eval.pass_at_1)}.` : "";
    if (outcome.status === "completed") {
      void vscode.window.showInformationMessage(`ReST-EM: run ${runId} completed.${summary}`, "Open Dashboard").then((choice) => {
        if (choice) void vscode.commands.executeCommand("restem.openDashboard", runId);
      });
    } else if (outcome.status === "cancelled") {
      void vscode.window.showInformationMessage(`ReST-EM: run ${runId} stopped; Resume Run continues it where it stopped.`);
    } else {
      void showError(`run ${runId} failed; the output channel has its log.`, this.output);
    }
  }

  private render(runId: string): void {
    this.item.text = `$(sync~spin) ReST-EM: ${this.phaseText}`;
    this.item.tooltip = `Run ${runId}: ${this.phaseText}. Click for the dashboard.`;
    this.item.command = { command: "restem.openDashboard", title: "Open Dashboard", arguments: [runId] };
  }

  private idle(): void {
    this.item.text = "$(beaker) ReST-EM";
    this.item.tooltip = "ReST-EM: no run is going. Click to start one.";
    this.item.command = "restem.startRun";
  }

  dispose(): void {
    this.progressDone?.();
    for (const d of this.disposables) d.dispose();
  }
}

/** An error as one actionable sentence, with buttons to the log and the environment check. */
export async function showError(message: string, output: vscode.OutputChannel): Promise<void> {
  const hint = /docker|ECONNREFUSED|ENOENT.*sock|sandbox image/i.test(message) ? ["Check Environment"] : [];
  const choice = await vscode.window.showErrorMessage(`ReST-EM: ${message}`, ...hint, "Show Log");
  if (choice === "Show Log") output.show(true);
  if (choice === "Check Environment") await vscode.commands.executeCommand("restem.checkEnvironment");
}

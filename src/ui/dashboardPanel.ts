// The ReST-EM dashboard: one webview panel (media/dashboard.js renders it) showing a run's
// pass@k per iteration, kept fraction, train–test gap, M-step loss and validation curves,
// throughput and live progress. The host loads the run store with loadDashboardData and posts
// the result; the page asks for data when it loads ("ready"), can switch runs and refresh, and
// keeps its own state with vscode.setState because its context is not retained when hidden.
//
//   DashboardPanel.show(context.extensionUri, ".restem", runId);
//   executeRun(store, runId, { onEvent: (e) => DashboardPanel.current?.setLive(live = applyProgress(live, e), runId) });

import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { listRunIds } from "../restem";
import { dashboardHtml, loadDashboardData, parsePageMessage, throttleDelay, type DashboardStatus, type HostMessage, type LiveProgress, type PageMessage } from "./dashboardModel";

/** Live progress is posted at most this often (4 per second). */
const LIVE_POST_INTERVAL_MS = 250;

/** While the shown run is running and the panel is visible, the store is read again this often. */
const POLL_INTERVAL_MS = 3000;

export class DashboardPanel {
  static readonly viewType = "restem.dashboard";
  static readonly title = "ReST-EM Dashboard";
  /** The open dashboard, if any (there is at most one). */
  static current: DashboardPanel | undefined;

  private shownRunId: string;
  /** The latest live progress of each run executing in this process (null once it ended). */
  private readonly liveByRun = new Map<string, LiveProgress | null>();
  private lastLivePostMs: number | null = null;
  private liveTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pollTimer: ReturnType<typeof setInterval>;
  private lastStatus: DashboardStatus | null = null;
  private loadGeneration = 0;
  private refreshing: Promise<void> | null = null;
  private disposed = false;
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private store: string,
    runId: string,
  ) {
    this.shownRunId = runId;
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = pageHtml(panel.webview, extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: unknown) => this.onPageMessage(parsePageMessage(message))),
    );
    this.pollTimer = setInterval(() => this.pollWhileRunning(), POLL_INTERVAL_MS);
  }

  /** Opens the dashboard on run `runId` of `store`, or reveals the open one and switches it to that run. */
  static show(extensionUri: vscode.Uri, store: string, runId: string): DashboardPanel {
    const open = DashboardPanel.current;
    if (open) {
      open.panel.reveal(undefined, false);
      open.showRun(store, runId);
      return open;
    }
    const panel = vscode.window.createWebviewPanel(DashboardPanel.viewType, DashboardPanel.title, vscode.ViewColumn.Active, webviewOptions(extensionUri));
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, store, runId);
    return DashboardPanel.current;
  }

  /**
   * Takes over a panel VS Code restored after a restart (a WebviewPanelSerializer's
   * deserializeWebviewPanel; stateRunId(state) gives the run the page showed).
   */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, store: string, runId: string): DashboardPanel {
    DashboardPanel.current?.dispose();
    DashboardPanel.current = new DashboardPanel(panel, extensionUri, store, runId);
    return DashboardPanel.current;
  }

  /** The run shown. */
  get runId(): string {
    return this.shownRunId;
  }

  /** Reads the shown run from the store again and posts it; a failure is shown on the page. */
  async refresh(): Promise<void> {
    const runId = this.shownRunId;
    const generation = ++this.loadGeneration;
    let message: HostMessage;
    try {
      const data = await loadDashboardData(this.store, runId);
      const live = this.liveFor(runId);
      if (live !== null) data.live = live;
      this.lastStatus = data.status;
      message = { type: "data", data };
    } catch (error) {
      this.lastStatus = null;
      message = { type: "error", runId, message: error instanceof Error ? error.message : String(error) };
    }
    if (generation === this.loadGeneration) await this.post(message);
  }

  /**
   * The progress of a run executing in this process (applyProgress's state; null when it
   * ended). Shown when `runId` is the run on screen (or not given); posts are throttled.
   */
  setLive(live: LiveProgress | null, runId?: string): void {
    const liveRunId = runId ?? this.shownRunId;
    this.liveByRun.set(liveRunId, live);
    if (liveRunId !== this.shownRunId || this.liveTimer !== undefined) return;
    const delay = throttleDelay(this.lastLivePostMs, Date.now(), LIVE_POST_INTERVAL_MS);
    if (delay === 0) {
      this.postLive();
      return;
    }
    this.liveTimer = setTimeout(() => {
      this.liveTimer = undefined;
      this.postLive();
    }, delay);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (DashboardPanel.current === this) DashboardPanel.current = undefined;
    clearInterval(this.pollTimer);
    if (this.liveTimer !== undefined) clearTimeout(this.liveTimer);
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }

  private showRun(store: string, runId: string): void {
    this.store = store;
    this.shownRunId = runId;
    void this.postRunsAndData();
  }

  private onPageMessage(message: PageMessage | null): void {
    if (message === null || this.disposed) return;
    if (message.type === "ready") void this.postRunsAndData();
    else if (message.type === "refresh") void this.postRunsAndData();
    else if (message.type === "selectRun" && message.runId !== this.shownRunId) this.showRun(this.store, message.runId);
  }

  private async postRunsAndData(): Promise<void> {
    await this.postRunIds();
    await this.refresh();
  }

  private async postRunIds(): Promise<void> {
    let runIds: string[];
    try {
      runIds = await listRunIds(this.store);
    } catch {
      runIds = [];
    }
    if (!runIds.includes(this.shownRunId)) runIds.push(this.shownRunId);
    await this.post({ type: "runs", runIds, selected: this.shownRunId });
  }

  /** Re-reads a running run from disk (a run started by the CLI sends no events here). */
  private pollWhileRunning(): void {
    if (this.disposed || !this.panel.visible || this.lastStatus !== "running" || this.refreshing !== null) return;
    this.refreshing = this.refresh().finally(() => {
      this.refreshing = null;
    });
  }

  private liveFor(runId: string): LiveProgress | null {
    return this.liveByRun.get(runId) ?? null;
  }

  private postLive(): void {
    this.lastLivePostMs = Date.now();
    void this.post({ type: "live", live: this.liveFor(this.shownRunId) });
  }

  private async post(message: HostMessage): Promise<void> {
    if (this.disposed) return;
    try {
      await this.panel.webview.postMessage(message);
    } catch {
      // The panel went away between the check and the post.
    }
  }
}

/** Scripts on, local files from media/ only, the page's context dropped when hidden. */
function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, "media")],
    retainContextWhenHidden: false,
  };
}

function pageHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const media = (name: string): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", name)).toString();
  return dashboardHtml({
    cspSource: webview.cspSource,
    scriptUri: media("dashboard.js"),
    styleUri: media("dashboard.css"),
    nonce: randomBytes(18).toString("base64"),
  });
}

// End-to-end harness, browser side: Playwright (playwright-core) driving Debian's chromium
// against a code-server workbench. Helpers for what the extension's tests do in VS Code: run a
// command from the command palette, pick quick-pick items, wait for notifications and press
// their buttons, find tree items in views, read a webview's content, take screenshots into
// test-artifacts/e2e/. Every wait is on a selector or a polled condition with a deadline.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Frame, type Locator, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.RESTEM_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS_DIR = path.resolve(__dirname, "..", "..", "..", "test-artifacts", "e2e");

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

/** Why the browser cannot run here, or null when it can. */
export function chromiumMissing(): string | null {
  return fs.existsSync(CHROMIUM_PATH) ? null : `chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium)`;
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Starts chromium with a new, empty profile and one page of the given size. */
export async function launchBrowser(options: { headless?: boolean; width?: number; height?: number } = {}): Promise<BrowserSession> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "restem-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: options.headless ?? process.env.RESTEM_E2E_HEADED !== "1",
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1600, height: options.height ?? 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => undefined);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

export type TextMatch = string | RegExp | ((text: string) => boolean);

function matches(match: TextMatch, text: string): boolean {
  if (typeof match === "string") return text.includes(match);
  if (match instanceof RegExp) return match.test(text);
  return match(text);
}

function describeMatch(match: TextMatch): string {
  return typeof match === "function" ? "a matching text" : JSON.stringify(String(match));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A regular expression matching exactly `text` (surrounding white space allowed). */
export function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`);
}

/** Calls `probe` until it returns something other than null or undefined; fails after `timeoutMs`. */
export async function poll<T>(what: string, probe: () => Promise<T | null | undefined>, timeoutMs: number, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A frame's visible text (document.body.innerText; the tests compile without the DOM types). */
async function frameText(frame: Frame): Promise<string> {
  return String(await frame.evaluate("document.body ? document.body.innerText : ''"));
}

export class Workbench {
  constructor(
    readonly page: Page,
    readonly artifactsDir: string = ARTIFACTS_DIR,
  ) {}

  /** Opens `url` (CodeServer.workbenchUrl) and waits until the workbench is up. */
  static async open(page: Page, url: string, timeoutMs = 90_000): Promise<Workbench> {
    await page.goto(url, { waitUntil: "domcontentloaded", timeout: timeoutMs });
    const workbench = new Workbench(page);
    await workbench.waitReady(timeoutMs);
    return workbench;
  }

  /** Waits for the workbench shell: the layout, the activity bar and the status bar. */
  async waitReady(timeoutMs = 90_000): Promise<void> {
    await this.page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: timeoutMs });
    await this.page.locator(".part.activitybar").waitFor({ state: "visible", timeout: timeoutMs });
    await this.page.locator(".part.statusbar").waitFor({ state: "visible", timeout: timeoutMs });
  }

  // --- quick input (command palette, quick picks, input boxes) -------------------------------

  /** The quick input widget (command palette, quick pick, input box). */
  get quickInput(): Locator {
    return this.page.locator(".quick-input-widget");
  }

  /**
   * The visible rows of the quick input's list. The widget keeps rows of earlier picks in the
   * DOM, hidden, so rows are filtered to the visible ones.
   */
  quickInputRows(): Locator {
    return this.quickInput.locator(".quick-input-list .monaco-list-row").filter({ visible: true });
  }

  /** Opens the command palette (F1; Ctrl+Shift+P if F1 did nothing). */
  async openCommandPalette(timeoutMs = 10_000): Promise<void> {
    await this.page.keyboard.press("F1");
    try {
      await this.quickInput.waitFor({ state: "visible", timeout: timeoutMs / 2 });
    } catch {
      await this.page.keyboard.press("Control+Shift+P");
      await this.quickInput.waitFor({ state: "visible", timeout: timeoutMs / 2 });
    }
  }

  /** Replaces the quick input's text with `text` (the palette's ">" included when given). */
  async fillQuickInput(text: string, timeoutMs = 10_000): Promise<void> {
    const input = this.quickInput.locator(".quick-input-box input");
    await input.waitFor({ state: "visible", timeout: timeoutMs });
    await input.fill(text);
  }

  /**
   * Runs the command whose palette label is `title` ("Category: Title", e.g. "ReST-EM: Check
   * Environment"): F1, type the title, choose the row with exactly that label.
   */
  async runCommand(title: string, timeoutMs = 30_000): Promise<void> {
    await this.openCommandPalette(timeoutMs);
    await this.fillQuickInput(`>${title}`, timeoutMs);
    await this.pickQuickPick(exactly(title), timeoutMs);
  }

  /**
   * Chooses the quick-pick row whose label matches (a string must equal the label) and waits
   * until the pick is taken: the widget hides or shows other rows.
   */
  async pickQuickPick(label: string | RegExp, timeoutMs = 30_000): Promise<void> {
    const pattern = typeof label === "string" ? exactly(label) : label;
    const row = this.quickInputRows().filter({ has: this.page.locator(".label-name", { hasText: pattern }) }).first();
    await row.waitFor({ state: "visible", timeout: timeoutMs });
    await row.click();
    await poll(
      `the quick pick to take ${String(label)}`,
      async () => ((await this.quickInput.isHidden()) || (await row.isHidden()) ? true : null),
      timeoutMs,
    );
  }

  /**
   * Labels of the rows the quick input shows now: visible rows only (the list recycles hidden
   * rows of earlier picks), and each row's own label, not its description or detail line.
   */
  async quickPickLabels(): Promise<string[]> {
    const labels: string[] = [];
    for (const row of await this.quickInputRows().all()) {
      if (!(await row.isVisible())) continue;
      const main = row.locator(".quick-input-list-label .label-name").first();
      const label = (await main.count()) > 0 ? main : row.locator(".label-name").first();
      labels.push(((await label.textContent()) ?? "").trim());
    }
    return labels;
  }

  /** Types into an input box (showInputBox) and accepts it with Enter. */
  async answerInputBox(text: string, timeoutMs = 30_000): Promise<void> {
    await this.quickInput.waitFor({ state: "visible", timeout: timeoutMs });
    await this.fillQuickInput(text, timeoutMs);
    await this.page.keyboard.press("Enter");
  }

  /** Opens a workspace file by name through Quick Open (Ctrl+P). */
  async openFile(name: string, timeoutMs = 30_000): Promise<void> {
    await this.page.keyboard.press("Control+P");
    await this.quickInput.waitFor({ state: "visible", timeout: timeoutMs });
    await this.fillQuickInput(name, timeoutMs);
    await this.pickQuickPick(exactly(path.basename(name)), timeoutMs);
    await this.page.locator(".tabs-container .tab", { hasText: path.basename(name) }).first().waitFor({ state: "visible", timeout: timeoutMs });
  }

  // --- notifications ------------------------------------------------------------------------

  /** Notification toasts on screen. */
  notificationToasts(): Locator {
    return this.page.locator(".notifications-toasts .notification-toast");
  }

  /** The messages of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    const messages = this.notificationToasts().locator(".notification-list-item-message");
    return (await messages.allTextContents()).map((t) => t.trim());
  }

  /** Waits for a notification toast whose message matches; returns the toast and its message. */
  async waitForNotification(match: TextMatch, timeoutMs = 60_000): Promise<{ toast: Locator; message: string }> {
    return poll(
      `a notification with ${describeMatch(match)}`,
      async () => {
        const toasts = await this.notificationToasts().all();
        for (const toast of toasts) {
          const message = ((await toast.locator(".notification-list-item-message").textContent().catch(() => null)) ?? "").trim();
          if (message && matches(match, message)) return { toast, message };
        }
        return null;
      },
      timeoutMs,
    );
  }

  /** Presses the button labelled `label` on a notification toast. */
  async clickNotificationButton(toast: Locator, label: string, timeoutMs = 10_000): Promise<void> {
    const button = toast.locator(".notification-list-item-buttons-container .monaco-button", { hasText: exactly(label) });
    await button.first().click({ timeout: timeoutMs });
  }

  /** Closes every notification (the "Notifications: Clear All Notifications" command). */
  async clearNotifications(): Promise<void> {
    await this.runCommand("Notifications: Clear All Notifications");
  }

  // --- views and trees ----------------------------------------------------------------------

  /** Opens a view container from the activity bar by its title (e.g. "ReST-EM", "Explorer"). */
  async openViewContainer(title: string, timeoutMs = 30_000): Promise<void> {
    const label = this.page.locator(`a.action-label[aria-label^="${title.replace(/["\\]/g, "\\$&")}"]`);
    const tab = this.page.locator(".part.activitybar li.action-item[role=tab]").filter({ has: label }).first();
    await tab.waitFor({ state: "visible", timeout: timeoutMs });
    // Clicking the selected container would close the side bar.
    if ((await tab.getAttribute("aria-selected")) !== "true") await tab.click();
    const heading = new RegExp(`^\\s*${escapeRegExp(title)}`, "i");
    await this.page.locator(".part.sidebar .composite.title h2", { hasText: heading }).first().waitFor({ state: "visible", timeout: timeoutMs });
  }

  /** A view's pane in the side bar, by the title in its header (e.g. "Runs"). */
  viewPane(viewTitle: string): Locator {
    return this.page.locator(".part.sidebar .pane").filter({ has: this.page.locator(".pane-header .title", { hasText: exactly(viewTitle) }) });
  }

  /** Expands a collapsed view pane. */
  async expandView(viewTitle: string, timeoutMs = 30_000): Promise<void> {
    const header = this.viewPane(viewTitle).locator(".pane-header").first();
    await header.waitFor({ state: "visible", timeout: timeoutMs });
    if ((await header.getAttribute("aria-expanded")) === "false") await header.click();
  }

  /** A tree item in a view by its label (a string must equal the label). */
  treeItem(viewTitle: string, label: string | RegExp): Locator {
    const pattern = typeof label === "string" ? exactly(label) : label;
    return this.viewPane(viewTitle)
      .locator(".monaco-list-row")
      .filter({ has: this.page.locator(".label-name, .monaco-highlighted-label", { hasText: pattern }) })
      .first();
  }

  /** Waits for a tree item and returns it. */
  async waitForTreeItem(viewTitle: string, label: string | RegExp, timeoutMs = 60_000): Promise<Locator> {
    const item = this.treeItem(viewTitle, label);
    await item.waitFor({ state: "visible", timeout: timeoutMs });
    return item;
  }

  /** The labels of a view's visible tree items, top to bottom. */
  async treeLabels(viewTitle: string): Promise<string[]> {
    const rows = this.viewPane(viewTitle).locator(".monaco-list-row .label-name");
    return (await rows.allTextContents()).map((t) => t.trim());
  }

  // --- editors and webviews -----------------------------------------------------------------

  /** Titles of the open editor tabs. */
  async editorTabs(): Promise<string[]> {
    return (await this.page.locator(".tabs-container .tab .label-name").allTextContents()).map((t) => t.trim());
  }

  /**
   * The frame holding a webview's content whose text matches. VS Code nests each webview in
   * two iframes (the host page pre/index.html, then the content frame inside it); this walks
   * page.frames() and reads every frame whose parent is such a host.
   */
  async webviewFrame(match: TextMatch, timeoutMs = 60_000): Promise<Frame> {
    return poll(
      `a webview with ${describeMatch(match)}`,
      async () => {
        for (const frame of this.page.frames()) {
          const parent = frame.parentFrame();
          if (!parent || !/\/webview\/.*index\.html/.test(parent.url())) continue;
          const text = await frameText(frame).catch(() => "");
          if (text && matches(match, text)) return frame;
        }
        return null;
      },
      timeoutMs,
    );
  }

  /** The visible text of the webview whose text matches. */
  async webviewText(match: TextMatch, timeoutMs = 60_000): Promise<string> {
    return frameText(await this.webviewFrame(match, timeoutMs));
  }

  // --- artifacts ----------------------------------------------------------------------------

  /** Saves a screenshot of the page to test-artifacts/e2e/<name>.png and returns its path. */
  async screenshot(name: string): Promise<string> {
    fs.mkdirSync(this.artifactsDir, { recursive: true });
    const file = path.join(this.artifactsDir, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }
}

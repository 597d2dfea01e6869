// A one-line progress bar for long CLI work: count, rate and ETA, redrawn on stderr.
// It draws only when stderr is a terminal, so JSON output and CI logs stay clean.

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

export function progressLine(done: number, total: number, label: string, elapsedS: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  const eta = rate > 0 ? (total - done) / rate : Number.NaN;
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  return `[${bar}] ${done}/${total} ${label}  ${rate.toFixed(1)}/s  ETA ${formatDuration(eta)}`;
}

export class Progress {
  private done_ = 0;
  private readonly started = performance.now();
  private lastDraw = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly write: (text: string) => void,
    enabled = Boolean(process.stderr.isTTY),
  ) {
    this.enabled = enabled;
  }

  tick(count = 1): void {
    this.done_ += count;
    const now = performance.now();
    if (now - this.lastDraw > 100 || this.done_ === this.total) {
      this.lastDraw = now;
      this.draw();
    }
  }

  private draw(): void {
    if (!this.enabled) return;
    const elapsed = (performance.now() - this.started) / 1000;
    this.write(`\r${progressLine(this.done_, this.total, this.label, elapsed)}\x1b[K`);
  }

  done(): void {
    if (this.enabled && this.done_ > 0) this.write("\n");
  }
}

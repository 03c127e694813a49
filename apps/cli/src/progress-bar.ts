/**
 * A progress line on stderr: redrawn in place on a terminal, one line every few
 * seconds otherwise (CI logs, pipes).
 */

export class ProgressLine {
  private lastPrint = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {}

  /** Shows `text` with a bar for `done / total`. */
  update(label: string, done: number, total: number, detail: string): void {
    if (this.quiet) return;
    const width = 24;
    const filled = total > 0 ? Math.round((width * Math.min(done, total)) / total) : 0;
    const line = `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} ${detail}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (now - this.lastPrint >= 2000 || done === total) {
      this.stream.write(`${line}\n`);
      this.lastPrint = now;
    }
  }

  /** Ends the line being redrawn, if any. */
  finish(): void {
    if (this.drawn && this.stream.isTTY) this.stream.write("\n");
    this.drawn = false;
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Math.round(seconds % 60)
    .toString()
    .padStart(2, "0")}s`;
}

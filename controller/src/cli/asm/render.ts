/**
 * How `asm run` and `asm watch` show a run on a terminal: assistant text as it arrives, a line per
 * tool call and result, a spinner while waiting (TTY only), cost and duration at the end. Colours
 * only on a TTY and never with NO_COLOR.
 */
import type { Event } from "@asm/client";

export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

function oneLine(value: unknown, max = 100): string {
  const text = (typeof value === "string" ? value : JSON.stringify(value) ?? "").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export class RunRenderer {
  private readonly colour: boolean;
  private inText = false;
  private spinnerTimer: NodeJS.Timeout | undefined;
  private spinnerAt = 0;
  private spinnerShown = false;
  /** Whether text deltas came for the current message (its whole text is then not printed again). */
  private streamedText = false;

  constructor(
    private readonly out: Output,
    env: NodeJS.ProcessEnv,
  ) {
    this.colour = out.isTTY && env.NO_COLOR === undefined;
  }

  private paint(code: string, text: string): string {
    return this.colour ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** Shows a spinner until the next output (TTY only). */
  waiting(): void {
    if (!this.out.isTTY || this.spinnerTimer) return;
    this.spinnerTimer = setInterval(() => {
      this.out.write(`\r${this.paint("2", SPINNER[this.spinnerAt++ % SPINNER.length]!)} `);
      this.spinnerShown = true;
    }, 80);
    this.spinnerTimer.unref();
  }

  private stopSpinner(): void {
    if (this.spinnerTimer) clearInterval(this.spinnerTimer);
    this.spinnerTimer = undefined;
    if (this.spinnerShown) this.out.write("\r  \r");
    this.spinnerShown = false;
  }

  private line(text: string): void {
    this.stopSpinner();
    if (this.inText) this.out.write("\n");
    this.inText = false;
    this.out.write(`${text}\n`);
  }

  /** Prints one event; returns nothing (the caller decides what an approval needs). */
  event(e: Event): void {
    const p = e.payload;
    switch (p?.$case) {
      case "runStarted":
        this.line(this.paint("2", `▶ run ${e.runId} (${e.metadata?.provider ?? ""}, lane ${e.metadata?.lane ?? ""}${e.metadata?.executor ? `, on ${e.metadata.executor}` : ""}${e.metadata?.surfaceTarget ? `, via ${e.metadata.surfaceTarget}` : ""}, pid ${p.value.pid})`));
        this.waiting();
        return;
      case "assistantDelta":
        this.stopSpinner();
        this.out.write(p.value.content);
        this.inText = true;
        this.streamedText = true;
        return;
      case "assistantMessage":
        // A message that came whole (no deltas before it) is shown whole, as its own line.
        if (!this.streamedText && p.value.text) this.line(p.value.text);
        this.streamedText = false;
        this.waiting();
        return;
      case "toolUse":
        this.line(this.paint("36", `⚙ ${p.value.toolName} ${oneLine(p.value.input)}`));
        this.waiting();
        return;
      case "toolResult":
        this.line(this.paint(p.value.isError ? "31" : "2", `  ↳ ${p.value.isError ? "error: " : ""}${oneLine(p.value.content)}`));
        this.waiting();
        return;
      case "approvalResolved":
        this.line(this.paint("2", `  approval ${p.value.decision === 1 ? "allowed" : "denied"}${p.value.reason ? ` (${p.value.reason})` : ""}`));
        return;
      case "error":
        this.line(this.paint("31", `✗ ${p.value.error?.kind ?? "error"} / ${p.value.error?.reasonCode ?? ""}: ${p.value.error?.message ?? ""}`));
        return;
      default:
        return;
    }
  }

  /** The approval as the user sees it before answering. */
  approvalPrompt(e: Event): string {
    if (e.payload?.$case !== "approvalRequested") return "";
    const { subject, details } = e.payload.value;
    const input = details?.tool_input ?? details;
    this.line(this.paint("33", `? ${subject} wants to run: ${oneLine(input, 300)}`));
    return this.paint("33", "  allow? [y/N] ");
  }

  /** The closing line: status, cost, duration. */
  summary(status: string, costUsd: number, durationMs: number, ok: boolean): void {
    this.line(this.paint(ok ? "32" : "31", `${ok ? "✓" : "✗"} ${status} · $${costUsd.toFixed(4)} · ${(durationMs / 1000).toFixed(1)} s`));
  }

  close(): void {
    this.stopSpinner();
    if (this.inText) this.out.write("\n");
    this.inText = false;
  }
}

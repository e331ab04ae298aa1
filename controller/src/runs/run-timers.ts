import type { Clock } from "@asm/shared";

/**
 * A run's timers: one-shot ones (queue timeout, run deadline), cleared together when the run ends,
 * and the stream timeout, which every event restarts. That one runs for every event, so `touch`
 * only notes the time: one timer stays armed, and when it fires with activity since it was armed
 * it re-arms for the remainder.
 */
export class RunTimers {
  private readonly timers = new Set<unknown>();
  private idleTimer: unknown;
  /** clock.now() of the run's last activity. */
  private lastActivityAt = 0;

  constructor(
    private readonly clock: Clock,
    /** The stream timeout (stream_timeout_ms), and what happens when it passes without activity. */
    private readonly idleMs: number,
    private readonly onIdle: (ms: number) => void,
  ) {}

  /** Calls `fn` after `ms` unless the timers are cleared first. */
  arm(ms: number, fn: () => void): void {
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  clear(): void {
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  /** Activity now: the stream timeout counts from here. */
  touchIdle(): void {
    this.lastActivityAt = this.clock.now();
    if (this.idleTimer === undefined) this.armIdle(this.idleMs);
  }

  /** No stream timeout until the next touch (waiting on an approval or on a slow reader). */
  clearIdle(): void {
    if (this.idleTimer !== undefined) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private armIdle(delayMs: number): void {
    this.idleTimer = this.clock.setTimeout(() => {
      this.idleTimer = undefined;
      const quietMs = this.clock.now() - this.lastActivityAt;
      if (quietMs < this.idleMs) this.armIdle(this.idleMs - quietMs);
      else this.onIdle(this.idleMs);
    }, delayMs);
  }
}

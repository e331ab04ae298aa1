import type { Clock } from "@asm/shared";

export interface RetentionLimits {
  /** Finished runs kept at most (ASM_RETAINED_RUNS). */
  maxRuns: number;
  /** Bytes of event logs of finished runs kept at most (ASM_RETAINED_RUN_BYTES). */
  maxRunBytes: number;
  /** How long a finished run or a closed session is kept (ASM_RETENTION_MS). */
  maxAgeMs: number;
  /** Closed sessions kept at most (ASM_RETAINED_CLOSED_SESSIONS). */
  maxClosedSessions: number;
}

interface Kept {
  id: string;
  at: number;
  bytes: number;
}

/** A FIFO of what ended, oldest first. */
class Ended {
  private items: Kept[] = [];
  private head = 0;
  bytes = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: Kept): void {
    this.items.push(item);
    this.bytes += item.bytes;
  }

  oldest(): Kept | undefined {
    return this.items[this.head];
  }

  shift(): Kept {
    const item = this.items[this.head++]!;
    this.bytes -= item.bytes;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * What the controller keeps after the fact, and for how long: finished runs (for GetRun and
 * WatchRun) by count, by the bytes of their event logs and by age; closed sessions by count and
 * by age. The oldest go first. Sweeps run as things end and on a timer (for age).
 */
export class Retention {
  private readonly runs = new Ended();
  private readonly sessions = new Ended();
  private timer: unknown;

  constructor(
    private readonly limits: RetentionLimits,
    private readonly clock: Clock,
    private readonly forget: { run(runId: string): void; session(sessionId: string): void },
  ) {
    this.arm();
  }

  /** Bytes of the finished runs' logs kept now. */
  get runBytes(): number {
    return this.runs.bytes;
  }

  get runCount(): number {
    return this.runs.size;
  }

  get closedSessionCount(): number {
    return this.sessions.size;
  }

  /** A run ended (`at`: when, for a run restored from the store; its age counts from then). */
  runEnded(runId: string, bytes: number, at = this.clock.now()): void {
    this.runs.push({ id: runId, at, bytes });
    this.sweep();
  }

  sessionClosed(sessionId: string, at = this.clock.now()): void {
    this.sessions.push({ id: sessionId, at, bytes: 0 });
    this.sweep();
  }

  sweep(): void {
    const tooOld = this.clock.now() - this.limits.maxAgeMs;
    for (let r = this.runs.oldest(); r && (this.runs.size > this.limits.maxRuns || this.runs.bytes > this.limits.maxRunBytes || r.at <= tooOld); r = this.runs.oldest()) {
      this.forget.run(this.runs.shift().id);
    }
    for (let s = this.sessions.oldest(); s && (this.sessions.size > this.limits.maxClosedSessions || s.at <= tooOld); s = this.sessions.oldest()) {
      this.forget.session(this.sessions.shift().id);
    }
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Age is swept at a tenth of the retention time (at most every minute, at least every second). */
  private arm(): void {
    const every = Math.min(60_000, Math.max(1000, Math.floor(this.limits.maxAgeMs / 10)));
    this.timer = this.clock.setTimeout(
      () => {
        this.sweep();
        this.arm();
      },
      every,
      { unref: true },
    );
  }
}

import type { Clock } from "@asm/shared";

interface Pending {
  id: number;
  fn: () => void;
  /** Virtual time at which it is due. */
  at: number;
  ms: number;
}

/**
 * A clock that moves only when the test says. The code under test sets its timers here; the test
 * either fires the next one once it is pending (`fireNext`: the code has reached its wait) or
 * moves time forward (`advance`), firing what falls due in order. A test of a timeout then proves
 * the order of things, not that enough real time went by.
 */
export class ManualClock implements Clock {
  private readonly pending: Pending[] = [];
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  private time = 0;

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ id, fn, at: this.time + ms, ms });
    for (const w of this.waiters.splice(0)) w();
    return id;
  }

  clearTimeout(handle: unknown): void {
    const i = this.pending.findIndex((p) => p.id === handle);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /** The delays of the timers now pending, in the order they were set. */
  delays(): number[] {
    return this.pending.map((p) => p.ms);
  }

  /** Waits until a timer is pending, moves time to it, fires it and returns its delay. */
  async fireNext(): Promise<number> {
    while (this.pending.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    const timer = this.pending.reduce((a, b) => (b.at < a.at ? b : a));
    this.pending.splice(this.pending.indexOf(timer), 1);
    this.time = Math.max(this.time, timer.at);
    timer.fn();
    return timer.ms;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, earliest first. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= until).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending.splice(this.pending.indexOf(due), 1);
      this.time = due.at;
      due.fn();
    }
    this.time = until;
  }
}

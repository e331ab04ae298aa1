import type { CliTimers } from "@asm/shared";

interface Pending {
  id: number;
  fn: () => void;
  ms: number;
}

/**
 * A clock that moves only when the test says: the code under test registers its timers here, the
 * test waits until one is pending (the code has reached its wait) and fires it. A test of a
 * timeout then proves the order of things, not that enough real time went by.
 */
export class ManualTimers implements CliTimers {
  private readonly pending: Pending[] = [];
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ id, fn, ms });
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

  /** Waits until a timer is pending, fires the oldest one and returns its delay. */
  async fireNext(): Promise<number> {
    while (this.pending.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    const timer = this.pending.shift()!;
    timer.fn();
    return timer.ms;
  }
}

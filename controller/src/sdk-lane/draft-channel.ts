import type { EventDraft } from "@asm/shared";

/** Most drafts handed over in one batch. */
const MAX_BATCH = 256;
/** Queued drafts at which producers that can wait (`waitForRoom`) do. */
const HIGH_WATER = 1024;

/**
 * The events of one sdk-lane run, from every producer (the SDK's message stream, its callbacks)
 * to the run, in order, in batches. It ends once, with `end()` or `fail(err)`; what was pushed
 * before is still delivered first. A producer that reads a stream awaits `waitForRoom()` between
 * reads, so a slow reader slows the SDK down instead of growing the queue.
 */
export class DraftChannel implements AsyncIterable<EventDraft[]> {
  private queue: EventDraft[] = [];
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private roomWaiters: Array<() => void> = [];

  push(...drafts: EventDraft[]): void {
    if (this.ended || drafts.length === 0) return;
    this.queue.push(...drafts);
    this.notify();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.notify();
    this.releaseWaiters();
  }

  fail(err: unknown): void {
    if (this.ended) return;
    this.failure = err;
    this.end();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Resolves when the queue is below its high-water mark (or the channel has ended). */
  waitForRoom(): Promise<void> {
    if (this.queue.length < HIGH_WATER || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventDraft[]> {
    for (;;) {
      if (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        if (this.queue.length < HIGH_WATER) this.releaseWaiters();
        yield batch;
        continue;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private releaseWaiters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }
}

import type { Event } from "@asm/shared";
import { AsmError, decodeEvent, encodeEventBody, encodeRunFields, isTerminal, type RunFields } from "@asm/shared";
import { PackedBodies } from "./packed-bodies.js";

export interface RunEventLogOptions {
  /** What every event of the run shares (encoded once; see shared/src/events/event-wire.ts). */
  run: RunFields;
  /** Most events one run may hold; the run fails with buffer_overflow beyond it. */
  maxEvents: number;
  /**
   * How far the producer may run ahead of the primary reader (the StreamRun caller) before
   * `append` waits. This is what carries a slow client's backpressure down to the CLI.
   */
  primaryWindow: number;
  /**
   * Whether events become durable only when the store says so (`markDurable`): readers are handed
   * only durable events. Without it (an in-memory store) every event is durable once appended.
   */
  deferredDurability?: boolean;
  /** Events appended and not yet durable at most before `append`'s producer waits (default 8192). */
  uncommittedWindow?: number;
  /** Bodies of the events a restored run already has (all durable). */
  restored?: readonly Uint8Array[];
}

/**
 * The numbered, append-only event log of one run. Sequences are contiguous from 1. Any number of
 * readers replay from any point and then follow live; each reads at its own pace from the log.
 * Exactly one terminal event ends the log.
 *
 * Each event is kept once, encoded, as its body (see event-wire.ts): readers get bodies and send
 * them as they are, framed with the run's fields; `snapshot` decodes for those who want objects.
 */
export class RunEventLog {
  private readonly events = new PackedBodies();
  /** The run's fields, encoded: every event on the wire is a body followed by these. */
  readonly runFields: Uint8Array;
  private waiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private primaryPosition: number | undefined;
  private closed = false;
  /** Events the store has committed (all of them without deferred durability). */
  private durable = 0;
  private durableWaiters: { sequence: number; resolve: () => void }[] = [];
  /** Set when the log will get no more events but has no terminal one (the controller let the run go). */
  private readersReleasedWith: AsmError | undefined;
  private readonly uncommittedWindow: number;

  constructor(private readonly opts: RunEventLogOptions) {
    this.runFields = encodeRunFields(opts.run);
    this.uncommittedWindow = opts.uncommittedWindow ?? 8192;
    for (const body of opts.restored ?? []) this.events.append(body);
    this.durable = this.events.length;
  }

  /** The last sequence appended (durable or not): the producer numbers from it. */
  get lastSequence(): number {
    return this.events.length;
  }

  /** The last sequence a reader may be handed: what the store has committed. */
  get durableSequence(): number {
    return this.durable;
  }

  /** Whether the terminal event was appended (nothing more may be). */
  get closedForAppend(): boolean {
    return this.closed;
  }

  /** Whether the terminal event is in the log and durable: the log is complete for every reader. */
  get ended(): boolean {
    return this.closed && this.durable === this.events.length;
  }

  /** The store committed events through `sequence`: readers may have them now. */
  markDurable(sequence: number): void {
    const through = Math.min(sequence, this.events.length);
    if (through <= this.durable) return;
    this.durable = through;
    this.wake();
    if (this.roomWaiters.length > 0 && this.hasReaderRoom) this.wakeRoom();
    if (this.durableWaiters.length > 0) {
      const still: typeof this.durableWaiters = [];
      for (const w of this.durableWaiters) (w.sequence <= through ? w.resolve : () => still.push(w))();
      this.durableWaiters = still;
    }
  }

  /** Resolves once events through `sequence` are durable. */
  whenDurable(sequence: number): Promise<void> {
    if (sequence <= this.durable) return Promise.resolve();
    return new Promise((resolve) => this.durableWaiters.push({ sequence, resolve }));
  }

  get size(): number {
    return this.events.length;
  }

  /** Bytes the log holds (its events' bodies and their index). */
  get bytes(): number {
    return this.events.bytes + this.runFields.length;
  }

  /** Whether one more non-terminal event fits (a terminal one always fits). */
  hasRoom(): boolean {
    return this.events.length < this.opts.maxEvents - 1;
  }

  /**
   * Appends an event whose `sequence` must be `lastSequence + 1`; its run fields are the log's own
   * and are not stored. `body` is the event's encoded body, when the caller has it already.
   * Terminal events close the log.
   */
  append(event: Event, body: Uint8Array = encodeEventBody(event)): void {
    if (this.closed) throw new AsmError({ reasonCode: "event_order_violation", message: "event appended after the terminal event" });
    if (event.sequence !== this.events.length + 1) throw new AsmError({ reasonCode: "event_order_violation", message: `sequence gap: ${event.sequence} after ${this.events.length}` });
    this.events.append(body);
    if (isTerminal(event)) {
      this.closed = true;
      this.events.seal();
    }
    if (this.opts.deferredDurability) return;
    this.durable = this.events.length;
    this.wake();
  }

  /**
   * Whether the producer may append now: no primary reader, or one within the window of what it
   * could have read (the durable events: a commit in flight is not the reader's lag); and the store
   * not more than its own window behind (a slow disk holds the CLI, not the controller's memory).
   */
  get hasReaderRoom(): boolean {
    if (this.events.length - this.durable >= this.uncommittedWindow) return false;
    return this.primaryPosition === undefined || this.durable - this.primaryPosition < this.opts.primaryWindow;
  }

  /**
   * Whether the producer is parked waiting for the primary reader. It stays parked until the
   * reader is back within half a window, so this can hold while `hasReaderRoom` already does.
   */
  get producerWaiting(): boolean {
    return this.roomWaiters.length > 0;
  }

  /** Resolves when the primary reader is within the window (at once when there is no primary reader). */
  async waitForRoom(signal?: AbortSignal): Promise<void> {
    while (!this.hasReaderRoom && !signal?.aborted) {
      await parkUntilWoken(this.roomWaiters, signal);
    }
  }

  /**
   * A producer parked in waitForRoom is woken once the primary reader is at most half a window
   * behind, not at every event it reads: a producer faster than its reader then parks once per half
   * window instead of once per event.
   */
  private readerAdvanced(position: number): void {
    if (this.roomWaiters.length > 0 && this.durable - position <= this.opts.primaryWindow >> 1 && this.events.length - this.durable < this.uncommittedWindow) this.wakeRoom();
  }

  /** Events with sequence in (after, lastSequence], decoded, without waiting. */
  snapshot(after = 0): Event[] {
    const out: Event[] = [];
    for (let i = Math.max(0, after); i < this.events.length; i++) out.push(decodeEvent(this.events.get(i), this.runFields));
    return out;
  }

  /** Decodes bodies this log handed out. */
  decode(bodies: readonly Uint8Array[]): Event[] {
    return bodies.map((b) => decodeEvent(b, this.runFields));
  }

  /**
   * Replays events after `after`, then follows live until the terminal event or until `signal`
   * aborts. Hands out everything already in the log that this reader has not had, up to
   * `maxEvents` at a time, and waits only when it has had everything: a reader that keeps up gets
   * one event per batch; one that falls behind catches up in batches. With `primary`, this reader's
   * position throttles the producer; it moves past a batch when the batch is handed out.
   */
  async *readBatches(after: number, opts: { signal?: AbortSignal; primary?: boolean; maxEvents: number }): AsyncGenerator<Uint8Array[]> {
    const { signal, primary = false } = opts;
    const maxEvents = Math.max(1, Math.floor(opts.maxEvents));
    let position = Math.max(0, Math.min(after, Number.MAX_SAFE_INTEGER));
    if (primary) this.primaryPosition = position;
    // One abort listener for the whole read (a reader that keeps up parks once per event).
    let wake: (() => void) | undefined;
    const onAbort = (): void => wake?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (position < this.durable) {
          const end = Math.min(this.durable, position + maxEvents);
          const batch: Uint8Array[] = [];
          for (let i = position; i < end; i++) batch.push(this.events.get(i));
          position = end;
          if (primary) {
            this.primaryPosition = position;
            this.readerAdvanced(position);
          }
          yield batch;
          continue;
        }
        if (this.closed && position >= this.events.length) return;
        if (this.readersReleasedWith) throw this.readersReleasedWith;
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.waiters.push(resolve);
        });
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (primary) {
        this.primaryPosition = undefined;
        this.wakeRoom();
      }
    }
  }

  /**
   * No more events will come to this log, and no terminal event either: the controller is stopping
   * and left the run to its executor. Readers get what is durable, then `error`.
   */
  releaseReaders(error: AsmError): void {
    this.readersReleasedWith = error;
    this.wake();
  }

  /** Stops throttling on the primary reader (it detached but the run keeps going). */
  releasePrimary(): void {
    this.primaryPosition = undefined;
    this.wakeRoom();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private wakeRoom(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }
}

/** Parks the caller in `waiters` until it is woken or `signal` aborts. */
function parkUntilWoken(waiters: (() => void)[], signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal?.removeEventListener("abort", done);
      resolve();
    };
    waiters.push(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

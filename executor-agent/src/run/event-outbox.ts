import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Event, ExecuteRequest, ExecuteResponse } from "@asm/shared";

export interface OutboxLimits {
  /** Most events in one batch message. */
  batchMaxEvents: number;
  /** Approximate most bytes in one batch message (a single larger event still goes alone). */
  batchMaxBytes: number;
}

/**
 * Events waiting to go to the controller on one Execute stream. When the stream keeps up, each
 * event leaves at once (flushed on the next turn of the event loop, so a burst read from the CLI in
 * one go shares a message); when gRPC flow control holds the stream, events gather into batches.
 * `room()` holds the producer once two batches are waiting, so memory stays bounded and a slow
 * controller ends up blocking the CLI's stdout pipe.
 */
export class EventOutbox {
  private pending: Event[] = [];
  private flushScheduled = false;
  private blocked = false;
  private closed = false;
  private waiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  /** Time of the last message written, for the heartbeat. */
  lastWriteAt = Date.now();

  constructor(
    private readonly call: ServerDuplexStream<ExecuteRequest, ExecuteResponse>,
    private readonly limits: OutboxLimits,
  ) {}

  get isBlocked(): boolean {
    return this.blocked;
  }

  push(event: Event): void {
    if (this.closed) return;
    this.pending.push(event);
    this.schedule();
  }

  /** Whether the producer may push more now: fewer than two batches waiting (or the outbox was closed). */
  get hasRoom(): boolean {
    return this.closed || this.pending.length < this.limits.batchMaxEvents * 2;
  }

  /** Resolves when the producer may push more (or the outbox was closed). */
  room(): Promise<void> {
    if (this.hasRoom) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once every pushed event has been handed to gRPC (or the outbox was closed). */
  drained(): Promise<void> {
    if (this.closed || (this.pending.length === 0 && !this.blocked)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes a control message (started, heartbeat, exit) after the events already queued. */
  async writeAfterEvents(message: ExecuteResponse): Promise<void> {
    await this.drained();
    if (this.closed) return;
    this.write(message);
  }

  /** Stops sending: the controller is gone. Waiting producers are released. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.release();
  }

  private schedule(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (!this.closed && !this.blocked && this.pending.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < this.pending.length && count < this.limits.batchMaxEvents) {
        const size = approximateSize(this.pending[count]!.payload);
        if (count > 0 && bytes + size > this.limits.batchMaxBytes) break;
        bytes += size;
        count += 1;
      }
      const events = this.pending.splice(0, count);
      this.write({ reply: { $case: "events", value: { events } } });
    }
    this.release();
  }

  private write(message: ExecuteResponse): void {
    this.lastWriteAt = Date.now();
    if (this.call.write(message)) return;
    this.blocked = true;
    this.call.once("drain", () => {
      this.blocked = false;
      if (this.pending.length > 0) this.schedule();
      else this.release();
    });
  }

  private release(): void {
    if (this.hasRoom) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
    if (this.closed || (this.pending.length === 0 && !this.blocked)) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }
}

/** A cheap size estimate of an event payload: its string contents plus a little per field. */
export function approximateSize(value: unknown, depth = 0): number {
  if (typeof value === "string") return value.length + 2;
  if (value === null || typeof value !== "object" || depth > 12) return 8;
  let size = 4;
  if (Array.isArray(value)) {
    for (const item of value) size += approximateSize(item, depth + 1);
    return size;
  }
  for (const key in value) size += 2 + approximateSize((value as Record<string, unknown>)[key], depth + 1);
  return size;
}

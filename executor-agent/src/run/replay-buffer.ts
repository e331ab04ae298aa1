import type { Event } from "@asm/shared";
import { approximateSize } from "./event-outbox.js";

export interface ReplayLimits {
  replayBufferEvents: number;
  replayBufferBytes: number;
}

/**
 * Copies of a run's events that the controller has not acknowledged as kept, so a controller that
 * restarts can re-attach and have them again. Acknowledgements drop copies from the front. When
 * full, `room()` holds the producer (the executor stops reading the CLI), so memory stays bounded
 * and nothing is dropped; one event larger than the byte bound still fits alone.
 */
export class ReplayBuffer {
  private items: { event: Event; size: number }[] = [];
  private head = 0;
  private bytes = 0;
  private waiters: (() => void)[] = [];
  private closed = false;
  /** The highest sequence the controller acknowledged. */
  acked = 0;

  constructor(private readonly limits: ReplayLimits) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(event: Event): void {
    if (this.closed || event.sequence <= this.acked) return;
    const size = approximateSize(event.payload);
    this.items.push({ event, size });
    this.bytes += size;
  }

  /** The controller kept everything through `sequence`. */
  ack(sequence: number): void {
    if (sequence <= this.acked) return;
    this.acked = sequence;
    while (this.head < this.items.length && this.items[this.head]!.event.sequence <= sequence) {
      this.bytes -= this.items[this.head]!.size;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.release();
  }

  /** The kept events after `sequence`, in order. */
  after(sequence: number): Event[] {
    const out: Event[] = [];
    for (let i = this.head; i < this.items.length; i++) if (this.items[i]!.event.sequence > sequence) out.push(this.items[i]!.event);
    return out;
  }

  get hasRoom(): boolean {
    return this.closed || this.length === 0 || (this.length < this.limits.replayBufferEvents && this.bytes < this.limits.replayBufferBytes);
  }

  room(): Promise<void> {
    if (this.hasRoom) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Nothing more will be replayed (the run is over for good): waiters are released. */
  close(): void {
    this.closed = true;
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.release();
  }

  private release(): void {
    if (!this.hasRoom) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

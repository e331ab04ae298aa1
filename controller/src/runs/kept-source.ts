import type { KeptSource } from "@asm/shared";

/**
 * How far a run has kept the events an executor sent it, in the executor's sequences (what the
 * remote backend acknowledges, Heartbeat.acked_sequence). With a store whose commits come later
 * (`deferred`), a source sequence counts as kept once the run's event made from it is committed.
 */
export class KeptSourceTracker implements KeptSource {
  private kept: number;
  /** (run sequence, source sequence) pairs waiting for the store, flat. */
  private readonly waiting: number[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly deferred: boolean,
    /** What a restored run had kept already. */
    initial = 0,
  ) {
    this.kept = initial;
  }

  get sequence(): number {
    return this.kept;
  }

  onAdvance(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The run appended its event `sequence`, made from the source event `source`. */
  appended(sequence: number, source: number): void {
    if (source <= 0) return;
    if (this.deferred) this.waiting.push(sequence, source);
    else this.advance(source);
  }

  /**
   * A source event the run does not keep (dropped while stopping, a withdrawn question already
   * settled) counts as kept once what the run appended before it is (`lastSequence`, committed
   * through `durableSequence`): a replay would drop it again.
   */
  skipped(source: number | undefined, lastSequence: number, durableSequence: number): void {
    if (!source) return;
    if (this.deferred && lastSequence > durableSequence) this.waiting.push(lastSequence, source);
    else this.advance(source);
  }

  /** The store committed the run's events through `sequence`. */
  committed(sequence: number): void {
    const w = this.waiting;
    let i = 0;
    let source = 0;
    while (i < w.length && w[i]! <= sequence) {
      source = w[i + 1]!;
      i += 2;
    }
    if (i > 0) w.splice(0, i);
    if (source > 0) this.advance(source);
  }

  private advance(source: number): void {
    if (source <= this.kept) return;
    this.kept = source;
    for (const listener of this.listeners) listener();
  }
}

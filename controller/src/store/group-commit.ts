import { AsmError, type Logger } from "@asm/shared";
import type { CommitListener, RunRecord, SessionRecord, StoredEvent } from "./store.js";

/** One queued write. */
export type StoreOp =
  | { op: "event"; runId: string; event: StoredEvent }
  | { op: "run"; record: RunRecord }
  | { op: "session"; record: SessionRecord }
  | { op: "deleteRun"; runId: string }
  | { op: "deleteSession"; sessionId: string };

export interface GroupCommitOptions {
  /** Writes the ops in one transaction, in order; throws when nothing of them was committed. */
  commit: (ops: readonly StoreOp[]) => void | Promise<void>;
  logger: Logger;
  /** First wait before a failed commit is tried again (doubling up to 5 s). */
  retryMs?: number;
  /**
   * Whether a commit error means the database refuses these ops for good (a constraint: a defect,
   * never a full disk). Then the turn is written op by op and only the refused op is dropped
   * (logged), instead of retrying forever with every later write of every run waiting behind it.
   */
  refused?: (err: unknown) => boolean;
}

/**
 * Queues writes and commits them together once per turn of the event loop: the producer never
 * waits on a write, and however many events a turn produced, they cost one transaction. One commit
 * is in flight at a time; what arrives meanwhile goes into the next. A commit that fails (disk
 * full, database gone) is retried with backoff, keeping the ops and their order; until it succeeds
 * nothing after it is reported durable.
 */
export class GroupCommit {
  private pending: StoreOp[] = [];
  private scheduled = false;
  private inFlight = false;
  private retryMs: number;
  private failures = 0;
  private idle: (() => void)[] = [];
  private readonly listeners: CommitListener[] = [];
  private readonly fatalListeners: ((err: AsmError) => void)[] = [];
  private closed = false;
  /** Set when a commit was refused for good (controller_fenced): nothing more is written. */
  private fatal: AsmError | undefined;

  constructor(private readonly opts: GroupCommitOptions) {
    this.retryMs = opts.retryMs ?? 50;
  }

  add(op: StoreOp): void {
    if (this.fatal) return;
    if (this.closed) {
      // A defect (a write after the controller stopped), reported rather than crashing the process.
      this.opts.logger.error({ op: op.op }, "a write reached the store after it was closed; it was not kept");
      return;
    }
    this.pending.push(op);
    this.schedule();
  }

  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  /** Called once if a commit is refused for good (the controller was fenced): nothing is written after it. */
  onFatal(listener: (err: AsmError) => void): void {
    this.fatalListeners.push(listener);
  }

  /** Resolves once everything added so far is committed; rejects when the store refused it for good (controller_fenced). */
  async flush(): Promise<void> {
    if (this.pending.length > 0 || this.inFlight) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.fatal) throw this.fatal;
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    this.closed = true;
  }

  private schedule(delayMs = 0): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      void this.commitPending();
    };
    if (delayMs > 0) setTimeout(run, delayMs);
    else setImmediate(run);
  }

  private async commitPending(): Promise<void> {
    if (this.pending.length === 0) return this.settle();
    const ops = this.pending;
    this.pending = [];
    this.inFlight = true;
    let committed: readonly StoreOp[] = ops;
    try {
      await this.opts.commit(ops);
    } catch (err) {
      if (!this.opts.refused?.(err)) return this.failed(ops, err);
      const isolated = await this.isolate(ops);
      committed = isolated.committed;
      if (isolated.failure) {
        this.report(committed);
        return this.failed(isolated.remainder, isolated.failure.err);
      }
    }
    this.inFlight = false;
    if (this.failures > 0) this.opts.logger.warn({ failures: this.failures }, "store commit succeeded again");
    this.failures = 0;
    this.report(committed);
    if (this.pending.length > 0) this.schedule();
    else this.settle();
  }

  /** A commit that failed: fenced for good, or kept (in order, before what came since) and retried with backoff. */
  private failed(ops: readonly StoreOp[], err: unknown): void {
    this.inFlight = false;
    if (err instanceof AsmError && err.reasonCode === "controller_fenced") return this.refuse(err, ops.length);
    this.pending = ops.concat(this.pending);
    this.failures += 1;
    const wait = Math.min(5000, this.retryMs * 2 ** Math.min(this.failures - 1, 7));
    this.opts.logger.error({ err, ops: ops.length, retryInMs: wait, failures: this.failures }, "store commit failed; retrying (nothing after it is shown to clients meanwhile)");
    this.schedule(wait);
  }

  /**
   * The database refused a turn for good: its ops are written one at a time, in order, and those it
   * refuses again are dropped with an error in the log. Stops at the first other failure, with what
   * is left to retry.
   */
  private async isolate(ops: readonly StoreOp[]): Promise<{ committed: StoreOp[]; remainder: readonly StoreOp[]; failure?: { err: unknown } }> {
    const committed: StoreOp[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      try {
        await this.opts.commit([op]);
        committed.push(op);
      } catch (err) {
        if (!this.opts.refused?.(err)) return { committed, remainder: ops.slice(i), failure: { err } };
        this.opts.logger.error({ err, op: describeOp(op) }, "the database refused a write for good (a defect); it was dropped so that the writes after it are kept");
      }
    }
    return { committed, remainder: [] };
  }

  /** A fenced controller: what is queued is dropped (it was never shown to a client), and flushes end. */
  private refuse(err: AsmError, inFlight: number): void {
    this.fatal = err;
    this.opts.logger.fatal({ err, dropped: inFlight + this.pending.length }, "the store refused this controller's writes: another controller took its sessions over");
    this.pending = [];
    this.settle();
    for (const listener of this.fatalListeners) listener(err);
  }

  private report(ops: readonly StoreOp[]): void {
    const committed = new Map<string, number>();
    for (const op of ops) if (op.op === "event") committed.set(op.runId, op.event.sequence);
    if (committed.size === 0) return;
    for (const listener of this.listeners) listener(committed);
  }

  private settle(): void {
    if (this.pending.length > 0 || this.inFlight) return;
    const idle = this.idle;
    this.idle = [];
    for (const resolve of idle) resolve();
  }
}

/** What the log says of a dropped op (never its payload). */
function describeOp(op: StoreOp): Record<string, unknown> {
  switch (op.op) {
    case "event":
      return { op: op.op, runId: op.runId, sequence: op.event.sequence };
    case "run":
      return { op: op.op, runId: op.record.runId };
    case "session":
      return { op: op.op, sessionId: op.record.sessionId };
    case "deleteRun":
      return { op: op.op, runId: op.runId };
    case "deleteSession":
      return { op: op.op, sessionId: op.sessionId };
  }
}

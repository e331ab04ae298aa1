import type { AsmError, Logger } from "@asm/shared";
import { GroupCommit, type StoreOp } from "./group-commit.js";
import type { CommitListener, ControllerStore, RunRecord, SessionRecord, StoredEvent, StoredState } from "./store.js";

/**
 * What the durable stores share: every write is queued on a GroupCommit, and each store says only
 * how it commits a turn's ops, how it reads, and how it closes.
 */
export abstract class QueuedStore implements ControllerStore {
  abstract readonly kind: string;
  abstract readonly location: string;
  readonly durable = true;
  private readonly writer: GroupCommit;

  protected constructor(logger: Logger) {
    this.writer = new GroupCommit({ commit: (ops) => this.commit(ops), logger, refused: (err) => this.isRefusal(err) });
  }

  /** Whether `err` from commit is the database refusing the ops for good (a constraint), not a passing failure. */
  protected abstract isRefusal(err: unknown): boolean;

  /** Writes a turn's ops in one transaction, in order; throws when nothing of them was committed. */
  protected abstract commit(ops: readonly StoreOp[]): void | Promise<void>;
  /** Releases the database once everything queued is committed. */
  protected abstract release(): Promise<void>;
  abstract load(): Promise<StoredState>;
  abstract readEvents(runId: string, after: number, max: number): Promise<StoredEvent[]>;
  abstract lastSourceSequence(runId: string): Promise<number>;

  putSession(record: SessionRecord): void {
    this.writer.add({ op: "session", record });
  }

  putRun(record: RunRecord): void {
    this.writer.add({ op: "run", record });
  }

  appendEvent(runId: string, event: StoredEvent): void {
    this.writer.add({ op: "event", runId, event });
  }

  deleteRun(runId: string): void {
    this.writer.add({ op: "deleteRun", runId });
  }

  deleteSession(sessionId: string): void {
    this.writer.add({ op: "deleteSession", sessionId });
  }

  onCommit(listener: CommitListener): void {
    this.writer.onCommit(listener);
  }

  onFatal(listener: (err: AsmError) => void): void {
    this.writer.onFatal(listener);
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  async close(): Promise<void> {
    await this.writer.close();
    await this.release();
  }
}

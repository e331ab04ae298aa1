import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { AsmError, Result, type Logger } from "@asm/shared";
import type { StoreOp } from "./group-commit.js";
import { applyMigrations, SQLITE_MIGRATIONS } from "./migrations.js";
import { QueuedStore } from "./queued-store.js";
import type { RunRecord, SessionRecord, StoredEvent, StoredState } from "./store.js";

export interface SqliteStoreOptions {
  /** The data directory (ASM_DATA_DIR); created 0700 when missing. */
  dataDir: string;
  logger: Logger;
  /**
   * `normal` (default): a commit is written to the WAL and survives a crash of the controller
   * (SIGKILL, OOM); an OS crash or power loss may lose the last commits. `full`: each commit is
   * also fsynced, surviving power loss, at a cost per commit.
   */
  sync: "normal" | "full";
}

type Row = Record<string, unknown>;

/**
 * The embedded store of one controller: one SQLite file (`asm.db`) in WAL mode in the data
 * directory, opened exclusively (a second controller on the same directory is refused). Writes
 * come from GroupCommit, one transaction per turn of the event loop; better-sqlite3 is
 * synchronous, so a commit is one short write on the event loop and no fsync with `normal`.
 */
export class SqliteStore extends QueuedStore {
  readonly kind = "sqlite";
  readonly location: string;
  private readonly db: Database.Database;
  private readonly statements: ReturnType<SqliteStore["prepare"]>;
  private readonly commitTransaction: (ops: readonly StoreOp[]) => void;

  constructor(opts: SqliteStoreOptions) {
    super(opts.logger);
    this.location = join(opts.dataDir, "asm.db");
    try {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      this.db = new Database(this.location, { timeout: 0 });
      chmodSync(this.location, 0o600);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${opts.sync === "full" ? "FULL" : "NORMAL"}`);
      // Held until close: another controller on this directory fails at once instead of interleaving.
      this.db.pragma("locking_mode = EXCLUSIVE");
      // Fewer, larger checkpoints: a page the appends keep rewriting is copied to the file once per checkpoint.
      this.db.pragma("wal_autocheckpoint = 16384");
      applyMigrations(this.db, SQLITE_MIGRATIONS);
    } catch (err) {
      throw storeUnavailable(this.location, err);
    }
    this.statements = this.prepare();
    this.commitTransaction = this.db.transaction((ops: readonly StoreOp[]) => {
      for (const op of ops) this.write(op);
    });
  }

  protected commit(ops: readonly StoreOp[]): void {
    this.commitTransaction(ops);
  }

  private prepare() {
    const db = this.db;
    return {
      putSession: db.prepare("INSERT INTO sessions (session_id, ordinal, record) VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET record = excluded.record"),
      putRun: db.prepare("INSERT INTO runs (run_id, session_id, record, result) VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET record = excluded.record, result = excluded.result"),
      appendEvent: db.prepare("INSERT INTO events (run_id, sequence, source_sequence, body) VALUES (?, ?, ?, ?)"),
      deleteRun: db.prepare("DELETE FROM runs WHERE run_id = ?"),
      deleteRunEvents: db.prepare("DELETE FROM events WHERE run_id = ?"),
      deleteSession: db.prepare("DELETE FROM sessions WHERE session_id = ?"),
      readEvents: db.prepare("SELECT sequence, source_sequence, body FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?"),
      lastSource: db.prepare("SELECT MAX(source_sequence) AS s FROM events WHERE run_id = ?"),
      sessions: db.prepare("SELECT record FROM sessions ORDER BY ordinal"),
      runs: db.prepare("SELECT record, result FROM runs"),
    };
  }

  private write(op: StoreOp): void {
    const s = this.statements;
    switch (op.op) {
      case "event":
        s.appendEvent.run(op.runId, op.event.sequence, op.event.sourceSequence, op.event.body);
        return;
      case "run": {
        const { result, ...rest } = op.record;
        s.putRun.run(rest.runId, rest.sessionId, JSON.stringify(rest), result ? Buffer.from(Result.encode(result).finish()) : null);
        return;
      }
      case "session":
        s.putSession.run(op.record.sessionId, op.record.ordinal, JSON.stringify(op.record));
        return;
      case "deleteRun":
        s.deleteRunEvents.run(op.runId);
        s.deleteRun.run(op.runId);
        return;
      case "deleteSession":
        s.deleteSession.run(op.sessionId);
        return;
    }
  }

  async load(): Promise<StoredState> {
    const sessions = (this.statements.sessions.all() as Row[]).map((r) => JSON.parse(String(r.record)) as SessionRecord);
    const runs = (this.statements.runs.all() as Row[]).map((r) => {
      const record = JSON.parse(String(r.record)) as RunRecord;
      record.result = r.result ? Result.decode(r.result as Buffer) : undefined;
      return record;
    });
    return { sessions, runs };
  }

  async readEvents(runId: string, after: number, max: number): Promise<StoredEvent[]> {
    const rows = this.statements.readEvents.all(runId, after, max) as Row[];
    return rows.map((r) => ({ sequence: Number(r.sequence), sourceSequence: Number(r.source_sequence), body: new Uint8Array(r.body as Buffer) }));
  }

  async lastSourceSequence(runId: string): Promise<number> {
    const row = this.statements.lastSource.get(runId) as Row | undefined;
    return Number(row?.s ?? 0);
  }

  protected async release(): Promise<void> {
    this.db.close();
  }
}

function storeUnavailable(location: string, err: unknown): AsmError {
  if (err instanceof AsmError) return err;
  const e = err as { code?: string; message?: string };
  const why = e.code === "SQLITE_BUSY" ? "it is in use by another controller (one controller per data directory; use PostgreSQL for several)" : (e.message ?? String(err));
  return new AsmError({ reasonCode: "store_unavailable", message: `cannot open the store ${location}: ${why}`, details: { location, code: e.code ?? "" } });
}

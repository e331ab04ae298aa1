import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { applyMigrations, SQLITE_MIGRATIONS } from "../migrations.js";
import { eachPackedOp, packEvents, type PackedBatch, type PackedEvents, type RowOp } from "./packed-ops.js";

/** What the database hands back at a start: records as stored (JSON, and the encoded `Result`). */
export interface StoredRows {
  sessions: string[];
  runs: { record: string; result: Uint8Array | null }[];
}

/** Rows per event INSERT (4 parameters each, far below SQLite's limit of 32,766). */
const EVENT_ROWS = 128;

type Row = Record<string, unknown>;

/**
 * The SQLite file itself (`asm.db` in the data directory), WAL mode, opened exclusively (a second
 * controller on the same directory is refused). Synchronous: it runs on the store's worker thread
 * (sqlite-worker.ts), never on the controller's event loop. Throws what better-sqlite3 throws; the
 * store turns that into store_unavailable.
 */
export class SqliteDatabase {
  readonly location: string;
  private readonly db: Database.Database;
  private readonly statements: ReturnType<SqliteDatabase["prepare"]>;
  /** Multi-row event INSERTs by row count. */
  private readonly eventInserts = new Map<number, Database.Statement>();
  private readonly commitTransaction: (batch: PackedBatch) => void;

  constructor(dataDir: string, sync: "normal" | "full") {
    this.location = join(dataDir, "asm.db");
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.db = new Database(this.location, { timeout: 0 });
    try {
      chmodSync(this.location, 0o600);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma(`synchronous = ${sync === "full" ? "FULL" : "NORMAL"}`);
      // Held until close: another controller on this directory fails at once instead of interleaving.
      this.db.pragma("locking_mode = EXCLUSIVE");
      // Fewer, larger checkpoints: a page the appends keep rewriting is copied to the file once per checkpoint.
      this.db.pragma("wal_autocheckpoint = 16384");
      applyMigrations(this.db, SQLITE_MIGRATIONS);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.statements = this.prepare();
    this.commitTransaction = this.db.transaction((batch: PackedBatch) => {
      eachPackedOp(batch, (op) => this.write(op), (events, from, to) => this.insertEvents(events, from, to));
    });
  }

  /** Writes a batch in one transaction, in order; throws when nothing of it was committed. */
  commit(batch: PackedBatch): void {
    this.commitTransaction(batch);
  }

  load(): StoredRows {
    const sessions = (this.statements.sessions.all() as Row[]).map((r) => String(r.record));
    const runs = (this.statements.runs.all() as Row[]).map((r) => ({ record: String(r.record), result: (r.result as Buffer | null) ?? null }));
    return { sessions, runs };
  }

  readEvents(runId: string, after: number, max: number): PackedEvents {
    const rows = this.statements.readEvents.all(runId, after, max) as Row[];
    return packEvents(rows.map((r) => ({ runId, sequence: Number(r.sequence), sourceSequence: Number(r.source_sequence), body: r.body as Buffer })));
  }

  lastSourceSequence(runId: string): number {
    const row = this.statements.lastSource.get(runId) as Row | undefined;
    return Number(row?.s ?? 0);
  }

  close(): void {
    this.db.close();
  }

  private prepare() {
    const db = this.db;
    return {
      putSession: db.prepare("INSERT INTO sessions (session_id, ordinal, record) VALUES (?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET record = excluded.record"),
      putRun: db.prepare("INSERT INTO runs (run_id, session_id, record, result) VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET record = excluded.record, result = excluded.result"),
      deleteRun: db.prepare("DELETE FROM runs WHERE run_id = ?"),
      deleteRunEvents: db.prepare("DELETE FROM events WHERE run_id = ?"),
      deleteSession: db.prepare("DELETE FROM sessions WHERE session_id = ?"),
      readEvents: db.prepare("SELECT sequence, source_sequence, body FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?"),
      lastSource: db.prepare("SELECT MAX(source_sequence) AS s FROM events WHERE run_id = ?"),
      sessions: db.prepare("SELECT record FROM sessions ORDER BY ordinal"),
      runs: db.prepare("SELECT record, result FROM runs"),
    };
  }

  /**
   * Events `from..to` of the batch in order, EVENT_ROWS to a statement: one call into SQLite per
   * row costs more than the row itself, so they go as multi-row INSERTs.
   */
  private insertEvents(events: PackedEvents, from: number, to: number): void {
    for (let at = from; at < to; at += EVENT_ROWS) {
      const end = Math.min(to, at + EVENT_ROWS);
      const params: unknown[] = [];
      for (let i = at; i < end; i++) params.push(events.runIds[i], events.numbers[2 * i], events.numbers[2 * i + 1], events.bodies.subarray(i === 0 ? 0 : events.ends[i - 1], events.ends[i]));
      this.eventInsert(end - at).run(params);
    }
  }

  private eventInsert(rows: number): Database.Statement {
    let statement = this.eventInserts.get(rows);
    if (!statement) {
      statement = this.db.prepare(`INSERT INTO events (run_id, sequence, source_sequence, body) VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?)").join(", ")}`);
      this.eventInserts.set(rows, statement);
    }
    return statement;
  }

  private write(op: RowOp): void {
    const s = this.statements;
    switch (op.op) {
      case "run":
        s.putRun.run(op.runId, op.sessionId, op.record, op.result);
        return;
      case "session":
        s.putSession.run(op.sessionId, op.ordinal, op.record);
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
}

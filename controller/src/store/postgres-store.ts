import pg from "pg";
import { AsmError, Result, type Logger } from "@asm/shared";
import type { StoreOp } from "./group-commit.js";
import { newerSchemaError, type Migration } from "./migrations.js";
import { QueuedStore } from "./queued-store.js";
import type { RunRecord, SessionRecord, StoredEvent, StoredState } from "./store.js";

/**
 * The PostgreSQL schema, by version (same shapes as SQLite's, see migrations.ts). Applied at start
 * under an advisory lock, so controllers starting together migrate once.
 */
const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE sessions (session_id TEXT PRIMARY KEY, ordinal BIGINT NOT NULL, record JSONB NOT NULL);
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, record JSONB NOT NULL, result BYTEA);
      CREATE TABLE events (
        run_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        source_sequence BIGINT NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (run_id, sequence)
      );
    `,
  },
];

/** Advisory lock keys (arbitrary, fixed): migrations, and the one controller driving this database. */
const MIGRATION_LOCK = 0x61736d01;
const CONTROLLER_LOCK = 0x61736d02;
/** The LISTEN/NOTIFY channel: a doorbell per commit and run, `<run_id>:<sequence>`, never the payload. */
export const EVENTS_CHANNEL = "asm_events";

/**
 * The store on PostgreSQL (ASM_STORE=postgres://…). Same seam and group commit as SQLite: the
 * events of a turn go in one INSERT (one statement when the turn holds only events), and the same
 * transaction rings the `asm_events` doorbell for each run it wrote. This version drives a database from one controller
 * at a time: a second one is refused (advisory lock) until leases let several share it.
 */
export class PostgresStore extends QueuedStore {
  readonly kind = "postgres";

  private constructor(
    private readonly pool: pg.Pool,
    /** Holds the controller lock for the store's life. */
    private readonly lockClient: pg.PoolClient,
    readonly location: string,
    logger: Logger,
  ) {
    super(logger);
  }

  static async open(url: string, logger: Logger): Promise<PostgresStore> {
    const location = redact(url);
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
    pool.on("error", (err) => logger.warn({ err }, "an idle PostgreSQL connection failed"));
    let lockClient: pg.PoolClient | undefined;
    try {
      lockClient = await pool.connect();
      const { rows } = await lockClient.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [CONTROLLER_LOCK]);
      if (!rows[0]?.locked) {
        throw new AsmError({ reasonCode: "store_unavailable", message: `cannot open the store ${location}: another controller drives this database (several controllers on one database need session leases, not in this version)`, details: { location } });
      }
      await migrate(lockClient);
      return new PostgresStore(pool, lockClient, location, logger);
    } catch (err) {
      lockClient?.release();
      await pool.end().catch(() => undefined);
      if (err instanceof AsmError) throw err;
      const e = err as { code?: string; message?: string };
      throw new AsmError({ reasonCode: "store_unavailable", message: `cannot open the store ${location}: ${e.message ?? String(err)}`, details: { location, code: e.code ?? "" } });
    }
  }

  protected async commit(ops: readonly StoreOp[]): Promise<void> {
    // The common turn holds only events: one statement, its own transaction, one round trip.
    if (ops.every((op) => op.op === "event")) {
      const events = ops as Extract<StoreOp, { op: "event" }>[];
      await this.pool.query(...eventsStatement(events, doorbells(events)));
      return;
    }
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      // Records and deletes keep their place among the events: events between them go in one INSERT.
      const all: Extract<StoreOp, { op: "event" }>[] = [];
      let batch: Extract<StoreOp, { op: "event" }>[] = [];
      for (const op of ops) {
        if (op.op === "event") {
          batch.push(op);
          all.push(op);
          continue;
        }
        if (batch.length > 0) await client.query(...eventsStatement(batch, []));
        batch = [];
        await this.write(client, op);
      }
      await client.query(...eventsStatement(batch, doorbells(all)));
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async write(client: pg.PoolClient, op: Exclude<StoreOp, { op: "event" }>): Promise<void> {
    switch (op.op) {
      case "run": {
        const { result, ...rest } = op.record;
        await client.query("INSERT INTO runs (run_id, session_id, record, result) VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO UPDATE SET record = excluded.record, result = excluded.result", [
          rest.runId,
          rest.sessionId,
          JSON.stringify(rest),
          result ? Buffer.from(Result.encode(result).finish()) : null,
        ]);
        return;
      }
      case "session":
        await client.query("INSERT INTO sessions (session_id, ordinal, record) VALUES ($1, $2, $3) ON CONFLICT (session_id) DO UPDATE SET record = excluded.record", [op.record.sessionId, op.record.ordinal, JSON.stringify(op.record)]);
        return;
      case "deleteRun":
        await client.query("DELETE FROM events WHERE run_id = $1", [op.runId]);
        await client.query("DELETE FROM runs WHERE run_id = $1", [op.runId]);
        return;
      case "deleteSession":
        await client.query("DELETE FROM sessions WHERE session_id = $1", [op.sessionId]);
        return;
    }
  }

  async load(): Promise<StoredState> {
    const sessions = (await this.pool.query<{ record: SessionRecord }>("SELECT record FROM sessions ORDER BY ordinal")).rows.map((r) => r.record);
    const runs = (await this.pool.query<{ record: RunRecord; result: Buffer | null }>("SELECT record, result FROM runs")).rows.map((r) => ({ ...r.record, result: r.result ? Result.decode(r.result) : undefined }));
    return { sessions, runs };
  }

  async readEvents(runId: string, after: number, max: number): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query<{ sequence: string; source_sequence: string; body: Buffer }>("SELECT sequence, source_sequence, body FROM events WHERE run_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3", [runId, after, max]);
    return rows.map((r) => ({ sequence: Number(r.sequence), sourceSequence: Number(r.source_sequence), body: new Uint8Array(r.body) }));
  }

  async lastSourceSequence(runId: string): Promise<number> {
    const { rows } = await this.pool.query<{ s: string | null }>("SELECT MAX(source_sequence) AS s FROM events WHERE run_id = $1", [runId]);
    return Number(rows[0]?.s ?? 0);
  }

  protected async release(): Promise<void> {
    await this.lockClient.query("SELECT pg_advisory_unlock($1)", [CONTROLLER_LOCK]).catch(() => undefined);
    this.lockClient.release();
    await this.pool.end();
  }
}

async function migrate(client: pg.PoolClient): Promise<void> {
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query("CREATE TABLE IF NOT EXISTS asm_schema (version INTEGER NOT NULL)");
    const { rows } = await client.query<{ v: number | null }>("SELECT MAX(version) AS v FROM asm_schema");
    const current = rows[0]?.v ?? 0;
    const newest = POSTGRES_MIGRATIONS.at(-1)!.version;
    if (current > newest) throw newerSchemaError(current, newest);
    for (const m of POSTGRES_MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO asm_schema (version) VALUES ($1)", [m.version]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  }
}

/** One doorbell per run written: `<run_id>:<its highest sequence>`. */
function doorbells(events: readonly Extract<StoreOp, { op: "event" }>[]): string[] {
  const rung = new Map<string, number>();
  for (const { runId, event } of events) rung.set(runId, event.sequence);
  return [...rung].map(([runId, sequence]) => `${runId}:${sequence}`);
}

/**
 * One statement that inserts `events` and rings `bells` (a NOTIFY is delivered when its
 * transaction commits). The bodies go as one bytea split by offset in SQL, which is cheaper to
 * send than an array of many.
 */
function eventsStatement(events: readonly Extract<StoreOp, { op: "event" }>[], bells: string[]): [string, unknown[]] {
  const offsets: number[] = [];
  let offset = 0;
  for (const { event } of events) {
    offsets.push(offset);
    offset += event.body.length;
  }
  return [
    `WITH b AS (SELECT $4::bytea AS blob),
     ins AS (
       INSERT INTO events (run_id, sequence, source_sequence, body)
       SELECT t.r, t.s, t.src, substring(b.blob FROM t.o + 1 FOR t.l)
       FROM b, unnest($1::text[], $2::bigint[], $3::bigint[], $5::int[], $6::int[]) AS t(r, s, src, o, l)
     )
     SELECT pg_notify('${EVENTS_CHANNEL}', x) FROM unnest($7::text[]) AS x`,
    [
      events.map((e) => e.runId),
      events.map((e) => e.event.sequence),
      events.map((e) => e.event.sourceSequence),
      Buffer.concat(events.map((e) => e.event.body)),
      offsets,
      events.map((e) => e.event.body.length),
      bells,
    ],
  ];
}

/** The URL with its password hidden, for logs and errors. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

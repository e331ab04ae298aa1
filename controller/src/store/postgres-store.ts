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
  {
    // Several controllers on one database: who is alive, which one drives each session, and the
    // calls one forwards to another (cluster/postgres-cluster.ts).
    version: 2,
    sql: `
      CREATE TABLE controllers (
        controller_id TEXT PRIMARY KEY,
        incarnation BIGINT NOT NULL,
        state TEXT NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE session_leases (
        session_id TEXT PRIMARY KEY,
        controller_id TEXT NOT NULL,
        epoch BIGINT NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL
      );
      CREATE INDEX session_leases_controller ON session_leases (controller_id);
      CREATE TABLE commands (
        command_id BIGSERIAL PRIMARY KEY,
        target TEXT NOT NULL,
        claimed_by TEXT,
        body JSONB NOT NULL,
        reply JSONB,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX commands_target ON commands (target) WHERE reply IS NULL;
      ALTER TABLE sessions ADD COLUMN seq BIGSERIAL;
      CREATE UNIQUE INDEX sessions_seq ON sessions (seq);
      CREATE INDEX runs_session ON runs (session_id);
    `,
  },
  {
    // Client-chosen run ids among several controllers (cluster/session-claims.ts).
    version: 3,
    sql: `CREATE TABLE run_claims (run_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, controller_id TEXT NOT NULL);`,
  },
];

/** Advisory lock key (arbitrary, fixed) under which migrations run. */
const MIGRATION_LOCK = 0x61736d01;
/** The LISTEN/NOTIFY channel: a doorbell per commit and run, `<run_id>:<sequence>`, never the payload. */
export const EVENTS_CHANNEL = "asm_events";

/** Who this controller is among those sharing the database (ASM_CONTROLLER_ID, and its start count). */
export interface Membership {
  controllerId: string;
  /** Bumped at every start of the same id: a new start fences the previous one's writes. */
  incarnation: number;
}

/** What the cluster module uses of the store: its connections and who it is. */
export interface SharedDatabase {
  pool: pg.Pool;
  url: string;
  member: Membership;
}

/**
 * The store on PostgreSQL (ASM_STORE=postgres://…). Same seam and group commit as SQLite: the
 * events of a turn go in one INSERT (one statement when the turn holds only events), and the same
 * transaction rings the `asm_events` doorbell for each run it wrote.
 *
 * Several controllers may share the database. Each registers under its ASM_CONTROLLER_ID with a
 * new incarnation, and every commit is fenced: it holds a key-share lock on the controller's own
 * row and writes nothing unless that row is still this incarnation and alive. A controller
 * declared dead by another (cluster/postgres-cluster.ts) therefore cannot write again; its next
 * commit fails with controller_fenced. A session written the first time is leased to the
 * controller that wrote it (session_leases, epoch 1), and `load` returns only the sessions leased
 * to this controller.
 */
export class PostgresStore extends QueuedStore {
  readonly kind = "postgres";

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    readonly location: string,
    readonly member: Membership,
    logger: Logger,
  ) {
    super(logger);
  }

  static async open(url: string, logger: Logger, controllerId: string): Promise<PostgresStore> {
    const location = redact(url);
    const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
    pool.on("error", (err) => logger.warn({ err }, "an idle PostgreSQL connection failed"));
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      await migrate(client);
      const member = await register(client, controllerId);
      client.release();
      client = undefined;
      logger.info({ controllerId, incarnation: member.incarnation }, "registered with the shared database");
      return new PostgresStore(pool, url, location, member, logger);
    } catch (err) {
      client?.release();
      await pool.end().catch(() => undefined);
      if (err instanceof AsmError) throw err;
      const e = err as { code?: string; message?: string };
      throw new AsmError({ reasonCode: "store_unavailable", message: `cannot open the store ${location}: ${e.message ?? String(err)}`, details: { location, code: e.code ?? "" } });
    }
  }

  /** The connections and membership, for the cluster module. */
  get database(): SharedDatabase {
    return { pool: this.pool, url: this.url, member: this.member };
  }

  protected async commit(ops: readonly StoreOp[]): Promise<void> {
    // The common turn holds only events: one statement, its own transaction, one round trip.
    if (ops.every((op) => op.op === "event")) {
      const events = ops as Extract<StoreOp, { op: "event" }>[];
      const { rows } = await this.pool.query<{ live: string }>(...eventsStatement(events, doorbells(ops), this.member));
      if (Number(rows[0]?.live ?? 0) === 0) throw fenced(this.member);
      return;
    }
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const guard = await client.query("SELECT 1 FROM controllers WHERE controller_id = $1 AND incarnation = $2 AND state = 'live' FOR KEY SHARE", [this.member.controllerId, this.member.incarnation]);
      if (guard.rowCount === 0) throw fenced(this.member);
      // Records and deletes keep their place among the events: events between them go in one INSERT.
      let batch: Extract<StoreOp, { op: "event" }>[] = [];
      for (const op of ops) {
        if (op.op === "event") {
          batch.push(op);
          continue;
        }
        if (batch.length > 0) await client.query(...eventsStatement(batch, [], this.member));
        batch = [];
        await this.write(client, op);
      }
      await client.query(...eventsStatement(batch, doorbells(ops), this.member));
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** SQLSTATE class 23: integrity constraint violations. */
  protected isRefusal(err: unknown): boolean {
    const code = (err as { code?: unknown })?.code;
    return typeof code === "string" && code.startsWith("23");
  }

  private async write(client: pg.PoolClient, op: Exclude<StoreOp, { op: "event" }>): Promise<void> {
    switch (op.op) {
      case "run": {
        const { result, ...rest } = op.record;
        // A run id is one run: a record for the same id in another session never overwrites it.
        await client.query("INSERT INTO runs (run_id, session_id, record, result) VALUES ($1, $2, $3, $4) ON CONFLICT (run_id) DO UPDATE SET record = excluded.record, result = excluded.result WHERE runs.session_id = excluded.session_id", [
          rest.runId,
          rest.sessionId,
          JSON.stringify(rest),
          result ? Buffer.from(Result.encode(result).finish()) : null,
        ]);
        return;
      }
      case "session":
        // Only the lease holder rewrites a session: another controller's record is never overwritten.
        await client.query(
          "INSERT INTO sessions (session_id, ordinal, record) VALUES ($1, $2, $3) ON CONFLICT (session_id) DO UPDATE SET record = excluded.record WHERE EXISTS (SELECT 1 FROM session_leases l WHERE l.session_id = excluded.session_id AND l.controller_id = $4)",
          [op.record.sessionId, op.record.ordinal, JSON.stringify(op.record), this.member.controllerId],
        );
        // A new session is driven by the controller that created it.
        await client.query("INSERT INTO session_leases (session_id, controller_id, epoch, acquired_at) VALUES ($1, $2, 1, now()) ON CONFLICT (session_id) DO NOTHING", [op.record.sessionId, this.member.controllerId]);
        return;
      case "deleteRun":
        await client.query("DELETE FROM events WHERE run_id = $1", [op.runId]);
        await client.query("DELETE FROM runs WHERE run_id = $1", [op.runId]);
        await client.query("DELETE FROM run_claims WHERE run_id = $1", [op.runId]);
        return;
      case "deleteSession":
        await client.query("DELETE FROM sessions WHERE session_id = $1", [op.sessionId]);
        await client.query("DELETE FROM session_leases WHERE session_id = $1", [op.sessionId]);
        return;
    }
  }

  /** The sessions leased to this controller, and their runs. */
  async load(): Promise<StoredState> {
    const { rows } = await this.pool.query<{ session_id: string }>("SELECT session_id FROM session_leases WHERE controller_id = $1", [this.member.controllerId]);
    return this.loadSessions(rows.map((r) => r.session_id));
  }

  /** The named sessions and their runs (a take-over adopts them). */
  async loadSessions(sessionIds: readonly string[]): Promise<StoredState> {
    const ids = [...sessionIds];
    const sessions = (await this.pool.query<{ record: SessionRecord }>("SELECT record FROM sessions WHERE session_id = ANY($1::text[]) ORDER BY seq", [ids])).rows.map((r) => r.record);
    const runs = (await this.pool.query<{ record: RunRecord; result: Buffer | null }>("SELECT record, result FROM runs WHERE session_id = ANY($1::text[])", [ids])).rows.map(runOfRow);
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
    await this.pool.end();
  }
}

/** A run record as a row holds it (the result is a Result message). */
export function runOfRow(row: { record: RunRecord; result: Buffer | null }): RunRecord {
  return { ...row.record, result: row.result ? Result.decode(row.result) : undefined };
}

function fenced(member: Membership): AsmError {
  return new AsmError({
    reasonCode: "controller_fenced",
    message: `controller ${member.controllerId} (start ${member.incarnation}) was declared dead or started again elsewhere; it writes nothing more`,
    details: { controllerId: member.controllerId, incarnation: member.incarnation },
  });
}

/**
 * Registers this start of `controllerId`: a new incarnation, alive now. The previous start of the
 * same id (a restart) is fenced from here on; its sessions are this start's at once. Sessions
 * with no lease (written before leases existed) are taken too.
 */
async function register(client: pg.PoolClient, controllerId: string): Promise<Membership> {
  await client.query("BEGIN");
  try {
    // Waits for the previous incarnation's commits in flight (they hold key-share locks on the row).
    await client.query("SELECT 1 FROM controllers WHERE controller_id = $1 FOR UPDATE", [controllerId]);
    const { rows } = await client.query<{ incarnation: string }>(
      `INSERT INTO controllers (controller_id, incarnation, state, heartbeat_at) VALUES ($1, 1, 'live', now())
       ON CONFLICT (controller_id) DO UPDATE SET incarnation = controllers.incarnation + 1, state = 'live', heartbeat_at = now()
       RETURNING incarnation`,
      [controllerId],
    );
    await client.query("INSERT INTO session_leases (session_id, controller_id, epoch, acquired_at) SELECT session_id, $1, 1, now() FROM sessions ON CONFLICT (session_id) DO NOTHING", [controllerId]);
    await client.query("COMMIT");
    return { controllerId, incarnation: Number(rows[0]!.incarnation) };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
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

/**
 * One doorbell per run written: `<run_id>:<its highest sequence>`. A record written without
 * events (started, approval asked, ended) rings too, so a replica re-reads it.
 */
function doorbells(ops: readonly StoreOp[]): string[] {
  const rung = new Map<string, number>();
  for (const op of ops) {
    if (op.op === "event") rung.set(op.runId, op.event.sequence);
    else if (op.op === "run") rung.set(op.record.runId, Math.max(rung.get(op.record.runId) ?? 0, op.record.lastSequence));
  }
  return [...rung].map(([runId, sequence]) => `${runId}:${sequence}`);
}

/**
 * One statement that inserts `events` and rings `bells` (a NOTIFY is delivered when its
 * transaction commits), fenced: it writes and rings nothing unless `member` is still alive, and
 * answers `live` 0 then. The bodies go as one bytea split by offset in SQL, which is cheaper to
 * send than an array of many.
 */
function eventsStatement(events: readonly Extract<StoreOp, { op: "event" }>[], bells: string[], member: Membership): [string, unknown[]] {
  const offsets: number[] = [];
  let offset = 0;
  for (const { event } of events) {
    offsets.push(offset);
    offset += event.body.length;
  }
  return [
    `WITH g AS (SELECT 1 AS ok FROM controllers WHERE controller_id = $8 AND incarnation = $9 AND state = 'live' FOR KEY SHARE),
     b AS (SELECT $4::bytea AS blob),
     ins AS (
       INSERT INTO events (run_id, sequence, source_sequence, body)
       SELECT t.r, t.s, t.src, substring(b.blob FROM t.o + 1 FOR t.l)
       FROM g, b, unnest($1::text[], $2::bigint[], $3::bigint[], $5::int[], $6::int[]) AS t(r, s, src, o, l)
     ),
     rung AS (SELECT pg_notify('${EVENTS_CHANNEL}', x) FROM g, unnest($7::text[]) AS x)
     SELECT (SELECT count(*) FROM g) AS live, (SELECT count(*) FROM rung) AS bells`,
    [
      events.map((e) => e.runId),
      events.map((e) => e.event.sequence),
      events.map((e) => e.event.sourceSequence),
      Buffer.concat(events.map((e) => e.event.body)),
      offsets,
      events.map((e) => e.event.body.length),
      bells,
      member.controllerId,
      member.incarnation,
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

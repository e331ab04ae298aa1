import type pg from "pg";
import { AsmError, RunStatus, SESSION_DEFAULTS, type CliExitStatus, type Observability, type ProviderName, type Result, type RunOptionsInput } from "@asm/shared";
import { observabilityOf } from "../runs/run-metadata.js";
import { batchesOf, isTerminalBody, runFieldsOf, type EventSource } from "../runs/stored-run.js";
import { runOfRow } from "../store/postgres-store.js";
import type { ControllerStore, RunRecord, SessionRecord } from "../store/store.js";
import type { Doorbell } from "./doorbell.js";

/** How long a follower waits for a doorbell before it reads anyway (a missed ring costs at most this). */
const FOLLOW_POLL_MS = 1000;

/** A session as another controller drives it: what the database holds of it. */
export class ReplicaSession {
  readonly sessionId: string;
  readonly owner: string;
  readonly provider: ProviderName;
  readonly state: "open" | "closed";
  readonly defaults: RunOptionsInput;
  readonly maxConcurrentRuns: number;
  readonly maxQueuedRuns: number;
  readonly keepCliWarm: boolean;
  readonly warmIdleTimeoutMs: number;
  readonly providerSessionId: string;
  readonly createdAt: Date;
  readonly runCount: number;

  constructor(
    record: SessionRecord,
    /** Its position in ListSessions across controllers (the page token). */
    readonly ordinal: number,
    readonly activeRunIds: string[],
    readonly queuedRunIds: string[],
  ) {
    this.sessionId = record.sessionId;
    this.owner = record.owner;
    this.provider = record.provider;
    this.state = record.state;
    this.defaults = record.options.defaults;
    this.maxConcurrentRuns = record.maxConcurrentRuns;
    this.maxQueuedRuns = record.maxQueuedRuns;
    this.keepCliWarm = record.options.keepCliWarm ?? SESSION_DEFAULTS.keepCliWarm;
    this.warmIdleTimeoutMs = record.options.warmIdleTimeoutMs ?? SESSION_DEFAULTS.warmIdleTimeoutMs;
    this.providerSessionId = record.providerSessionId;
    this.createdAt = new Date(record.createdAt);
    this.runCount = record.runCount;
  }
}

/**
 * A live run's events as another controller writes them: read from the events table by sequence,
 * and on each `asm_events` doorbell of the run (or every FOLLOW_POLL_MS) read again, until the
 * terminal event. Nothing is buffered beyond the page being handed out.
 */
export class FollowedEventLog implements EventSource {
  readonly runFields: Uint8Array;
  ended = false;

  constructor(
    private readonly runId: string,
    private readonly store: ControllerStore,
    private readonly doorbell: Doorbell,
    /** Whether the run is still in the database (retention may forget it while it is followed). */
    private readonly exists: () => Promise<boolean>,
    readonly durableSequence: number,
    fields: { sessionId: string; provider: string; metadata: Observability },
  ) {
    this.runFields = runFieldsOf(runId, fields);
  }

  async *readBatches(after: number, opts: { signal?: AbortSignal; maxEvents: number }): AsyncGenerator<Uint8Array[]> {
    let position = Math.max(0, after);
    const page = Math.max(1, Math.floor(opts.maxEvents));
    while (!opts.signal?.aborted) {
      // Armed before the read: a doorbell rung while reading still wakes the wait after it.
      const armed = this.doorbell.arm(this.runId);
      const events = await this.store.readEvents(this.runId, position, 512);
      if (events.length > 0) {
        armed.cancel();
        yield* batchesOf(events, page);
        const last = events.at(-1)!;
        position = last.sequence;
        if (isTerminalBody(last.body)) {
          this.ended = true;
          return;
        }
        continue;
      }
      const ring = await armed.wait(opts.signal, FOLLOW_POLL_MS);
      if (ring === "timeout" && !(await this.exists())) throw AsmError.notFound("run", this.runId);
    }
  }
}

/** A run another controller drives (or drove), as GetRun, WatchRun and StreamRun see it from here. */
export class ReplicaRun {
  readonly runId: string;
  readonly sessionId: string;
  readonly owner: string;
  readonly provider: ProviderName;
  readonly createdAt: Date;
  readonly startedAt: Date | undefined;
  readonly endedAt: Date | undefined;
  readonly metadata: Observability;
  readonly cliExit: CliExitStatus | undefined;
  readonly isQueued: boolean;
  readonly isEnded: boolean;
  readonly pendingApprovalIds: string[];
  readonly log: FollowedEventLog;
  /** The run's last event in the database when it was looked up. */
  readonly lastSequence: number;
  private readonly record: RunRecord;

  constructor(record: RunRecord, lastSequence: number, follow: (run: ReplicaRun) => FollowedEventLog) {
    this.record = record;
    this.runId = record.runId;
    this.sessionId = record.sessionId;
    this.owner = record.owner;
    this.provider = record.provider;
    this.createdAt = new Date(record.createdAt);
    this.startedAt = record.startedAt === undefined ? undefined : new Date(record.startedAt);
    this.endedAt = record.endedAt === undefined ? undefined : new Date(record.endedAt);
    this.metadata = Object.freeze(observabilityOf(record.resolution, record.provider, record.executor, record.surface));
    this.cliExit = record.cliExit;
    this.isQueued = record.phase === "queued";
    this.isEnded = record.phase === "ended";
    this.pendingApprovalIds = record.pendingApprovalIds ?? [];
    this.lastSequence = lastSequence;
    this.log = follow(this);
  }

  get status(): RunStatus {
    if (this.record.phase === "queued") return RunStatus.RUN_STATUS_QUEUED;
    if (this.record.phase === "running") return RunStatus.RUN_STATUS_RUNNING;
    return this.record.result?.status ?? RunStatus.RUN_STATUS_FAILED;
  }

  get result(): Result {
    const r = this.record.result;
    if (r) return { ...r };
    return { runId: this.runId, sessionId: this.sessionId, status: this.status, text: "", object: undefined, cost: undefined, error: undefined, durationMs: 0, stopReason: "", providerSessionId: "", metadata: undefined, lastSequence: this.lastSequence, truncated: false };
  }
}

/** What a replica reads of sessions and runs other controllers drive. */
export class ReplicaReads {
  constructor(private readonly pool: pg.Pool) {}

  /** The controller that drives the session now (undefined: no such session). */
  async leaseOwner(sessionId: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ controller_id: string }>("SELECT controller_id FROM session_leases WHERE session_id = $1", [sessionId]);
    return rows[0]?.controller_id;
  }

  async session(sessionId: string): Promise<ReplicaSession | undefined> {
    return (await this.sessions("session_id = $1", [sessionId], 1))[0];
  }

  /** Sessions after position `after` in the cross-controller order, visible to `owner` (undefined: all). */
  async sessionPage(after: number, limit: number, includeClosed: boolean, owner: string | undefined): Promise<ReplicaSession[]> {
    return this.sessions("seq > $1 AND ($2::boolean OR record->>'state' = 'open') AND ($3::text IS NULL OR record->>'owner' = $3)", [after, includeClosed, owner ?? null], limit);
  }

  async run(runId: string): Promise<RunRecord | undefined> {
    const { rows } = await this.pool.query<{ record: RunRecord; result: Buffer | null }>("SELECT record, result FROM runs WHERE run_id = $1", [runId]);
    return rows[0] ? runOfRow(rows[0]) : undefined;
  }

  async runExists(runId: string): Promise<boolean> {
    return ((await this.pool.query("SELECT 1 FROM runs WHERE run_id = $1", [runId])).rowCount ?? 0) > 0;
  }

  async lastSequence(runId: string): Promise<number> {
    const { rows } = await this.pool.query<{ s: string | null }>("SELECT MAX(sequence) AS s FROM events WHERE run_id = $1", [runId]);
    return Number(rows[0]?.s ?? 0);
  }

  private async sessions(where: string, params: unknown[], limit: number): Promise<ReplicaSession[]> {
    const { rows } = await this.pool.query<{ seq: string; record: SessionRecord }>(`SELECT seq, record FROM sessions WHERE ${where} ORDER BY seq LIMIT ${Math.max(1, Math.floor(limit))}`, params);
    if (rows.length === 0) return [];
    const live = await this.pool.query<{ session_id: string; run_id: string; phase: string }>(
      "SELECT session_id, run_id, record->>'phase' AS phase FROM runs WHERE session_id = ANY($1::text[]) AND record->>'phase' <> 'ended' ORDER BY (record->>'createdAt')::bigint",
      [rows.map((r) => r.record.sessionId)],
    );
    return rows.map(({ seq, record }) => {
      const runs = live.rows.filter((r) => r.session_id === record.sessionId);
      return new ReplicaSession(
        record,
        Number(seq),
        runs.filter((r) => r.phase === "running").map((r) => r.run_id),
        runs.filter((r) => r.phase === "queued").map((r) => r.run_id),
      );
    });
  }
}

import type pg from "pg";

/**
 * Client-chosen session and run ids among several controllers: the first controller to claim an
 * id (a row inserted at once, not with the next group commit) creates the session or run; any
 * other is answered session_exists / run_exists. Without it two controllers could both create
 * `my-session` (or `my-run`) for two callers, the second record overwriting the first.
 *
 * A claim whose session or run was never committed (its controller crashed in between) does not
 * keep the id: the same controller (restarted, with the caller's retry) or any controller once
 * the claimer is no longer live may claim it again.
 */
/** An existing claim (row `l`) that `$2` may take: its own, or one of a controller no longer live. */
const STALE_CLAIM = "l.controller_id = $2 OR NOT EXISTS (SELECT 1 FROM controllers c WHERE c.controller_id = l.controller_id AND c.state = 'live')";

export class SessionClaims {
  constructor(
    private readonly pool: pg.Pool,
    private readonly controllerId: string,
  ) {}

  /** Whether this controller now holds the id (false: another session has it, on any controller). */
  async claim(sessionId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO session_leases AS l (session_id, controller_id, epoch, acquired_at) VALUES ($1, $2, 1, now())
       ON CONFLICT (session_id) DO UPDATE SET controller_id = excluded.controller_id, epoch = l.epoch + 1, acquired_at = now()
       WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = l.session_id) AND (${STALE_CLAIM})`,
      [sessionId, this.controllerId],
    );
    return rowCount === 1;
  }

  /** Gives back a claim whose session was never created (its options were refused). */
  async release(sessionId: string): Promise<void> {
    await this.pool.query("DELETE FROM session_leases l WHERE l.session_id = $1 AND l.controller_id = $2 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = $1)", [sessionId, this.controllerId]);
  }

  /** Whether this controller now holds the run id (false: a run has it already, on any controller). */
  async claimRun(runId: string, sessionId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO run_claims AS l (run_id, session_id, controller_id) SELECT $1, $3, $2 WHERE NOT EXISTS (SELECT 1 FROM runs WHERE run_id = $1)
       ON CONFLICT (run_id) DO UPDATE SET session_id = excluded.session_id, controller_id = excluded.controller_id
       WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = l.run_id) AND (${STALE_CLAIM})`,
      [runId, this.controllerId, sessionId],
    );
    return rowCount === 1;
  }

  /** Gives back a run claim whose run was never created (refused at submit). */
  async releaseRun(runId: string): Promise<void> {
    await this.pool.query("DELETE FROM run_claims c WHERE c.run_id = $1 AND c.controller_id = $2 AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = $1)", [runId, this.controllerId]);
  }
}

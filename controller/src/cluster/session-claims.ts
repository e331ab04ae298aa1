import type pg from "pg";

/**
 * Client-chosen session ids among several controllers: the first controller to claim an id
 * (its lease row, inserted at once, not with the next group commit) creates the session; any
 * other is answered session_exists. Without it two controllers could both create `my-session`
 * for two callers, the second record overwriting the first.
 */
export class SessionClaims {
  constructor(
    private readonly pool: pg.Pool,
    private readonly controllerId: string,
  ) {}

  /** Whether this controller now holds the id (false: another session has it, on any controller). */
  async claim(sessionId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("INSERT INTO session_leases (session_id, controller_id, epoch, acquired_at) VALUES ($1, $2, 1, now()) ON CONFLICT (session_id) DO NOTHING", [sessionId, this.controllerId]);
    return rowCount === 1;
  }

  /** Gives back a claim whose session was never created (its options were refused). */
  async release(sessionId: string): Promise<void> {
    await this.pool.query("DELETE FROM session_leases l WHERE l.session_id = $1 AND l.controller_id = $2 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = $1)", [sessionId, this.controllerId]);
  }
}

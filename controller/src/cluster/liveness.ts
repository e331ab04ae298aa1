import type pg from "pg";
import { AsmError, type Logger } from "@asm/shared";
import type { Membership } from "../store/postgres-store.js";

export interface LivenessHooks {
  /** This controller lost its place (declared dead, restarted elsewhere, or silent past the TTL). */
  fenced(err: AsmError): void;
  /** Sessions taken over from a dead controller: adopt them. */
  takeOver(sessionIds: string[], from: string): Promise<void>;
}

/**
 * Who is alive among the controllers on one database. Each one stamps its row every TTL/4
 * (`heartbeat_at`, the database's clock, so the controllers' clocks do not matter) and, as often,
 * looks for a controller whose stamp is older than the TTL. The first to lock that row marks it
 * dead, moves its session leases to itself (epoch + 1) along with the calls forwarded to it and
 * not yet answered, and adopts the sessions. A session is therefore driven again at most
 * TTL + TTL/4 (+ the time to adopt it) after its controller died.
 *
 * A controller that cannot stamp its row for a whole TTL (the database unreachable) fences
 * itself: another may have taken its sessions by then. The store's fence (every commit checks
 * the row) keeps a controller that does not notice from writing anything.
 */
export class Liveness {
  private timer: NodeJS.Timeout | undefined;
  private lastStamp = Date.now();
  private stopped = false;
  private busy = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly member: Membership,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly hooks: LivenessHooks,
  ) {}

  get intervalMs(): number {
    return Math.max(100, Math.floor(this.ttlMs / 4));
  }

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      if (!this.busy) {
        this.busy = true;
        void this.beat().finally(() => (this.busy = false));
      }
      this.timer = setTimeout(tick, this.intervalMs);
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  /** At a graceful stop: the row is left expired, so another controller takes the sessions over at its next look. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pool
      .query("UPDATE controllers SET heartbeat_at = 'epoch' WHERE controller_id = $1 AND incarnation = $2 AND state = 'live'", [this.member.controllerId, this.member.incarnation])
      .catch((err: unknown) => this.logger.warn({ err }, "could not mark this controller as leaving"));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async beat(): Promise<void> {
    try {
      const stamped = await this.pool.query("UPDATE controllers SET heartbeat_at = now() WHERE controller_id = $1 AND incarnation = $2 AND state = 'live'", [this.member.controllerId, this.member.incarnation]);
      if (stamped.rowCount === 0) return this.fence("another controller declared it dead, or the same id started again");
      this.lastStamp = Date.now();
      await this.sweep();
    } catch (err) {
      this.logger.warn({ err }, "could not reach PostgreSQL for the controller heartbeat");
      if (Date.now() - this.lastStamp > this.ttlMs) this.fence(`its heartbeat could not be written for ${this.ttlMs} ms (ASM_LEASE_TTL_MS)`);
    }
  }

  private fence(why: string): void {
    if (this.stopped) return;
    this.stop();
    this.hooks.fenced(new AsmError({ reasonCode: "controller_fenced", message: `controller ${this.member.controllerId} stops driving its sessions: ${why}`, details: { controllerId: this.member.controllerId } }));
  }

  /** Takes over every controller silent past the TTL. */
  private async sweep(): Promise<void> {
    const { rows } = await this.pool.query<{ controller_id: string }>(
      "SELECT controller_id FROM controllers WHERE state = 'live' AND controller_id <> $1 AND heartbeat_at < now() - make_interval(secs => $2::double precision / 1000)",
      [this.member.controllerId, this.ttlMs],
    );
    for (const { controller_id: dead } of rows) {
      const sessions = await this.takeOverFrom(dead);
      if (sessions === undefined) continue;
      this.logger.warn({ from: dead, sessions: sessions.length }, "took over the sessions of a controller silent past ASM_LEASE_TTL_MS");
      await this.hooks.takeOver(sessions, dead);
    }
  }

  /** One transaction: the dead row locked (waiting out its commits in flight), marked, and its leases and calls moved. */
  private async takeOverFrom(dead: string): Promise<string[] | undefined> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const locked = await client.query(
        "SELECT 1 FROM controllers WHERE controller_id = $1 AND state = 'live' AND heartbeat_at < now() - make_interval(secs => $2::double precision / 1000) FOR UPDATE",
        [dead, this.ttlMs],
      );
      if (locked.rowCount === 0) {
        await client.query("ROLLBACK");
        return undefined;
      }
      await client.query("UPDATE controllers SET state = 'dead' WHERE controller_id = $1", [dead]);
      const moved = await client.query<{ session_id: string }>("UPDATE session_leases SET controller_id = $1, epoch = epoch + 1, acquired_at = now() WHERE controller_id = $2 RETURNING session_id", [this.member.controllerId, dead]);
      await client.query("UPDATE commands SET target = $1, claimed_by = NULL WHERE target = $2 AND reply IS NULL", [this.member.controllerId, dead]);
      await client.query("COMMIT");
      return moved.rows.map((r) => r.session_id);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

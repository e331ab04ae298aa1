import type pg from "pg";
import { AsmError, isReasonCode, type Logger, type Principal, type RunOptionsInput } from "@asm/shared";
import type { Membership } from "../store/postgres-store.js";
import { COMMANDS_CHANNEL, type Doorbell } from "./doorbell.js";

/** A principal as it travels between controllers (already authenticated by the one that forwards). */
export interface ForwardedPrincipal {
  id: string;
  roles: string[];
  source: Principal["source"];
}

/** A call that changes a session, sent by the controller that received it to the one that drives the session. */
export type ForwardedCall =
  | { op: "submit"; principal: ForwardedPrincipal; sessionId: string; prompt: string; overrides: RunOptionsInput; runId: string }
  | { op: "approve"; principal: ForwardedPrincipal; sessionId: string; approvalId: string; allow: boolean; reason: string }
  | { op: "interrupt"; principal: ForwardedPrincipal; runId: string; reasonCode: "user_cancelled" | "client_cancelled"; message: string }
  | { op: "close"; principal: ForwardedPrincipal; sessionId: string }
  /** Answered when the run has ended, with its Result (base64 of the message): a Query sent to another controller. */
  | { op: "result"; principal: ForwardedPrincipal; runId: string };

type Reply = { ok: true; value: unknown } | { ok: false; error: { reasonCode: string; message: string; field: string; details?: Record<string, unknown> } };

/** How often a sender looks for its answer when no notification came (a missed one). */
const REPLY_POLL_MS = 1000;
/** Forwarded calls nobody collected (their sender died) are deleted after this long. */
const ABANDONED_AFTER_S = 3600;

/**
 * Calls forwarded between controllers through the database: the sender inserts a row naming the
 * target controller and rings `asm_commands`; the target claims it, runs it as the principal the
 * sender authenticated, writes the answer and rings again; the sender takes the answer and deletes
 * the row. Nothing travels controller to controller over the network, so replicas need no
 * credentials for one another beyond the database. When the target dies, the controller that takes
 * its sessions over takes its unanswered calls too (Liveness), so a call is answered by whoever
 * drives the session by then.
 */
export class CommandChannel {
  private execute: ((call: ForwardedCall) => Promise<unknown>) | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly member: Membership,
    private readonly doorbell: Doorbell,
    private readonly logger: Logger,
  ) {
    doorbell.onCommand((payload) => this.heard(payload));
    doorbell.onReconnect(() => void this.scan());
  }

  /** Starts answering calls for this controller (those already waiting included). */
  serve(execute: (call: ForwardedCall) => Promise<unknown>): void {
    this.execute = execute;
    void this.scan();
  }

  /** Claims and answers every call waiting for this controller (after a start, a reconnect, or a take-over). */
  async scan(): Promise<void> {
    if (!this.execute) return;
    try {
      const { rows } = await this.pool.query<{ command_id: string }>("SELECT command_id FROM commands WHERE target = $1 AND claimed_by IS NULL AND reply IS NULL ORDER BY command_id", [this.member.controllerId]);
      for (const row of rows) void this.answer(row.command_id);
      await this.pool.query(`DELETE FROM commands WHERE created_at < now() - interval '${ABANDONED_AFTER_S} seconds'`);
    } catch (err) {
      this.logger.warn({ err }, "could not look for forwarded calls");
    }
  }

  /**
   * Sends `call` to `target` and resolves with its answer (or throws the AsmError it answered with).
   * Without an answer within `timeoutMs` (0: no limit), owner_unreachable; the signal gives up too.
   */
  async forward(target: string, call: ForwardedCall, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const { rows } = await this.pool.query<{ command_id: string }>(
      `WITH c AS (INSERT INTO commands (target, body) VALUES ($1, $2) RETURNING command_id)
       SELECT command_id, pg_notify('${COMMANDS_CHANNEL}', 'c:' || command_id || ':' || $1) FROM c`,
      [target, JSON.stringify(call)],
    );
    const id = rows[0]!.command_id;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    try {
      for (;;) {
        const armed = this.doorbell.arm(`@reply:${id}`);
        const reply = await this.collect(id);
        if (reply) {
          armed.cancel();
          return unwrap(reply);
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          armed.cancel();
          throw new AsmError({ reasonCode: "owner_unreachable", message: `the controller ${target} that drives this session did not answer within ${timeoutMs} ms (ASM_FORWARD_TIMEOUT_MS); try again`, details: { controllerId: target } });
        }
        if ((await armed.wait(signal, Math.min(REPLY_POLL_MS, left))) === "aborted") throw AsmError.cancelled("the client cancelled the call", "client_cancelled");
      }
    } finally {
      // An abandoned call is not run later by a controller that finds it.
      await this.pool.query("DELETE FROM commands WHERE command_id = $1", [id]).catch(() => undefined);
    }
  }

  private async collect(id: string): Promise<Reply | undefined> {
    const { rows } = await this.pool.query<{ reply: Reply }>("DELETE FROM commands WHERE command_id = $1 AND reply IS NOT NULL RETURNING reply", [id]);
    return rows[0]?.reply;
  }

  private heard(payload: string): void {
    if (payload.startsWith("r:")) return this.doorbell.wake(`@reply:${payload.slice(2)}`);
    if (!payload.startsWith("c:")) return;
    const rest = payload.slice(2);
    const i = rest.indexOf(":");
    if (i > 0 && rest.slice(i + 1) === this.member.controllerId) void this.answer(rest.slice(0, i));
  }

  private async answer(id: string): Promise<void> {
    const execute = this.execute;
    if (!execute) return;
    let reply: Reply;
    try {
      const { rows } = await this.pool.query<{ body: ForwardedCall }>("UPDATE commands SET claimed_by = $2 WHERE command_id = $1 AND target = $2 AND claimed_by IS NULL AND reply IS NULL RETURNING body", [id, this.member.controllerId]);
      const call = rows[0]?.body;
      if (!call) return;
      reply = await execute(call).then(
        (value): Reply => ({ ok: true, value: value ?? null }),
        (err: unknown): Reply => {
          const e = AsmError.from(err);
          return { ok: false, error: { reasonCode: e.reasonCode, message: e.message, field: e.field, details: e.details } };
        },
      );
      await this.pool.query(
        `WITH u AS (UPDATE commands SET reply = $2 WHERE command_id = $1 RETURNING command_id)
         SELECT pg_notify('${COMMANDS_CHANNEL}', 'r:' || command_id) FROM u`,
        [id, JSON.stringify(reply)],
      );
    } catch (err) {
      this.logger.warn({ err, commandId: id }, "could not answer a forwarded call");
    }
  }
}

function unwrap(reply: Reply): unknown {
  if (reply.ok) return reply.value;
  const { reasonCode, message, field, details } = reply.error;
  // A reason this version does not know (a newer replica) is kept in the details.
  if (!isReasonCode(reasonCode)) throw new AsmError({ reasonCode: "internal", message, field, details: { ...details, reasonCode } });
  throw new AsmError({ reasonCode, message, field, details });
}

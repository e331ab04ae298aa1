import { AsmError, isAdmin, mayAccess, newId, Result, type Logger, type Principal, type ProviderName, type RunOptionsInput, type RunStatus, type SessionOptionsInput } from "@asm/shared";
import type { AnyRun, Controller, InterruptOutcome } from "../core/controller.js";
import { StoredRun } from "../runs/stored-run.js";
import type { Session } from "../sessions/session.js";
import type { ControllerStore, StoredState } from "../store/store.js";
import type { CommandChannel, ForwardedCall, ForwardedPrincipal } from "./commands.js";
import type { Doorbell } from "./doorbell.js";
import type { SessionClaims } from "./session-claims.js";
import { FollowedEventLog, ReplicaRun, type ReplicaReads, ReplicaSession } from "./replica-views.js";

/** A session as a call sees it: driven here, or by another controller on the same database. */
export type SessionView = Session | ReplicaSession;
/** A run as a call sees it: held here (live or from the store), or driven by another controller. */
export type RunView = AnyRun | ReplicaRun;

/** What the router needs when several controllers share a PostgreSQL database. */
export interface ClusterParts {
  controllerId: string;
  reads: ReplicaReads;
  claims: SessionClaims;
  commands: CommandChannel;
  doorbell: Doorbell;
  store: ControllerStore;
  /** The named sessions and their runs, as the store holds them (for a take-over). */
  loadSessions(sessionIds: readonly string[]): Promise<StoredState>;
  /** ASM_FORWARD_TIMEOUT_MS. */
  forwardTimeoutMs: number;
  logger: Logger;
}

/**
 * The one seam between the API and where a session lives. With a single controller it is the
 * controller itself. With several on one database, reads of a session or run another controller
 * drives come from the database (ReplicaSession, ReplicaRun, followed by doorbell), and calls that
 * change it (StreamRun and Query into it, Approve, Interrupt, CloseSession) are forwarded to the
 * controller that holds its lease (CommandChannel); this controller answers the calls forwarded to
 * it (`execute`) as the principal the sender authenticated.
 */
export class SessionRouter {
  /** Take-overs in progress: calls for their sessions wait for them. */
  private adopting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly controller: Controller,
    private readonly cluster?: ClusterParts,
  ) {}

  async createSession(caller: Principal, provider: ProviderName, options: SessionOptionsInput, sessionId: string): Promise<Session> {
    const cluster = this.cluster;
    const session = await this.claimed(
      cluster && sessionId && !this.controller.hasSession(sessionId) ? { claim: () => cluster.claims.claim(sessionId), release: async () => (this.controller.hasSession(sessionId) ? undefined : cluster.claims.release(sessionId)) } : undefined,
      () => new AsmError({ reasonCode: "session_exists", field: "session_id", message: `session ${sessionId} already exists` }),
      () => this.controller.createSession(caller, provider, options, sessionId),
    );
    // Committed before the answer: any controller then answers for it.
    await cluster?.store.flush();
    return session;
  }

  /**
   * Makes a session or run under its client-chosen id, claimed in the database first (`claim`
   * undefined: nothing to claim): of two controllers asked for the id at once, one makes it and
   * the other answers `taken()`; a claim whose making is refused is given back (`release` leaves it
   * when a concurrent call made the id here meanwhile).
   */
  private async claimed<T>(claim: { claim(): Promise<boolean>; release(): Promise<void> } | undefined, taken: () => AsmError, make: () => T): Promise<T> {
    if (claim && !(await claim.claim())) throw taken();
    try {
      return make();
    } catch (err) {
      await claim?.release();
      throw err;
    }
  }

  async getSession(sessionId: string, caller: Principal): Promise<SessionView> {
    if (!this.cluster) return this.controller.getSession(sessionId, caller);
    await this.adopting;
    if (this.controller.hasSession(sessionId)) return this.controller.getSession(sessionId, caller);
    return this.replicaSession(sessionId, caller);
  }

  /**
   * Sessions after the page token, in listing order: this controller's (its creation order), or,
   * with several controllers, every controller's from the database (the order rows were written).
   * `limit` bounds what is read from the database.
   */
  async sessionsAfter(caller: Principal, includeClosed: boolean, pageToken: string, limit: number): Promise<Iterable<SessionView>> {
    if (!this.cluster) return this.controller.sessionsAfter(caller, includeClosed, pageToken);
    if (pageToken !== "" && !/^[1-9][0-9]{0,15}$/.test(pageToken)) throw AsmError.configInvalid("page_token", "not a page token from this controller's ListSessions");
    return this.cluster.reads.sessionPage(pageToken === "" ? 0 : Number(pageToken), limit, includeClosed, isAdmin(caller) ? undefined : caller.id);
  }

  async closeSession(sessionId: string, caller: Principal): Promise<{ session: SessionView; interrupted: string[]; dropped: string[] }> {
    const owner = await this.route(sessionId, caller);
    if (owner === "here") {
      const closed = await this.controller.closeSession(sessionId, caller);
      await this.cluster?.store.flush();
      return closed;
    }
    const r = (await this.forward(owner, { op: "close", principal: carried(caller), sessionId })) as { interrupted: string[]; dropped: string[] };
    return { session: await this.replicaSession(sessionId, caller), ...r };
  }

  /** Admits a run into a session, here or through the controller that drives the session. */
  async submitRun(caller: Principal, sessionId: string, prompt: string, overrides: RunOptionsInput, runId: string): Promise<RunView> {
    const owner = await this.route(sessionId, caller);
    if (owner === "here") {
      const cluster = this.cluster;
      const run = await this.claimed(
        cluster && runId && !this.controller.hasRun(runId) ? { claim: () => cluster.claims.claimRun(runId, sessionId), release: async () => (this.controller.hasRun(runId) ? undefined : cluster.claims.releaseRun(runId)) } : undefined,
        () => new AsmError({ reasonCode: "run_exists", field: "run_id", message: `run ${runId} already exists` }),
        () => this.controller.submitRun(caller, sessionId, prompt, overrides, runId),
      );
      await cluster?.store.flush();
      return run;
    }
    const id = runId || newId("run");
    await this.forward(owner, { op: "submit", principal: carried(caller), sessionId, prompt, overrides, runId: id });
    return this.getRun(id, caller);
  }

  async getRun(runId: string, caller: Principal): Promise<RunView> {
    const cluster = this.cluster;
    if (!cluster || this.controller.hasRun(runId)) return this.controller.getRun(runId, caller);
    await this.adopting;
    if (this.controller.hasRun(runId)) return this.controller.getRun(runId, caller);
    const record = await cluster.reads.run(runId);
    if (!record || !mayAccess(caller, record.owner)) throw AsmError.notFound("run", runId);
    if (record.phase === "ended") return new StoredRun(record, cluster.store);
    const last = await cluster.reads.lastSequence(runId);
    return new ReplicaRun(record, last, (run) => new FollowedEventLog(runId, cluster.store, cluster.doorbell, () => cluster.reads.runExists(runId), last, run));
  }

  async interrupt(runId: string, caller: Principal, reasonCode: "user_cancelled" | "client_cancelled" = "user_cancelled", message = "run interrupted"): Promise<{ outcome: InterruptOutcome; status: RunStatus }> {
    const run = await this.getRun(runId, caller);
    if (!(run instanceof ReplicaRun)) {
      const outcome = await this.controller.interrupt(runId, caller, reasonCode, message);
      await this.cluster?.store.flush();
      return { outcome, status: this.controller.getRun(runId, caller).status };
    }
    const owner = await this.route(run.sessionId, caller);
    if (owner === "here") return this.interrupt(runId, caller, reasonCode, message);
    return (await this.forward(owner, { op: "interrupt", principal: carried(caller), runId, reasonCode, message })) as { outcome: InterruptOutcome; status: RunStatus };
  }

  /** Routes a decision to the run that asked; returns its id. */
  async approve(caller: Principal, sessionId: string, approvalId: string, allow: boolean, reason: string): Promise<string> {
    const owner = await this.route(sessionId, caller);
    if (owner === "here") return (await this.controller.approve(caller, sessionId, approvalId, allow, reason)).runId;
    return (await this.forward(owner, { op: "approve", principal: carried(caller), sessionId, approvalId, allow, reason })) as string;
  }

  /** The run's result once it has ended (Query). Cancelling interrupts the run. */
  async resultOf(run: RunView, caller: Principal, signal: AbortSignal): Promise<Result> {
    const onAbort = (): void => void this.interrupt(run.runId, caller, "client_cancelled", "the client cancelled the call").catch(() => undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (!(run instanceof ReplicaRun)) {
        await run.ended;
        // The run's own projection: the shared reducer over its events, bounded (Result.truncated).
        return run.result;
      }
      const owner = await this.route(run.sessionId, caller);
      const encoded = (await this.forward(owner, { op: "result", principal: carried(caller), runId: run.runId }, signal)) as string;
      return Result.decode(Buffer.from(encoded, "base64"));
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Sessions taken over from a dead controller: adopted as a restart would; calls for them wait meanwhile. */
  takeOver(sessionIds: string[], from: string): Promise<void> {
    const cluster = this.cluster;
    if (!cluster) return Promise.resolve();
    const next = this.adopting.then(async () => {
      const report = await this.controller.adopt(await cluster.loadSessions(sessionIds));
      cluster.logger.info({ from, ...report }, "adopted the sessions of a dead controller");
      await cluster.commands.scan();
    });
    this.adopting = next.catch((err: unknown) => cluster.logger.error({ err, from }, "could not adopt the sessions taken over"));
    return this.adopting.then(() => undefined);
  }

  /** Runs a call another controller forwarded to this one (it drives the session). */
  async execute(call: ForwardedCall): Promise<unknown> {
    await this.adopting;
    const principal: Principal = { id: call.principal.id, roles: call.principal.roles, source: call.principal.source };
    switch (call.op) {
      case "submit":
        return (await this.submitRun(principal, call.sessionId, call.prompt, call.overrides, call.runId)).runId;
      case "approve":
        return this.approve(principal, call.sessionId, call.approvalId, call.allow, call.reason);
      case "interrupt":
        return this.interrupt(call.runId, principal, call.reasonCode, call.message);
      case "close": {
        const { interrupted, dropped } = await this.closeSession(call.sessionId, principal);
        return { interrupted, dropped };
      }
      case "result": {
        const run = await this.getRun(call.runId, principal);
        if (run instanceof ReplicaRun) throw new AsmError({ reasonCode: "owner_unreachable", message: `run ${call.runId} is not driven by this controller any more; try again` });
        await run.ended;
        return Buffer.from(Result.encode(run.result).finish()).toString("base64");
      }
    }
  }

  /** "here" when this controller drives the session, else the id of the one that does (after checking `caller` may see it). */
  private async route(sessionId: string, caller: Principal): Promise<"here" | string> {
    const cluster = this.cluster;
    if (!cluster) return "here";
    await this.adopting;
    if (this.controller.hasSession(sessionId)) return "here";
    await this.replicaSession(sessionId, caller);
    const owner = await cluster.reads.leaseOwner(sessionId);
    if (owner === undefined) throw AsmError.notFound("session", sessionId);
    if (owner !== cluster.controllerId) return owner;
    // Leased here but not held (a take-over whose adoption failed): adopt it now.
    await this.takeOver([sessionId], cluster.controllerId);
    if (!this.controller.hasSession(sessionId)) throw AsmError.notFound("session", sessionId);
    return "here";
  }

  private async replicaSession(sessionId: string, caller: Principal): Promise<ReplicaSession> {
    const session = await this.cluster!.reads.session(sessionId);
    if (!session || !mayAccess(caller, session.owner)) throw AsmError.notFound("session", sessionId);
    return session;
  }

  private forward(owner: string, call: ForwardedCall, signal?: AbortSignal): Promise<unknown> {
    const cluster = this.cluster!;
    return cluster.commands.forward(owner, call, call.op === "result" ? 0 : cluster.forwardTimeoutMs, signal);
  }
}

function carried(principal: Principal): ForwardedPrincipal {
  return { id: principal.id, roles: [...principal.roles], source: principal.source };
}

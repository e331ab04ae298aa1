import {
  adapterFor,
  AsmError,
  checkPrompt,
  checkRunSettings,
  mergeRunOptions,
  newId,
  requireLaneCapabilities,
  resolveLane,
  runNeeds,
  SESSION_DEFAULTS,
  type LaneResolution,
  type ProviderName,
  type RunOptionsInput,
  type RunSettings,
  type SdkDiscovery,
  type SessionOptionsInput,
  realClock,
  RunAdmission,
  mayAccess,
  SYSTEM_PRINCIPAL,
  type Principal,
  surfaceDriver,
} from "@asm/shared";
import { controllerSdkDiscovery } from "../sdk-lane/sdk-modules.js";
import { resolveRemoteConfig } from "../remote/remote-config.js";
import { Run } from "../runs/run.js";
import type { RestoredRun, RunJournal } from "../runs/run-init.js";
import type { SurfaceShown } from "../runs/run-metadata.js";
import { isTerminalBody, StoredRun } from "../runs/stored-run.js";
import { Session } from "../sessions/session.js";
import { MemoryStore } from "../store/memory-store.js";
import type { ControllerStore, RunRecord, StoredState } from "../store/store.js";
import { endInterruptedRun, keptEvents } from "./recovery.js";
import { checkClientId } from "./client-ids.js";
import type { ControllerOptions, RecoveryReport } from "./controller-options.js";
import { OpenSessions } from "./open-sessions.js";
import { Retention } from "./retention.js";

/** A run the controller answers for: live (this process runs or ran it) or restored from the store. */
export type AnyRun = Run | StoredRun;

export type InterruptOutcome = "removed_from_queue" | "interrupted" | "already_finished";


/**
 * The aggregate root: sessions, runs, admission, approvals routing, interrupts. Transport-free:
 * the gRPC service translates to and from it.
 */
export class Controller {
  private readonly sessions = new Map<string, Session>();
  private readonly runs = new Map<string, AnyRun>();
  private readonly discovery: SdkDiscovery;
  private readonly admission: RunAdmission;
  private readonly retention: Retention;
  private readonly open = new OpenSessions();
  private nextOrdinal = 1;
  private readonly store: ControllerStore;
  /** How runs write to the store (undefined when the store keeps nothing). */
  private readonly journal: RunJournal | undefined;

  constructor(private readonly opts: ControllerOptions) {
    this.discovery = opts.sdkDiscovery ?? controllerSdkDiscovery;
    this.admission = new RunAdmission(opts.admission);
    const store = (this.store = opts.store ?? new MemoryStore());
    this.retention = new Retention(opts.retention, opts.clock ?? realClock, {
      run: (runId) => {
        this.runs.delete(runId);
        store.deleteRun(runId);
      },
      session: (sessionId) => {
        this.sessions.delete(sessionId);
        store.deleteSession(sessionId);
      },
    });
    if (store.durable) {
      this.journal = {
        deferred: true,
        event: (run, sequence, body, sourceSequence) => store.appendEvent(run.runId, { sequence, body, sourceSequence }),
        state: (run) => store.putRun(run.toRecord()),
      };
      store.onCommit((committed) => {
        for (const [runId, sequence] of committed) {
          const run = this.runs.get(runId);
          if (run instanceof Run) run.committed(sequence);
        }
      });
    }
  }

  /**
   * Takes what the store kept (call once, before serving): sessions as they were; finished runs
   * answered from the store; queued runs wait again; runs that were running on this host end
   * with controller_restarted; remote runs that were running re-attach to their executor.
   */
  async recover(): Promise<RecoveryReport> {
    if (!this.store.durable) return { sessions: 0, endedRuns: 0, interruptedRuns: 0, reattachedRuns: 0, requeuedRuns: 0 };
    return this.adopt(await this.store.load());
  }

  /**
   * Takes sessions and their runs as the store kept them, as `recover` does at a start: also used
   * when this controller takes the sessions of a dead one over (several controllers on one
   * database). Sessions it holds already are left as they are.
   */
  async adopt(state: StoredState): Promise<RecoveryReport> {
    const report: RecoveryReport = { sessions: 0, endedRuns: 0, interruptedRuns: 0, reattachedRuns: 0, requeuedRuns: 0 };
    const known = new Set(this.sessions.keys());
    const adopted = new Set<string>();
    for (const record of state.sessions) {
      if (known.has(record.sessionId)) continue;
      adopted.add(record.sessionId);
      const session = Session.fromRecord(record, this.admission);
      this.sessions.set(session.sessionId, session);
      this.nextOrdinal = Math.max(this.nextOrdinal, session.ordinal + 1);
      if (session.state === "open") this.open.add(session);
      report.sessions += 1;
    }
    const ended: { run: StoredRun; bytes: number }[] = [];
    const requeued: { session: Session; run: Run }[] = [];
    for (const record of state.runs.sort((a, b) => a.createdAt - b.createdAt)) {
      if (!adopted.has(record.sessionId) || this.runs.has(record.runId)) continue;
      const session = this.sessions.get(record.sessionId);
      const live = record.phase === "running" && record.executor && session?.state === "open" ? await this.reattach(session, record) : undefined;
      if (live instanceof Run) {
        this.runs.set(record.runId, live);
        report.reattachedRuns += 1;
        continue;
      }
      if ((record.phase === "queued" || live === "fresh") && session?.state === "open") {
        // Nothing of it was kept (a run's first event is committed with its start): it waits again.
        const run = this.buildRun(session, record.runId, record.prompt, record.settings, record.resolution, undefined, new Date(record.createdAt));
        this.runs.set(run.runId, run);
        requeued.push({ session, run });
        report.requeuedRuns += 1;
        continue;
      }
      let final = record;
      if (record.phase !== "ended") {
        final = await endInterruptedRun(this.store, record, this.opts.maxResultTextBytes);
        report.interruptedRuns += 1;
      } else report.endedRuns += 1;
      const run = new StoredRun(final, this.store);
      this.runs.set(run.runId, run);
      ended.push({ run, bytes: final.bytes });
    }
    for (const { session, run } of requeued) session.requeue(run);
    // Retention as if the process had not stopped: oldest first, aged from when they ended.
    const endedAt = (r: StoredRun): number => r.endedAt?.getTime() ?? 0;
    for (const { run, bytes } of ended.sort((a, b) => endedAt(a.run) - endedAt(b.run))) this.retention.runEnded(run.runId, bytes, endedAt(run));
    const closed = [...adopted].map((id) => this.sessions.get(id)!).filter((s) => s.state === "closed").sort((a, b) => (a.closedAt?.getTime() ?? 0) - (b.closedAt?.getTime() ?? 0));
    for (const session of closed) this.retention.sessionClosed(session.sessionId, session.closedAt?.getTime());
    await this.store.flush();
    return report;
  }

  /**
   * A remote run that was running at the restart: restored from its kept events, it re-attaches to
   * the executor. "ended" when its terminal event is kept already (only its record was behind);
   * "fresh" when nothing of the executor's was kept: it is started again, and an executor that does
   * run it already hands it over from its first event (a start of a held run is an attach after 0).
   */
  private async reattach(session: Session, record: RunRecord): Promise<Run | "ended" | "fresh"> {
    const bodies: Uint8Array[] = [];
    for await (const e of keptEvents(this.store, record.runId)) bodies.push(e.body);
    if (bodies.length > 0 && isTerminalBody(bodies.at(-1)!)) return "ended";
    const afterSourceSequence = await this.store.lastSourceSequence(record.runId);
    if (afterSourceSequence === 0 && bodies.length === 0) return "fresh";
    const restored: RestoredRun = {
      bodies,
      createdAt: new Date(record.createdAt),
      startedAt: record.startedAt === undefined ? undefined : new Date(record.startedAt),
      afterSourceSequence,
      resumedProviderSessionId: record.resumedProviderSessionId,
    };
    const run = this.buildRun(session, record.runId, record.prompt, record.settings, record.resolution, restored);
    this.opts.logger.info({ runId: run.runId, sessionId: session.sessionId, executor: record.executor, events: bodies.length, afterSourceSequence: restored.afterSourceSequence }, "re-attaching a remote run after the restart");
    session.adoptExecuting(run);
    return run;
  }

  /** Whether this controller holds (drives) the session. */
  hasSession(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Whether this controller holds the run (live, or answered from the store). */
  hasRun(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** What the controller holds now (for the memory benchmark and operators). */
  get footprint(): { openSessions: number; sessions: number; runs: number; retainedRunBytes: number; activeRuns: number; waitingRuns: number } {
    return {
      openSessions: this.open.count,
      sessions: this.sessions.size,
      runs: this.runs.size,
      retainedRunBytes: this.retention.runBytes,
      activeRuns: this.admission.active,
      waitingRuns: this.admission.waitingCount,
    };
  }

  /**
   * Creates a session owned by `caller` after validating every option for the provider and
   * checking it against the operator's policy (a bad or refused option fails here).
   */
  createSession(caller: Principal, provider: ProviderName, options: SessionOptionsInput, sessionId?: string): Session {
    if (sessionId) checkClientId(sessionId, "session_id");
    const id = sessionId || newId("ses");
    if (this.sessions.has(id)) throw new AsmError({ reasonCode: "session_exists", field: "session_id", message: `session ${id} already exists` });
    this.validateRunOptions(caller, provider, options.defaults, {}, "options.defaults", options.keepCliWarm ?? SESSION_DEFAULTS.keepCliWarm);
    this.opts.policy.checkLiveSessions(caller, this.open.of(caller.id).size);
    if (this.open.count >= this.opts.maxSessions) {
      throw new AsmError({
        reasonCode: "too_many_sessions",
        message: `the controller has ${this.open.count} open sessions (ASM_MAX_SESSIONS ${this.opts.maxSessions}); close one first`,
      });
    }
    const session = new Session(
      id,
      caller.id,
      provider,
      options,
      options.maxConcurrentRuns ?? SESSION_DEFAULTS.maxConcurrentRuns,
      options.maxQueuedRuns ?? SESSION_DEFAULTS.maxQueuedRuns,
      this.admission,
      this.nextOrdinal++,
    );
    this.sessions.set(id, session);
    this.open.add(session);
    this.store.putSession(session.toRecord());
    this.opts.logger.info({ sessionId: id, provider, owner: caller.id }, "session created");
    return session;
  }

  /**
   * A session `caller` may see: its own, or any for an admin. Another principal's session is
   * NOT_FOUND, exactly as an id that does not exist.
   */
  getSession(sessionId: string, caller: Principal): Session {
    const session = this.sessions.get(sessionId);
    if (!session || !mayAccess(caller, session.owner)) throw AsmError.notFound("session", sessionId);
    return session;
  }

  /**
   * The sessions created after the one a page token names ("" for all), in creation order. The
   * token is a session's creation ordinal (`Session.ordinal`); anything else is config_invalid.
   */
  *sessionsAfter(caller: Principal, includeClosed: boolean, pageToken: string): Generator<Session> {
    if (pageToken !== "" && !/^[1-9][0-9]{0,15}$/.test(pageToken)) throw AsmError.configInvalid("page_token", "not a page token from this controller's ListSessions");
    const after = pageToken === "" ? 0 : Number(pageToken);
    for (const s of this.sessions.values()) if (s.ordinal > after && (includeClosed || s.state === "open") && mayAccess(caller, s.owner)) yield s;
  }

  /** A run `caller` may see (one of its sessions', or any for an admin); else NOT_FOUND. */
  getRun(runId: string, caller: Principal): AnyRun {
    const run = this.runs.get(runId);
    if (!run || !mayAccess(caller, run.owner)) throw AsmError.notFound("run", runId);
    return run;
  }

  /** Admits a run into a session: started now, queued, or refused with at_capacity. */
  submitRun(caller: Principal, sessionId: string, prompt: string, overrides: RunOptionsInput, runId?: string): Run {
    const session = this.getSession(sessionId, caller);
    if (runId) checkClientId(runId, "run_id");
    const id = runId || newId("run");
    if (this.runs.has(id)) throw new AsmError({ reasonCode: "run_exists", field: "run_id", message: `run ${id} already exists` });
    const adapter = adapterFor(session.provider);
    checkPrompt(adapter, prompt);
    const { settings, resolution } = this.validateRunOptions(caller, session.provider, session.defaults, overrides, "overrides", session.keepCliWarm);
    let liveRuns = 0;
    for (const s of this.open.of(caller.id)) liveRuns += s.liveRunCount;
    this.opts.policy.checkConcurrentRuns(caller, liveRuns);
    session.checkAdmission();
    this.admission.check();
    const run = this.buildRun(session, id, prompt, settings, resolution);
    this.runs.set(id, run);
    this.store.putRun(run.toRecord());
    session.admit(run);
    this.store.putSession(session.toRecord());
    return run;
  }

  /** A run of `session`, new or restored, wired to the session, admission, retention and the store. */
  private buildRun(session: Session, id: string, prompt: string, settings: RunSettings, resolution: LaneResolution, restored?: RestoredRun, createdAt?: Date): Run {
    const adapter = adapterFor(session.provider);
    const remote = settings.executionMode === "remote_node";
    const run: Run = new Run({
      runId: id,
      sessionId: session.sessionId,
      owner: session.owner,
      provider: session.provider,
      prompt,
      settings,
      resolution,
      backend: remote ? this.opts.remoteBackend : resolution.lane === "sdk" ? this.opts.sdkBackend : this.opts.localBackend,
      executor: remote ? settings.driverOpts.remote_node : undefined,
      surface: this.surfaceShown(settings.executionSurface, remote),
      request: {
        adapter,
        // A remote CLI gets only the run's allowlisted env on top of the executor's own base env.
        spec: { prompt, settings, resumeProviderSessionId: undefined, baseEnv: remote ? {} : this.opts.baseEnv, defaultCwd: this.opts.defaultCwd },
        warm: session.keepCliWarm && !remote && resolution.lane === "core" ? { idleTimeoutMs: session.warmIdleTimeoutMs } : undefined,
      },
      logger: this.opts.logger,
      clock: this.opts.clock ?? realClock,
      maxEvents: this.opts.maxEventsPerRun,
      maxEventBytes: this.opts.maxEventBytes,
      maxResultTextBytes: this.opts.maxResultTextBytes,
      primaryWindow: this.opts.streamWindow,
      onApprovalRequested: (approvalId, owner) => session.approvals.add(approvalId, owner),
      onApprovalSettled: (approvalId) => session.approvals.remove(approvalId),
      onProviderSessionId: (providerSessionId) => {
        session.recordProviderSession(run.location, providerSessionId);
        this.store.putSession(session.toRecord());
      },
      onStarted: () => this.admission.started(id),
      onEnded: (ended) => {
        session.runEnded(ended);
        this.retention.runEnded(ended.runId, ended.log.bytes);
      },
      journal: this.journal,
      restored,
      createdAt,
    });
    return run;
  }

  /** Interrupts a run; resolves once it has ended (its process group gone). */
  async interrupt(runId: string, caller: Principal, reasonCode: "user_cancelled" | "client_cancelled" = "user_cancelled", message = "run interrupted"): Promise<InterruptOutcome> {
    const run = this.getRun(runId, caller);
    if (run.isEnded || run instanceof StoredRun) return "already_finished";
    const session = this.sessions.get(run.sessionId);
    if (run.isQueued) {
      session?.removeQueued(run);
      run.endQueued(AsmError.cancelled(message, reasonCode));
      return "removed_from_queue";
    }
    await run.stop(AsmError.cancelled(message, reasonCode));
    return "interrupted";
  }

  /** Routes a decision to the run that owns the approval. */
  async approve(caller: Principal, sessionId: string, approvalId: string, allow: boolean, reason: string): Promise<Run> {
    const session = this.getSession(sessionId, caller);
    const run = session.approvals.ownerOf(approvalId);
    if (!run) throw AsmError.notFound("approval", approvalId);
    await run.resolveApproval(approvalId, allow, reason);
    return run;
  }

  /**
   * Closes a session: interrupts its active runs and drops its queued ones, each ending with
   * `reason` (by default user_cancelled / session_closed); idempotent.
   */
  async closeSession(sessionId: string, caller: Principal, reason?: AsmError): Promise<{ session: Session; interrupted: string[]; dropped: string[] }> {
    const session = this.getSession(sessionId, caller);
    const error = (): AsmError => reason ?? AsmError.cancelled(`session ${sessionId} closed`, "session_closed");
    const wasOpen = session.state === "open";
    const { active, queued } = session.close();
    if (wasOpen) this.open.remove(session);
    for (const run of queued) run.endQueued(error());
    await Promise.all(active.map((run) => run.stop(error())));
    await Promise.all([this.opts.localBackend.releaseSession(sessionId), this.opts.remoteBackend.releaseSession(sessionId), this.opts.sdkBackend.releaseSession(sessionId)]);
    if (wasOpen) {
      this.store.putSession(session.toRecord());
      this.retention.sessionClosed(sessionId);
    }
    return { session, interrupted: active.map((r) => r.runId), dropped: queued.map((r) => r.runId) };
  }

  /**
   * Shutdown: every open session is closed, its runs ending with transport_error /
   * controller_shutdown (retryable: nothing was wrong with the run), and warm processes stop.
   * Resolves once the runs have ended.
   */
  async shutdown(): Promise<void> {
    const reason = new AsmError({ reasonCode: "controller_shutdown", message: "the controller is shutting down; the run was stopped" });
    if (this.store.durable) await this.stopKeepingSessions(reason);
    else await Promise.all([...this.sessions.values()].filter((s) => s.state === "open").map((s) => this.closeSession(s.sessionId, SYSTEM_PRINCIPAL, reason)));
    await Promise.all([this.opts.localBackend.releaseAll(), this.opts.remoteBackend.releaseAll(), this.opts.sdkBackend.releaseAll()]);
    this.retention.stop();
  }

  /**
   * Shutdown with a durable store: sessions stay open for the next start. Runs on this host end
   * with `reason` (their CLIs go with this process); queued runs stay queued; remote runs are
   * detached, and their executors keep the CLIs for the lease, so the next start re-attaches them.
   */
  private async stopKeepingSessions(reason: AsmError): Promise<void> {
    const live: Run[] = [];
    for (const run of this.runs.values()) {
      if (!(run instanceof Run) || run.endedAt) continue;
      live.push(run);
      // Queued runs stay queued for the next start; runs on this host stop; remote runs are let go.
      if (run.isQueued) void run.detach();
      else if (!run.isEnded) void (run.location === "local" ? run.stop(reason) : run.detach());
    }
    // Every run is let go of or has its end kept (a run past its terminal event may still be closing its CLI).
    await Promise.all(live.map((run) => run.ended));
  }

  /**
   * How a surface shows in metadata: its kind and target. A remote run's target names no default
   * user (the executor's operator chooses it).
   */
  surfaceShown(surface: RunSettings["executionSurface"], remote: boolean): SurfaceShown {
    const driver = surfaceDriver(surface);
    return { kind: driver.kind, target: driver.target(surface?.options ?? {}, remote ? {} : (this.opts.surfaces ?? {})) };
  }

  resolveLaneFor(provider: ProviderName, lane: string, executionMode: string): LaneResolution {
    return resolveLane(provider, lane, executionMode, this.discovery);
  }

  get sdkDiscovery(): SdkDiscovery {
    return this.discovery;
  }

  /**
   * Merges defaults and overrides, checks the result for the provider and the operator's policy,
   * and resolves the lane, including what the run needs of it (`requireLaneCapabilities`).
   */
  private validateRunOptions(caller: Principal, provider: ProviderName, defaults: RunOptionsInput, overrides: RunOptionsInput, prefix: string, keepCliWarm: boolean): { settings: RunSettings; resolution: LaneResolution } {
    const adapter = adapterFor(provider);
    const merged = mergeRunOptions(defaults, overrides);
    checkRunSettings(adapter, merged, prefix);
    // The operator decides what runs: a refused option fails here, before anything starts.
    const settings = this.opts.policy.checkRun(caller, merged, { provider, prefix, side: "controller" });
    let resolution: LaneResolution;
    try {
      resolution = requireLaneCapabilities(resolveLane(provider, settings.lane, settings.executionMode, this.discovery), runNeeds(adapter, settings, keepCliWarm));
    } catch (err) {
      throw relabel(err, prefix);
    }
    if (settings.executionMode === "remote_node") {
      // Only what this controller can know: the executor's side is checked when the run starts.
      const config = resolveRemoteConfig(settings, prefix);
      this.opts.resolveExecutor(config.remote_node, `${prefix}.driver_opts.remote_node`);
    }
    return { settings, resolution };
  }

}

function relabel(err: unknown, prefix: string): AsmError {
  if (err instanceof AsmError && err.kind === "config_invalid") {
    return err.with({ field: err.field ? `${prefix}.${err.field}` : prefix });
  }
  return AsmError.from(err);
}

import {
  ApprovalDecision,
  AsmError,
  emptyProjection,
  isTerminal,
  payload,
  foldEvent,
  RunStatus,
  type Event,
  type EventDraft,
  type EventPayload,
  type Logger,
  type Observability,
  type Projection,
  type ProviderName,
  type Result,
  chunkPayload,
  encodeEventBody,
} from "@asm/shared";
import type { CliExitStatus, RunExecution } from "@asm/shared";
import { decodeEvent } from "@asm/shared";
import type { RunRecord } from "../store/store.js";
import { KeptSourceTracker } from "./kept-source.js";
import { RunEventLog } from "./run-event-log.js";
import type { RunInit, RunPhase, RestoredRun } from "./run-init.js";
import { observabilityOf, stampEvent } from "./run-metadata.js";
import { RunTimers } from "./run-timers.js";

interface PendingApproval {
  timer: unknown;
}

/**
 * One run: its numbered event log, its timers and its approvals. It drives a backend execution
 * and is the only writer of its log. Phases: queued → running → stopping → ended.
 */
export class Run {
  readonly runId: string;
  readonly sessionId: string;
  readonly owner: string;
  readonly provider: ProviderName;
  readonly createdAt: Date;
  startedAt: Date | undefined;
  endedAt: Date | undefined;
  readonly log: RunEventLog;
  readonly metadata: Observability;

  private phase: RunPhase = "queued";
  private readonly projection: Projection;
  private execution: RunExecution | undefined;
  private stopReason: AsmError | undefined;
  private providerSessionId = "";
  private heardFromBackend = false;
  private readonly approvals = new Map<string, PendingApproval>();
  private readonly timers: RunTimers;
  /** Aborted when the run starts stopping, so nothing waits on a slow reader any more. */
  private readonly stopping = new AbortController();
  private readonly endedPromise: Promise<void>;
  private resolveEnded!: () => void;
  private readonly log_: Logger;
  /** The provider session this run continues ("" when none). */
  private resumedProviderSessionId = "";
  /** How far the events from an executor are kept (what the remote backend acknowledges). */
  private readonly keptSource: KeptSourceTracker;
  /** Approvals a restored run still waits on, with when they were asked (wall clock, ms). */
  private pendingAtRestore: { approvalId: string; askedAt: number }[] = [];

  constructor(private readonly init: RunInit) {
    this.runId = init.runId;
    this.sessionId = init.sessionId;
    this.owner = init.owner;
    this.provider = init.provider;
    this.projection = emptyProjection(init.maxResultTextBytes);
    this.log_ = init.logger.child({ runId: init.runId, sessionId: init.sessionId });
    this.timers = new RunTimers(init.clock, init.settings.streamTimeoutMs, (ms) => void this.stop(AsmError.timeout("stream_timeout", `run ${this.runId} produced no event for stream_timeout_ms (${ms} ms)`)));
    // Frozen: every event shares it, and the log encodes it once (shared/src/events/event-wire.ts).
    const metadata = observabilityOf(init.resolution, init.provider, init.executor, init.surface);
    Object.freeze(metadata.capabilities);
    this.metadata = Object.freeze(metadata);
    const restored = init.restored;
    this.keptSource = new KeptSourceTracker(init.journal?.deferred ?? false, restored?.afterSourceSequence);
    this.createdAt = restored?.createdAt ?? init.createdAt ?? new Date();
    this.log = new RunEventLog({
      maxEvents: init.maxEvents,
      primaryWindow: init.primaryWindow,
      run: { runId: init.runId, sessionId: init.sessionId, provider: init.provider, metadata },
      deferredDurability: init.journal?.deferred ?? false,
      restored: restored?.bodies,
    });
    if (restored) this.restore(restored);
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
    if (init.settings.queueTimeoutMs !== undefined) {
      this.timers.arm(init.settings.queueTimeoutMs, () => {
        if (this.phase === "queued") this.endQueued(AsmError.timeout("queue_timeout", `run ${this.runId} waited longer than queue_timeout_ms (${init.settings.queueTimeoutMs} ms) in the queue`));
      });
    }
  }

  get status(): RunStatus {
    switch (this.phase) {
      case "queued":
        return RunStatus.RUN_STATUS_QUEUED;
      case "running":
      case "stopping":
      case "detached":
        return RunStatus.RUN_STATUS_RUNNING;
      case "ended":
        return this.projection.result.status;
    }
  }

  /** Where the run executes: "local", or "executor:<remote_node>". */
  get location(): string {
    return this.init.executor ? `executor:${this.init.executor}` : "local";
  }

  get isQueued(): boolean {
    return this.phase === "queued";
  }

  get isEnded(): boolean {
    return this.phase === "ended";
  }

  /** Resolves once the run is terminal and its CLI process group is gone. */
  get ended(): Promise<void> {
    return this.endedPromise;
  }

  /** How the run's CLI ended, once the run has ended (see RunExecution.cliExit). */
  get cliExit(): CliExitStatus | undefined {
    return this.phase === "ended" ? this.execution?.cliExit : undefined;
  }

  /** The result so far (a copy: the live projection keeps changing). */
  get result(): Result {
    return { ...this.projection.result };
  }

  get pendingApprovalIds(): string[] {
    return [...this.approvals.keys()];
  }

  /** Starts executing (called by the session on admission or when dequeued). */
  start(resumeProviderSessionId: string | undefined): void {
    if (this.phase !== "queued") return;
    this.phase = "running";
    this.startedAt ??= new Date();
    this.resumedProviderSessionId = this.init.restored?.resumedProviderSessionId ?? resumeProviderSessionId ?? "";
    this.timers.clear();
    const { settings } = this.init;
    this.timers.arm(settings.runDeadlineMs, () =>
      this.stop(AsmError.timeout("run_deadline", `run ${this.runId} exceeded its total run deadline of ${settings.runDeadlineMs} ms`)),
    );
    this.touchIdle();
    this.init.journal?.state(this);
    // Approvals the restored run still waits on are asked again of the session; each keeps its
    // deadline (approval_timeout_ms from when the CLI asked), however long the controller was away.
    if (this.init.restored) for (const { approvalId, askedAt } of this.pendingAtRestore) this.trackApproval(approvalId, askedAt);
    void this.pump(this.resumedProviderSessionId || undefined);
  }

  /** Ends a run that never started (interrupted in the queue, queue timeout, session closed). */
  endQueued(error: AsmError): void {
    if (this.phase !== "queued") return;
    this.phase = "stopping";
    this.emit(payload("error", { error: this.ownError(error) }));
    this.finish();
  }

  /**
   * Stops a running run with the given terminal error: interrupts the CLI through its protocol,
   * then signals with escalation. Resolves when the run has ended.
   */
  async stop(error: AsmError): Promise<void> {
    if (this.phase === "queued") {
      this.endQueued(error);
      return this.ended;
    }
    if (this.phase !== "running") return this.ended;
    this.phase = "stopping";
    this.stopReason = error;
    this.stopping.abort();
    this.clearIdle();
    try {
      // The pump keeps reading while the CLI winds down; its `finally` closes the execution.
      await this.execution?.interrupt();
    } catch (err) {
      this.log_.warn({ err }, "interrupt failed; closing the execution");
      await this.execution?.close();
    }
    return this.ended;
  }

  /**
   * The controller is stopping with a durable store: the run is left executing where it is (its
   * executor keeps the CLI for its lease and its events for the re-attach), nothing more is
   * appended, and the stored run stays `running` for the next start. Resolves once let go.
   */
  async detach(): Promise<void> {
    if (this.phase === "queued") {
      // Never started: it stays queued in the store and waits again after the restart.
      this.phase = "detached";
      this.timers.clear();
      this.log.releaseReaders(this.restartingError());
      this.resolveEnded();
      return this.ended;
    }
    if (this.phase !== "running") return this.ended;
    this.phase = "detached";
    this.stopping.abort();
    this.timers.clear();
    this.clearIdle();
    for (const pending of this.approvals.values()) this.init.clock.clearTimeout(pending.timer);
    await this.execution?.close();
    await this.ended;
    // Streams of the run end now (after what is kept) with a retryable error: the client re-attaches after the restart.
    await this.log.whenDurable(this.log.lastSequence);
    this.log.releaseReaders(this.restartingError());
  }

  private restartingError(): AsmError {
    return new AsmError({ reasonCode: "controller_shutting_down", message: `the controller is restarting; run ${this.runId} goes on: re-attach with WatchRun after the last sequence you have` });
  }

  /** Routes a decision to the CLI; throws not_found when this run does not wait on that approval. */
  async resolveApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const pending = this.approvals.get(approvalId);
    if (!pending || this.phase !== "running") throw AsmError.notFound("approval", approvalId);
    this.settleApproval(approvalId);
    await this.execution?.answerApproval(approvalId, allow, reason);
    this.emit(payload("approvalResolved", { approvalId, decision: allow ? ApprovalDecision.APPROVAL_DECISION_ALLOW : ApprovalDecision.APPROVAL_DECISION_DENY, reason }));
  }

  private async pump(resumeProviderSessionId: string | undefined): Promise<void> {
    const { request, backend } = this.init;
    try {
      const restored = this.init.restored;
      this.execution = backend.start({
        ...request,
        runId: this.runId,
        sessionId: this.sessionId,
        resolution: this.init.resolution,
        spec: { ...request.spec, resumeProviderSessionId },
        keptSource: this.keptSource,
        ...(restored ? { reattach: { afterSourceSequence: restored.afterSourceSequence } } : {}),
      });
      drafts: for await (const batch of this.execution) {
        for (const draft of batch) {
          if (this.currentPhase() === "running") {
            // Backpressure: wait while the StreamRun caller is too far behind (never once stopping).
            // Time blocked on a slow reader is not CLI silence: the stream timeout waits too, and
            // restarts when the reader has caught up (a reader that never reads meets run_deadline_ms).
            if (!this.log.hasReaderRoom) {
              this.clearIdle();
              await this.log.waitForRoom(this.stopping.signal);
              if (this.currentPhase() === "running") this.touchIdle();
            }
            if (!this.log.hasRoom()) {
              throw new AsmError({ reasonCode: "run_log_full", message: `run ${this.runId} produced more than ${this.init.maxEvents} events` });
            }
          }
          if (this.currentPhase() !== "running") {
            // Stopping: keep what the CLI says while it winds down, but the run's own error is terminal.
            if (!isTerminal(draft)) this.accept(draft);
            else this.keptSource.skipped(draft.sourceSequence, this.log.lastSequence, this.log.durableSequence);
            continue;
          }
          this.accept(draft);
          if (this.currentPhase() === "ended") break drafts;
        }
      }
      if (this.phase === "running") {
        // The execution ended without a terminal event; it is the backend's job to send one.
        this.failWith(new AsmError({ reasonCode: "stream_ended_without_terminal", message: "the CLI stream ended without a terminal event" }));
      }
    } catch (err) {
      if (this.phase === "running") this.failWith(AsmError.from(err));
      else if (!(err instanceof AsmError)) this.log_.debug({ err }, "execution error while stopping");
    } finally {
      await this.execution?.close().catch((err: unknown) => this.log_.warn({ err }, "closing the execution failed"));
      if (this.currentPhase() === "detached") this.resolveEnded();
      else this.finish();
    }
  }

  /** The phase, read fresh (it changes across awaits). */
  private currentPhase(): RunPhase {
    return this.phase;
  }

  /** Takes one draft from the backend: approvals bookkeeping, then into the log. */
  private accept(draft: EventDraft): void {
    if (!this.heardFromBackend) {
      this.heardFromBackend = true;
      this.init.onStarted();
    }
    if (draft.providerSessionId && draft.providerSessionId !== this.providerSessionId) {
      this.providerSessionId = draft.providerSessionId;
      this.init.onProviderSessionId(draft.providerSessionId);
    }
    const p = draft.payload;
    if (p.$case === "approvalRequested") {
      this.trackApproval(p.value.approvalId);
    } else if (p.$case === "approvalResolved") {
      // The CLI withdrew its question (e.g. after an interrupt).
      if (!this.approvals.has(p.value.approvalId)) return this.keptSource.skipped(draft.sourceSequence, this.log.lastSequence, this.log.durableSequence);
      this.settleApproval(p.value.approvalId);
    }
    this.emit(p, draft.sourceSequence ?? 0);
    if (this.phase === "running") {
      if (isTerminal(draft)) this.phase = "ended";
      else this.touchIdle();
    }
  }

  private failWith(error: AsmError): void {
    this.phase = "stopping";
    this.stopReason = error;
    this.stopping.abort();
  }

  /** `askedAt` (wall clock): when a restored run's CLI asked; the timeout counts from then. */
  private trackApproval(approvalId: string, askedAt?: number): void {
    const timeoutMs = this.init.settings.approvalTimeoutMs;
    const remainingMs = askedAt === undefined ? timeoutMs : Math.max(0, Math.min(timeoutMs, timeoutMs - (Date.now() - askedAt)));
    if (askedAt !== undefined) this.log_.info({ approvalId, timeoutMs, remainingMs }, "approval pending across the restart keeps its deadline");
    const timer = this.init.clock.setTimeout(() => void this.approvalTimedOut(approvalId, timeoutMs), remainingMs);
    this.approvals.set(approvalId, { timer });
    this.clearIdle();
    this.init.onApprovalRequested(approvalId, this);
    // Other controllers on the same database show it in GetRun.
    this.init.journal?.state(this);
  }

  private async approvalTimedOut(approvalId: string, timeoutMs: number): Promise<void> {
    if (!this.approvals.has(approvalId) || this.phase !== "running") return;
    this.settleApproval(approvalId);
    try {
      await this.execution?.answerApproval(approvalId, false, `no decision within ${timeoutMs} ms`);
    } catch (err) {
      this.log_.warn({ err, approvalId }, "could not tell the CLI about the approval timeout");
    }
    this.emit(payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "timeout" }));
    await this.stop(AsmError.timeout("approval_timeout", `approval ${approvalId} got no decision within approval_timeout_ms (${timeoutMs} ms)`));
  }

  private settleApproval(approvalId: string): void {
    const pending = this.approvals.get(approvalId);
    if (!pending) return;
    this.init.clock.clearTimeout(pending.timer);
    this.approvals.delete(approvalId);
    this.init.onApprovalSettled(approvalId);
    this.init.journal?.state(this);
    if (this.approvals.size === 0 && this.phase === "running") this.touchIdle();
  }

  /**
   * Numbers, stamps and appends one event; the reducer keeps the projection current. A payload
   * whose event would pass the event limit goes in pieces, each its own event (PayloadChunk).
   */
  private emit(p: EventPayload, sourceSequence = 0): void {
    if (this.log.closedForAppend) return;
    const event = this.stamp(p);
    const body = encodeEventBody(event);
    if (body.length + this.log.runFields.length <= this.init.maxEventBytes) {
      this.append(event, body, sourceSequence);
      return;
    }
    for (const piece of chunkPayload(p, this.init.maxEventBytes, this.log.runFields.length)) {
      const stamped = this.stamp(piece);
      this.append(stamped, encodeEventBody(stamped), sourceSequence);
    }
  }

  /** A terminal error of this run, on the wire: it names the run's provider, like an adapter's own errors. */
  private ownError(error: AsmError): ReturnType<AsmError["toMessage"]> {
    const message = error.toMessage();
    return message.provider ? message : { ...message, provider: this.provider };
  }

  private stamp(p: EventPayload): Event {
    return stampEvent(this, this.log.lastSequence + 1, this.providerSessionId, p);
  }

  private append(event: Event, body: Uint8Array, sourceSequence: number): void {
    this.log.append(event, body);
    foldEvent(this.projection, event);
    this.init.journal?.event(this, event.sequence, body, sourceSequence);
    this.keptSource.appended(event.sequence, sourceSequence);
  }

  /** The store committed the run's events through `sequence`. */
  committed(sequence: number): void {
    this.log.markDurable(sequence);
    this.keptSource.committed(sequence);
  }

  /** Takes the kept events of a restored run: its result so far, provider session and open approvals. */
  private restore(restored: RestoredRun): void {
    this.startedAt = restored.startedAt;
    const open = new Map<string, number>();
    for (let i = 0; i < restored.bodies.length; i++) {
      const event = decodeEvent(restored.bodies[i]!, this.log.runFields);
      foldEvent(this.projection, event);
      if (event.providerSessionId) this.providerSessionId = event.providerSessionId;
      const p = event.payload;
      if (p?.$case === "approvalRequested") open.set(p.value.approvalId, event.timestamp?.getTime() ?? Date.now());
      else if (p?.$case === "approvalResolved") open.delete(p.value.approvalId);
    }
    this.pendingAtRestore = [...open].map(([approvalId, askedAt]) => ({ approvalId, askedAt }));
  }

  /** What the store keeps of the run besides its events. */
  toRecord(): RunRecord {
    const init = this.init;
    const ended = this.phase === "ended";
    return {
      runId: this.runId,
      sessionId: this.sessionId,
      owner: this.owner,
      provider: this.provider,
      prompt: init.prompt,
      settings: init.settings,
      resolution: init.resolution,
      executor: init.executor,
      surface: { kind: this.metadata.executionSurface, target: this.metadata.surfaceTarget },
      resumedProviderSessionId: this.resumedProviderSessionId,
      phase: ended ? "ended" : this.phase === "queued" ? "queued" : "running",
      createdAt: this.createdAt.getTime(),
      startedAt: this.startedAt?.getTime(),
      endedAt: this.endedAt?.getTime(),
      result: ended ? this.result : undefined,
      cliExit: ended ? this.cliExit : undefined,
      lastSequence: this.log.lastSequence,
      bytes: this.log.bytes,
      pendingApprovalIds: this.pendingApprovalIds,
    };
  }

  private finish(): void {
    if (this.endedAt) return;
    // Approvals still open when the run ends are closed for the record before the terminal event.
    for (const approvalId of [...this.approvals.keys()]) {
      this.settleApproval(approvalId);
      this.emit(payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "run_ended" }));
    }
    if (!this.log.closedForAppend) this.emit(payload("error", { error: this.ownError(this.stopReason ?? AsmError.cancelled()) }));
    // The text was built piece by piece (a rope of one node per piece); a retained run keeps it flat.
    this.projection.result.text = Buffer.from(this.projection.result.text, "utf8").toString("utf8");
    this.phase = "ended";
    this.endedAt = new Date();
    this.timers.clear();
    this.clearIdle();
    this.init.journal?.state(this);
    this.init.onEnded(this);
    // Ended for callers (Query, Interrupt) once the terminal event is kept.
    void this.log.whenDurable(this.log.lastSequence).then(() => this.resolveEnded());
  }

  /** Restarts the stream timeout (not while an approval is pending: waiting on a person is not CLI silence). */
  private touchIdle(): void {
    if (this.approvals.size > 0) this.timers.clearIdle();
    else this.timers.touchIdle();
  }

  private clearIdle(): void {
    this.timers.clearIdle();
  }
}

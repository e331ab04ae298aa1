import type { ServerDuplexStream } from "@grpc/grpc-js";
import {
  adapterFor,
  ApprovalDecision,
  AsmError,
  checkPrompt,
  checkRunSettings,
  DRIVER_OPTS_DEFAULTS,
  kindOf,
  mergeRunOptions,
  providerFromProto,
  resolveCliPath,
  resolveLane,
  runOptionsFromProto,
  surfaceDriver,
  type Backend,
  type ExecuteRequest,
  type ExecuteResponse,
  type ExecutionRequest,
  type Logger,
  type RunExecution,
  type RunAdmission,
  type RunExit,
  type StartRun,
  type Principal,
  type RunPolicy,
} from "@asm/shared";
import type { ExecutorRuntime } from "../runtime/executor-runtime.js";
import { EventOutbox } from "./event-outbox.js";

export interface ExecuteStreamLimits {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  startTimeoutMs: number;
  batchMaxEvents: number;
  batchMaxBytes: number;
}

export interface ExecuteStreamDeps {
  runtime: ExecutorRuntime;
  backend: Backend;
  logger: Logger;
  limits: ExecuteStreamLimits;
  /** The executor's caps: a run over them waits for a slot (the controller is told: RunQueued). */
  admission: RunAdmission;
  /** The executor's own policy: what it runs for this controller, whatever the controller allowed. */
  policy: RunPolicy;
  /** The controller on the other end (its certificate identity, with the roles the policy gives it). */
  caller: Principal;
}

type Phase = "awaiting_start" | "running" | "finished";

/**
 * One run on one Execute stream: waits for `start`, runs the CLI through the shared backend,
 * streams numbered events back (with backpressure), takes approvals and interrupts, and ends with
 * `exit`. If the controller goes away (stream cancelled, or silent past the heartbeat bound) the
 * CLI is kept for the run's lease, then its whole process group is killed.
 */
export class ExecuteStream {
  private phase: Phase = "awaiting_start";
  private execution: RunExecution | undefined;
  private readonly outbox: EventOutbox;
  private lastHeardAt = Date.now();
  private detached = false;
  private interruptRequested = false;
  private finishing = false;
  /** The highest event sequence the controller said it had (its heartbeats). */
  private ackedSequence = 0;
  /** The run's id once started (its admission entry). */
  private runId: string | undefined;
  /** How long the CLI outlives a vanished controller (from the start message). */
  private leaseMs: number = DRIVER_OPTS_DEFAULTS.remote_boot_lease_timeout_ms;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly leaseOver: Promise<void>;
  private endLease!: () => void;
  private readonly ticker: NodeJS.Timeout;
  private readonly startTimer: NodeJS.Timeout;
  private log: Logger;
  private readonly done: Promise<void>;
  private finishDone!: () => void;
  /** The controller ended its side of the stream (it does so once it has the exit message). */
  private readonly controllerEnded: Promise<void>;

  constructor(
    private readonly call: ServerDuplexStream<ExecuteRequest, ExecuteResponse>,
    private readonly deps: ExecuteStreamDeps,
  ) {
    this.log = deps.logger;
    this.outbox = new EventOutbox(call, deps.limits);
    this.leaseOver = new Promise((resolve) => (this.endLease = resolve));
    this.done = new Promise((resolve) => (this.finishDone = resolve));
    call.on("data", (request: ExecuteRequest) => this.onRequest(request));
    this.controllerEnded = new Promise((resolve) => call.once("end", () => resolve()));
    call.on("error", (err) => this.controllerGone(`stream error: ${err.message}`));
    call.on("cancelled", () => this.controllerGone("stream cancelled"));
    call.on("close", () => this.controllerGone("stream closed"));
    this.ticker = setInterval(() => this.tick(), Math.max(10, Math.min(deps.limits.heartbeatIntervalMs, deps.limits.heartbeatTimeoutMs / 4)));
    this.startTimer = setTimeout(() => {
      if (this.phase !== "awaiting_start") return;
      this.refuse(new AsmError({ reasonCode: "start_timeout", message: `no start message within ${deps.limits.startTimeoutMs} ms` }));
    }, deps.limits.startTimeoutMs);
  }

  /** Resolves when the stream is over and the run's CLI is gone. */
  get finished(): Promise<void> {
    return this.done;
  }

  private onRequest(request: ExecuteRequest): void {
    this.lastHeardAt = Date.now();
    const command = request.command;
    switch (command?.$case) {
      case "start":
        if (this.phase !== "awaiting_start") {
          this.log.warn("a second start message on one Execute stream was ignored");
          return;
        }
        this.start(command.value);
        return;
      case "approval": {
        const { approvalId, decision, reason } = command.value;
        const allow = decision === ApprovalDecision.APPROVAL_DECISION_ALLOW;
        this.execution?.answerApproval(approvalId, allow, reason).catch((err: unknown) => this.log.warn({ err, approvalId }, "could not pass the approval decision to the CLI"));
        return;
      }
      case "interrupt":
        this.interruptRequested = true;
        if (this.phase === "running" && !this.execution && this.runId !== undefined) {
          // Still waiting for a slot: it never starts.
          this.deps.admission.left(this.runId);
          this.refuse(AsmError.cancelled());
          return;
        }
        this.execution?.interrupt().catch((err: unknown) => this.log.warn({ err }, "interrupt failed"));
        return;
      case "heartbeat":
        this.ackedSequence = Math.max(this.ackedSequence, Number(command.value.ackedSequence));
        return;
      case undefined:
        return;
    }
  }

  private start(start: StartRun): void {
    this.phase = "running";
    clearTimeout(this.startTimer);
    if (start.leaseTimeoutMs > 0) this.leaseMs = start.leaseTimeoutMs;
    let request: ExecutionRequest;
    try {
      request = this.prepare(start);
    } catch (err) {
      this.refuse(AsmError.from(err));
      return;
    }
    this.log = this.deps.logger.child({ runId: start.runId, sessionId: start.sessionId, provider: request.adapter.provider });
    if (this.interruptRequested) {
      this.refuse(AsmError.cancelled());
      return;
    }
    const { admission } = this.deps;
    try {
      admission.check("executor_at_capacity");
    } catch (err) {
      this.refuse(AsmError.from(err));
      return;
    }
    this.runId = start.runId;
    admission.enter(start.runId, () => {
      if (this.detached || this.phase !== "running") {
        admission.left(start.runId);
        return;
      }
      this.execution = this.deps.backend.start(request);
      void this.pump();
    });
    const position = admission.positionOf(start.runId);
    if (position !== undefined) {
      this.log.info({ position }, "run queued: the executor is at its caps");
      this.call.write({ reply: { $case: "queued", value: { position } } });
    }
  }

  /** Checks the start message and builds the execution request; throws typed errors. */
  private prepare(start: StartRun): ExecutionRequest {
    const { runtime } = this.deps;
    runtime.checkCookie(start.cookie);
    runtime.requireReady();
    const provider = providerFromProto(start.provider);
    runtime.requireProvider(provider);
    const input = runOptionsFromProto(start.options, "options");
    // On this host, the CLI's directory is remote_cwd inside the workspace; on another host
    // (ssh_exec), it is `cwd` there, which the wrapper on that host enters.
    const onThisHost = surfaceDriver(input.executionSurface).onBackendHost;
    const cwd = onThisHost ? runtime.confineCwd(start.remoteCwd) : input.cwd;
    const merged = { ...mergeRunOptions({}, { ...input, driverOpts: undefined, executionMode: "local", lane: "core" }), cwd };
    const adapter = adapterFor(provider);
    checkPrompt(adapter, start.prompt);
    checkRunSettings(adapter, merged, "options");
    // The executor does not trust the controller beyond its own policy (env, cli_path, modes).
    const settings = this.deps.policy.checkRun(this.deps.caller, merged, { provider, prefix: "options", side: "executor" });
    const request: ExecutionRequest = {
      runId: start.runId,
      sessionId: start.sessionId,
      adapter,
      spec: { prompt: start.prompt, settings, resumeProviderSessionId: start.resumeProviderSessionId || undefined, baseEnv: runtime.baseEnv, defaultCwd: runtime.workspaceRoot },
      resolution: resolveLane(provider, "core", "local"),
    };
    try {
      if (onThisHost) resolveCliPath(request, runtime.hostEnv);
    } catch (err) {
      const cause = AsmError.from(err);
      throw new AsmError({ provider, reasonCode: "backend_start_failed", message: `the executor cannot start the ${provider} backend: ${cause.message}`, details: { cause: cause.reasonCode } });
    }
    return request;
  }

  private async pump(): Promise<void> {
    const execution = this.execution!;
    let sequence = 0;
    let error: AsmError | undefined;
    try {
      let sentProviderSessionId = "";
      drafts: for await (const batch of execution) {
        for (const draft of batch) {
          if (this.detached) {
            // No controller: hold the CLI (its pipe fills and blocks it) until the lease is over.
            await this.leaseOver;
            break drafts;
          }
          sequence += 1;
          if (sequence === 1) this.deps.admission.started(this.runId!);
          const p = draft.payload;
          if (p.$case === "runStarted") {
            this.call.write({ reply: { $case: "started", value: { pid: p.value.pid, command: p.value.command, args: p.value.args, cwd: p.value.cwd } } });
          }
          // Only what the controller keeps goes over the wire (see EventBatch): the stream is the
          // run, and the controller stamps ids, times and metadata itself.
          const providerSessionId = draft.providerSessionId && draft.providerSessionId !== sentProviderSessionId ? draft.providerSessionId : "";
          if (providerSessionId) sentProviderSessionId = providerSessionId;
          this.outbox.push({
            id: "",
            runId: "",
            sessionId: "",
            sequence,
            timestamp: undefined,
            provider: "",
            kind: kindOf(p),
            providerSessionId,
            metadata: undefined,
            payload: p,
          });
        }
        if (!this.outbox.hasRoom) await this.outbox.room();
      }
    } catch (err) {
      error = AsmError.from(err);
    }
    await execution.close().catch((err: unknown) => this.log.warn({ err }, "closing the execution failed"));
    const cli = execution.cliExit;
    await this.finish({ exitCode: cli?.code ?? undefined, signal: cli?.signal ?? "", error: error?.toMessage() });
  }

  /** Ends the stream with a typed error before anything was spawned. */
  private refuse(error: AsmError): void {
    this.log.info({ reasonCode: error.reasonCode, kind: error.kind }, `run refused: ${error.message}`);
    void this.finish({ exitCode: undefined, signal: "", error: error.toMessage() });
  }

  private async finish(exit: RunExit): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    this.phase = "finished";
    clearTimeout(this.startTimer);
    if (!this.detached) {
      await this.outbox.writeAfterEvents({ reply: { $case: "exit", value: exit } });
      // The stream is closed once the controller has ended its side: it may still be writing (a
      // heartbeat) until it has read the exit, and a write racing the close would fail its call.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.controllerEnded, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.deps.limits.heartbeatTimeoutMs)))]);
      clearTimeout(timer);
      if (!this.detached) this.call.end();
    }
    this.cleanup();
  }

  private tick(): void {
    const now = Date.now();
    if (now - this.lastHeardAt > this.deps.limits.heartbeatTimeoutMs) {
      this.controllerGone(`no message from the controller for ${now - this.lastHeardAt} ms`);
      return;
    }
    if (!this.detached && this.phase !== "finished" && !this.outbox.isBlocked && now - this.outbox.lastWriteAt >= this.deps.limits.heartbeatIntervalMs) {
      this.outbox.lastWriteAt = now;
      this.call.write({ reply: { $case: "heartbeat", value: { ackedSequence: 0 } } });
    }
  }

  /** The executor is shutting down: the run's process group is killed without waiting for a lease. */
  shutdown(): void {
    this.leaseMs = 0;
    this.controllerGone("executor shutting down");
  }

  /** The controller is gone: keep the CLI for the lease, then kill its process group. */
  private controllerGone(reason: string): void {
    if (this.detached) return;
    this.detached = true;
    this.outbox.close();
    clearInterval(this.ticker);
    clearTimeout(this.startTimer);
    const execution = this.execution;
    if (this.phase !== "running" || !execution) {
      // Not started yet (awaiting its start message, or waiting for a slot): nothing to keep.
      if (this.phase !== "finished") this.phase = "finished";
      this.cleanup();
      return;
    }
    const leaseMs = this.interruptRequested ? 0 : this.leaseMs;
    this.log.warn({ reason, leaseMs, ackedSequence: this.ackedSequence }, "controller gone; the run's CLI is kept for its lease");
    this.leaseTimer = setTimeout(() => {
      this.log.warn("lease over; killing the run's process group");
      this.endLease();
      void execution.close();
    }, leaseMs);
  }

  private cleanup(): void {
    clearInterval(this.ticker);
    clearTimeout(this.startTimer);
    if (this.phase === "finished" && this.runId !== undefined) this.deps.admission.left(this.runId);
    if (this.phase === "finished") {
      if (this.leaseTimer) clearTimeout(this.leaseTimer);
      this.endLease();
      this.log.debug({ detached: this.detached }, "run stream finished");
      this.finishDone();
    }
  }
}

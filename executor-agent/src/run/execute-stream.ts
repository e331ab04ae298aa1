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
  type RunSpawned,
  type StartRun,
  type AttachRun,
  type Principal,
  type RunPolicy,
} from "@asm/shared";
import type { ExecutorRuntime } from "../runtime/executor-runtime.js";
import { EventOutbox } from "./event-outbox.js";
import { ReplayBuffer, type ReplayLimits } from "./replay-buffer.js";

export interface ExecuteStreamLimits extends ReplayLimits {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  startTimeoutMs: number;
  batchMaxEvents: number;
  batchMaxBytes: number;
}

type ExecuteCall = ServerDuplexStream<ExecuteRequest, ExecuteResponse>;

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
  /** Every run this executor holds, by run id (attached or not), for `attach`. */
  held: Map<string, ExecuteStream>;
}

/** `handed_over`: this stream's first message was `attach`; the run it named took the stream. */
type Phase = "awaiting_start" | "running" | "finished" | "handed_over";

/**
 * One run on one Execute stream: waits for `start` (or `attach`), runs the CLI through the shared
 * backend, streams numbered events back (with backpressure), takes approvals and interrupts, and
 * ends with `exit`. If the controller goes away (stream cancelled, or silent past the heartbeat
 * bound) the CLI is kept for the run's lease, its events copied into the replay buffer, and a
 * controller that attaches within the lease gets them and the run back; after the lease the whole
 * process group is killed.
 */
export class ExecuteStream {
  private phase: Phase = "awaiting_start";
  private execution: RunExecution | undefined;
  private call: ExecuteCall;
  private outbox: EventOutbox;
  private readonly replay: ReplayBuffer;
  private lastHeardAt = Date.now();
  private detached = false;
  private interruptRequested = false;
  private finishing = false;
  /** The run's `exit`, once it ended, and whether the controller got it. */
  private exitMessage: RunExit | undefined;
  private exitDelivered = false;
  /** The run's id once started (its admission entry and its place in `held`). */
  private runId: string | undefined;
  /** Who started the run: only the same controller identity may attach to it. */
  private readonly callerId: string;
  private spawned: RunSpawned | undefined;
  /** How long the CLI outlives a vanished controller (from the start message). */
  private leaseMs: number = DRIVER_OPTS_DEFAULTS.remote_boot_lease_timeout_ms;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseOver = false;
  private ticker: NodeJS.Timeout | undefined;
  private readonly startTimer: NodeJS.Timeout;
  private log: Logger;
  private readonly done: Promise<void>;
  private finishDone!: () => void;
  /** The controller ended its side of the current stream (it does so once it has the exit message). */
  private controllerEnded!: Promise<void>;
  /** The current stream's controller went away (silent, cancelled, replaced). */
  private gone!: Promise<void>;
  private markGone!: () => void;

  constructor(
    call: ExecuteCall,
    private readonly deps: ExecuteStreamDeps,
  ) {
    this.log = deps.logger;
    this.callerId = deps.caller.id;
    this.call = call;
    this.outbox = new EventOutbox(call, deps.limits);
    this.replay = new ReplayBuffer(deps.limits);
    this.done = new Promise((resolve) => (this.finishDone = resolve));
    this.bind(call);
    this.startTimer = setTimeout(() => {
      if (this.phase !== "awaiting_start") return;
      this.refuse(new AsmError({ reasonCode: "start_timeout", message: `no start message within ${deps.limits.startTimeoutMs} ms` }));
    }, deps.limits.startTimeoutMs);
  }

  /** Resolves when the stream is over and the run's CLI is gone. */
  get finished(): Promise<void> {
    return this.done;
  }

  /** Listens to `call`; messages and ends of any earlier call are ignored from now on. */
  private bind(call: ExecuteCall): void {
    this.call = call;
    this.lastHeardAt = Date.now();
    call.on("data", (request: ExecuteRequest) => {
      if (call === this.call) this.onRequest(request);
    });
    this.controllerEnded = new Promise((resolve) => call.once("end", () => resolve()));
    this.gone = new Promise((resolve) => (this.markGone = resolve));
    const gone = (reason: string) => () => {
      if (call === this.call) this.controllerGone(reason);
    };
    call.on("error", (err) => gone(`stream error: ${err.message}`)());
    call.on("cancelled", gone("stream cancelled"));
    call.on("close", gone("stream closed"));
    clearInterval(this.ticker);
    this.ticker = setInterval(() => this.tick(), Math.max(10, Math.min(this.deps.limits.heartbeatIntervalMs, this.deps.limits.heartbeatTimeoutMs / 4)));
  }

  private onRequest(request: ExecuteRequest): void {
    if (this.phase === "handed_over") return;
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
      case "attach":
        if (this.phase !== "awaiting_start") {
          this.log.warn("an attach message after the start of an Execute stream was ignored");
          return;
        }
        this.attach(command.value);
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
        this.replay.ack(Number(command.value.ackedSequence));
        return;
      case undefined:
        return;
    }
  }

  private start(start: StartRun): void {
    this.phase = "running";
    clearTimeout(this.startTimer);
    if (start.leaseTimeoutMs > 0) this.leaseMs = start.leaseTimeoutMs;
    const held = this.deps.held.get(start.runId);
    if (held && held.callerId === this.callerId && held.execution) {
      // The same controller starts a run this executor already runs: it lost the run before keeping
      // any of its events (it restarted). The run goes on; the stream gets all of it, as an attach after 0.
      this.log.info({ runId: start.runId }, "start of a run already running: attached from its first event");
      this.attach({ runId: start.runId, afterSequence: 0, cookie: start.cookie });
      return;
    }
    let request: ExecutionRequest;
    try {
      request = this.prepare(start);
      if (held) throw new AsmError({ reasonCode: "run_exists", message: `the executor already holds run ${start.runId}` });
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
    this.deps.held.set(start.runId, this);
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

  /** A controller (back after a restart, or on a new stream) asks for a run this executor holds. */
  private attach(attach: AttachRun): void {
    clearTimeout(this.startTimer);
    const held = this.deps.held.get(attach.runId);
    try {
      this.deps.runtime.checkCookie(attach.cookie);
    } catch (err) {
      this.refuse(AsmError.from(err));
      return;
    }
    // Another identity's run is answered as one that does not exist.
    if (!held || held.callerId !== this.callerId || !held.execution) {
      this.refuse(
        new AsmError({
          domain: "transport",
          reasonCode: "remote_run_lost",
          message: `the executor holds no run ${attach.runId} (its lease ran out, the executor restarted, or it never started it)`,
          details: { run_id: attach.runId },
        }),
      );
      return;
    }
    this.phase = "handed_over";
    clearInterval(this.ticker);
    held.adopt(this.call, Number(attach.afterSequence));
    this.finishDone();
  }

  /** Takes `call` as the run's stream: answers `started` (reattached), resends what the controller lacks, goes on live. */
  private adopt(call: ExecuteCall, afterSequence: number): void {
    if (!this.detached) this.controllerGone("another stream attached to the run");
    clearTimeout(this.leaseTimer);
    this.leaseTimer = undefined;
    this.log.info({ afterSequence, replay: this.replay.length, ended: this.exitMessage !== undefined }, "controller re-attached");
    this.bind(call);
    this.outbox = new EventOutbox(call, this.deps.limits);
    this.detached = false;
    this.replay.ack(afterSequence);
    call.write({ reply: { $case: "started", value: { ...(this.spawned ?? { pid: 0, command: "", args: [], cwd: "" }), reattached: true } } });
    for (const event of this.replay.after(afterSequence)) this.outbox.push(event);
    if (this.exitMessage) void this.sendExit(this.exitMessage);
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
      for await (const batch of execution) {
        for (const draft of batch) {
          sequence += 1;
          if (sequence === 1) this.deps.admission.started(this.runId!);
          const p = draft.payload;
          if (p.$case === "runStarted") {
            this.spawned = { pid: p.value.pid, command: p.value.command, args: p.value.args, cwd: p.value.cwd, reattached: false };
            if (!this.detached) this.call.write({ reply: { $case: "started", value: this.spawned } });
          }
          // Only what the controller keeps goes over the wire (see EventBatch): the stream is the
          // run, and the controller stamps ids, times and metadata itself.
          const providerSessionId = draft.providerSessionId && draft.providerSessionId !== sentProviderSessionId ? draft.providerSessionId : "";
          if (providerSessionId) sentProviderSessionId = providerSessionId;
          const event = { id: "", runId: "", sessionId: "", sequence, timestamp: undefined, provider: "", kind: kindOf(p), providerSessionId, metadata: undefined, payload: p };
          // A copy stays until the controller says it kept the event; with no controller, only the copy is made.
          this.replay.push(event);
          if (!this.detached) this.outbox.push(event);
        }
        if (!this.detached && !this.outbox.hasRoom) await this.outbox.room();
        // The controller's acknowledgements (or a re-attach) free room; until then the CLI waits on its pipe.
        if (!this.replay.hasRoom) await this.replay.room();
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
    this.exitMessage = exit;
    clearTimeout(this.startTimer);
    // With no controller attached, the exit waits (with the events it has not had) for a re-attach within the lease.
    if (this.detached) {
      if (this.leaseOver || !this.execution) this.cleanup();
      return;
    }
    await this.sendExit(exit);
  }

  /** Writes `exit` after the events, waits for the controller to end its side, and ends the stream. */
  private async sendExit(exit: RunExit): Promise<void> {
    const call = this.call;
    await this.outbox.writeAfterEvents({ reply: { $case: "exit", value: exit } });
    if (this.detached || call !== this.call) return; // gone meanwhile: kept for a re-attach, or the lease ends it
    this.exitDelivered = true;
    // The stream is closed once the controller has ended its side: it may still be writing (a
    // heartbeat) until it has read the exit, and a write racing the close would fail its call. A
    // controller that reads slowly (its client is slow) may take long to get there; it is waited
    // for as long as it is heard from, and one that falls silent is gone (tick, controllerGone).
    await Promise.race([this.controllerEnded, this.gone]);
    if (call !== this.call || this.detached) return; // gone before it half-closed: controllerGone decided (kept for the lease, or forgotten)
    call.end();
    if (this.replay.length > 0) {
      // The controller ended its side without having kept everything (its store lagged past its
      // bound): the run's end is kept for the lease, for a re-attach.
      this.detached = true;
      this.exitDelivered = false;
      this.log.warn({ unacknowledged: this.replay.length }, "the controller left before keeping the run's last events; they are kept for its lease");
      this.leaseTimer = setTimeout(() => this.endLease(), this.leaseMs);
      return;
    }
    this.cleanup();
  }

  private tick(): void {
    const now = Date.now();
    if (this.phase === "handed_over") return;
    if (!this.detached && now - this.lastHeardAt > this.deps.limits.heartbeatTimeoutMs) {
      // Judged once the loop has read what arrived: after a stall of this process the tick is due
      // with the controller's messages still unread (timers run before sockets are polled).
      const heard = this.lastHeardAt;
      setImmediate(() => {
        if (!this.detached && this.phase !== "handed_over" && this.lastHeardAt === heard) this.controllerGone(`no message from the controller for ${Date.now() - heard} ms`);
      });
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
    if (this.detached) this.endLease();
    else this.controllerGone("executor shutting down");
  }

  /** The controller is gone: keep the CLI (and copies of its events) for the lease, then kill its process group. */
  private controllerGone(reason: string): void {
    if (this.detached || this.phase === "handed_over") return;
    this.detached = true;
    this.markGone();
    this.outbox.close();
    clearInterval(this.ticker);
    clearTimeout(this.startTimer);
    const execution = this.execution;
    if (this.phase === "awaiting_start" || !execution || (this.phase === "finished" && this.exitDelivered && this.replay.length === 0)) {
      // Not started yet (awaiting its start message, or waiting for a slot), or over and told: nothing to keep.
      if (this.phase !== "finished") this.phase = "finished";
      this.cleanup();
      return;
    }
    const leaseMs = this.interruptRequested ? 0 : this.leaseMs;
    this.log.warn({ reason, leaseMs, ackedSequence: this.replay.acked, kept: this.replay.length }, "controller gone; the run's CLI and its events are kept for its lease");
    this.leaseTimer = setTimeout(() => this.endLease(), leaseMs);
  }

  /** The lease is over with no controller back: the process group is killed and the run forgotten. */
  private endLease(): void {
    if (this.leaseOver) return;
    this.leaseOver = true;
    clearTimeout(this.leaseTimer);
    if (this.phase !== "finished") this.log.warn("lease over; killing the run's process group");
    this.replay.close();
    if (this.phase === "finished") this.cleanup();
    else void this.execution?.close();
  }

  private cleanup(): void {
    clearInterval(this.ticker);
    clearTimeout(this.startTimer);
    if (this.phase !== "finished") return;
    if (this.runId !== undefined) {
      this.deps.admission.left(this.runId);
      if (this.deps.held.get(this.runId) === this) this.deps.held.delete(this.runId);
    }
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    this.replay.close();
    this.log.debug({ detached: this.detached }, "run stream finished");
    this.finishDone();
  }
}

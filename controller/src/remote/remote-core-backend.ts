import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import {
  ApprovalDecision,
  AsmError,
  fromGrpcError,
  isBareStatus,
  providerToProto,
  runOptionsToProto,
  type Backend,
  type EventDraft,
  type ExecuteRequest,
  type ExecuteResponse,
  type ExecutionRequest,
  type RunExit,
  type Logger,
  type CliExitStatus,
  type RunExecution,
  surfaceDriver,
} from "@asm/shared";
import type { ExecutorLink } from "./executor-link.js";
import { requireCapabilities } from "./executor-link.js";
import type { ExecutorLinks } from "./executor-links.js";
import { extraFields, resolveRemoteConfig, type RemoteConfig } from "./remote-config.js";
import { nextWithin } from "./next-within.js";

export interface RemoteCoreBackendOptions {
  links: ExecutorLinks;
  logger: Logger;
  /** How often the controller sends a heartbeat on each Execute stream. */
  heartbeatIntervalMs: number;
  /** Silence from the executor, while the run waits for it, after which the executor is lost. */
  heartbeatTimeoutMs: number;
}

/**
 * The core lane on an executor agent (`execution_mode: remote_node`): each run is one Execute
 * stream on the executor's shared mTLS link. Sessions, numbering and approvals stay in the
 * controller's Run; this backend only moves drafts and control messages.
 */
export class RemoteCoreBackend implements Backend {
  constructor(private readonly opts: RemoteCoreBackendOptions) {}

  start(request: ExecutionRequest): RunExecution {
    return new RemoteExecution(request, resolveRemoteConfig(request.spec.settings), this.opts);
  }

  async releaseSession(): Promise<void> {
    // Remote runs keep no warm processes.
  }

  async releaseAll(): Promise<void> {
    this.opts.links.closeAll();
  }
}

/** A call that failed because the link did not carry it (not an answer from the executor). */
function isLinkFailure(err: unknown): boolean {
  const code = AsmError.from(err).reasonCode;
  return code === "rpc_failed" || code === "executor_lost";
}

function lost(node: string, message: string, details: Record<string, unknown> = {}): AsmError {
  return new AsmError({ domain: "transport", reasonCode: "executor_lost", message: `executor ${node}: ${message}`, details: { executor: node, ...details } });
}

class RemoteExecution implements RunExecution {
  private call: ClientDuplexStream<ExecuteRequest, ExecuteResponse> | undefined;
  private link: ExecutorLink | undefined;
  private abandoned = false;
  private closed = false;
  private exitSeen = false;
  private interrupting = false;
  private readonly streamDone: Promise<void>;
  private markStreamDone!: () => void;
  private lastSequence = 0;
  private exitStatus: CliExitStatus | undefined;
  private readonly log: Logger;

  constructor(
    private readonly request: ExecutionRequest,
    private readonly config: RemoteConfig,
    private readonly opts: RemoteCoreBackendOptions,
  ) {
    this.log = opts.logger.child({ runId: request.runId, sessionId: request.sessionId, executor: config.remote_node });
    this.streamDone = new Promise((resolve) => (this.markStreamDone = resolve));
  }

  get cliExit(): CliExitStatus | undefined {
    return this.exitStatus;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventDraft[]> {
    if (this.closed || this.abandoned) return;
    const { adapter, spec } = this.request;
    const { config } = this;
    const { link, cookie, reused } = await this.readyLink();
    if (this.closed || this.abandoned) return;
    this.link = link;
    const call = link.client.execute();
    this.call = call;
    call.on("error", () => undefined);
    call.on("close", () => this.markStreamDone());
    call.on("end", () => this.markStreamDone());
    const acks = this.acknowledge(call);
    const heartbeat = setInterval(() => {
      if (!this.exitSeen) call.write({ command: { $case: "heartbeat", value: { ackedSequence: acks.sequence() } } });
    }, this.opts.heartbeatIntervalMs);
    // `cwd` names a directory of the executor's host only through remote_cwd; on an ssh_exec host it is `cwd` itself.
    const cwdOnSurfaceHost = surfaceDriver(spec.settings.executionSurface).onBackendHost ? undefined : spec.settings.cwd;
    const options = runOptionsToProto({ ...spec.settings, cwd: cwdOnSurfaceHost, driverOpts: undefined, queueTimeoutMs: spec.settings.queueTimeoutMs, executionMode: "local", lane: "core" });
    const reattach = this.request.reattach;
    if (reattach) {
      // After a controller restart: the executor resends what came after the last event kept.
      this.lastSequence = reattach.afterSourceSequence;
      this.log.info({ afterSequence: reattach.afterSourceSequence }, "re-attaching to the run on its executor");
      call.write({ command: { $case: "attach", value: { runId: this.request.runId, afterSequence: reattach.afterSourceSequence, cookie } } });
    } else call.write({
      command: {
        $case: "start",
        value: {
          runId: this.request.runId,
          sessionId: this.request.sessionId,
          provider: providerToProto(adapter.provider),
          prompt: spec.prompt,
          options,
          resumeProviderSessionId: spec.resumeProviderSessionId ?? "",
          remoteCwd: config.remote_cwd ?? "",
          leaseTimeoutMs: config.remote_boot_lease_timeout_ms,
          cookie,
          extra: extraFields(config),
        },
      },
    });
    const messages = call[Symbol.asyncIterator]() as AsyncIterator<ExecuteResponse>;
    let started = false;
    let failed = false;
    try {
      for (;;) {
        // Until the executor answers the start, the RPC timeout applies; after, the heartbeat bound.
        const bound = started ? this.opts.heartbeatTimeoutMs : config.remote_rpc_timeout_ms;
        const next = await this.nextWithin(messages, bound, started);
        if (next.done) throw lost(config.remote_node, "the run's stream ended without an exit message");
        const reply = next.value.reply;
        if (!reply) continue;
        // `queued`: the executor took the run and starts it when it has a slot; it keeps sending
        // heartbeats, so from here the heartbeat bound applies, not the RPC timeout.
        if (reply.$case === "started" || reply.$case === "events" || reply.$case === "queued") started = true;
        if (reply.$case === "queued") this.log.info({ position: reply.value.position }, "run queued on the executor (at its caps)");
        if (reply.$case === "events") {
          const drafts: EventDraft[] = [];
          for (const event of reply.value.events) {
            if (event.sequence !== this.lastSequence + 1) {
              // What came before the gap is handed over first: it was received whole.
              if (drafts.length > 0) yield drafts;
              throw lost(config.remote_node, `event sequence gap: expected ${this.lastSequence + 1}, got ${event.sequence}`, { expected: this.lastSequence + 1, got: event.sequence });
            }
            this.lastSequence = event.sequence;
            if (!event.payload) continue;
            drafts.push(event.providerSessionId ? { payload: event.payload, providerSessionId: event.providerSessionId, sourceSequence: event.sequence } : { payload: event.payload, sourceSequence: event.sequence });
          }
          if (drafts.length > 0) yield drafts;
        } else if (reply.$case === "exit") {
          const error = await this.onExit(reply.value, call, heartbeat);
          if (error) throw this.fromExecutor(error);
          return;
        }
      }
    } catch (err) {
      failed = true;
      const error = this.classify(err);
      throw reused && !started && error.reasonCode === "executor_lost" ? await this.diagnose(error) : error;
    } finally {
      // The run stops reading at its terminal event, before the executor's `exit`: the stream is
      // still closed by the protocol (read `exit`, then half-close), never cancelled.
      if (!this.exitSeen && !failed) await this.readToExit(messages, call, heartbeat);
      clearInterval(heartbeat);
      acks.stop();
      if (!this.exitSeen) call.cancel();
      this.markStreamDone();
    }
  }

  /**
   * Acknowledgements to the executor: the highest of its sequences the controller has kept (the
   * run's store commits them), sent at each heartbeat and, coalesced over 20 ms, whenever it
   * advances, so the executor's replay buffer stays short.
   */
  private acknowledge(call: ClientDuplexStream<ExecuteRequest, ExecuteResponse>): { sequence(): number; stop(): void } {
    const kept = this.request.keptSource;
    const sequence = (): number => (kept ? kept.sequence : this.lastSequence);
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const send = (): void => {
      timer = undefined;
      const seq = sequence();
      if (seq <= sent || this.exitSeen) return;
      sent = seq;
      call.write({ command: { $case: "heartbeat", value: { ackedSequence: seq } } });
    };
    const unsubscribe = kept?.onAdvance(() => {
      timer ??= setTimeout(send, 20);
    });
    return {
      sequence,
      stop: () => {
        clearTimeout(timer);
        unsubscribe?.();
      },
    };
  }

  /**
   * A link whose executor is ready for the run. A cached link can outlive its executor: when a
   * call on it fails at the transport, it is dropped and the executor dialled afresh, so a dead
   * executor is reported as a fresh dial sees it (`connect_refused`, ...), not as a broken call.
   */
  private async readyLink(): Promise<{ link: ExecutorLink; cookie: string; reused: boolean }> {
    const first = await this.opts.links.acquire(this.config);
    try {
      await this.prepare(first.link, first.cookie);
      return first;
    } catch (err) {
      if (!first.reused || !isLinkFailure(err)) throw err;
      this.log.info({ err }, "the cached executor link failed; dialling afresh");
      this.opts.links.discard(first.link, AsmError.from(err));
      const fresh = await this.opts.links.acquire(this.config);
      await this.prepare(fresh.link, fresh.cookie);
      return fresh;
    }
  }

  /** Checks the executor's capabilities and starts its runtime as remote_bootstrap_mode says. */
  private async prepare(link: ExecutorLink, cookie: string): Promise<void> {
    const { adapter, spec } = this.request;
    const { config } = this;
    requireCapabilities(link.target, link.handshake, [`provider.${adapter.provider}`, ...(spec.settings.interactiveApprovals ? ["approvals_v1"] : []), ...(this.request.reattach ? ["reattach_v1"] : [])]);
    if (config.remote_bootstrap_mode === "ensure_started") return link.bootstrap(cookie, config.remote_rpc_timeout_ms);
    if (!link.handshake.ready)
      throw new AsmError({
        domain: "transport",
        reasonCode: "remote_not_started",
        message: `executor ${config.remote_node} is not started (remote_bootstrap_mode require_prestarted); start it prestarted or use remote_bootstrap_mode ensure_started`,
        details: { executor: config.remote_node },
      });
  }

  /**
   * The run's stream failed before the executor answered its start on a cached link: the link is
   * already dropped; a fresh dial says whether the executor is still there. If it is not, the
   * dial's error is the run's; if it is, the run's own `executor_lost` stands (the run is not
   * started again: the executor may have seen it).
   */
  private async diagnose(error: AsmError): Promise<AsmError> {
    try {
      await this.opts.links.acquire(this.config);
      return error;
    } catch (dialError) {
      return AsmError.from(dialError);
    }
  }

  /**
   * Takes the executor's `exit`: records how the CLI ended, waits (within the heartbeat bound) until
   * the controller has kept every event the executor sent, acknowledges that, and half-closes. The
   * executor forgets the run only once it is acknowledged: a controller that dies before keeping
   * the end can re-attach and get it again. Returns the run's error, if the executor reported one.
   */
  private async onExit(exit: RunExit, call: ClientDuplexStream<ExecuteRequest, ExecuteResponse>, heartbeat: NodeJS.Timeout): Promise<AsmError | undefined> {
    this.exitSeen = true;
    if (exit.exitCode !== undefined || exit.signal) this.exitStatus = { code: exit.exitCode ?? null, signal: exit.signal || null };
    clearInterval(heartbeat);
    const kept = await this.keptThrough(this.lastSequence, this.opts.heartbeatTimeoutMs);
    // Nothing more goes to the executor; ending our side lets it close the stream.
    call.write({ command: { $case: "heartbeat", value: { ackedSequence: kept } } });
    call.end();
    return exit.error ? AsmError.fromMessage(exit.error) : undefined;
  }

  /** Resolves with the kept source sequence once it reaches `sequence`, or after `ms`. */
  private keptThrough(sequence: number, ms: number): Promise<number> {
    const kept = this.request.keptSource;
    if (!kept || kept.sequence >= sequence) return Promise.resolve(kept ? kept.sequence : this.lastSequence);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        resolve(kept.sequence);
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = kept.onAdvance(() => {
        if (kept.sequence >= sequence) done();
      });
    });
  }

  /**
   * After the run has its terminal event: the rest of the stream up to `exit` (nothing the run
   * needs any more), within the heartbeat bound; a stream that does not get there is cancelled.
   */
  private async readToExit(messages: AsyncIterator<ExecuteResponse>, call: ClientDuplexStream<ExecuteRequest, ExecuteResponse>, heartbeat: NodeJS.Timeout): Promise<void> {
    try {
      for (;;) {
        const next = await this.nextWithin(messages, this.opts.heartbeatTimeoutMs, true);
        if (next.done) return;
        if (next.value.reply?.$case === "exit") {
          await this.onExit(next.value.reply.value, call, heartbeat);
          return;
        }
      }
    } catch (err) {
      this.log.debug({ err }, "the executor did not end the run's stream after its terminal event");
    }
  }

  /** An error the executor reported, with the executor named in its details. */
  private fromExecutor(e: AsmError): AsmError {
    return e.with({ provider: e.provider || this.request.adapter.provider, details: { executor: this.config.remote_node, ...e.details } });
  }

  /** Next stream message, or a typed error when the executor stays silent past `ms`. */
  private nextWithin(messages: AsyncIterator<ExecuteResponse>, ms: number, started: boolean): Promise<IteratorResult<ExecuteResponse>> {
    const node = this.config.remote_node;
    return nextWithin(messages, ms, () =>
      started
        ? lost(node, `no message for ${ms} ms (heartbeat bound); the executor or the link is gone`, { silence_ms: ms })
        : new AsmError({ domain: "transport", reasonCode: "rpc_timeout", message: `executor ${node}: the run was not started within remote_rpc_timeout_ms (${ms} ms)`, details: { executor: node, timeout_ms: ms } }),
    );
  }

  private classify(err: unknown): AsmError {
    if (err instanceof AsmError) {
      if (err.reasonCode === "executor_lost" && this.link) this.opts.links.discard(this.link, err);
      return err;
    }
    const grpcError = err as Partial<ServiceError>;
    if (typeof grpcError.code === "number") {
      const typed = fromGrpcError(grpcError as ServiceError);
      if (!isBareStatus(typed)) return typed;
      const error = lost(this.config.remote_node, `the run's stream failed: ${grpcError.details || grpcError.message}`, { grpc_code: grpcError.code });
      if (this.link) this.opts.links.discard(this.link, error);
      return error;
    }
    return AsmError.from(err);
  }

  /** Writes one control message; fails when the link does not take it within the transport call timeout. */
  private async control(command: ExecuteRequest["command"], what: string): Promise<void> {
    const call = this.call;
    if (!call || this.exitSeen) throw new AsmError({ reasonCode: "run_not_executing", message: `the run is not executing on ${this.config.remote_node}` });
    const ms = this.config.remote_transport_call_timeout_ms;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => call.write({ command }, (err: Error | null | undefined) => (err ? reject(err) : resolve()))),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new AsmError({ domain: "transport", reasonCode: "transport_call_timeout", message: `executor ${this.config.remote_node}: ${what} not delivered within remote_transport_call_timeout_ms (${ms} ms)` })),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const decision = allow ? ApprovalDecision.APPROVAL_DECISION_ALLOW : ApprovalDecision.APPROVAL_DECISION_DENY;
    return this.control({ $case: "approval", value: { approvalId, decision, reason } }, "approval decision");
  }

  /** Sends the interrupt and waits for the run's stream to end; cancels the stream when the executor does not answer. */
  async interrupt(): Promise<void> {
    if (!this.call) {
      this.abandoned = true;
      return;
    }
    if (this.exitSeen || this.interrupting) return this.streamDone;
    this.interrupting = true;
    try {
      await this.control({ $case: "interrupt", value: {} }, "interrupt");
      const ms = this.config.remote_transport_call_timeout_ms + this.config.remote_rpc_timeout_ms;
      const ended = await Promise.race([this.streamDone.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
      if (!ended) {
        this.log.warn({ waitedMs: ms }, "executor did not end the interrupted run; cancelling its stream");
        this.call.cancel();
      }
    } catch (err) {
      this.log.warn({ err }, "interrupt not delivered; cancelling the run's stream");
      this.call.cancel();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.call && !this.exitSeen) this.call.cancel();
  }
}

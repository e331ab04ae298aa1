import { isTerminal, payload, RunStatus, type CliExitStatus, type EventDraft, type ExecutionRequest, type Logger, type ParsedLine, type RunExecution } from "@asm/shared";
import { DraftChannel } from "./draft-channel.js";
import type { SdkProcessLimits } from "./sdk-process.js";

/** What every sdk-lane execution gets from the backend. */
export interface SdkExecutionContext extends SdkProcessLimits {
  logger: Logger;
  /** The CLI the run uses (its `cli_path`, the operator's `ASM_<P>_CLI_PATH`, or PATH). */
  cliPath: string;
}

/** How the CLI started, for the run's `run_started` event. */
export interface StartedCli {
  command: string;
  args: string[];
  cwd: string;
  pid: number;
}

/**
 * The shape every sdk-lane run shares: the SDK is driven by `drive()` in the background while the
 * run reads events from a channel; the provider's session id stamps every event once it is known;
 * `run_started` comes first; a run that ends without a terminal event either completed (the SDK
 * finished normally) or failed with the error the SDK gave.
 */
export abstract class SdkExecution implements RunExecution {
  protected readonly channel = new DraftChannel();
  protected readonly log: Logger;
  protected exitStatus: CliExitStatus | undefined;
  protected providerSessionId: string | undefined;
  /** interrupt() was called: the run is ending; what the SDK throws from now on is expected. */
  protected interrupted = false;
  private sawTerminal = false;
  private started = false;
  private driving: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    protected readonly request: ExecutionRequest,
    protected readonly ctx: SdkExecutionContext,
  ) {
    this.log = ctx.logger.child({ runId: request.runId, sessionId: request.sessionId, provider: request.adapter.provider, lane: "sdk" });
  }

  get cliExit(): CliExitStatus | undefined {
    return this.exitStatus;
  }

  protected get cwd(): string {
    return this.request.spec.settings.cwd ?? this.request.spec.defaultCwd;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventDraft[]> {
    if (this.closing || this.interrupted) return;
    this.driving ??= this.drive().then(
      () => this.channel.end(),
      (err: unknown) => this.channel.fail(this.sawTerminal ? undefined : err),
    );
    try {
      for await (const batch of this.channel) yield batch;
    } finally {
      await this.close();
    }
  }

  /** Runs the SDK to the end of the turn, emitting as it goes. Throws what made the run fail. */
  protected abstract drive(): Promise<void>;

  /** Stops what `drive()` started, once. */
  protected abstract shutdown(): Promise<void>;

  abstract answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void>;

  abstract interrupt(): Promise<void>;

  close(): Promise<void> {
    this.closing ??= this.shutdown().finally(() => this.channel.end());
    return this.closing;
  }

  /** The `run_started` event, once, before anything else the CLI says. */
  protected emitStarted(cli: StartedCli, extra: { continued: boolean; notContinuedReason?: string }): void {
    if (this.started) return;
    this.started = true;
    const resume = this.request.spec.resumeProviderSessionId;
    this.channel.push({
      payload: payload("runStarted", {
        providerSessionId: resume ?? "",
        command: cli.command,
        args: cli.args,
        cwd: cli.cwd,
        pid: cli.pid,
        warm: false,
        continued: extra.continued,
        notContinuedReason: extra.notContinuedReason ?? "",
      }),
    });
  }

  /** Resolves once `drive()` has returned or thrown (immediately when it never started). */
  protected get driven(): Promise<void> {
    return this.driving ?? Promise.resolve();
  }

  protected get hasStarted(): boolean {
    return this.started;
  }

  /** Hands over what one protocol message meant (the same mapping as the core lane's). */
  protected emitParsed(parsed: ParsedLine): void {
    this.providerSessionId = parsed.providerSessionId || this.providerSessionId;
    this.emit(parsed.events);
  }

  protected emit(events: readonly EventDraft[]): void {
    const id = this.providerSessionId;
    const drafts: EventDraft[] = [];
    for (const event of events) {
      if (isTerminal(event)) this.sawTerminal = true;
      drafts.push(id && !event.providerSessionId ? { ...event, providerSessionId: id } : event);
    }
    this.channel.push(...drafts);
  }

  protected get terminalSeen(): boolean {
    return this.sawTerminal;
  }

  /** The terminal event of a turn the SDK finished without one. */
  protected completedWithoutResult(): void {
    if (this.sawTerminal) return;
    this.emit([{ payload: payload("runCompleted", { status: RunStatus.RUN_STATUS_COMPLETED }) }]);
  }
}

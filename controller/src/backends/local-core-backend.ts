import { accessSync, constants as fsConstants } from "node:fs";
import { delimiter, join } from "node:path";
import { AsmError, CliProcess, isTerminal, RunStatus, payload, type CliExit, type EventDraft, type Logger } from "@asm/shared";
import type { Backend, ExecutionRequest, RunExecution } from "./backend.js";

export interface LocalCoreBackendOptions {
  logger: Logger;
  /** Grace between escalation steps when stopping a CLI. */
  killGraceMs: number;
  /** Longest stdout line accepted from a CLI. */
  maxLineBytes: number;
  /** Bytes of stderr kept for errors. */
  stderrTailBytes: number;
  /** Host environment the CLI paths are resolved against (PATH, provider overrides). */
  hostEnv: NodeJS.ProcessEnv;
}

/** Finds the CLI: per-run `cli_path`, then the provider's environment override, then PATH. */
export function resolveCliPath(request: ExecutionRequest, hostEnv: NodeJS.ProcessEnv): string {
  const { adapter, spec } = request;
  const explicit = spec.settings.cliPath ?? hostEnv[adapter.cliPathEnv];
  const candidates = explicit ? [explicit] : (hostEnv.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, adapter.defaultBinary));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new AsmError({
    kind: "cli_not_found",
    provider: adapter.provider,
    reasonCode: "cli_not_found",
    message: explicit
      ? `${adapter.provider} CLI not found or not executable at ${explicit}`
      : `${adapter.provider} CLI "${adapter.defaultBinary}" not found on PATH (set cli_path or ${adapter.cliPathEnv})`,
  });
}

/** The core lane on this host: spawns the provider CLI through the process supervisor. */
export class LocalCoreBackend implements Backend {
  constructor(private readonly opts: LocalCoreBackendOptions) {}

  start(request: ExecutionRequest): RunExecution {
    return new LocalCoreExecution(request, this.opts);
  }
}

class LocalCoreExecution implements RunExecution {
  private process: CliProcess | undefined;
  private readonly adapterRun;
  private closing: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly request: ExecutionRequest,
    private readonly opts: LocalCoreBackendOptions,
  ) {
    this.adapterRun = request.adapter.startRun(request.spec);
    this.log = opts.logger.child({ runId: request.runId, sessionId: request.sessionId, provider: request.adapter.provider });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventDraft> {
    const { adapter, spec } = this.request;
    if (this.closing) return;
    const cliPath = resolveCliPath(this.request, this.opts.hostEnv);
    const command = adapter.buildCommand(spec, cliPath);
    const proc = CliProcess.spawn({
      command: command.command,
      args: command.args,
      cwd: command.cwd,
      env: command.env,
      maxLineBytes: this.opts.maxLineBytes,
      stderrTailBytes: this.opts.stderrTailBytes,
      stdin: "pipe",
    });
    this.process = proc;
    this.log.debug({ pid: proc.pid, command: command.command, args: command.args }, "cli spawned");
    try {
      yield { payload: payload("runStarted", { providerSessionId: spec.resumeProviderSessionId ?? "", command: command.command, args: command.args, cwd: command.cwd, pid: proc.pid }) };
      for (const line of command.initialInput) await proc.write(line);
      if (!command.keepStdinOpen) proc.endInput();
      let sawTerminal = false;
      let providerSessionId: string | undefined;
      for await (const out of proc.output()) {
        if ("overflow" in out) {
          throw new AsmError({
            kind: "buffer_overflow",
            provider: adapter.provider,
            reasonCode: "line_too_long",
            message: `${adapter.provider} CLI wrote a ${out.bytes}-byte line, over the ${this.opts.maxLineBytes}-byte limit`,
            details: { bytes: out.bytes, limit: this.opts.maxLineBytes },
          });
        }
        if (out.stream === "stderr") {
          yield { payload: payload("stderr", { content: out.line }) };
          continue;
        }
        const parsed = this.adapterRun.parseLine(out.line);
        for (const reply of parsed.reply ?? []) await proc.write(reply);
        // A line that only reveals the provider session id (e.g. claude's init) stamps the next event.
        providerSessionId = parsed.providerSessionId || providerSessionId;
        for (const event of parsed.events) {
          if (isTerminal(event)) sawTerminal = true;
          yield providerSessionId && !event.providerSessionId ? { ...event, providerSessionId } : event;
        }
        if (parsed.turnEnded) proc.endInput();
      }
      const exit = await proc.exited;
      if (!sawTerminal) yield* this.exitEvents(exit);
    } finally {
      await this.close();
    }
  }

  private async *exitEvents(exit: CliExit): AsyncGenerator<EventDraft> {
    if (exit.classification === "success") {
      yield { payload: payload("runCompleted", { status: RunStatus.RUN_STATUS_COMPLETED }) };
      return;
    }
    throw exit.error ?? new AsmError({ kind: "transport_error", provider: this.request.adapter.provider, message: "CLI failed", reasonCode: "cli_failed" });
  }

  async answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const proc = this.requireProcess();
    for (const line of this.adapterRun.answerApproval(approvalId, allow, reason)) await proc.write(line);
  }

  async interrupt(): Promise<void> {
    const proc = this.process;
    if (!proc) return;
    const lines = this.adapterRun.interrupt();
    if (lines) {
      try {
        for (const line of lines) await proc.write(line);
        const exited = await Promise.race([proc.exited.then(() => true), delay(this.opts.killGraceMs).then(() => false)]);
        if (exited) return;
        proc.endInput();
      } catch (err) {
        this.log.debug({ err }, "protocol interrupt failed; escalating to signals");
      }
    }
    await proc.terminate({ graceMs: this.opts.killGraceMs, firstSignal: "SIGINT" });
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const proc = this.process;
    if (!proc) return;
    proc.endInput();
    const exited = await Promise.race([proc.exited.then(() => true), delay(this.opts.killGraceMs).then(() => false)]);
    if (!exited) await proc.terminate({ graceMs: this.opts.killGraceMs, firstSignal: "SIGTERM" });
    await proc.exited;
  }

  private requireProcess(): CliProcess {
    if (!this.process) throw new AsmError({ kind: "failed_precondition", message: "the CLI has not started" });
    return this.process;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

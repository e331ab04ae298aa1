import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { RunStatus } from "../../gen/asm/v1/common_pb.js";
import { AsmError } from "../errors/asm-error.js";
import { isTerminal, payload } from "../events/event-payload.js";
import type { Logger } from "../logging/logger.js";
import { CliProcess, type CliExit, type CliOutput } from "../process/index.js";
import type { EventDraft, ProviderAdapter } from "../providers/provider-adapter.js";
import type { Backend, CliExitStatus, ExecutionRequest, RunExecution } from "./backend.js";
import { cwdMovedError, guardExecError, guardExecFailed, guardRefused } from "./cwd-guard.js";
import { delay, drainOutput, WarmPool, type WarmProcess } from "./warm-pool.js";
import type { SurfaceOperatorConfig } from "../surfaces/execution-surface.js";
import { surfaceDriver, surfaceExitError } from "../surfaces/surface-registry.js";

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
  /**
   * The real root that every run's cwd was confined to (the executor's workspace): each CLI then
   * starts through the cwd guard (cwd-guard.ts), which re-checks its directory at the spawn.
   */
  confinedTo?: () => string;
  /** Whether the runs are the controller's own (a moved cwd is then a `cwd` policy refusal, not a `remote_cwd` one). */
  controllerSide?: boolean;
  /** The operator's settings of execution surfaces (ssh identity, known_hosts, keepalive). */
  surfaces?: SurfaceOperatorConfig;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Where a provider's CLI is on a host: `explicit` (a run's `cli_path`) or the adapter's
 * `ASM_<PROVIDER>_CLI_PATH` override when set, and then only there; else the first executable
 * `defaultBinary` on PATH.
 */
export function findProviderCli(adapter: Pick<ProviderAdapter, "defaultBinary" | "cliPathEnv">, env: NodeJS.ProcessEnv, explicit?: string): string | undefined {
  const override = explicit ?? env[adapter.cliPathEnv];
  const candidates = override ? [override] : (env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, adapter.defaultBinary));
  return candidates.find(isExecutableFile);
}

/**
 * The CLI a run names for a surface that is not this host (`ssh_exec`): its `cli_path`, the
 * operator's `ASM_<PROVIDER>_CLI_PATH`, or the binary name, looked up there, not here.
 */
export function surfaceCliName(request: ExecutionRequest, hostEnv: NodeJS.ProcessEnv): string {
  const { adapter, spec } = request;
  return spec.settings.cliPath ?? hostEnv[adapter.cliPathEnv] ?? adapter.defaultBinary;
}

/** Finds the CLI of a run (see `findProviderCli`) or throws cli_not_found. */
export function resolveCliPath(request: ExecutionRequest, hostEnv: NodeJS.ProcessEnv): string {
  const { adapter, spec } = request;
  const found = findProviderCli(adapter, hostEnv, spec.settings.cliPath);
  if (found) return found;
  const explicit = spec.settings.cliPath ?? hostEnv[adapter.cliPathEnv];
  throw new AsmError({
    provider: adapter.provider,
    reasonCode: "cli_not_found",
    message: explicit
      ? `${adapter.provider} CLI not found or not executable at ${explicit}`
      : `${adapter.provider} CLI "${adapter.defaultBinary}" not found on PATH (set cli_path or ${adapter.cliPathEnv})`,
  });
}

/**
 * The environment every CLI starts from besides its run's allowlisted `env`: the host's PATH,
 * HOME, LANG and TMPDIR, plus the named extra variables. Nothing else of the host leaks in.
 */
export function baseCliEnv(hostEnv: NodeJS.ProcessEnv, extra: readonly string[] = []): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "LANG", "TMPDIR", ...extra]) {
    const value = hostEnv[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** Most drafts handed over in one batch (the rest of a long burst goes in the next). */
const MAX_DRAFTS_PER_BATCH = 256;

/** The core lane on this host: spawns the provider CLI through the process supervisor. */
export class LocalCoreBackend implements Backend {
  private readonly pool: WarmPool;

  constructor(private readonly opts: LocalCoreBackendOptions) {
    this.pool = new WarmPool(opts.logger, opts.killGraceMs);
  }

  start(request: ExecutionRequest): RunExecution {
    return new LocalCoreExecution(request, this.opts, this.pool);
  }

  releaseSession(sessionId: string): Promise<void> {
    return this.pool.releaseSession(sessionId);
  }

  releaseAll(): Promise<void> {
    return this.pool.releaseAll();
  }
}

class LocalCoreExecution implements RunExecution {
  private warm: WarmProcess | undefined;
  private closing: Promise<void> | undefined;
  /** The CLI finished the run's turn (a clean turn end keeps a warm process reusable). */
  private turnDone = false;
  /** The CLI's output was read to its end (nothing left for close() to drain). */
  private outputEnded = false;
  /** Interrupted before the CLI was started: it never will be. */
  private abandoned = false;
  private exitStatus: CliExitStatus | undefined;
  private readonly turnEnded: Promise<void>;
  private markTurnEnded!: () => void;
  private readonly log: Logger;

  constructor(
    private readonly request: ExecutionRequest,
    private readonly opts: LocalCoreBackendOptions,
    private readonly pool: WarmPool,
  ) {
    this.log = opts.logger.child({ runId: request.runId, sessionId: request.sessionId, provider: request.adapter.provider });
    this.turnEnded = new Promise((resolve) => (this.markTurnEnded = resolve));
  }

  get cliExit(): CliExitStatus | undefined {
    return this.exitStatus;
  }

  /** Whether this run may leave its process warm for the session's next run. */
  private get keepsWarm(): boolean {
    return this.request.warm !== undefined && this.request.adapter.canStayWarm(this.request.spec.settings);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventDraft[]> {
    const { adapter, spec } = this.request;
    if (this.closing || this.abandoned) return;
    const surface = surfaceDriver(spec.settings.executionSurface);
    const cliPath = surface.onBackendHost ? resolveCliPath(this.request, this.opts.hostEnv) : surfaceCliName(this.request, this.opts.hostEnv);
    const command = adapter.buildCommand(spec, cliPath);
    const fingerprint = JSON.stringify({
      ...adapter.buildCommand({ ...spec, prompt: "", resumeProviderSessionId: undefined }, cliPath),
      initialInput: undefined,
      stdinText: undefined,
      surface: spec.settings.executionSurface ?? null,
    });
    let startLines = command.initialInput;
    let reused = false;
    let warm = this.keepsWarm ? this.pool.take(this.request.sessionId, fingerprint) : undefined;
    if (warm) {
      const lines = warm.adapterRun.nextTurn?.(spec.prompt);
      if (lines) {
        startLines = lines;
        reused = true;
      } else {
        void this.pool.retire(warm);
        warm = undefined;
      }
    }
    let preamble: string[] = [];
    if (!warm) {
      const spawned = surface.place({ command, cli: cliPath, confinedTo: this.opts.confinedTo, operator: this.opts.surfaces ?? {} }, spec.settings.executionSurface?.options ?? {});
      preamble = spawned.preamble;
      const proc = CliProcess.spawn({
        command: spawned.command,
        args: spawned.args,
        cwd: spawned.cwd,
        env: spawned.env,
        maxLineBytes: this.opts.maxLineBytes,
        stderrTailBytes: this.opts.stderrTailBytes,
        stdin: "pipe",
      });
      warm = { fingerprint, proc, output: proc.output()[Symbol.asyncIterator](), adapterRun: adapter.startRun(spec), providerSessionId: undefined };
      this.log.debug({ pid: proc.pid, command: command.command, args: command.args }, "cli spawned");
    }
    this.warm = warm;
    const { proc, adapterRun } = warm;
    try {
      // A conversation to continue is continued on the warm process that holds it, or by a new
      // process that can resume it; else the run says so (never a silent new conversation).
      const resuming = spec.resumeProviderSessionId !== undefined;
      const continued = resuming && (reused || adapter.canResume(spec.settings));
      yield [
        {
          payload: payload("runStarted", {
            providerSessionId: warm.providerSessionId ?? spec.resumeProviderSessionId ?? "",
            command: command.command,
            args: command.args,
            cwd: command.cwd,
            pid: proc.pid,
            warm: reused,
            continued,
            notContinuedReason: resuming && !continued ? "resume_unsupported_in_mode" : "",
          }),
        },
      ];
      try {
        for (const line of [...preamble, ...startLines]) await proc.write(line);
        if (!reused && command.stdinText !== undefined) await proc.writeText(command.stdinText);
      } catch (err) {
        // A CLI that is gone before it read its input: why it is gone says more than the broken pipe.
        throw (await this.startFailure(proc)) ?? err;
      }
      if (!command.keepStdinOpen) proc.endInput();
      let sawTerminal = false;
      for (;;) {
        const next = await warm.output.next();
        if (next.done) {
          this.outputEnded = true;
          break;
        }
        // The rest of what was read with this line goes into the same batch, up to the turn's end.
        const drafts: EventDraft[] = [];
        let overflow: { bytes: number } | undefined;
        let turnEnded = false;
        for (let out: CliOutput | undefined = next.value; out !== undefined; out = drafts.length < MAX_DRAFTS_PER_BATCH ? proc.nextQueued() : undefined) {
          if ("overflow" in out) {
            overflow = out;
            break;
          }
          if (out.stream === "stderr") {
            drafts.push({ payload: payload("stderr", { content: out.line }) });
            continue;
          }
          const parsed = adapterRun.parseLine(out.line);
          for (const reply of parsed.reply ?? []) await proc.write(reply);
          // A line that only reveals the provider session id (e.g. claude's init) stamps the next event.
          warm.providerSessionId = parsed.providerSessionId || warm.providerSessionId;
          if (parsed.turnEnded) {
            // Before the terminal event is handed over: the run stops pulling once it has it.
            this.turnDone = true;
            this.markTurnEnded();
          }
          const providerSessionId = warm.providerSessionId;
          for (const event of parsed.events) {
            if (isTerminal(event)) sawTerminal = true;
            drafts.push(providerSessionId && !event.providerSessionId ? { ...event, providerSessionId } : event);
          }
          if (parsed.turnEnded) {
            // What follows the turn's end belongs to the next turn (a warm process keeps it queued).
            turnEnded = true;
            break;
          }
        }
        if (drafts.length > 0) yield drafts;
        if (overflow) {
          throw new AsmError({
            provider: adapter.provider,
            reasonCode: "line_too_long",
            message: `${adapter.provider} CLI wrote a ${overflow.bytes}-byte line, over the ${this.opts.maxLineBytes}-byte limit`,
            details: { bytes: overflow.bytes, limit: this.opts.maxLineBytes },
          });
        }
        if (turnEnded) {
          if (this.keepsWarm && proc.running) return;
          proc.endInput();
        }
      }
      const exit = await proc.exited;
      if (!sawTerminal) yield* this.exitEvents(exit);
    } finally {
      await this.close();
    }
  }

  /**
   * Why a process that could not take its input did not start, if it did not: it could not be
   * executed (spawn_failed), or the cwd guard refused its directory. Undefined when it did start.
   */
  private async startFailure(proc: CliProcess): Promise<AsmError | undefined> {
    const exit = await Promise.race([proc.exited, delay(this.opts.killGraceMs).then(() => undefined)]);
    if (!exit) return undefined;
    const placed = this.surfaceFailure(exit);
    if (placed) return placed;
    if (this.refusedByGuard(exit)) return cwdMovedError(this.request.spec.settings.cwd ?? "", this.opts.controllerSide === true);
    if (this.opts.confinedTo !== undefined && guardExecFailed(exit)) return this.execError(exit);
    return exit.classification === "spawn_failed" ? exit.error : undefined;
  }

  private execError(exit: CliExit): AsmError {
    return guardExecError(resolveCliPath(this.request, this.opts.hostEnv), exit.stderrTail).with({ provider: this.request.adapter.provider });
  }

  private refusedByGuard(exit: CliExit): boolean {
    return this.opts.confinedTo !== undefined && surfaceDriver(this.request.spec.settings.executionSurface).onBackendHost && guardRefused(exit);
  }

  /** The surface's own failure (ssh: unreachable, authentication, host key, CLI missing, connection lost). */
  private surfaceFailure(exit: CliExit): AsmError | undefined {
    const { spec, adapter } = this.request;
    const context = { provider: adapter.provider, cli: surfaceCliName(this.request, this.opts.hostEnv), cwd: spec.settings.cwd ?? spec.defaultCwd };
    return surfaceExitError(spec.settings.executionSurface, exit, context, this.opts.surfaces ?? {});
  }

  private async *exitEvents(exit: CliExit): AsyncGenerator<EventDraft[]> {
    const placed = this.surfaceFailure(exit);
    if (placed) throw placed;
    if (this.refusedByGuard(exit)) throw cwdMovedError(this.request.spec.settings.cwd ?? "", this.opts.controllerSide === true);
    if (this.opts.confinedTo !== undefined && guardExecFailed(exit)) throw this.execError(exit);
    if (exit.classification === "success") {
      yield [{ payload: payload("runCompleted", { status: RunStatus.RUN_STATUS_COMPLETED }) }];
      return;
    }
    throw exit.error ?? new AsmError({ provider: this.request.adapter.provider, message: "CLI failed", reasonCode: "cli_failed" });
  }

  async answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const warm = this.requireStarted();
    for (const line of warm.adapterRun.answerApproval(approvalId, allow, reason)) await warm.proc.write(line);
  }

  /**
   * Only the iterator reads the CLI's output: an interrupt writes to the CLI and signals it, and the
   * iterator, still being read by the run, sees the turn or the process end.
   */
  async interrupt(): Promise<void> {
    const warm = this.warm;
    if (!warm) {
      this.abandoned = true;
      return;
    }
    const { proc } = warm;
    const lines = warm.adapterRun.interrupt();
    if (lines) {
      try {
        for (const line of lines) await proc.write(line);
        // The CLI's own interrupt ends the turn (the process may stay warm) or the process.
        const settled = await Promise.race([this.turnEnded.then(() => true), proc.exited.then(() => true), delay(this.opts.killGraceMs).then(() => false)]);
        if (settled) return;
        proc.endInput();
      } catch (err) {
        this.log.debug({ err }, "protocol interrupt failed; escalating to signals");
      }
    }
    await proc.terminate({ graceMs: this.opts.killGraceMs, firstSignal: "SIGINT" });
  }

  /** Called once the iterator is done (its `finally`), or by a run that never iterated. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const warm = this.warm;
    if (!warm) return;
    const { proc } = warm;
    if (this.keepsWarm && this.turnDone && proc.running) {
      this.pool.put(this.request.sessionId, warm, this.request.warm!.idleTimeoutMs);
      return;
    }
    proc.endInput();
    // Whatever the run did not read is discarded so the process can finish.
    const drain = this.outputEnded ? Promise.resolve() : drainOutput(warm.output);
    const exited = await Promise.race([proc.exited.then(() => true), delay(this.opts.killGraceMs).then(() => false)]);
    if (!exited) await proc.terminate({ graceMs: this.opts.killGraceMs, firstSignal: "SIGTERM" });
    await drain;
    const exit = await proc.exited;
    this.exitStatus = { code: exit.code, signal: exit.signal };
  }

  private requireStarted(): WarmProcess {
    if (!this.warm) throw new AsmError({ reasonCode: "run_not_executing", message: "the CLI has not started" });
    return this.warm;
  }
}


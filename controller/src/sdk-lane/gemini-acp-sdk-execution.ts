/**
 * gemini on the sdk lane: `gemini --acp` driven by the typed client connection of
 * `@agentclientprotocol/sdk` (initialize, authenticate, session/new, session/prompt; permission
 * requests; `session/cancel`). asm starts the CLI itself (the SDK takes a message stream), so it is
 * a supervised CliProcess like every core-lane CLI; the stream carries its stdout lines as JSON-RPC
 * messages. What the session says goes through the same ACP mapping as the core lane's.
 */
import {
  AcpSessionEvents,
  ASM_VERSION,
  AsmError,
  CliProcess,
  cwdMovedError,
  geminiError,
  guardRefused,
  payload,
  surfaceDriver,
  surfaceExitError,
  rawLine,
  type ExecutionRequest,
  type PermissionOutcome,
} from "@asm/shared";
import { loadSdk, type AcpClientConnection, type AcpMessageStream } from "./sdk-modules.js";
import { SdkExecution, type SdkExecutionContext } from "./sdk-execution.js";
import { settlesWithin } from "./sdk-process.js";

type AnswerPermission = (outcome: PermissionOutcome) => void;

/** An ACP error reply, as the SDK rejects a request with it. */
interface RpcFailure {
  code: number;
  message: string;
  data?: unknown;
}

/** A failure gemini answered (an ACP error reply): the turn's error event, as in the core lane. */
class TurnFailure {
  constructor(readonly error: AsmError) {}
}

function isRpcFailure(err: unknown): err is RpcFailure {
  return typeof err === "object" && err !== null && typeof (err as RpcFailure).code === "number" && typeof (err as RpcFailure).message === "string";
}

export class GeminiAcpSdkExecution extends SdkExecution {
  private readonly session = new AcpSessionEvents<AnswerPermission>();
  private proc: CliProcess | undefined;
  private conn: AcpClientConnection | undefined;
  private sessionId: string | undefined;
  /** The `session/prompt` in flight (settles, either way, when the turn is over); undefined when none is. */
  private prompt: Promise<unknown> | undefined;
  private lineFailure: AsmError | undefined;

  constructor(request: ExecutionRequest, ctx: SdkExecutionContext) {
    super(request, ctx);
  }

  protected async drive(): Promise<void> {
    const sdk = await loadSdk("@agentclientprotocol/sdk");
    const { spec, adapter } = this.request;
    // The core lane's ACP command (args, env) for these settings.
    const command = adapter.buildCommand({ ...spec, settings: { ...spec.settings, interactiveApprovals: true } }, this.ctx.cliPath);
    const surface = spec.settings.executionSurface;
    const spawned = surfaceDriver(surface).place({ command, cli: this.ctx.cliPath, confinedTo: this.ctx.confinedTo, operator: this.ctx.surfaces ?? {} }, surface?.options ?? {});
    const proc = CliProcess.spawn({ command: spawned.command, args: spawned.args, cwd: spawned.cwd, env: spawned.env, maxLineBytes: this.ctx.maxLineBytes, stderrTailBytes: this.ctx.stderrTailBytes, stdin: "pipe" });
    this.proc = proc;
    // ssh_exec: the CLI's environment goes first on its stdin, before any ACP message.
    for (const line of spawned.preamble) await proc.write(line);
    void proc.exited.then((exit) => (this.exitStatus = { code: exit.code, signal: exit.signal }));
    const resuming = spec.resumeProviderSessionId !== undefined;
    // ACP session/load is broken in gemini 0.61: a stored session is not continued (as in the core lane).
    this.emitStarted({ command: command.command, args: command.args, cwd: command.cwd, pid: proc.pid }, { continued: false, notContinuedReason: resuming ? "resume_unsupported_in_mode" : "" });
    const interactive = spec.settings.interactiveApprovals ?? spec.settings.permissionMode === "default";
    const conn = sdk
      .client({ name: "asm", version: ASM_VERSION })
      .onRequest("session/request_permission", ({ params }) => (interactive ? this.askPermission(params) : { outcome: { outcome: "cancelled" } }))
      .onNotification("session/update", ({ params }) => this.update(params))
      .onRequest("*", ({ method }) => {
        throw sdk.RequestError.methodNotFound(method);
      })
      .connect(this.messageStream(proc));
    this.conn = conn;
    const authMethod = (adapter.providerOptionsSchema.parse(spec.settings.providerOptions) as { auth_method?: string }).auth_method ?? "gemini-api-key";
    const step = async (method: string, params: unknown): Promise<unknown> => {
      try {
        return await conn.agent.request(method, params);
      } catch (err) {
        throw this.rpcFailure(method, err);
      }
    };
    try {
      await step("initialize", { protocolVersion: sdk.PROTOCOL_VERSION, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } });
      await step("authenticate", { methodId: authMethod });
      const created = (await step("session/new", { cwd: command.cwd, mcpServers: [] })) as { sessionId?: unknown };
      if (typeof created?.sessionId !== "string" || created.sessionId === "") {
        throw new TurnFailure(new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/new without a session id", details: { method: "session/new" } }));
      }
      this.sessionId = created.sessionId;
      this.providerSessionId = created.sessionId;
      if (this.interrupted) throw new TurnFailure(AsmError.cancelled("the run was interrupted before gemini received the prompt"));
      this.prompt = step("session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text: spec.prompt }] });
      const result = await this.prompt;
      this.prompt = undefined;
      const events = this.session.promptEnded(result);
      if (!events) throw new TurnFailure(new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/prompt without a stop reason", details: { method: "session/prompt" } }));
      this.emit([...this.session.takeNotRun(), ...events]);
    } catch (err) {
      this.prompt = undefined;
      if (this.terminalSeen) return;
      if (err instanceof TurnFailure) {
        this.emit([{ payload: payload("error", { error: err.error.toMessage() }) }]);
        return;
      }
      // The connection broke: how the CLI ended says why.
      throw (await this.exitFailure()) ?? (err instanceof AsmError ? err : AsmError.from(err));
    }
  }

  /** The CLI's stdout lines as JSON-RPC messages for the SDK, and the SDK's messages as lines to its stdin. */
  private messageStream(proc: CliProcess): AcpMessageStream {
    const output = proc.output()[Symbol.asyncIterator]();
    const readable = new ReadableStream<unknown>({
      pull: async (controller) => {
        for (;;) {
          const next = await output.next();
          if (next.done) {
            controller.close();
            return;
          }
          const out = next.value;
          if ("overflow" in out) {
            this.lineFailure = new AsmError({
              provider: "gemini",
              reasonCode: "line_too_long",
              message: `gemini CLI wrote a ${out.bytes}-byte line, over the ${this.ctx.maxLineBytes}-byte limit`,
              details: { bytes: out.bytes, limit: this.ctx.maxLineBytes },
            });
            void proc.terminate({ graceMs: this.ctx.killGraceMs, firstSignal: "SIGTERM" });
            controller.error(this.lineFailure);
            return;
          }
          if (out.stream === "stderr") {
            this.emit([{ payload: payload("stderr", { content: out.line }) }]);
            continue;
          }
          const message = parseMessage(out.line);
          if (message === undefined) {
            // Not JSON-RPC: kept verbatim, as the core lane does.
            this.emit(rawLine(out.line).events);
            continue;
          }
          await this.channel.waitForRoom();
          controller.enqueue(message);
          return;
        }
      },
      cancel: async () => {
        await output.return?.();
      },
    });
    const writable = new WritableStream<unknown>({
      write: async (message) => {
        await proc.write(JSON.stringify(message));
      },
      close: () => proc.endInput(),
      abort: () => proc.endInput(),
    });
    return { readable, writable };
  }

  private update(params: unknown): void {
    const update = this.session.update(params, this.sessionId);
    if (!update) return;
    this.emit([...this.session.takeNotRun(), ...update.events]);
  }

  private askPermission(params: unknown): Promise<{ outcome: PermissionOutcome }> {
    return new Promise((resolve) => {
      const asked = this.session.permissionRequested(params, (outcome) => resolve({ outcome }));
      if (!asked) {
        resolve({ outcome: { outcome: "cancelled" } });
        return;
      }
      this.emit(asked.events);
    });
  }

  async answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const decided = this.session.decide(approvalId, allow, reason);
    decided?.token(decided.outcome);
  }

  /** `session/cancel`, a `cancelled` outcome for every permission still asked; then signals if the CLI does not stop. */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    const proc = this.proc;
    if (!proc) return;
    const prompt = this.prompt;
    if (this.conn && this.sessionId !== undefined && prompt) {
      try {
        await this.conn.agent.notify("session/cancel", { sessionId: this.sessionId });
        for (const answer of this.session.cancelAll()) answer({ outcome: "cancelled" });
        // The prompt ends (stopReason cancelled), or the CLI does; else signals.
        const ended = prompt.then(() => undefined, () => undefined);
        if (await settlesWithin(Promise.race([ended, proc.exited]), this.ctx.killGraceMs)) return;
      } catch (err) {
        this.log.debug({ err }, "session/cancel failed; escalating to signals");
      }
    }
    await proc.terminate({ graceMs: this.ctx.killGraceMs, firstSignal: "SIGINT" });
  }

  protected async shutdown(): Promise<void> {
    for (const answer of this.session.cancelAll()) answer({ outcome: "cancelled" });
    this.conn?.close();
    const proc = this.proc;
    if (!proc) return;
    proc.endInput();
    if (!(await settlesWithin(proc.exited, this.ctx.killGraceMs))) await proc.terminate({ graceMs: this.ctx.killGraceMs, firstSignal: "SIGTERM" });
    const exit = await proc.exited;
    this.exitStatus = { code: exit.code, signal: exit.signal };
  }

  /** An ACP error reply as the core lane types it; anything else as it is. */
  private rpcFailure(method: string, err: unknown): unknown {
    if (!isRpcFailure(err)) return err;
    const dataText = err.data === undefined ? "" : typeof err.data === "string" ? err.data : JSON.stringify(err.data);
    return new TurnFailure(geminiError({
      text: dataText && dataText !== "{}" ? `${err.message}: ${dataText}` : err.message,
      rpcCode: err.code,
      data: err.data,
      providerCode: `${method.replace("/", "_")}_failed`,
      ownRequest: method === "session/new",
      details: { method, rpc_code: err.code },
    }));
  }

  /** Why the CLI is gone, if it is: a line over the bound, the cwd guard, a failed start, a crash. */
  private async exitFailure(): Promise<AsmError | undefined> {
    if (this.lineFailure) return this.lineFailure;
    const proc = this.proc;
    if (!proc || !(await settlesWithin(proc.exited, this.ctx.killGraceMs))) return undefined;
    const exit = await proc.exited;
    const surface = this.request.spec.settings.executionSurface;
    const placed = surfaceExitError(surface, exit, { provider: "gemini", cli: this.ctx.cliPath, cwd: this.cwd }, this.ctx.surfaces ?? {});
    if (placed) return placed;
    if (surfaceDriver(surface).onBackendHost && this.ctx.confinedTo !== undefined && guardRefused(exit)) return cwdMovedError(this.cwd, true);
    if (exit.classification === "success") return undefined;
    return exit.error ?? new AsmError({ provider: "gemini", reasonCode: "cli_failed", message: "gemini CLI failed", stderrTail: exit.stderrTail });
  }
}

function parseMessage(line: string): unknown {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

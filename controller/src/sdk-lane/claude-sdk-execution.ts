/**
 * claude on the sdk lane: `query()` of `@anthropic-ai/claude-agent-sdk` with streaming input,
 * `canUseTool` for approvals, `interrupt()`, `options.resume`. The SDK starts the pinned CLI
 * through `spawnClaudeCodeProcess`, so asm holds the process (own group, cwd guard, line bound).
 * The messages it yields are claude's stream-json objects: they go through the core lane's claude
 * mapping, so both lanes emit the same events.
 */
import {
  AsmError,
  ApprovalDecision,
  CLAUDE_PERMISSION_MODES,
  ClaudeOptions,
  claudeApprovalRequested,
  claudeUserMessage,
  claudeWantsApprovals,
  newId,
  payload,
  cliExitError,
  surfaceDriver,
  surfaceExitError,
  type AdapterRun,
  type ExecutionRequest,
} from "@asm/shared";
import { loadSdk, type ClaudePermissionResult, type ClaudeQuery, type ClaudeSpawnedProcess, type ClaudeSpawnOptions } from "./sdk-modules.js";
import { SdkExecution, type SdkExecutionContext } from "./sdk-execution.js";
import { childFailure, settlesWithin, SdkChild, type ChildEnd } from "./sdk-process.js";

interface AskedApproval {
  input: Record<string, unknown>;
  answer: (result: ClaudePermissionResult) => void;
}

export class ClaudeSdkExecution extends SdkExecution {
  private readonly adapterRun: AdapterRun;
  private query: ClaudeQuery | undefined;
  private child: SdkChild | undefined;
  private readonly approvals = new Map<string, AskedApproval>();
  private endTurn!: () => void;
  private readonly turnOver = new Promise<void>((resolve) => (this.endTurn = resolve));

  constructor(request: ExecutionRequest, ctx: SdkExecutionContext) {
    super(request, ctx);
    this.adapterRun = request.adapter.startRun(request.spec);
  }

  protected async drive(): Promise<void> {
    const sdk = await loadSdk("@anthropic-ai/claude-agent-sdk");
    const { spec } = this.request;
    const { settings } = spec;
    const opts = ClaudeOptions.parse(settings.providerOptions);
    // The env (and its IS_SANDBOX for bypass as root) exactly as the core lane would start the CLI.
    const env = this.request.adapter.buildCommand(spec, this.ctx.cliPath).env;
    const interactive = claudeWantsApprovals(settings);
    const turnOver = this.turnOver;
    async function* prompt(): AsyncGenerator<Record<string, unknown>> {
      yield claudeUserMessage(spec.prompt);
      // Streaming input stays open for control messages (interrupt) until the turn is over.
      await turnOver;
    }
    const query = sdk.query({
      prompt: prompt(),
      options: {
        pathToClaudeCodeExecutable: this.ctx.cliPath,
        spawnClaudeCodeProcess: (o) => this.spawn(o),
        cwd: this.cwd,
        env,
        permissionMode: CLAUDE_PERMISSION_MODES[settings.permissionMode],
        ...(settings.permissionMode === "bypass" ? { allowDangerouslySkipPermissions: true } : {}),
        ...(interactive ? { canUseTool: (tool, input, o) => this.askApproval(tool, input, o) } : {}),
        includePartialMessages: true,
        // What the CLI loads when started without --setting-sources, as in the core lane.
        settingSources: ["user", "project", "local"],
        systemPrompt: opts.system_prompt ?? { type: "preset", preset: "claude_code", ...(opts.append_system_prompt !== undefined ? { append: opts.append_system_prompt } : {}) },
        ...(settings.model ? { model: settings.model } : {}),
        ...(opts.max_turns !== undefined ? { maxTurns: opts.max_turns } : {}),
        ...(spec.resumeProviderSessionId ? { resume: spec.resumeProviderSessionId } : {}),
      },
    });
    this.query = query;
    try {
      for await (const message of query) {
        const parsed = this.adapterRun.parseLine(JSON.stringify(message));
        this.emitParsed(parsed);
        if (parsed.turnEnded) this.endTurn();
        await this.channel.waitForRoom();
      }
    } catch (err) {
      // After the turn's result (an error result, or an interrupt) the SDK throws what it already said.
      if (this.terminalSeen || this.interrupted) return;
      throw await this.failure(err);
    } finally {
      this.endTurn();
    }
    if (!this.terminalSeen) {
      const failed = await this.knownFailure();
      if (failed) throw failed;
      this.completedWithoutResult();
    }
  }

  /** The CLI, started for the SDK by asm. */
  private spawn(o: ClaudeSpawnOptions): ClaudeSpawnedProcess {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
    const surface = this.request.spec.settings.executionSurface;
    const command = { command: o.command, args: o.args, cwd: o.cwd ?? this.cwd, env, initialInput: [], keepStdinOpen: true };
    const placed = surfaceDriver(surface).place({ command, cli: this.ctx.cliPath, confinedTo: this.ctx.confinedTo, operator: this.ctx.surfaces ?? {} }, surface?.options ?? {});
    const child = new SdkChild(placed, this.ctx, (line) => this.emit([{ payload: payload("stderr", { content: line }) }]));
    this.child = child;
    void child.ended.then((end) => (this.exitStatus = { code: end.code, signal: end.signal }));
    const resuming = this.request.spec.resumeProviderSessionId !== undefined;
    this.emitStarted({ command: o.command, args: o.args, cwd: o.cwd ?? this.cwd, pid: child.pid }, { continued: resuming });
    // What the SDK reads and writes: the bounded stdout, the child's stdin, its lifecycle; its
    // kill() reaches the whole group.
    const proc = child.child;
    return {
      stdin: proc.stdin!,
      stdout: child.stdout,
      get killed() {
        return proc.killed;
      },
      get exitCode() {
        return proc.exitCode;
      },
      kill: (sig: NodeJS.Signals) => {
        child.signal(sig);
        return true;
      },
      on: (event, listener) => proc.on(event, listener),
      once: (event, listener) => proc.once(event, listener),
      off: (event, listener) => proc.off(event, listener),
    };
  }

  private askApproval(toolName: string, input: Record<string, unknown>, o: { signal: AbortSignal; toolUseID?: string; description?: string }): Promise<ClaudePermissionResult> {
    const approvalId = newId("apr");
    return new Promise<ClaudePermissionResult>((resolve) => {
      this.approvals.set(approvalId, { input, answer: resolve });
      o.signal.addEventListener(
        "abort",
        () => {
          // The CLI withdrew the request (as a core-lane control_cancel_request).
          if (!this.approvals.delete(approvalId)) return;
          this.emit([{ payload: payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }) }]);
          resolve({ behavior: "deny", message: "cancelled" });
        },
        { once: true },
      );
      this.emit([claudeApprovalRequested(approvalId, toolName, o.toolUseID ?? "", input, o.description ?? "")]);
    });
  }

  async answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void> {
    const asked = this.approvals.get(approvalId);
    if (!asked) return;
    this.approvals.delete(approvalId);
    asked.answer(allow ? { behavior: "allow", updatedInput: asked.input } : { behavior: "deny", message: reason || "denied by user" });
  }

  /** `interrupt()` of the SDK; then signals, as the core lane escalates. Resolves when the CLI is gone or the turn is over. */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    for (const [id, asked] of this.approvals) {
      this.approvals.delete(id);
      asked.answer({ behavior: "deny", message: "the run was interrupted", interrupt: true });
    }
    const child = this.child;
    if (!this.query || !child) {
      this.endTurn();
      return;
    }
    try {
      const answered = await settlesWithin(this.query.interrupt(), this.ctx.killGraceMs);
      if (answered && (await Promise.race([this.turnOver.then(() => true), settlesWithin(child.ended, this.ctx.killGraceMs)]))) return;
    } catch (err) {
      this.log.debug({ err }, "sdk interrupt failed; escalating to signals");
    }
    this.endTurn();
    await child.terminate("SIGINT");
  }

  protected async shutdown(): Promise<void> {
    this.endTurn();
    for (const [id, asked] of this.approvals) {
      this.approvals.delete(id);
      asked.answer({ behavior: "deny", message: "the run ended", interrupt: true });
    }
    const child = this.child;
    if (!child) return;
    // The input ended: the CLI exits by itself; else the group is stopped.
    if (!(await settlesWithin(child.ended, this.ctx.killGraceMs))) await child.terminate("SIGTERM");
    const end = await child.ended;
    this.exitStatus = { code: end.code, signal: end.signal };
  }

  /** How the CLI ended, once it has (bounded wait). */
  private async childEnd(): Promise<ChildEnd | undefined> {
    const child = this.child;
    return child && (await settlesWithin(child.ended, this.ctx.killGraceMs)) ? child.ended : undefined;
  }

  /** A failure that how the CLI ended explains (guard, line bound). */
  private async knownFailure(): Promise<AsmError | undefined> {
    const end = await this.childEnd();
    const surface = end && surfaceExitError(this.request.spec.settings.executionSurface, { ...end, killedByUs: this.interrupted }, { provider: "claude", cli: this.ctx.cliPath, cwd: this.cwd }, this.ctx.surfaces ?? {});
    if (surface) return surface;
    if (!surfaceDriver(this.request.spec.settings.executionSurface).onBackendHost) return this.child?.overflow === undefined ? undefined : childFailure(end, { provider: "claude", cliPath: this.ctx.cliPath, cwd: this.cwd, confined: false, overflow: this.child.overflow, maxLineBytes: this.ctx.maxLineBytes });
    return childFailure(end, { provider: "claude", cliPath: this.ctx.cliPath, cwd: this.cwd, confined: this.ctx.confinedTo !== undefined, overflow: this.child?.overflow, maxLineBytes: this.ctx.maxLineBytes });
  }

  /** Why the CLI failed, from how it ended (guard, line bound) or what the SDK said. */
  private async failure(err: unknown): Promise<AsmError> {
    const known = await this.knownFailure();
    if (known) return known;
    if (err instanceof AsmError) return err;
    const end = await this.childEnd();
    const exited = end && cliExitError(this.ctx.cliPath, { ...end, killedByUs: this.interrupted });
    if (exited) return exited;
    const message = err instanceof Error ? err.message : "the claude CLI ended without a result";
    return new AsmError({
      provider: "claude",
      reasonCode: "cli_failed",
      message: `claude (agent sdk): ${message}`,
      stderrTail: end?.stderrTail ?? "",
      details: { exit_code: end?.code ?? null, signal: end?.signal ?? null },
    });
  }
}

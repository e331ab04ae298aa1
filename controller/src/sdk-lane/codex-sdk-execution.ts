/**
 * codex on the sdk lane: a thread of `@openai/codex-sdk` (`startThread` / `resumeThread`,
 * `runStreamed` with an AbortSignal). The SDK runs `codex exec --experimental-json`, so its events
 * are `codex exec --json` events and go through the core lane's exec mapping. It cannot ask for
 * approvals: runs that need them never come here (lane resolution says so). The SDK spawns
 * `codexPathOverride` itself; asm points it at a launcher (sdk-process.ts) so that the CLI still
 * starts through the cwd guard, in a process group asm adopts.
 */
import { AsmError, CodexExecRun, CodexOptions, cliExitError, codexConfigOverrides, adoptProcessGroup, cwdMovedError, guardRefused, type AdoptedProcessGroup, type ExecutionRequest, type PermissionModeName } from "@asm/shared";
import { loadSdk, type CodexThreadOptions } from "./sdk-modules.js";
import { SdkExecution, type SdkExecutionContext } from "./sdk-execution.js";
import { settlesWithin, type SdkLauncher } from "./sdk-process.js";

/** The thread options of each permission mode, as `codex exec`'s flags in the core lane. */
const THREAD_PERMISSIONS: Record<PermissionModeName, CodexThreadOptions> = {
  default: {},
  auto: { sandboxMode: "workspace-write" },
  bypass: { sandboxMode: "danger-full-access", approvalPolicy: "never" },
  plan: { sandboxMode: "read-only" },
};

/** How often the leader of an adopted group is checked (see `adopt`). */
const LEADER_WATCH_MS = 100;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class CodexSdkExecution extends SdkExecution {
  private readonly abort = new AbortController();
  private readonly pidFile: string;
  private group: AdoptedProcessGroup | undefined;
  private leaderWatch: NodeJS.Timeout | undefined;
  private readonly execRun: CodexExecRun;
  private finished = false;

  constructor(
    request: ExecutionRequest,
    ctx: SdkExecutionContext,
    private readonly launcher: SdkLauncher,
  ) {
    super(request, ctx);
    this.pidFile = launcher.pidFile(request.runId);
    this.execRun = new CodexExecRun(request.spec.settings.model ?? "", Boolean(request.spec.resumeProviderSessionId));
  }

  protected async drive(): Promise<void> {
    const sdk = await loadSdk("@openai/codex-sdk");
    const { spec } = this.request;
    const { settings } = spec;
    const opts = CodexOptions.parse(settings.providerOptions);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env, ASM_SDK_CLI: this.ctx.cliPath, ASM_SDK_PID_FILE: this.pidFile };
    // The launcher enters the checked cwd itself (no `--cd`, which codex would resolve again).
    if (this.ctx.confinedTo !== undefined) env.ASM_SDK_CWD = this.cwd;
    const codex = new sdk.Codex({
      codexPathOverride: this.launcher.path,
      env,
      configOverrides: codexConfigOverrides(opts),
    });
    const threadOptions: CodexThreadOptions = { ...THREAD_PERMISSIONS[settings.permissionMode], skipGitRepoCheck: opts.skip_git_repo_check, ...(settings.model ? { model: settings.model } : {}) };
    const resume = spec.resumeProviderSessionId;
    const thread = resume ? codex.resumeThread(resume, threadOptions) : codex.startThread(threadOptions);
    try {
      const { events } = await thread.runStreamed(spec.prompt, { signal: this.abort.signal });
      for await (const event of events) {
        this.adopt();
        this.emitParsed(this.execRun.parseLine(JSON.stringify(event)));
        await this.channel.waitForRoom();
      }
    } catch (err) {
      this.adopt();
      this.exitStatus = this.interrupted ? { code: null, signal: "SIGTERM" } : exitOf(err);
      if (this.terminalSeen || this.interrupted) return;
      throw this.failure(err);
    } finally {
      this.finished = true;
      this.adopt();
      clearInterval(this.leaderWatch);
      // The process has exited (the SDK waits for it): what it left in its group goes too.
      this.group?.release();
      this.launcher.removePidFile(this.pidFile);
    }
    this.exitStatus = { code: 0, signal: null };
    this.completedWithoutResult();
  }

  /** Once the launcher has written its pid: adopt its group, and say the run started. */
  private adopt(): void {
    if (this.hasStarted) return;
    const pid = this.launcher.readPid(this.pidFile) ?? 0;
    if (pid > 0 && !this.finished) {
      const group = adoptProcessGroup(pid);
      this.group = group;
      // The SDK's child is the group's leader, and only the SDK sees it exit: a leader that dies
      // takes its group with it (as in the core lane), so a CLI that spawned helpers cannot linger.
      this.leaderWatch = setInterval(() => {
        if (isAlive(pid)) return;
        clearInterval(this.leaderWatch);
        group.signal("SIGKILL");
      }, LEADER_WATCH_MS);
      this.leaderWatch.unref();
    }
    this.emitStarted(
      { command: this.ctx.cliPath, args: ["exec", "--experimental-json"], cwd: this.cwd, pid },
      { continued: this.request.spec.resumeProviderSessionId !== undefined },
    );
  }

  async answerApproval(): Promise<void> {
    // The codex SDK never asks (no approvals capability): nothing can be waiting.
  }

  /**
   * Aborts the SDK's turn (the SDK kills its child) and interrupts the group; resolves when the
   * CLI is gone, killing the group if it has not gone within the grace.
   */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    this.abort.abort();
    this.group?.signal("SIGINT");
    if (!(await settlesWithin(this.driven, this.ctx.killGraceMs))) this.group?.signal("SIGKILL");
    await settlesWithin(this.driven, this.ctx.killGraceMs);
  }

  protected async shutdown(): Promise<void> {
    clearInterval(this.leaderWatch);
    if (!this.finished) {
      this.abort.abort();
      this.group?.signal("SIGTERM");
    }
    this.group?.release();
  }

  /** The SDK's error ("Codex Exec exited with code N: <stderr>") as asm's. */
  private failure(err: unknown): AsmError {
    if (err instanceof AsmError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const { code, signal } = exitOf(err);
    const stderrTail = message.slice(message.indexOf(":") + 1).trim().slice(-this.ctx.stderrTailBytes);
    if (guardRefused({ code, stderrTail })) return cwdMovedError(this.cwd, true);
    // No exit status in the message (code and signal unknown): the generic failure below.
    const exited = code !== null || signal !== null ? cliExitError(this.ctx.cliPath, { code, signal, stderrTail, killedByUs: this.interrupted }) : undefined;
    if (exited) return exited;
    return new AsmError({
      provider: "codex",
      reasonCode: "cli_failed",
      message: `codex (sdk): ${message.split("\n")[0]}`,
      stderrTail: message.slice(-this.ctx.stderrTailBytes),
      details: { exit_code: code, signal },
    });
  }
}

/** How the CLI ended, from the SDK's error message ("Codex Exec exited with code N" / "signal S"). */
function exitOf(err: unknown): { code: number | null; signal: string | null } {
  const message = err instanceof Error ? err.message : String(err);
  const exit = /exited with (?:code (\d+)|signal (\w+))/.exec(message);
  return { code: exit?.[1] !== undefined ? Number(exit[1]) : null, signal: exit?.[2] ?? null };
}

import { AsmError, resolveCliPath, surfaceCliName, surfaceDriver, type Backend, type ExecutionRequest, type Logger, type RunExecution } from "@asm/shared";
import { ClaudeSdkExecution } from "./claude-sdk-execution.js";
import { CodexSdkExecution } from "./codex-sdk-execution.js";
import { GeminiAcpSdkExecution } from "./gemini-acp-sdk-execution.js";
import type { SdkExecutionContext } from "./sdk-execution.js";
import { SdkLauncher, type SdkProcessLimits } from "./sdk-process.js";

export interface SdkBackendOptions extends SdkProcessLimits {
  logger: Logger;
  /** Host environment the CLI paths are resolved against (PATH, ASM_<P>_CLI_PATH). */
  hostEnv: NodeJS.ProcessEnv;
}

/**
 * The sdk lane on this controller: each provider's official SDK drives the same pinned CLI the
 * core lane runs (found the same way: `cli_path`, `ASM_<P>_CLI_PATH`, PATH). One execution per
 * run; no process stays warm (the sdk lanes have no `warm_process` capability).
 */
export class SdkBackend implements Backend {
  private readonly launcher = new SdkLauncher();
  private readonly live = new Set<RunExecution>();

  constructor(private readonly opts: SdkBackendOptions) {}

  start(request: ExecutionRequest): RunExecution {
    // The CLI on this host is found here; on another host (ssh_exec) it is looked up there.
    const onThisHost = surfaceDriver(request.spec.settings.executionSurface).onBackendHost;
    const ctx: SdkExecutionContext = { ...this.opts, cliPath: onThisHost ? resolveCliPath(request, this.opts.hostEnv) : surfaceCliName(request, this.opts.hostEnv) };
    const execution = this.create(request, ctx);
    this.live.add(execution);
    const close = execution.close.bind(execution);
    execution.close = () => close().finally(() => this.live.delete(execution));
    return execution;
  }

  private create(request: ExecutionRequest, ctx: SdkExecutionContext): RunExecution {
    switch (request.adapter.provider) {
      case "claude":
        return new ClaudeSdkExecution(request, ctx);
      case "codex":
        return new CodexSdkExecution(request, ctx, this.launcher);
      case "gemini":
        return new GeminiAcpSdkExecution(request, ctx);
      default:
        throw new AsmError({ reasonCode: "sdk_unavailable", provider: request.adapter.provider, message: `${request.adapter.provider} has no sdk lane` });
    }
  }

  /** Nothing stays warm on the sdk lane. */
  async releaseSession(): Promise<void> {}

  /** Stops every run still executing (shutdown) and removes the launcher. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.live].map((e) => e.close()));
    this.launcher.dispose();
  }
}

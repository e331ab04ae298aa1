import { timingSafeEqual } from "node:crypto";
import { AsmError, baseCliEnv, type Logger, type ProviderCli, type ProviderName } from "@asm/shared";
import { probeProviderClis } from "../providers/cli-probe.js";
import { confineCwd, prepareWorkspace } from "../workspace/workspace-root.js";

export interface ExecutorRuntimeOptions {
  workspace: string;
  /** Providers this executor runs (each advertised as capability `provider.<name>`). */
  providers: readonly ProviderName[];
  /** Shared secret the controller must present, if configured. */
  cookie: string | undefined;
  /** The executor's own environment: CLI lookup (PATH, ASM_*_CLI_PATH) and the CLIs' base env. */
  hostEnv: NodeJS.ProcessEnv;
  /** Variables of `hostEnv` handed to every CLI besides PATH, HOME, LANG, TMPDIR. */
  passEnv: readonly string[];
  logger: Logger;
}

/** Capabilities every executor of this build has. */
const BASE_CAPABILITIES = ["execute_v1", "heartbeat_v1", "bootstrap_v1", "approvals_v1", "interrupt_v1", "lease_v1", "reattach_v1"];

/**
 * What the executor has to offer: its workspace (prepared and checked writable), the provider CLIs
 * it found, and whether it is ready. A prestarted executor initializes at start; a deferred one
 * when the controller asks (Bootstrap, `remote_bootstrap_mode: ensure_started`).
 */
export class ExecutorRuntime {
  private state: { ready: boolean; root: string; error: string; providers: ProviderCli[] };
  private initializing: Promise<void> | undefined;
  /** Environment every CLI starts from (plus the run's allowlisted env); never the controller's. */
  readonly baseEnv: Record<string, string>;

  constructor(private readonly opts: ExecutorRuntimeOptions) {
    this.state = { ready: false, root: opts.workspace, error: "not initialized (deferred start: the controller bootstraps it)", providers: [] };
    this.baseEnv = baseCliEnv(opts.hostEnv, opts.passEnv);
  }

  get hostEnv(): NodeJS.ProcessEnv {
    return this.opts.hostEnv;
  }

  get ready(): boolean {
    return this.state.ready;
  }

  get workspaceRoot(): string {
    return this.state.root;
  }

  get lastError(): string {
    return this.state.error;
  }

  get providers(): ProviderCli[] {
    return this.state.providers;
  }

  get capabilities(): string[] {
    return [...BASE_CAPABILITIES, ...this.opts.providers.map((p) => `provider.${p}`)];
  }

  /** Prepares the workspace and probes the CLIs. Idempotent once ready; retried after a failure. */
  initialize(): Promise<void> {
    if (this.state.ready) return Promise.resolve();
    this.initializing ??= this.doInitialize().finally(() => (this.initializing = undefined));
    return this.initializing;
  }

  private async doInitialize(): Promise<void> {
    const workspace = prepareWorkspace(this.opts.workspace);
    const providers = await probeProviderClis(this.opts.hostEnv, [...this.opts.providers], 15_000);
    const error = workspace.writable ? "" : `workspace ${this.opts.workspace} is not writable: ${workspace.error ?? "unknown error"}`;
    this.state = { ready: workspace.writable, root: workspace.root, error, providers };
    if (error) this.opts.logger.error({ workspace: this.opts.workspace }, error);
    else this.opts.logger.info({ workspace: workspace.root, providers: providers.filter((p) => p.found).map((p) => `${p.provider} ${p.version}`) }, "executor runtime ready");
  }

  /** Throws permission_denied when a cookie is configured and the presented one differs. */
  checkCookie(presented: string): void {
    const expected = this.opts.cookie;
    if (expected === undefined) return;
    const a = Buffer.from(presented);
    const b = Buffer.from(expected);
    if (a.length === b.length && timingSafeEqual(a, b)) return;
    throw new AsmError({ domain: "transport", reasonCode: "cookie_rejected", message: "the controller presented a cookie this executor does not accept" });
  }

  requireReady(): void {
    if (this.state.ready) return;
    throw new AsmError({ domain: "transport", reasonCode: "executor_not_ready", message: `the executor runtime is not ready: ${this.state.error}` });
  }

  requireProvider(provider: ProviderName): void {
    if (this.opts.providers.includes(provider)) return;
    throw new AsmError({
      domain: "transport",
      provider,
      reasonCode: "capability_mismatch",
      message: `this executor does not run ${provider} (it runs ${this.opts.providers.join(", ") || "no provider"})`,
    });
  }

  confineCwd(remoteCwd: string): string {
    return confineCwd(this.state.root, remoteCwd || undefined);
  }
}

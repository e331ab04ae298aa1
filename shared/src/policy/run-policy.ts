import { realpathSync, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import type { Principal } from "../auth/principal.js";
import { AsmError } from "../errors/asm-error.js";
import { PROVIDERS, type ProviderName } from "../lanes/provider-catalog.js";
import { EXECUTION_MODES } from "../lanes/resolve-lane.js";
import { PERMISSION_MODES, type RunSettings } from "../options/run-settings.js";
import { isAlwaysRefusedEnvKey, isEnvKeyAllowed } from "./env-keys.js";
import { parsePolicy, type PolicyFile, type RoleRulesInput } from "./policy-file.js";
import { parseSurface, surfaceDriver } from "../surfaces/surface-registry.js";
import { SshExecOptionsSchema, type SshExecOptions } from "../surfaces/ssh-exec-surface.js";

type RoleRules = Required<Omit<RoleRulesInput, "max_live_sessions" | "max_concurrent_runs">> & Pick<RoleRulesInput, "max_live_sessions" | "max_concurrent_runs">;

/** The roles every policy has; a policy file may change any of their fields. */
export const BUILT_IN_ROLES: Readonly<Record<"user" | "admin", RoleRules>> = {
  user: {
    providers: [...PROVIDERS],
    execution_modes: [...EXECUTION_MODES],
    executors: ["*"],
    permission_modes: ["default", "auto", "plan"],
    max_live_sessions: 100,
    max_concurrent_runs: 16,
  },
  admin: {
    providers: [...PROVIDERS],
    execution_modes: [...EXECUTION_MODES],
    executors: ["*"],
    permission_modes: [...PERMISSION_MODES],
    max_live_sessions: undefined,
    max_concurrent_runs: undefined,
  },
};

/**
 * The provider options a client may set when the policy says nothing: not codex `config` (any
 * `-c` key: MCP server commands, model endpoints, sandbox), not gemini `include_directories`
 * (directories outside the run), not cursor `sandbox` / `approve_mcps` (like bypass).
 */
export const DEFAULT_CLIENT_PROVIDER_OPTIONS: Readonly<Record<ProviderName, readonly string[]>> = {
  claude: ["max_turns", "system_prompt", "append_system_prompt"],
  codex: ["profile"],
  gemini: ["extensions", "auth_method"],
  amp: ["mode"],
  cursor: [],
};

/** Where a check runs: the controller checks everything; an executor what it runs itself. */
export interface PolicyCheck {
  provider: ProviderName;
  /** Path of the options in the request (`options.defaults`, `overrides`, `options`). */
  prefix: string;
  side: "controller" | "executor";
}

function denied(field: string, rule: string, message: string, details: Record<string, unknown> = {}): AsmError {
  return new AsmError({ reasonCode: "policy_denied", field, message, details: { rule, ...details } });
}

function inside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The operator's policy: which roles a principal has, what those roles may use, which env keys
 * and CLI paths a client may set, and where a local run may work. Applied by the controller to
 * every session and run, and again by each executor with its own policy.
 */
export class RunPolicy {
  private readonly roles: ReadonlyMap<string, RoleRules>;
  /** The real path of the workspace root (undefined: cwd is not confined here). */
  readonly workspaceRoot: string | undefined;

  constructor(
    private readonly file: PolicyFile,
    opts: { workspaceRoot?: string | undefined } = {},
  ) {
    const roles = new Map<string, RoleRules>();
    for (const [name, rules] of Object.entries(BUILT_IN_ROLES)) roles.set(name, rules);
    for (const [name, rules] of Object.entries(file.roles)) {
      const base = roles.get(name) ?? BUILT_IN_ROLES.user;
      roles.set(name, { ...base, ...Object.fromEntries(Object.entries(rules).filter(([, v]) => v !== undefined)) });
    }
    this.roles = roles;
    const root = file.workspace_root ?? opts.workspaceRoot;
    if (root !== undefined) {
      try {
        this.workspaceRoot = realpathSync(root);
      } catch (err) {
        throw new AsmError({ reasonCode: "policy_invalid", message: `workspace root ${root} does not exist: ${err instanceof Error ? err.message : String(err)}` });
      }
    }
  }

  /** The policy of no file: the built-in roles, no client env, no client CLI paths. */
  static defaults(opts: { workspaceRoot?: string | undefined } = {}): RunPolicy {
    return new RunPolicy(parsePolicy({}), opts);
  }

  /** The principal with the roles the policy gives it (its credential's, `principals`, else `default_roles`). */
  withRoles(principal: Principal): Principal {
    const extra = this.file.principals[principal.id] ?? [];
    const roles = [...new Set([...principal.roles, ...extra])];
    return Object.freeze({ ...principal, roles: Object.freeze(roles.length > 0 ? roles : [...this.file.default_roles]) });
  }

  /** The union of what the principal's known roles allow (quotas: the largest; none set = none). */
  private rulesOf(principal: Principal): { rules: RoleRules; names: string[] } {
    const names = principal.roles.filter((r) => this.roles.has(r));
    const all = names.map((r) => this.roles.get(r)!);
    const union = <K extends "providers" | "execution_modes" | "executors" | "permission_modes">(k: K): RoleRules[K] => [...new Set(all.flatMap((r) => r[k] as string[]))] as RoleRules[K];
    const quota = (k: "max_live_sessions" | "max_concurrent_runs"): number | undefined =>
      all.length === 0 ? 0 : all.some((r) => r[k] === undefined) ? undefined : Math.max(...all.map((r) => r[k]!));
    return {
      names,
      rules: {
        providers: union("providers"),
        execution_modes: union("execution_modes"),
        executors: union("executors"),
        permission_modes: union("permission_modes"),
        max_live_sessions: quota("max_live_sessions"),
        max_concurrent_runs: quota("max_concurrent_runs"),
      },
    };
  }

  /**
   * Checks merged run settings for `principal`; returns them with a local `cwd` resolved to its
   * real path (what the CLI is started in). Throws PERMISSION_DENIED / policy_denied naming the
   * field and the rule.
   */
  checkRun(principal: Principal, settings: RunSettings, check: PolicyCheck): RunSettings {
    const { rules, names } = this.rulesOf(principal);
    const { prefix } = check;
    const roles = names.length > 0 ? names.join(", ") : "(none)";
    const allowedBy = (rule: string, allowed: readonly string[]): string => `rule ${rule} of role ${roles} allows ${allowed.length ? allowed.join(", ") : "none"}`;
    if (!rules.providers.includes(check.provider)) {
      throw denied("provider", "providers", `provider ${check.provider} is not allowed (${allowedBy("providers", rules.providers)})`, { roles: names });
    }
    if (check.side === "controller") {
      if (!rules.execution_modes.includes(settings.executionMode)) {
        throw denied(`${prefix}.execution_mode`, "execution_modes", `execution mode ${settings.executionMode} is not allowed (${allowedBy("execution_modes", rules.execution_modes)})`, { roles: names });
      }
      const node = settings.driverOpts.remote_node;
      if (settings.executionMode === "remote_node" && node !== undefined && !rules.executors.includes("*") && !rules.executors.includes(node)) {
        throw denied(`${prefix}.driver_opts.remote_node`, "executors", `executor ${node} is not allowed (${allowedBy("executors", rules.executors)})`, { roles: names });
      }
    }
    if (!rules.permission_modes.includes(settings.permissionMode)) {
      throw denied(`${prefix}.permission_mode`, "permission_modes", `permission mode ${settings.permissionMode} is not allowed (${allowedBy("permission_modes", rules.permission_modes)})`, { roles: names });
    }
    if (settings.cliPath !== undefined && !this.file.client_cli_paths.includes(settings.cliPath)) {
      throw denied(`${prefix}.cli_path`, "client_cli_paths", "a client may not choose the CLI binary unless the operator lists the path in client_cli_paths");
    }
    const allowedOptions = this.file.client_provider_options[check.provider] ?? DEFAULT_CLIENT_PROVIDER_OPTIONS[check.provider];
    for (const key of Object.keys(settings.providerOptions)) {
      if (!allowedOptions.includes(key)) {
        throw denied(`${prefix}.provider_options.${key}`, "client_provider_options", `provider option ${key} of ${check.provider} is not one the policy lets clients set (${allowedOptions.length ? allowedOptions.join(", ") : "none"})`);
      }
    }
    for (const key of Object.keys(settings.env)) {
      if (isAlwaysRefusedEnvKey(key)) {
        throw denied(`${prefix}.env.${key}`, "env_always_refused", `${key} can change what the CLI's process loads or runs, and no policy lets a client set it`);
      }
      if (!isEnvKeyAllowed(key, this.file.client_env)) {
        throw denied(`${prefix}.env.${key}`, "client_env", `${key} is not on the policy's client_env allow-list`);
      }
    }
    const surface = parseSurface(settings.executionSurface, `${prefix}.execution_surface`);
    if (surface?.kind === "ssh_exec") this.checkSshTarget(SshExecOptionsSchema.parse(surface.options), `${prefix}.execution_surface.options.host`);
    // A cwd on another host (ssh_exec) is checked there, by the wrapper that enters it.
    const onThisHost = surfaceDriver(surface).onBackendHost;
    if (check.side === "controller" && settings.executionMode === "local" && settings.cwd !== undefined && onThisHost) {
      return { ...settings, cwd: this.confineCwd(settings.cwd, `${prefix}.cwd`) };
    }
    return settings;
  }

  /** An ssh_exec target must be one the operator lists in `ssh_targets`. */
  private checkSshTarget(target: SshExecOptions, field: string): void {
    const allowed = this.file.ssh_targets.some((entry) => {
      const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(entry);
      if (!m) return false;
      const [, user, host, port] = m;
      return host === target.host && Number(port ?? 22) === target.port && (user === undefined || user === target.user);
    });
    if (!allowed) {
      const named = `${target.user ? `${target.user}@` : ""}${target.host}:${target.port}`;
      throw denied(field, "ssh_targets", `ssh target ${named} is not one the operator's policy lists in ssh_targets (${this.file.ssh_targets.length ? this.file.ssh_targets.join(", ") : "none"})`);
    }
  }

  /** The real path of a client's cwd, refused outside the workspace root (symlinks included). */
  confineCwd(cwd: string, field: string): string {
    const root = this.workspaceRoot;
    let real: string;
    try {
      real = realpathSync(cwd);
    } catch {
      if (root !== undefined && !inside(resolve(cwd), root)) throw denied(field, "workspace_root", `cwd is outside the workspace root ${root}`);
      throw new AsmError({ field, reasonCode: "cwd_not_found", message: `cwd ${cwd} is not a directory` });
    }
    if (root !== undefined && !inside(real, root)) {
      throw denied(field, "workspace_root", `cwd resolves to ${real}, outside the workspace root ${root}`);
    }
    let isDirectory = false;
    try {
      isDirectory = statSync(real).isDirectory();
    } catch {
      // Gone since it was resolved (moved or replaced meanwhile).
    }
    if (!isDirectory) throw new AsmError({ field, reasonCode: "cwd_not_found", message: `cwd ${cwd} is not a directory` });
    return real;
  }

  /** Refuses a session over the principal's `max_live_sessions`. */
  checkLiveSessions(principal: Principal, open: number): void {
    const { rules } = this.rulesOf(principal);
    if (rules.max_live_sessions !== undefined && open >= rules.max_live_sessions) {
      throw new AsmError({ reasonCode: "quota_exceeded", message: `${principal.id} has ${open} open sessions, its quota (max_live_sessions ${rules.max_live_sessions}); close one first`, details: { rule: "max_live_sessions", limit: rules.max_live_sessions } });
    }
  }

  /** Refuses a run over the principal's `max_concurrent_runs` (queued and running). */
  checkConcurrentRuns(principal: Principal, live: number): void {
    const { rules } = this.rulesOf(principal);
    if (rules.max_concurrent_runs !== undefined && live >= rules.max_concurrent_runs) {
      throw new AsmError({ reasonCode: "quota_exceeded", message: `${principal.id} has ${live} runs queued or running, its quota (max_concurrent_runs ${rules.max_concurrent_runs})`, details: { rule: "max_concurrent_runs", limit: rules.max_concurrent_runs } });
    }
  }
}



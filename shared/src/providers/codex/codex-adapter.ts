import { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { PermissionModeName, RunSettings } from "../../options/run-settings.js";
import type { AdapterRun, CommandSpec, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import { CodexAppServerRun, appServerHandshake } from "./codex-app-server-run.js";
import { CodexExecRun } from "./codex-exec-run.js";
import { cwdOf } from "./codex-items.js";

// Codex CLI 0.169 in two modes (recorded in test/fixtures/transcripts/codex/: as-*.log, exec-*.log):
// - `codex app-server` (JSON-RPC without the "jsonrpc" field, one object per line) when tool
//   approvals go to asm: the only mode in which the CLI asks (`item/*/requestApproval`) and can be
//   interrupted through its protocol (`turn/interrupt`).
// - `codex exec --json … -` otherwise: the prompt on stdin, which is then closed; resumable with
//   `exec … resume <id> -`, interrupted by signals.

export type CodexMode = "app-server" | "exec";

/** The one rule both `buildCommand` and `startRun` follow: app-server exactly when approvals go to asm. */
export function codexMode(settings: RunSettings): CodexMode {
  const interactive = settings.interactiveApprovals ?? settings.permissionMode === "default";
  return interactive ? "app-server" : "exec";
}

/** `thread/start` / `thread/resume` sandbox per permission mode (app-server mode). */

/**
 * `codex exec` flags per permission mode. Codex 0.169 has no `--full-auto` any more (it is
 * rejected as an unknown argument); `--sandbox workspace-write` is what it used to mean for exec,
 * where nothing ever asks for approval.
 */
export const EXEC_PERMISSION_FLAGS: Record<PermissionModeName, readonly string[]> = {
  default: [],
  auto: ["--sandbox", "workspace-write"],
  bypass: ["--dangerously-bypass-approvals-and-sandbox"],
  plan: ["--sandbox", "read-only"],
};

/** A dotted TOML path of bare keys, e.g. `model_providers.mock.base_url`. */
const CONFIG_KEY = /^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$/;

export const CodexOptions = z.strictObject({
  /** `-c key=value` overrides; the value is rendered as a TOML string, number or boolean. */
  config: z
    .record(
      z.string().max(256).regex(CONFIG_KEY, "must be a dotted TOML key such as model_providers.mock.base_url"),
      z.union([z.string().max(65536), z.number(), z.boolean()]),
    )
    .optional(),
  /** `codex exec -p <name>`: layers `$CODEX_HOME/<name>.config.toml`; exec mode only (app-server has no profiles). */
  profile: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, "must be a profile name (letters, digits, _ . -)")
    .optional(),
  /** `codex exec --skip-git-repo-check` (exec refuses to run outside a git repository without it). */
  skip_git_repo_check: z.boolean().default(true),
});
export type CodexOptions = z.infer<typeof CodexOptions>;

/** TOML value of one `-c` override. JSON string syntax is valid TOML basic-string syntax. */
function tomlValue(value: string | number | boolean): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The `key=value` overrides of `provider_options.config` (what `-c` / the SDK's `configOverrides` take). */
export function configOverrides(opts: CodexOptions): string[] {
  return Object.entries(opts.config ?? {}).map(([key, value]) => `${key}=${tomlValue(value)}`);
}

export function configArgs(opts: CodexOptions): string[] {
  return configOverrides(opts).flatMap((override) => ["-c", override]);
}

function execArgs(spec: RunSpec, opts: CodexOptions): string[] {
  const { settings } = spec;
  const args = ["exec", "--json"];
  if (opts.skip_git_repo_check) args.push("--skip-git-repo-check");
  args.push(...EXEC_PERMISSION_FLAGS[settings.permissionMode]);
  if (settings.model) args.push("-m", settings.model);
  if (opts.profile !== undefined) args.push("-p", opts.profile);
  args.push(...configArgs(opts));
  if (spec.resumeProviderSessionId) args.push("resume", spec.resumeProviderSessionId);
  // `-`: the prompt comes on stdin (never on the command line, whatever it starts with).
  args.push("-");
  return args;
}

/** Codex CLI: `codex app-server` when approvals go to asm, `codex exec --json` otherwise. */
export const codexAdapter: ProviderAdapter = {
  provider: "codex",
  defaultBinary: "codex",
  cliPathEnv: "ASM_CODEX_CLI_PATH",
  supportsApprovals: true,
  promptOnArgv: false,
  providerOptionsSchema: CodexOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    const opts = parseOrThrow(CodexOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
    if (opts.profile !== undefined && codexMode(settings) === "app-server") {
      throw new AsmError({
        field: `${fieldPrefix}.provider_options.profile`,
        provider: "codex",
        reasonCode: "invalid_option",
        message:
          "codex profiles apply to `codex exec` only, and interactive approvals run `codex app-server`; " +
          "set interactive_approvals to false (or a non-default permission mode), or use provider_options.config instead",
      });
    }
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = CodexOptions.parse(settings.providerOptions);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env };
    const cwd = cwdOf(spec);
    if (codexMode(settings) === "app-server") {
      return { command: cliPath, args: ["app-server", ...configArgs(opts)], cwd, env, initialInput: appServerHandshake(spec), keepStdinOpen: true };
    }
    return { command: cliPath, args: execArgs(spec, opts), cwd, env, initialInput: [], stdinText: spec.prompt, keepStdinOpen: false };
  },

  /** An app-server process serves further turns on its thread; exec runs end with their process. */
  canStayWarm(settings: RunSettings): boolean {
    return codexMode(settings) === "app-server";
  },

  canResume(): boolean {
    return true;
  },

  startRun(spec: RunSpec): AdapterRun {
    return codexMode(spec.settings) === "app-server" ? new CodexAppServerRun(spec) : new CodexExecRun(spec.settings.model ?? "", Boolean(spec.resumeProviderSessionId));
  },
};


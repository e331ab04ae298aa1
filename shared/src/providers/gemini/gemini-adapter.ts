import { z } from "zod";
import { parseOrThrow } from "../../options/parse-options.js";
import type { PermissionModeName, RunSettings } from "../../options/run-settings.js";
import type { AdapterRun, CommandSpec, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import { GeminiAcpRun } from "./gemini-acp-run.js";
import { GeminiPromptRun } from "./gemini-prompt-run.js";

// Gemini CLI 0.61 in two modes (recorded in test/fixtures/transcripts/gemini/: acp-*.log, p-*.log):
// - ACP (`gemini --acp`, JSON-RPC 2.0 over stdio) when tool approvals go to asm: the only mode in
//   which the CLI asks (`session/request_permission`) and can be cancelled (`session/cancel`).
// - One-shot `gemini --output-format stream-json` otherwise: the prompt on stdin, which is then
//   closed; resumable with `--resume <id>`, interrupted by signals.

/** `--approval-mode` values (the CLI's spelling). */
const APPROVAL_MODE: Record<PermissionModeName, string> = {
  default: "default",
  auto: "auto_edit",
  bypass: "yolo",
  plan: "plan",
};

/** Every Gemini run gets this: the default relauncher (a 2nd node process) ignores SIGINT/SIGTERM. */
const NO_RELAUNCH = { GEMINI_CLI_NO_RELAUNCH: "true" } as const;

const ACP_AUTH_METHODS = ["gemini-api-key", "vertex-ai", "oauth-personal", "gateway"] as const;

/** List items the CLI receives comma-joined, so a comma would split one item in two. */
const listItem = z.string().trim().min(1).max(4096).refine((s) => !s.includes(","), "must not contain a comma");

const GeminiOptions = z.strictObject({
  /** Extensions to load (`--extensions a,b`); `[]` loads none (`--extensions none`); unset loads all. */
  extensions: z.array(listItem).max(100).optional(),
  /** Extra workspace directories (`--include-directories a,b`). */
  include_directories: z.array(listItem).max(100).optional(),
  /**
   * ACP only: the `authenticate` method id (default `gemini-api-key`). Gemini clears its cached
   * OAuth credentials when asked for a method other than the stored one, so an OAuth user says
   * `oauth-personal` here.
   */
  auth_method: z.enum(ACP_AUTH_METHODS).optional(),
});
type GeminiOptions = z.infer<typeof GeminiOptions>;

/** Whether tool permission prompts go to asm approvals, which needs ACP mode. */
function usesAcp(settings: RunSettings): boolean {
  return settings.interactiveApprovals ?? settings.permissionMode === "default";
}

function cwdOf(spec: RunSpec): string {
  return spec.settings.cwd ?? spec.defaultCwd;
}

function commonArgs(settings: RunSettings, opts: GeminiOptions): string[] {
  const args = ["--skip-trust", "--approval-mode", APPROVAL_MODE[settings.permissionMode]];
  if (settings.model) args.push("-m", settings.model);
  if (opts.extensions) args.push("--extensions", opts.extensions.length > 0 ? opts.extensions.join(",") : "none");
  if (opts.include_directories && opts.include_directories.length > 0) args.push("--include-directories", opts.include_directories.join(","));
  return args;
}


/** Gemini CLI: ACP (`--acp`) when approvals go to asm, else one-shot stream-json. */
export const geminiAdapter: ProviderAdapter = {
  provider: "gemini",
  defaultBinary: "gemini",
  cliPathEnv: "ASM_GEMINI_CLI_PATH",
  supportsApprovals: true,
  promptOnArgv: false,
  providerOptionsSchema: GeminiOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    parseOrThrow(GeminiOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = GeminiOptions.parse(settings.providerOptions);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env, ...NO_RELAUNCH };
    const cwd = cwdOf(spec);
    if (usesAcp(settings)) {
      // ACP session/load is broken in 0.61 (it overwrites the stored session), so a resumed session
      // starts a new ACP session; continuation needs a warm process.
      const initialInput = acpRun(spec, opts).initialInput();
      return { command: cliPath, args: ["--acp", ...commonArgs(settings, opts)], cwd, env, initialInput, keepStdinOpen: true };
    }
    // No --prompt: with stdin not a terminal, gemini reads the prompt there (never on the command line).
    const args = ["--output-format", "stream-json", ...commonArgs(settings, opts)];
    if (spec.resumeProviderSessionId) args.push("--resume", spec.resumeProviderSessionId);
    return { command: cliPath, args, cwd, env, initialInput: [], stdinText: spec.prompt, keepStdinOpen: false };
  },

  /** An ACP process serves further prompts on its session; one-shot runs end with their process. */
  canStayWarm(settings: RunSettings): boolean {
    return usesAcp(settings);
  },

  /** ACP `session/load` is broken in 0.61: an ACP process cannot continue a stored session; a one-shot one can (`--resume`). */
  canResume(settings: RunSettings): boolean {
    return !usesAcp(settings);
  },

  startRun(spec: RunSpec): AdapterRun {
    if (usesAcp(spec.settings)) return acpRun(spec, GeminiOptions.parse(spec.settings.providerOptions));
    return new GeminiPromptRun();
  },
};

function acpRun(spec: RunSpec, opts: GeminiOptions): GeminiAcpRun {
  return new GeminiAcpRun(spec.prompt, cwdOf(spec), opts.auth_method ?? "gemini-api-key");
}


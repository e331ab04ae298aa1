/**
 * Static per-provider facts used by lane resolution (ASM's `ASM.Provider` + `ASM.ProviderRegistry`
 * tables): display name, the npm package that backs the sdk lane, and the capabilities of each lane.
 *
 * Whether the sdk lane is actually available is a run-time fact (see `sdk-discovery.ts`); this
 * module only says which package would back it.
 */

export const PROVIDERS = ["claude", "codex", "gemini", "amp", "cursor"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Capability names carried in lane metadata (`capabilities`, `core_capabilities`, `sdk_capabilities`). */
export const CAPABILITIES = [
  "approvals",
  "interrupt",
  // A new CLI process continues the session's conversation, in every mode.
  "resume",
  // Only in the one-shot mode (no interactive approvals): the interactive mode continues a
  // conversation only on a warm process (keep_cli_warm); a run that cannot says so
  // (RunStarted.not_continued_reason).
  "resume_one_shot",
  "streaming",
  "tools",
  "thinking",
  "cost",
  "structured_output",
  "warm_process",
  // Named configuration profiles (codex `exec -p`).
  "profiles",
  // execution_surface ssh_exec: the CLI started on another host over SSH.
  "ssh_exec",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface ProviderCatalogEntry {
  readonly provider: ProviderName;
  readonly displayName: string;
  /** The npm package that backs the sdk lane; `null` when the provider has no sdk lane. */
  readonly sdkPackage: string | null;
  readonly coreCapabilities: readonly Capability[];
  /** Capabilities of the sdk lane when its package is installed (empty when there is no sdk lane). */
  readonly sdkCapabilities: readonly Capability[];
}

const CATALOG: Readonly<Record<ProviderName, ProviderCatalogEntry>> = Object.freeze({
  claude: Object.freeze({
    provider: "claude",
    displayName: "Claude Code",
    sdkPackage: "@anthropic-ai/claude-agent-sdk",
    coreCapabilities: Object.freeze<Capability[]>([
      "approvals",
      "interrupt",
      "resume",
      "streaming",
      "tools",
      "thinking",
      "cost",
      "warm_process", "ssh_exec"]),
    // canUseTool (allow/deny), interrupt(), options.resume, includePartialMessages, cost on results.
    // No warm process: one query (one CLI process) per run.
    // ssh_exec: the SDK's spawn hook starts the CLI through the run's execution surface.
    sdkCapabilities: Object.freeze<Capability[]>(["approvals", "interrupt", "resume", "streaming", "tools", "thinking", "cost", "ssh_exec"]),
  }),
  codex: Object.freeze({
    provider: "codex",
    displayName: "Codex CLI",
    sdkPackage: "@openai/codex-sdk",
    coreCapabilities: Object.freeze<Capability[]>([
      "approvals",
      "interrupt",
      "resume",
      "streaming",
      "tools",
      "structured_output",
      "warm_process",
      "profiles", "ssh_exec"]),
    // The Codex SDK closes stdin after the prompt and has no approval API; abort via AbortSignal,
    // resumeThread(id), runStreamed events, outputSchema. One process per turn (no warm process),
    // no profiles (no flag passthrough), no ssh_exec (the SDK spawns its CLI itself, on this host).
    sdkCapabilities: Object.freeze<Capability[]>(["interrupt", "resume", "streaming", "tools", "structured_output"]),
  }),
  gemini: Object.freeze({
    provider: "gemini",
    displayName: "Gemini CLI",
    // The ACP client SDK drives `gemini --acp`.
    sdkPackage: "@agentclientprotocol/sdk",
    // resume_one_shot: ACP session/load cannot load a stored session in 0.61 (see RunStarted.not_continued_reason).
    coreCapabilities: Object.freeze<Capability[]>(["approvals", "interrupt", "resume_one_shot", "streaming", "tools", "warm_process", "ssh_exec"]),
    // session/request_permission, session/cancel, session/update streaming. No resume: gemini's
    // session/load is broken. No warm process: one ACP connection (one CLI process) per run.
    // ssh_exec: asm starts `gemini --acp` itself, through the run's execution surface.
    sdkCapabilities: Object.freeze<Capability[]>(["approvals", "interrupt", "streaming", "tools", "ssh_exec"]),
  }),
  amp: Object.freeze({
    provider: "amp",
    displayName: "Amp CLI",
    // No sdk lane: Amp's inference is server-side, so an Amp SDK backend could not be run or
    // tested offline; asm does not claim a lane it cannot show working.
    sdkPackage: null,
    coreCapabilities: Object.freeze<Capability[]>(["interrupt", "resume", "streaming", "tools", "thinking", "ssh_exec"]),
    sdkCapabilities: Object.freeze<Capability[]>([]),
  }),
  cursor: Object.freeze({
    provider: "cursor",
    displayName: "Cursor Agent CLI",
    sdkPackage: null,
    coreCapabilities: Object.freeze<Capability[]>(["interrupt", "resume", "streaming", "tools", "ssh_exec"]),
    sdkCapabilities: Object.freeze<Capability[]>([]),
  }),
});

const PROVIDER_SET: ReadonlySet<string> = new Set(PROVIDERS);

export function isProviderName(s: unknown): s is ProviderName {
  return typeof s === "string" && PROVIDER_SET.has(s);
}

/** The static facts of one provider. */
export function providerCatalog(name: ProviderName): ProviderCatalogEntry {
  return CATALOG[name];
}

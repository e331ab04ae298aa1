import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adapterFor, PermissionMode, Provider, providerFromProto } from "@asm/shared";
import type { AnyModelMock } from "../mock-models/index.js";
import { testRunMarker } from "../helpers/test-run.js";

const bin = (name: string): string => join(import.meta.dirname, "..", "..", "node_modules", ".bin", name);

/** How the conformance suite drives one real provider CLI, hermetically, against its mock. */
export interface ProviderHarness {
  name: string;
  provider: Provider;
  mock: "anthropic" | "openai" | "gemini";
  cliPath: string;
  /** The permission mode under which a shell tool runs without asking. */
  autoAllowMode: PermissionMode;
  /**
   * A HOME (fresh unless given; with whatever config the CLI needs there) plus the env that points
   * the CLI at the mock.
   */
  environment(mock: AnyModelMock, home?: string): { env: Record<string, string>; home: string };
  /** Provider options every run needs (e.g. codex's config overrides). */
  providerOptions?: Record<string, unknown>;
  model?: string;
  /**
   * Permission mode whose protocol can continue a provider session in a new CLI process. Gemini's
   * ACP `session/load` is broken in 0.61.0, so a cold ACP run cannot continue; its one-shot mode
   * (`--resume`) can.
   */
  continuationMode?: PermissionMode;
  /**
   * The tool result the model gets after a denial whose reason was `reason`: something only a
   * denial produces (an allowed tool's result is its output).
   */
  deniedToolOutput(reason: string): RegExp;
  /** Whether the provider's SDK streams text deltas (default true; the Codex SDK gives text whole). */
  sdkTextDeltas?: boolean;
}

function freshHome(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `asm-${prefix}-home-`));
}

export const claudeHarness: ProviderHarness = {
  name: "claude",
  provider: Provider.PROVIDER_CLAUDE,
  mock: "anthropic",
  cliPath: bin("claude"),
  autoAllowMode: PermissionMode.PERMISSION_MODE_BYPASS,
  deniedToolOutput: (reason) => new RegExp(`^${reason}$`),
  environment(mock, home = freshHome("claude")) {
    return {
      home,
      env: {
        ...testRunMarker(),
        HOME: home,
        ANTHROPIC_BASE_URL: `http://127.0.0.1:${mock.port}`,
        ANTHROPIC_API_KEY: "dummy",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
        DISABLE_TELEMETRY: "1",
        DISABLE_AUTOUPDATER: "1",
        CLAUDE_CODE_MAX_RETRIES: "0",
      },
    };
  },
};

export const codexHarness: ProviderHarness = {
  name: "codex",
  provider: Provider.PROVIDER_CODEX,
  mock: "openai",
  cliPath: bin("codex"),
  autoAllowMode: PermissionMode.PERMISSION_MODE_BYPASS,
  model: "gpt-5.5",
  sdkTextDeltas: false,
  // exec_command failed: CreateProcess { message: "Rejected(\"rejected by user\")" } (codex/as-approval-deny.log)
  deniedToolOutput: () => /Rejected\(\\?"rejected by user\\?"\)/,
  environment(mock, home = freshHome("codex")) {
    const codexHome = join(home, ".codex");
    mkdirSync(codexHome, { recursive: true });
    writeFileSync(
      join(codexHome, "config.toml"),
      [
        'model_provider = "mock"',
        "[analytics]",
        "enabled = false",
        "[features]",
        "plugins = false",
        "[model_providers.mock]",
        'name = "mock"',
        `base_url = "http://127.0.0.1:${mock.port}/v1"`,
        'wire_api = "responses"',
        'env_key = "MOCK_KEY"',
        "request_max_retries = 0",
        "stream_max_retries = 0",
        "",
      ].join("\n"),
    );
    return { home, env: { ...testRunMarker(), HOME: home, CODEX_HOME: codexHome, MOCK_KEY: "dummy" } };
  },
};

export const geminiHarness: ProviderHarness = {
  name: "gemini",
  provider: Provider.PROVIDER_GEMINI,
  mock: "gemini",
  cliPath: bin("gemini"),
  autoAllowMode: PermissionMode.PERMISSION_MODE_BYPASS,
  model: "gemini-2.5-flash",
  continuationMode: PermissionMode.PERMISSION_MODE_BYPASS,
  // ACP carries no reason: gemini tells the model the tool was cancelled (gemini/acp-approval-deny.log).
  deniedToolOutput: () => /^Tool "run_shell_command" was canceled by the user\.$/,
  environment(mock, home = freshHome("gemini")) {
    mkdirSync(join(home, ".gemini"), { recursive: true });
    writeFileSync(
      join(home, ".gemini", "settings.json"),
      JSON.stringify({ security: { auth: { selectedType: "gemini-api-key" } }, privacy: { usageStatisticsEnabled: false }, general: { maxAttempts: 1 } }),
    );
    return { home, env: { ...testRunMarker(), HOME: home, GEMINI_API_KEY: "dummy", GOOGLE_GEMINI_BASE_URL: `http://127.0.0.1:${mock.port}`, GEMINI_CLI_NO_RELAUNCH: "true" } };
  },
};

/**
 * What the operator configures for a provider's CLI, instead of a client sending it: the CLI's
 * path (ASM_<PROVIDER>_CLI_PATH) and its environment (the host's own variables, passed on with
 * ASM_PASS_ENV / --pass-env). Clients send neither `cli_path` nor `env`.
 */
export function operatorSetup(h: ProviderHarness, env: Record<string, string>): { hostEnv: Record<string, string>; passEnv: string[] } {
  const cliPathEnv = adapterFor(providerFromProto(h.provider)).cliPathEnv;
  return { hostEnv: { ...env, [cliPathEnv]: h.cliPath }, passEnv: Object.keys(env).filter((k) => k !== "HOME" && k !== "PATH") };
}

import { AsmError } from "../errors/asm-error.js";
import type { ReasonCode } from "../errors/reason-codes.js";
import type { RunSettings } from "../options/run-settings.js";
import type { ProviderAdapter } from "./provider-adapter.js";
import { parseSurface } from "../surfaces/surface-registry.js";

/**
 * Checks merged run settings for a provider: the rules every adapter shares (a CLI that cannot ask
 * cannot be given interactive approvals), then the adapter's own. Throws config_invalid naming the
 * field under `fieldPrefix`.
 */
export function checkRunSettings(adapter: ProviderAdapter, settings: RunSettings, fieldPrefix: string): void {
  if (settings.interactiveApprovals === true && !adapter.supportsApprovals) {
    throw new AsmError({
      field: `${fieldPrefix}.interactive_approvals`,
      provider: adapter.provider,
      reasonCode: "approvals_unsupported",
      message: `${adapter.provider} CLI cannot ask for approvals`,
    });
  }
  adapter.validate(settings, fieldPrefix);
  parseSurface(settings.executionSurface, `${fieldPrefix}.execution_surface`);
}

/** Largest prompt asm takes (StreamRun, Query, an executor's StartRun). */
export const MAX_PROMPT_BYTES = 1024 * 1024;
/** Largest prompt passed on a command line (Linux takes at most 128 KiB in one argument). */
export const MAX_ARGV_PROMPT_BYTES = 100 * 1024;

/**
 * What any run's prompt must be, checked at submit: not empty, no NUL character (no CLI takes
 * one), at most MAX_PROMPT_BYTES, and at most MAX_ARGV_PROMPT_BYTES for a CLI that reads it from
 * its command line. Throws config_invalid on `field` (INVALID_ARGUMENT).
 */
export function checkPrompt(adapter: Pick<ProviderAdapter, "provider" | "promptOnArgv">, prompt: string, field = "prompt"): void {
  const fail = (reasonCode: ReasonCode, message: string): never => {
    throw new AsmError({ field, provider: adapter.provider, reasonCode, message });
  };
  if (prompt === "") fail("prompt_empty", "must not be empty");
  if (prompt.includes("\0")) fail("prompt_invalid", "must not contain a NUL character");
  const bytes = Buffer.byteLength(prompt);
  if (bytes > MAX_PROMPT_BYTES) fail("prompt_too_long", `is ${bytes} bytes; at most ${MAX_PROMPT_BYTES}`);
  if (adapter.promptOnArgv && bytes > MAX_ARGV_PROMPT_BYTES) {
    fail("prompt_too_long_for_argv", `is ${bytes} bytes; the ${adapter.provider} CLI takes its prompt on its command line, at most ${MAX_ARGV_PROMPT_BYTES} bytes`);
  }
}

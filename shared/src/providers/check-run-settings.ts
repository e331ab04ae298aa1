import { AsmError } from "../errors/asm-error.js";
import type { RunSettings } from "../options/run-settings.js";
import type { ProviderAdapter } from "./provider-adapter.js";

/**
 * Checks merged run settings for a provider: the rules every adapter shares (a CLI that cannot ask
 * cannot be given interactive approvals), then the adapter's own. Throws config_invalid naming the
 * field under `fieldPrefix`.
 */
export function checkRunSettings(adapter: ProviderAdapter, settings: RunSettings, fieldPrefix: string): void {
  if (settings.interactiveApprovals === true && !adapter.supportsApprovals) {
    throw new AsmError({
      kind: "config_invalid",
      field: `${fieldPrefix}.interactive_approvals`,
      provider: adapter.provider,
      reasonCode: "approvals_unsupported",
      message: `${adapter.provider} CLI cannot ask for approvals`,
    });
  }
  adapter.validate(settings, fieldPrefix);
}

import { AsmError } from "../errors/asm-error.js";
import type { ProviderName } from "../lanes/provider-catalog.js";
import { claudeAdapter } from "./claude/claude-adapter.js";
import type { ProviderAdapter } from "./provider-adapter.js";

const ADAPTERS: Partial<Record<ProviderName, ProviderAdapter>> = {
  claude: claudeAdapter,
};

/** The adapter that drives a provider's CLI; config_invalid when asm cannot drive it yet. */
export function adapterFor(provider: ProviderName): ProviderAdapter {
  const adapter = ADAPTERS[provider];
  if (!adapter) {
    throw new AsmError({ kind: "config_invalid", field: "provider", provider, reasonCode: "provider_unsupported", message: `provider ${provider} has no CLI adapter in this build` });
  }
  return adapter;
}

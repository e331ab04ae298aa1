import type { ProviderName } from "../lanes/provider-catalog.js";
import { ampAdapter } from "./amp/amp-adapter.js";
import { claudeAdapter } from "./claude/claude-adapter.js";
import { codexAdapter } from "./codex/codex-adapter.js";
import { cursorAdapter } from "./cursor/cursor-adapter.js";
import { geminiAdapter } from "./gemini/gemini-adapter.js";
import type { ProviderAdapter } from "./provider-adapter.js";

const ADAPTERS: Record<ProviderName, ProviderAdapter> = {
  claude: claudeAdapter,
  codex: codexAdapter,
  gemini: geminiAdapter,
  amp: ampAdapter,
  cursor: cursorAdapter,
};

/** The adapter that drives a provider's CLI. */
export function adapterFor(provider: ProviderName): ProviderAdapter {
  return ADAPTERS[provider];
}

/**
 * Lane resolution (ASM's `ASM.ProviderRegistry`: `provider_info/1`, `lane_info/2`, `resolve/2`).
 *
 * - `providerInfo`: provider facts, with sdk availability discovered now.
 * - `laneInfo`: discovery only (which lane would be preferred), no execution-mode checks.
 * - `resolveLane`: the effective lane for a real run; `remote_node` executes only the core lane.
 *
 * All functions are pure apart from the injected `SdkDiscovery` (default: resolve the package from
 * this module's location). Invalid input and impossible requests throw `AsmError` `config_invalid`;
 * an explicit `sdk` request never falls back silently.
 */
import { AsmError } from "../errors/asm-error.js";
import { PROVIDERS, providerCatalog, type Capability, type ProviderName } from "./provider-catalog.js";
import { discoverSdkPackage, isSdkFound, sdkVersionOf, type SdkDiscovery, type SdkDiscoveryResult } from "./sdk-discovery.js";

export const REQUESTED_LANES = ["auto", "core", "sdk"] as const;
export type RequestedLane = (typeof REQUESTED_LANES)[number];
export type LaneName = "core" | "sdk";

export const EXECUTION_MODES = ["local", "remote_node"] as const;
export type ExecutionModeName = (typeof EXECUTION_MODES)[number];

export type LaneReason = "sdk_available" | "sdk_unavailable" | "explicit_core" | "explicit_sdk";
/**
 * Why the executed lane differs from the preferred one: remote_node runs only the core lane, or
 * the run needs a capability the sdk lane lacks (`sdk_lacks_<capability>`).
 */
export type LaneFallbackReason = "" | "sdk_remote_unsupported" | `sdk_lacks_${Capability}`;

export interface ProviderInfo {
  provider: ProviderName;
  displayName: string;
  /** The npm package that backs the sdk lane; "" when the provider has none. */
  sdkRuntime: string;
  sdkAvailable: boolean;
  /** The version of the sdk package found; "" when absent or unknown. */
  sdkVersion: string;
  availableLanes: LaneName[];
  defaultLane: "auto";
  coreCapabilities: Capability[];
  /** Empty when the sdk lane is unavailable. */
  sdkCapabilities: Capability[];
}

export interface LaneInfo {
  provider: ProviderName;
  requestedLane: RequestedLane;
  preferredLane: LaneName;
  laneReason: LaneReason;
  sdkAvailable: boolean;
  availableLanes: LaneName[];
  /** Capabilities of the preferred lane. */
  capabilities: Capability[];
  sdkRuntime: string;
  /** The version of the sdk package found; "" when absent, unknown or not looked for. */
  sdkVersion: string;
}

export interface LaneResolution {
  provider: ProviderName;
  requestedLane: RequestedLane;
  preferredLane: LaneName;
  /** The lane that executes. */
  lane: LaneName;
  /** The backend that executes the lane (same value as `lane`). */
  backend: LaneName;
  executionMode: ExecutionModeName;
  laneReason: LaneReason;
  /** Why `lane` differs from `preferredLane`; "" when it does not. */
  laneFallbackReason: LaneFallbackReason;
  sdkRuntime: string;
  sdkAvailable: boolean;
  /** The version of the sdk package found; "" when absent, unknown or not looked for. */
  sdkVersion: string;
  /** Capabilities of the executed lane. */
  capabilities: Capability[];
}

const PROVIDER_ALIASES: Readonly<Record<string, ProviderName>> = { codex_exec: "codex" };

/**
 * Validates a provider name (case-insensitive, surrounding blanks ignored; ASM's `codex_exec`
 * alias maps to `codex`). Throws `config_invalid` on field `provider`.
 */
export function parseProviderName(value: string): ProviderName {
  const s = typeof value === "string" ? value.trim().toLowerCase() : "";
  const alias = PROVIDER_ALIASES[s];
  if (alias !== undefined) return alias;
  if ((PROVIDERS as readonly string[]).includes(s)) return s as ProviderName;
  throw new AsmError({
    field: "provider",
    reasonCode: "unknown_provider",
    message: `unknown provider: ${describe(value)}; expected one of ${PROVIDERS.join(", ")}`,
    details: { provider: String(value) },
  });
}

/** Validates a requested lane (case-insensitive). Throws `config_invalid` on field `lane`. */
export function parseRequestedLane(value: string): RequestedLane {
  const s = typeof value === "string" ? value.trim().toLowerCase() : "";
  if ((REQUESTED_LANES as readonly string[]).includes(s)) return s as RequestedLane;
  throw new AsmError({
    field: "lane",
    reasonCode: "invalid_lane",
    message: `invalid lane ${describe(value)}; expected auto, core, or sdk`,
    details: { lane: String(value) },
  });
}

/** Validates an execution mode (case-insensitive). Throws `config_invalid` on field `execution_mode`. */
export function parseExecutionMode(value: string): ExecutionModeName {
  const s = typeof value === "string" ? value.trim().toLowerCase() : "";
  if ((EXECUTION_MODES as readonly string[]).includes(s)) return s as ExecutionModeName;
  throw new AsmError({
    field: "execution_mode",
    reasonCode: "invalid_execution_mode",
    message: `invalid execution_mode ${describe(value)}; expected local or remote_node`,
    details: { execution_mode: String(value) },
  });
}

/** What discovery says of the provider's sdk package (always false for providers without an sdk lane). */
function discover(name: ProviderName, discovery: SdkDiscovery): SdkDiscoveryResult {
  const pkg = providerCatalog(name).sdkPackage;
  if (pkg === null) return false;
  const found = discovery(name, pkg);
  return found === true || (typeof found === "object" && found !== null) ? found : false;
}

/** Whether the provider's sdk package is installed (always false for providers without an sdk lane). */
export function sdkAvailable(provider: string, discovery: SdkDiscovery = discoverSdkPackage): boolean {
  return isSdkFound(discover(parseProviderName(provider), discovery));
}

/** Provider facts (ASM's `provider_info/1`). */
export function providerInfo(provider: string, discovery: SdkDiscovery = discoverSdkPackage): ProviderInfo {
  const name = parseProviderName(provider);
  const entry = providerCatalog(name);
  const found = discover(name, discovery);
  const available = isSdkFound(found);
  return {
    provider: name,
    displayName: entry.displayName,
    sdkRuntime: entry.sdkPackage ?? "",
    sdkAvailable: available,
    sdkVersion: sdkVersionOf(found),
    availableLanes: available ? ["core", "sdk"] : ["core"],
    defaultLane: "auto",
    coreCapabilities: [...entry.coreCapabilities],
    sdkCapabilities: available ? [...entry.sdkCapabilities] : [],
  };
}

/**
 * Lane discovery without execution-mode checks (ASM's `lane_info/2`). `lane: "core"` never calls
 * the discovery and reports `sdkAvailable: false`, `availableLanes: ["core"]`, as ASM does. An
 * explicit `sdk` request whose package is missing throws `config_invalid` (`sdk_unavailable`).
 */
export function laneInfo(provider: string, lane: string = "auto", discovery: SdkDiscovery = discoverSdkPackage): LaneInfo {
  const name = parseProviderName(provider);
  const requestedLane = parseRequestedLane(lane);
  const entry = providerCatalog(name);
  const sdkRuntime = entry.sdkPackage ?? "";

  if (requestedLane === "core") {
    return {
      provider: name,
      requestedLane,
      preferredLane: "core",
      laneReason: "explicit_core",
      sdkAvailable: false,
      availableLanes: ["core"],
      capabilities: [...entry.coreCapabilities],
      sdkRuntime,
      sdkVersion: "",
    };
  }

  const found = discover(name, discovery);
  const available = isSdkFound(found);
  const availableLanes: LaneName[] = available ? ["core", "sdk"] : ["core"];

  if (requestedLane === "sdk" && !available) {
    const message =
      entry.sdkPackage === null
        ? `sdk lane requested for ${name} but ${entry.displayName} has no sdk lane`
        : `sdk lane requested for ${name} but ${entry.sdkPackage} is not installed`;
    throw new AsmError({
      field: "lane",
      reasonCode: "sdk_unavailable",
      provider: name,
      message,
      details: { provider: name, lane: "sdk", sdk_runtime: sdkRuntime, reason: "sdk_unavailable" },
    });
  }

  let preferredLane: LaneName;
  let laneReason: LaneReason;
  if (requestedLane === "sdk") {
    preferredLane = "sdk";
    laneReason = "explicit_sdk";
  } else if (available) {
    preferredLane = "sdk";
    laneReason = "sdk_available";
  } else {
    preferredLane = "core";
    laneReason = "sdk_unavailable";
  }

  return {
    provider: name,
    requestedLane,
    preferredLane,
    laneReason,
    sdkAvailable: available,
    availableLanes,
    capabilities: [...(preferredLane === "sdk" ? entry.sdkCapabilities : entry.coreCapabilities)],
    sdkRuntime,
    sdkVersion: sdkVersionOf(found),
  };
}

/**
 * The effective lane for a real run (ASM's `resolve/2`). `remote_node` executes only the core lane:
 * an explicit `sdk` request there throws `config_invalid` (`sdk_remote_unsupported`); `auto` that
 * prefers `sdk` executes `core` with `laneFallbackReason: "sdk_remote_unsupported"`.
 */
export function resolveLane(
  provider: string,
  lane: string = "auto",
  executionMode: string = "local",
  discovery: SdkDiscovery = discoverSdkPackage,
): LaneResolution {
  const name = parseProviderName(provider);
  const requestedLane = parseRequestedLane(lane);
  const mode = parseExecutionMode(executionMode);
  const info = laneInfo(name, requestedLane, discovery);
  const entry = providerCatalog(name);

  let effective: LaneName = info.preferredLane;
  let laneFallbackReason: LaneFallbackReason = "";

  if (mode === "remote_node" && info.preferredLane === "sdk") {
    if (requestedLane === "sdk") {
      throw new AsmError({
        field: "lane",
        reasonCode: "sdk_remote_unsupported",
        provider: name,
        message: "sdk lane is unavailable for remote_node execution",
        details: {
          provider: name,
          lane: "sdk",
          execution_mode: mode,
          sdk_runtime: info.sdkRuntime,
          reason: "unsupported_execution_mode",
        },
      });
    }
    effective = "core";
    laneFallbackReason = "sdk_remote_unsupported";
  }

  return {
    provider: name,
    requestedLane,
    preferredLane: info.preferredLane,
    lane: effective,
    backend: effective,
    executionMode: mode,
    laneReason: info.laneReason,
    laneFallbackReason,
    sdkRuntime: info.sdkRuntime,
    sdkAvailable: info.sdkAvailable,
    sdkVersion: info.sdkVersion,
    capabilities: [...(effective === "sdk" ? entry.sdkCapabilities : entry.coreCapabilities)],
  };
}

/**
 * A run's resolution once its needs are known: when the sdk lane would execute but lacks a
 * capability the run needs, an explicit `sdk` request is `config_invalid`
 * (`sdk_capability_missing`, naming the capability) and `auto` executes `core` with
 * `laneFallbackReason: "sdk_lacks_<capability>"`. Never a silent difference.
 */
export function requireLaneCapabilities(resolution: LaneResolution, needs: readonly Capability[]): LaneResolution {
  if (resolution.lane !== "sdk") return resolution;
  const entry = providerCatalog(resolution.provider);
  const missing = needs.find((c) => !entry.sdkCapabilities.includes(c));
  if (missing === undefined) return resolution;
  if (resolution.requestedLane === "sdk") {
    throw new AsmError({
      field: "lane",
      reasonCode: "sdk_capability_missing",
      provider: resolution.provider,
      message: `the sdk lane of ${resolution.provider} (${resolution.sdkRuntime}) has no ${missing} capability, which this run needs; use lane core or auto`,
      details: { provider: resolution.provider, lane: "sdk", capability: missing, sdk_runtime: resolution.sdkRuntime },
    });
  }
  return { ...resolution, lane: "core", backend: "core", laneFallbackReason: `sdk_lacks_${missing}`, capabilities: [...entry.coreCapabilities] };
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

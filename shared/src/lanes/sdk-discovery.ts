import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { ProviderName } from "./provider-catalog.js";

/**
 * What discovery found for a provider's sdk package: `false` when it is absent, the installed
 * package's version when it is present, or `true` when it is present and its version is unknown
 * (an injected discovery, e.g. in tests).
 */
export type SdkDiscoveryResult = boolean | { version: string };

/**
 * Answers whether the sdk package of a provider is installed where this code runs, and which
 * version. Injected into every lane-resolution function (ASM's configurable `runtime_loader`).
 */
export type SdkDiscovery = (provider: ProviderName, sdkPackage: string) => SdkDiscoveryResult;

/**
 * A discovery that resolves packages the way a bare `import(pkg)` from the module at `baseUrl`
 * does: the first `node_modules/<pkg>/package.json` on Node's lookup path from there. Nothing is
 * cached, so a package installed (or removed) after start-up is seen by the next call. Reports
 * the `version` of that package.json.
 */
export function sdkDiscoveryFrom(baseUrl: string): SdkDiscovery {
  return (_provider, sdkPackage) => {
    const manifest = sdkManifest(baseUrl, sdkPackage);
    if (manifest === undefined) return false;
    return { version: typeof manifest.version === "string" ? manifest.version : "" };
  };
}

/**
 * The package.json of `sdkPackage` as seen from the module at `baseUrl` (the first one on Node's
 * lookup path), or undefined when it is not installed or unreadable.
 */
function sdkManifest(baseUrl: string, sdkPackage: string): { version?: unknown } | undefined {
  if (!isBarePackageName(sdkPackage)) return undefined;
  let dirs: string[];
  try {
    dirs = createRequire(baseUrl).resolve.paths(sdkPackage) ?? [];
  } catch {
    return undefined;
  }
  for (const dir of dirs) {
    let text: string;
    try {
      text = readFileSync(join(dir, sdkPackage, "package.json"), "utf8");
    } catch {
      continue; // not here; the next directory up
    }
    try {
      return JSON.parse(text) as { version?: unknown };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Default discovery: packages as this module (the shared package) sees them. */
export const discoverSdkPackage: SdkDiscovery = sdkDiscoveryFrom(import.meta.url);

/** Whether a discovery result means "installed". */
export function isSdkFound(result: SdkDiscoveryResult): boolean {
  return result !== false;
}

/** The version a discovery result reports; "" when absent or unknown. */
export function sdkVersionOf(result: SdkDiscoveryResult): string {
  return typeof result === "object" && result !== null ? result.version : "";
}

/** `name` or `@scope/name`, no relative or absolute paths, no sub-paths. */
function isBarePackageName(s: string): boolean {
  return /^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(s);
}

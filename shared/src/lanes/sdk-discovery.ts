import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { ProviderName } from "./provider-catalog.js";

/**
 * Answers whether the sdk package of a provider is installed where this code runs. Injected into
 * every lane-resolution function (ASM's configurable `runtime_loader`).
 */
export type SdkDiscovery = (provider: ProviderName, sdkPackage: string) => boolean;

/**
 * Default discovery: resolves the package at run time from this module's location. Nothing is
 * cached, so a package installed after start-up is seen by the next call.
 *
 * Tries, in order: `require.resolve(pkg)`, `require.resolve(pkg/package.json)`,
 * `import.meta.resolve(pkg)` (ESM-only packages whose `exports` have no `require` condition), and
 * finally a `package.json` in one of Node's lookup directories (packages whose `exports` expose
 * neither of the above).
 */
export const discoverSdkPackage: SdkDiscovery = (_provider, sdkPackage) => {
  if (!isBarePackageName(sdkPackage)) return false;
  const require = createRequire(import.meta.url);
  for (const specifier of [sdkPackage, `${sdkPackage}/package.json`]) {
    try {
      require.resolve(specifier);
      return true;
    } catch {
      // try the next way
    }
  }
  const metaResolve = (import.meta as { resolve?: (specifier: string) => string }).resolve;
  if (typeof metaResolve === "function") {
    try {
      metaResolve(sdkPackage);
      return true;
    } catch {
      // try the next way
    }
  }
  try {
    const dirs = require.resolve.paths(sdkPackage) ?? [];
    return dirs.some((dir) => existsSync(join(dir, sdkPackage, "package.json")));
  } catch {
    return false;
  }
};

/** `name` or `@scope/name`, no relative or absolute paths, no sub-paths. */
function isBarePackageName(s: string): boolean {
  return /^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(s);
}

import type { RunSettings } from "../options/run-settings.js";
import type { Capability } from "./provider-catalog.js";

/**
 * The capabilities a run with these settings needs of the lane that executes it, beyond what every
 * lane has (see `requireLaneCapabilities`): interactive approvals, a warm process, a named profile,
 * a CLI on another host (ssh_exec).
 */
export function runNeeds(provider: { supportsApprovals: boolean }, settings: RunSettings, keepCliWarm: boolean): Capability[] {
  const needs: Capability[] = [];
  if (provider.supportsApprovals && (settings.interactiveApprovals ?? settings.permissionMode === "default")) needs.push("approvals");
  if (keepCliWarm) needs.push("warm_process");
  if ((settings.providerOptions as { profile?: unknown }).profile !== undefined) needs.push("profiles");
  if (settings.executionSurface?.kind === "ssh_exec") needs.push("ssh_exec");
  return needs;
}

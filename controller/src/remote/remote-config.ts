import { z } from "zod";
import { AsmError, DRIVER_OPTS_DEFAULTS, DriverOptsSchema, parseOrThrow, type RunSettings } from "@asm/shared";

/**
 * The resolved remote execution config of one run (ASM's `ASM.Schema.RemoteNode`): the merged
 * `driver_opts` (session defaults < per-run overrides, key by key) with the seed's defaults
 * applied and `remote_node` required. Unknown keys are kept for forward compatibility and travel
 * to the executor in `StartRun.extra`.
 */
export const RemoteConfigSchema = DriverOptsSchema.extend({
  remote_node: z.string().trim().min(1).max(255),
  remote_connect_timeout_ms: DriverOptsSchema.shape.remote_connect_timeout_ms.unwrap().default(DRIVER_OPTS_DEFAULTS.remote_connect_timeout_ms),
  remote_rpc_timeout_ms: DriverOptsSchema.shape.remote_rpc_timeout_ms.unwrap().default(DRIVER_OPTS_DEFAULTS.remote_rpc_timeout_ms),
  remote_boot_lease_timeout_ms: DriverOptsSchema.shape.remote_boot_lease_timeout_ms.unwrap().default(DRIVER_OPTS_DEFAULTS.remote_boot_lease_timeout_ms),
  remote_bootstrap_mode: DriverOptsSchema.shape.remote_bootstrap_mode.unwrap().default(DRIVER_OPTS_DEFAULTS.remote_bootstrap_mode),
  remote_transport_call_timeout_ms: DriverOptsSchema.shape.remote_transport_call_timeout_ms.unwrap().default(DRIVER_OPTS_DEFAULTS.remote_transport_call_timeout_ms),
});
export type RemoteConfig = z.infer<typeof RemoteConfigSchema>;

const KNOWN_KEYS = new Set(Object.keys(RemoteConfigSchema.shape));

/**
 * Resolves the remote config of a run. `driver_opts.remote_cwd` wins over the run's `cwd` (which
 * then names a directory on the executor host). Throws config_invalid naming `<prefix>.driver_opts.<key>`.
 */
export function resolveRemoteConfig(settings: Pick<RunSettings, "driverOpts" | "cwd">, prefix = "options"): RemoteConfig {
  const field = `${prefix}.driver_opts`;
  if (!settings.driverOpts.remote_node) {
    throw new AsmError({ field: `${field}.remote_node`, reasonCode: "remote_node_required", message: "execution_mode remote_node needs driver_opts.remote_node (an executor name or host:port)" });
  }
  const config = parseOrThrow(RemoteConfigSchema, { ...settings.driverOpts }, field);
  if (config.remote_cwd === undefined && settings.cwd !== undefined) config.remote_cwd = settings.cwd;
  return config;
}

/** The forward-compatible keys of a resolved config (the ones this build does not know). */
export function extraFields(config: RemoteConfig): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([key]) => !KNOWN_KEYS.has(key)));
}

import { z } from "zod";

import { EXECUTION_MODES, REQUESTED_LANES, type ExecutionModeName, type RequestedLane } from "../lanes/resolve-lane.js";

export const PERMISSION_MODES = ["default", "auto", "bypass", "plan"] as const;
export type PermissionModeName = (typeof PERMISSION_MODES)[number];

const DAY_MS = 24 * 60 * 60 * 1000;
const timeoutMs = z.number().int().min(1).max(DAY_MS);
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Remote execution options (`driver_opts`), snake_case as in the seed. Unknown keys are kept for
 * forward compatibility. Defaults are applied by `resolveDriverOpts` when a run executes remotely.
 */
export const DriverOptsSchema = z.looseObject({
  remote_node: z.string().trim().min(1).max(255).optional(),
  remote_cookie: z.string().min(1).max(1024).optional(),
  remote_connect_timeout_ms: timeoutMs.optional(),
  remote_rpc_timeout_ms: timeoutMs.optional(),
  remote_boot_lease_timeout_ms: timeoutMs.optional(),
  remote_bootstrap_mode: z.enum(["require_prestarted", "ensure_started"]).optional(),
  remote_cwd: z.string().trim().min(1).max(4096).optional(),
  remote_transport_call_timeout_ms: timeoutMs.optional(),
});
export type DriverOpts = z.infer<typeof DriverOptsSchema>;

export const DRIVER_OPTS_DEFAULTS = {
  remote_connect_timeout_ms: 5000,
  remote_rpc_timeout_ms: 15000,
  remote_boot_lease_timeout_ms: 10000,
  remote_bootstrap_mode: "require_prestarted",
  remote_transport_call_timeout_ms: 5000,
} as const;

/** Run options as given (session defaults or per-run overrides): every key optional. */
export const RunOptionsSchema = z.strictObject({
  lane: z.enum(REQUESTED_LANES).optional(),
  executionMode: z.enum(EXECUTION_MODES).optional(),
  permissionMode: z.enum(PERMISSION_MODES).optional(),
  model: z.string().trim().min(1).max(200).optional(),
  cwd: z.string().min(1).max(4096).refine((p) => p.startsWith("/"), "must be an absolute path").optional(),
  env: z.record(z.string().regex(ENV_KEY, "must be an environment variable name"), z.string().max(65536)).optional(),
  cliPath: z.string().min(1).max(4096).optional(),
  queueTimeoutMs: timeoutMs.optional(),
  streamTimeoutMs: timeoutMs.optional(),
  runDeadlineMs: timeoutMs.optional(),
  approvalTimeoutMs: timeoutMs.optional(),
  driverOpts: DriverOptsSchema.optional(),
  providerOptions: z.record(z.string(), z.unknown()).optional(),
  interactiveApprovals: z.boolean().optional(),
  /** Where the CLI runs; its kind's options are checked by that surface (surfaces/surface-registry.ts). */
  executionSurface: z.strictObject({ kind: z.string().max(64), options: z.record(z.string(), z.unknown()) }).optional(),
});
export type RunOptionsInput = z.infer<typeof RunOptionsSchema>;

export const SessionOptionsSchema = z.strictObject({
  defaults: RunOptionsSchema,
  maxConcurrentRuns: z.number().int().min(1).max(1000).optional(),
  maxQueuedRuns: z.number().int().min(0).max(10000).optional(),
  keepCliWarm: z.boolean().optional(),
  warmIdleTimeoutMs: timeoutMs.optional(),
});
export type SessionOptionsInput = z.infer<typeof SessionOptionsSchema>;

/** Everything one run needs, after session defaults and per-run overrides are merged. */
export interface RunSettings {
  lane: RequestedLane;
  executionMode: ExecutionModeName;
  permissionMode: PermissionModeName;
  model: string | undefined;
  cwd: string | undefined;
  env: Record<string, string>;
  cliPath: string | undefined;
  queueTimeoutMs: number | undefined;
  streamTimeoutMs: number;
  runDeadlineMs: number;
  approvalTimeoutMs: number;
  driverOpts: DriverOpts;
  providerOptions: Record<string, unknown>;
  interactiveApprovals: boolean | undefined;
  /** Where the CLI runs (undefined: local_subprocess); validated with `parseSurface`. */
  executionSurface: { kind: string; options: Record<string, unknown> } | undefined;
}

export const RUN_DEFAULTS = {
  lane: "auto",
  executionMode: "local",
  permissionMode: "default",
  streamTimeoutMs: 60_000,
  runDeadlineMs: 600_000,
  approvalTimeoutMs: 120_000,
} as const;

export const SESSION_DEFAULTS = { maxConcurrentRuns: 1, maxQueuedRuns: 10, keepCliWarm: false, warmIdleTimeoutMs: 300_000 } as const;

/**
 * Per-run overrides replace session defaults key by key; `env`, `driverOpts` and
 * `providerOptions` merge key by key too.
 */
export function mergeRunOptions(defaults: RunOptionsInput, overrides: RunOptionsInput): RunSettings {
  const pick = <K extends keyof RunOptionsInput>(k: K): RunOptionsInput[K] => (overrides[k] !== undefined ? overrides[k] : defaults[k]);
  return {
    lane: pick("lane") ?? RUN_DEFAULTS.lane,
    executionMode: pick("executionMode") ?? RUN_DEFAULTS.executionMode,
    permissionMode: pick("permissionMode") ?? RUN_DEFAULTS.permissionMode,
    model: pick("model"),
    cwd: pick("cwd"),
    env: { ...defaults.env, ...overrides.env },
    cliPath: pick("cliPath"),
    queueTimeoutMs: pick("queueTimeoutMs"),
    streamTimeoutMs: pick("streamTimeoutMs") ?? RUN_DEFAULTS.streamTimeoutMs,
    runDeadlineMs: pick("runDeadlineMs") ?? RUN_DEFAULTS.runDeadlineMs,
    approvalTimeoutMs: pick("approvalTimeoutMs") ?? RUN_DEFAULTS.approvalTimeoutMs,
    driverOpts: { ...defaults.driverOpts, ...overrides.driverOpts },
    providerOptions: { ...defaults.providerOptions, ...overrides.providerOptions },
    interactiveApprovals: pick("interactiveApprovals"),
    // A surface is one thing: an override replaces the session's as a whole.
    executionSurface: pick("executionSurface"),
  };
}

// Mapping between the protocol's RunOptions / SessionOptions messages and the validated option
// objects; used by the controller's API and by the executor agent for StartRun.
import { REDACTED } from "../logging/logger.js";
import { ExecutionMode, Lane, PermissionMode, Provider } from "../../gen/asm/v1/common_pb.js";
import type { RunOptions, SessionOptions } from "../../gen/asm/v1/controller_pb.js";
import { AsmError } from "../errors/asm-error.js";
import { PROVIDERS, type ProviderName } from "../lanes/provider-catalog.js";
import { parseOrThrow } from "./parse-options.js";
import { RunOptionsSchema, SessionOptionsSchema, type RunOptionsInput, type SessionOptionsInput } from "./run-settings.js";

const PROVIDER_BY_ENUM: Partial<Record<Provider, ProviderName>> = {
  [Provider.PROVIDER_CLAUDE]: "claude",
  [Provider.PROVIDER_CODEX]: "codex",
  [Provider.PROVIDER_GEMINI]: "gemini",
  [Provider.PROVIDER_AMP]: "amp",
  [Provider.PROVIDER_CURSOR]: "cursor",
};

export function providerFromProto(value: Provider, field = "provider"): ProviderName {
  const name = PROVIDER_BY_ENUM[value];
  if (!name) throw AsmError.configInvalid(field, `provider must be one of ${PROVIDERS.join(", ")}`, "unknown_provider");
  return name;
}

export function providerToProto(name: ProviderName): Provider {
  const entry = Object.entries(PROVIDER_BY_ENUM).find(([, n]) => n === name);
  return entry ? (Number(entry[0]) as Provider) : Provider.PROVIDER_UNSPECIFIED;
}

const enumName = (value: number, names: Record<number, string>, prefix: string): string | undefined =>
  value === 0 ? undefined : (names[value]?.slice(prefix.length).toLowerCase() ?? `invalid(${value})`);

export function laneFromProto(value: Lane): string | undefined {
  return enumName(value, Lane, "LANE_");
}

export function executionModeFromProto(value: ExecutionMode): string | undefined {
  return enumName(value, ExecutionMode, "EXECUTION_MODE_");
}

export function permissionModeFromProto(value: PermissionMode): string | undefined {
  return enumName(value, PermissionMode, "PERMISSION_MODE_");
}

const laneToProto = (name: string | undefined): Lane => (name ? ((Lane as unknown as Record<string, Lane>)[`LANE_${name.toUpperCase()}`] ?? Lane.LANE_UNSPECIFIED) : Lane.LANE_UNSPECIFIED);
const executionModeToProto = (name: string | undefined): ExecutionMode =>
  name ? ((ExecutionMode as unknown as Record<string, ExecutionMode>)[`EXECUTION_MODE_${name.toUpperCase()}`] ?? ExecutionMode.EXECUTION_MODE_UNSPECIFIED) : ExecutionMode.EXECUTION_MODE_UNSPECIFIED;
const permissionModeToProto = (name: string | undefined): PermissionMode =>
  name ? ((PermissionMode as unknown as Record<string, PermissionMode>)[`PERMISSION_MODE_${name.toUpperCase()}`] ?? PermissionMode.PERMISSION_MODE_UNSPECIFIED) : PermissionMode.PERMISSION_MODE_UNSPECIFIED;

/** Keeps only the fields a client set, so overrides can inherit key by key. */
function runOptionsShape(o: RunOptions | undefined): Record<string, unknown> {
  if (!o) return {};
  const shape: Record<string, unknown> = {
    lane: laneFromProto(o.lane),
    executionMode: executionModeFromProto(o.executionMode),
    permissionMode: permissionModeFromProto(o.permissionMode),
    model: o.model,
    cwd: o.cwd,
    env: Object.keys(o.env).length > 0 ? o.env : undefined,
    cliPath: o.cliPath,
    queueTimeoutMs: o.queueTimeoutMs,
    streamTimeoutMs: o.streamTimeoutMs,
    runDeadlineMs: o.runDeadlineMs,
    approvalTimeoutMs: o.approvalTimeoutMs,
    driverOpts: o.driverOpts,
    providerOptions: o.providerOptions,
    interactiveApprovals: o.interactiveApprovals,
    executionSurface: o.executionSurface ? { kind: o.executionSurface.kind, options: o.executionSurface.options ?? {} } : undefined,
  };
  return Object.fromEntries(Object.entries(shape).filter(([, v]) => v !== undefined));
}

export function runOptionsFromProto(o: RunOptions | undefined, prefix: string): RunOptionsInput {
  return parseOrThrow(RunOptionsSchema, runOptionsShape(o), prefix);
}

export function sessionOptionsFromProto(o: SessionOptions | undefined, prefix = "options"): SessionOptionsInput {
  const shape: Record<string, unknown> = { defaults: runOptionsShape(o?.defaults) };
  if (o?.maxConcurrentRuns !== undefined) shape.maxConcurrentRuns = o.maxConcurrentRuns;
  if (o?.maxQueuedRuns !== undefined) shape.maxQueuedRuns = o.maxQueuedRuns;
  if (o?.keepCliWarm !== undefined) shape.keepCliWarm = o.keepCliWarm;
  if (o?.warmIdleTimeoutMs !== undefined) shape.warmIdleTimeoutMs = o.warmIdleTimeoutMs;
  return parseOrThrow(SessionOptionsSchema, shape, prefix);
}

export function runOptionsToProto(o: RunOptionsInput): RunOptions {
  return {
    lane: laneToProto(o.lane),
    executionMode: executionModeToProto(o.executionMode),
    permissionMode: permissionModeToProto(o.permissionMode),
    model: o.model,
    cwd: o.cwd,
    env: o.env ?? {},
    cliPath: o.cliPath,
    queueTimeoutMs: o.queueTimeoutMs,
    streamTimeoutMs: o.streamTimeoutMs,
    runDeadlineMs: o.runDeadlineMs,
    approvalTimeoutMs: o.approvalTimeoutMs,
    driverOpts: o.driverOpts ? redactDriverOpts(o.driverOpts) : undefined,
    providerOptions: o.providerOptions,
    interactiveApprovals: o.interactiveApprovals,
    executionSurface: o.executionSurface,
  };
}

/** The cookie is a secret: it is never echoed back (nor sent on: the executor gets it in StartRun.cookie). */
function redactDriverOpts(d: Record<string, unknown>): Record<string, unknown> {
  return d.remote_cookie === undefined ? d : { ...d, remote_cookie: REDACTED };
}


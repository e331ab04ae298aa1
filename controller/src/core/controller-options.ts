import type { Backend, Clock, Logger, RunAdmissionLimits, RunPolicy, SdkDiscovery, SurfaceOperatorConfig } from "@asm/shared";
import type { ControllerStore } from "../store/store.js";
import type { RetentionLimits } from "./retention.js";

/** What a start found in the store. */
export interface RecoveryReport {
  sessions: number;
  /** Finished runs kept (answered from the store). */
  endedRuns: number;
  /** Runs that were running on this host (or queued in a closed session): ended with controller_restarted. */
  interruptedRuns: number;
  /** Runs that were waiting in their session's queue: they wait again. */
  requeuedRuns: number;
  /** Remote runs re-attached to their executor. */
  reattachedRuns: number;
}

export interface ControllerOptions {
  logger: Logger;
  /** The core lane on this host. */
  localBackend: Backend;
  /** The core lane on executor agents (`execution_mode: remote_node`). */
  remoteBackend: Backend;
  /** The sdk lane on this host (runs whose lane resolves to `sdk`). */
  sdkBackend: Backend;
  /** The operator's settings of execution surfaces (for the targets shown in metadata). */
  surfaces?: SurfaceOperatorConfig;
  /** Resolves `driver_opts.remote_node` (directory name or host:port); throws config_invalid. */
  resolveExecutor: (node: string, field: string) => { node: string };
  /** SDK discovery, injectable so every lane branch can be tested. */
  sdkDiscovery?: SdkDiscovery;
  /** Environment a CLI may see besides its run's allowlist (PATH, HOME of the host). */
  baseEnv: Record<string, string>;
  /** Working directory for runs that set none. */
  defaultCwd: string;
  /** Events one run may hold. */
  maxEventsPerRun: number;
  /** Largest encoded event (larger payloads go in pieces). */
  maxEventBytes: number;
  /** Most bytes of text a run's Result keeps. */
  maxResultTextBytes: number;
  /** Events the producer may run ahead of a StreamRun caller. */
  streamWindow: number;
  /** What is kept of finished runs and closed sessions, and for how long. */
  retention: RetentionLimits;
  /** Controller-wide caps on runs (live CLIs, starts, waiting). */
  admission: RunAdmissionLimits;
  /** Open sessions at most (ASM_MAX_SESSIONS). */
  maxSessions: number;
  /** The clock of the runs' timeouts and of retention. Default: the real one. */
  clock?: Clock;
  /** The operator's policy: what each principal may run (checked at CreateSession and at every run). */
  policy: RunPolicy;
  /** Where sessions, runs and events are kept (default: memory only). */
  store?: ControllerStore;
}

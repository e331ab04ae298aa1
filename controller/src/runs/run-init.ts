import type { Backend, Clock, ExecutionRequest, LaneResolution, Logger, ProviderName, RunSettings } from "@asm/shared";
import type { SurfaceShown } from "./run-metadata.js";
import type { Run } from "./run.js";

/** Where a run's events and states go to be kept (the controller's store). */
export interface RunJournal {
  /** Whether events wait for the store's commit before readers get them. */
  readonly deferred: boolean;
  event(run: Run, sequence: number, body: Uint8Array, sourceSequence: number): void;
  /** The run changed phase (admitted, started, ended). */
  state(run: Run): void;
}

/** A run that was executing on an executor when the controller stopped, as the store kept it. */
export interface RestoredRun {
  bodies: readonly Uint8Array[];
  createdAt: Date;
  startedAt: Date | undefined;
  /** The highest executor sequence among the kept events. */
  afterSourceSequence: number;
  /** The provider session the run continued. */
  resumedProviderSessionId: string;
}

/** `detached`: the controller is stopping and leaves the run to its executor (a durable store re-attaches it at the next start). */
export type RunPhase = "queued" | "running" | "stopping" | "ended" | "detached";

export interface RunInit {
  runId: string;
  sessionId: string;
  /** The principal that owns the run's session (who may see and act on the run). */
  owner: string;
  provider: ProviderName;
  prompt: string;
  settings: RunSettings;
  resolution: LaneResolution;
  request: Omit<ExecutionRequest, "runId" | "sessionId" | "resolution">;
  backend: Backend;
  /** Executor the run executes on (remote runs), for the observability metadata. */
  executor?: string;
  /** Where the CLI runs (execution_surface), as the metadata shows it. */
  surface?: SurfaceShown;
  logger: Logger;
  /** The clock of the run's timeouts (queue, stream, deadline, approvals). */
  clock: Clock;
  maxEvents: number;
  /** Largest encoded event; a larger payload is sent in pieces (events.proto, PayloadChunk). */
  maxEventBytes: number;
  /** Most bytes of text the run's Result keeps (GetRun, Query); past it the result says `truncated`. */
  maxResultTextBytes: number;
  primaryWindow: number;
  /** Called once per approval the CLI asks for, so the session can index it. */
  onApprovalRequested: (approvalId: string, run: Run) => void;
  /** Called once the approval is settled, so the session drops it from its index. */
  onApprovalSettled: (approvalId: string) => void;
  /** Called once when the run is terminal and its process is gone. */
  onEnded: (run: Run) => void;
  /** Called with the provider's session id whenever a run reveals it. */
  onProviderSessionId: (id: string) => void;
  /** Called once, at the first event from the backend (the CLI is up). */
  onStarted: () => void;
  /** Where the run's events and states are kept (default: nowhere beyond memory). */
  journal?: RunJournal;
  /** The state of a run restored after a controller restart (it re-attaches instead of starting). */
  restored?: RestoredRun;
  /** When a run that waited in its queue at a restart was first admitted. */
  createdAt?: Date;
}


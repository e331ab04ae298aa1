import type { LaneResolution } from "../lanes/resolve-lane.js";
import type { EventDraft, ProviderAdapter, RunSpec } from "../providers/provider-adapter.js";

/** What the run asks a backend to execute. */
export interface ExecutionRequest {
  runId: string;
  sessionId: string;
  adapter: ProviderAdapter;
  spec: RunSpec;
  resolution: LaneResolution;
  /** Keep the CLI process warm for the session's next run, where the protocol allows. */
  warm?: { idleTimeoutMs: number };
  /**
   * Re-attach to a run that is already executing (remote runs after a controller restart) instead
   * of starting it: the executor resends its events after `afterSourceSequence`.
   */
  reattach?: { afterSourceSequence: number };
  /** How far the controller has kept the run's events, in the executor's sequences (remote runs acknowledge it). */
  keptSource?: KeptSource;
}

/** The highest source sequence (EventDraft.sourceSequence) whose event the controller has made durable. */
export interface KeptSource {
  readonly sequence: number;
  /** Calls `listener` whenever `sequence` advances; returns the unsubscribe. */
  onAdvance(listener: () => void): () => void;
}

/**
 * One executing run, as a backend sees it: an async iterable of normalized event drafts that ends
 * when the CLI is done (throwing an AsmError when it failed), plus the control surface. Drafts come
 * in batches, in order: each batch holds one or more drafts the backend had at hand together (the
 * lines of one read from the CLI, one message from an executor), so a busy run costs one step of
 * the iteration per batch rather than per event.
 */
/** How a run's CLI process ended. */
export interface CliExitStatus {
  /** Exit code; null when a signal ended it. */
  code: number | null;
  /** Name of the signal that ended it (e.g. "SIGKILL"); null when it exited on its own. */
  signal: string | null;
}

export interface RunExecution extends AsyncIterable<EventDraft[]> {
  /**
   * How the CLI process ended, once it has and the execution knows it (after `close()`). Undefined
   * while it runs, when it never started, and when it stays warm for the session's next run.
   */
  readonly cliExit: CliExitStatus | undefined;
  /** Tells the CLI the decision on an approval it asked for. */
  answerApproval(approvalId: string, allow: boolean, reason: string): Promise<void>;
  /** Interrupts through the CLI's protocol, then signals with escalation; resolves when the CLI is gone. */
  interrupt(): Promise<void>;
  /** Ends the execution (waits briefly for a clean exit, then kills the process group). Idempotent. */
  close(): Promise<void>;
}

export interface Backend {
  start(request: ExecutionRequest): RunExecution;
  /** Stops the processes a session kept warm. */
  releaseSession(sessionId: string): Promise<void>;
  /** Stops every warm process (shutdown). */
  releaseAll(): Promise<void>;
}

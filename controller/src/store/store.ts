import type { AsmError, CliExitStatus, LaneResolution, ProviderName, Result, RunSettings, SessionOptionsInput } from "@asm/shared";
import type { SurfaceShown } from "../runs/run-metadata.js";

/**
 * What the controller keeps of a session. Written when it is created, when a run reveals the
 * provider session to continue, when a run is admitted (run_count) and when it closes.
 */
export interface SessionRecord {
  sessionId: string;
  owner: string;
  provider: ProviderName;
  /** As the client gave them (validated), env values and remote cookie included. */
  options: SessionOptionsInput;
  maxConcurrentRuns: number;
  maxQueuedRuns: number;
  ordinal: number;
  state: "open" | "closed";
  createdAt: number;
  closedAt: number | undefined;
  providerSessionId: string;
  runCount: number;
  /** Provider session to continue, per place a run executes ("local", "executor:<node>"). */
  continuations: Record<string, string>;
}

export type RunRecordPhase = "queued" | "running" | "ended";

/** What the controller keeps of a run besides its events. Written at admission, start and end. */
export interface RunRecord {
  runId: string;
  sessionId: string;
  owner: string;
  provider: ProviderName;
  prompt: string;
  settings: RunSettings;
  resolution: LaneResolution;
  /** The executor of a remote run. */
  executor: string | undefined;
  surface: SurfaceShown;
  /** The provider session the run continued ("" when none). */
  resumedProviderSessionId: string;
  phase: RunRecordPhase;
  createdAt: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
  /** The run's result, once ended. */
  result: Result | undefined;
  cliExit: CliExitStatus | undefined;
  /** Events of the run (its last sequence), once ended. */
  lastSequence: number;
  /** Bytes of the run's event bodies, once ended (for retention). */
  bytes: number;
  /** Approvals the run waits on (written as they open and close; absent in records of older versions). */
  pendingApprovalIds?: string[];
}

/** One event as kept: its sequence, its encoded body (event-wire.ts), and where it came from. */
export interface StoredEvent {
  sequence: number;
  body: Uint8Array;
  /**
   * The executor's sequence of the event this one was made from (remote runs), else 0. After a
   * restart the controller re-attaches to the executor after the highest one kept.
   */
  sourceSequence: number;
}

export interface StoredState {
  sessions: SessionRecord[];
  runs: RunRecord[];
}

/** Called after each group commit with, per run, the highest event sequence it made durable. */
export type CommitListener = (committed: ReadonlyMap<string, number>) => void;

/**
 * The seam under sessions, runs, events and pending approvals (which are the events of a run that
 * asked and have no answer yet). Writes are queued and committed together once per turn of the
 * event loop (group commit); the listener then learns what became durable. A run's readers are
 * handed only events the store has committed (RunEventLog.durableSequence), so nothing a client
 * saw can be lost by a crash of the controller.
 *
 * Implementations: MemoryStore (nothing survives the process; commits at once), SqliteStore (one
 * controller, a file in ASM_DATA_DIR, written on a worker thread), PostgresStore (several
 * controllers on one database).
 */
export interface ControllerStore {
  /** "memory", "sqlite", ... (what the logs and the benchmark report). */
  readonly kind: string;
  /** Where it keeps its data, for the log ("" when nowhere). */
  readonly location: string;
  /** Whether anything survives the process (recovery runs only then). */
  readonly durable: boolean;
  /** Everything kept, at start. */
  load(): Promise<StoredState>;
  putSession(record: SessionRecord): void;
  putRun(record: RunRecord): void;
  appendEvent(runId: string, event: StoredEvent): void;
  /** Forgets a run and its events (retention). */
  deleteRun(runId: string): void;
  deleteSession(sessionId: string): void;
  onCommit(listener: CommitListener): void;
  /** Called once if the store refuses this controller's writes for good (controller_fenced). */
  onFatal?(listener: (err: AsmError) => void): void;
  /** Up to `max` events of a run with sequence > `after`, in order. */
  readEvents(runId: string, after: number, max: number): Promise<StoredEvent[]>;
  /** The highest source sequence kept for a run (0 when none). */
  lastSourceSequence(runId: string): Promise<number>;
  /** Resolves once everything queued so far is committed. */
  flush(): Promise<void>;
  /** Commits what is queued and closes. */
  close(): Promise<void>;
}

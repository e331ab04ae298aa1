import { decodeEvent, encodeRunFields, isTerminal, RunStatus, type CliExitStatus, type Observability, type ProviderName, type Result } from "@asm/shared";
import type { ControllerStore, RunRecord, StoredEvent } from "../store/store.js";
import { observabilityOf } from "./run-metadata.js";

/** What StreamRun and WatchRun read a run's events from: a live log, or the store. */
export interface EventSource {
  readonly runFields: Uint8Array;
  /** The last sequence a reader may be handed. */
  readonly durableSequence: number;
  /** Whether the terminal event is there for readers. */
  readonly ended: boolean;
  readBatches(after: number, opts: { signal?: AbortSignal; primary?: boolean; maxEvents: number }): AsyncGenerator<Uint8Array[]>;
}

/** A finished run's events, read from the store in pages (nothing of them is held in memory). */
export class StoredEventLog implements EventSource {
  readonly runFields: Uint8Array;
  readonly ended = true;

  constructor(
    private readonly store: ControllerStore,
    private readonly runId: string,
    readonly durableSequence: number,
    fields: { sessionId: string; provider: string; metadata: Observability },
  ) {
    this.runFields = runFieldsOf(runId, fields);
  }

  async *readBatches(after: number, opts: { signal?: AbortSignal; maxEvents: number }): AsyncGenerator<Uint8Array[]> {
    let position = Math.max(0, after);
    const page = Math.max(1, Math.floor(opts.maxEvents));
    while (position < this.durableSequence && !opts.signal?.aborted) {
      const events = await this.store.readEvents(this.runId, position, Math.min(page, 512));
      if (events.length === 0) return;
      yield* batchesOf(events, page);
      position = events.at(-1)!.sequence;
    }
  }
}

/** The run fields every event of a run read from the store is sent with. */
export function runFieldsOf(runId: string, fields: { sessionId: string; provider: string; metadata: Observability }): Uint8Array {
  return encodeRunFields({ runId, sessionId: fields.sessionId, provider: fields.provider, metadata: fields.metadata });
}

/** A page of stored events as batches of at most `size` bodies. */
export function* batchesOf(events: readonly StoredEvent[], size: number): Generator<Uint8Array[]> {
  for (let i = 0; i < events.length; i += size) yield events.slice(i, i + size).map((e) => e.body);
}

/**
 * A run that had ended when the controller started: its record and result from the store, its
 * events read from there on demand. It answers GetRun and WatchRun exactly as the live run did.
 */
export class StoredRun {
  readonly runId: string;
  readonly sessionId: string;
  readonly owner: string;
  readonly provider: ProviderName;
  readonly createdAt: Date;
  readonly startedAt: Date | undefined;
  readonly endedAt: Date | undefined;
  readonly metadata: Observability;
  readonly log: StoredEventLog;
  readonly cliExit: CliExitStatus | undefined;
  readonly isEnded = true;
  readonly isQueued = false;
  readonly pendingApprovalIds: string[] = [];
  readonly ended: Promise<void> = Promise.resolve();
  private readonly finalResult: Result;

  constructor(
    record: RunRecord,
    store: ControllerStore,
  ) {
    this.runId = record.runId;
    this.sessionId = record.sessionId;
    this.owner = record.owner;
    this.provider = record.provider;
    this.createdAt = new Date(record.createdAt);
    this.startedAt = record.startedAt === undefined ? undefined : new Date(record.startedAt);
    this.endedAt = record.endedAt === undefined ? undefined : new Date(record.endedAt);
    this.metadata = Object.freeze(observabilityOf(record.resolution, record.provider, record.executor, record.surface));
    this.log = new StoredEventLog(store, record.runId, record.lastSequence, { sessionId: record.sessionId, provider: record.provider, metadata: this.metadata });
    this.cliExit = record.cliExit;
    this.finalResult = record.result ?? { ...emptyStatus(record), status: RunStatus.RUN_STATUS_FAILED };
  }

  get status(): RunStatus {
    return this.finalResult.status;
  }

  get result(): Result {
    return { ...this.finalResult };
  }
}

function emptyStatus(record: RunRecord): Result {
  return { runId: record.runId, sessionId: record.sessionId, status: RunStatus.RUN_STATUS_UNSPECIFIED, text: "", object: undefined, cost: undefined, error: undefined, durationMs: 0, stopReason: "", providerSessionId: "", metadata: undefined, lastSequence: record.lastSequence, truncated: false };
}

/** Whether an encoded event body is a terminal event (its run fields do not matter for that). */
export function isTerminalBody(body: Uint8Array): boolean {
  return isTerminal(decodeEvent(body, new Uint8Array()));
}

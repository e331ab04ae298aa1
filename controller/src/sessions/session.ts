import { AsmError, SESSION_DEFAULTS, type ProviderName, type RunAdmission, type RunOptionsInput, type SessionOptionsInput } from "@asm/shared";
import type { Run } from "../runs/run.js";
import type { SessionRecord } from "../store/store.js";
import { ApprovalIndex } from "./approval-index.js";

export type SessionState = "open" | "closed";

/**
 * A session: one provider, its defaults, its admission rules (`max_concurrent_runs` active at
 * once, a FIFO queue of `max_queued_runs`), the approvals of its runs, and the provider session
 * id that continues the conversation from run to run.
 */
export class Session {
  createdAt = new Date();
  readonly approvals = new ApprovalIndex();
  state: SessionState = "open";
  /** When it was closed (for the retention of closed sessions). */
  closedAt: Date | undefined;
  /** The provider session id most recently revealed by a run (what GetSession shows). */
  providerSessionId = "";
  runCount = 0;
  /**
   * Provider session to continue, per place a run executes ("local", or an executor): a CLI can
   * only resume a conversation its own host has, so local and remote runs continue separately.
   */
  private readonly continuations = new Map<string, string>();
  private readonly active = new Map<string, Run>();
  private readonly queue: Run[] = [];

  constructor(
    readonly sessionId: string,
    /** The principal that created it: the only one (besides an admin) that sees it and its runs. */
    readonly owner: string,
    readonly provider: ProviderName,
    readonly options: SessionOptionsInput,
    readonly maxConcurrentRuns: number,
    readonly maxQueuedRuns: number,
    /** Controller-wide admission: a run the session starts waits there for a CLI slot. */
    private readonly admission: RunAdmission,
    /** Creation order, for paginated listing. */
    readonly ordinal: number,
  ) {}

  /** Keep the CLI warm between runs (where the protocol allows). */
  get keepCliWarm(): boolean {
    return this.options.keepCliWarm ?? SESSION_DEFAULTS.keepCliWarm;
  }

  get warmIdleTimeoutMs(): number {
    return this.options.warmIdleTimeoutMs ?? SESSION_DEFAULTS.warmIdleTimeoutMs;
  }

  get defaults(): RunOptionsInput {
    return this.options.defaults;
  }

  /** Runs holding a slot or waiting in the queue. */
  get liveRunCount(): number {
    return this.active.size + this.queue.length;
  }

  get activeRunIds(): string[] {
    return [...this.active.keys()];
  }

  get queuedRunIds(): string[] {
    return this.queue.map((r) => r.runId);
  }

  /** Throws at_capacity when the run can neither start nor wait; `failed_precondition` when closed. */
  checkAdmission(): void {
    if (this.state !== "open") {
      throw new AsmError({ reasonCode: "session_not_open", message: `session ${this.sessionId} is closed` });
    }
    if (this.active.size < this.maxConcurrentRuns) return;
    if (this.queue.length < this.maxQueuedRuns) return;
    throw new AsmError({
      reasonCode: "session_at_capacity",
      message: `session ${this.sessionId} is at capacity: ${this.active.size} running (max_concurrent_runs ${this.maxConcurrentRuns}), ${this.queue.length} queued (max_queued_runs ${this.maxQueuedRuns})`,
    });
  }

  /** Admits a run: starts it now or queues it (call `checkAdmission` first). */
  admit(run: Run): void {
    this.checkAdmission();
    this.runCount += 1;
    if (this.active.size < this.maxConcurrentRuns) this.startRun(run);
    else this.queue.push(run);
  }

  /** Removes a queued run; true if it was queued. */
  removeQueued(run: Run): boolean {
    const i = this.queue.indexOf(run);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    return true;
  }

  /** A run reached its end: free its slot and start the next queued run (FIFO). */
  runEnded(run: Run): void {
    this.removeQueued(run);
    this.admission.left(run.runId);
    if (!this.active.delete(run.runId)) return;
    while (this.state === "open" && this.active.size < this.maxConcurrentRuns && this.queue.length > 0) {
      const next = this.queue.shift()!;
      if (!next.isEnded) this.startRun(next);
    }
  }

  /** Closes the session; returns the runs to interrupt and those dropped from the queue. */
  close(): { active: Run[]; queued: Run[] } {
    if (this.state === "open") this.closedAt = new Date();
    this.state = "closed";
    const queued = this.queue.splice(0, this.queue.length);
    return { active: [...this.active.values()], queued };
  }

  /** The run takes a session slot now, and starts once the controller has a CLI slot for it. */
  private startRun(run: Run): void {
    this.active.set(run.runId, run);
    this.admission.enter(run.runId, () => run.start(this.continuations.get(run.location)));
  }

  /** A run that waited in the queue when the controller stopped: it waits again (or starts, with room). */
  requeue(run: Run): void {
    if (this.active.size < this.maxConcurrentRuns) this.startRun(run);
    else this.queue.push(run);
  }

  /** Takes every run out of the queue (the controller is stopping); returns them. */
  drainQueue(): Run[] {
    return this.queue.splice(0, this.queue.length);
  }

  /** A run restored after a restart that is still executing: it holds a slot and re-attaches. */
  adoptExecuting(run: Run): void {
    this.active.set(run.runId, run);
    this.admission.enter(run.runId, () => run.start(undefined));
  }

  /** What the store keeps of the session. */
  toRecord(): SessionRecord {
    return {
      sessionId: this.sessionId,
      owner: this.owner,
      provider: this.provider,
      options: this.options,
      maxConcurrentRuns: this.maxConcurrentRuns,
      maxQueuedRuns: this.maxQueuedRuns,
      ordinal: this.ordinal,
      state: this.state,
      createdAt: this.createdAt.getTime(),
      closedAt: this.closedAt?.getTime(),
      providerSessionId: this.providerSessionId,
      runCount: this.runCount,
      continuations: Object.fromEntries(this.continuations),
    };
  }

  /** The session as the store kept it. */
  static fromRecord(r: SessionRecord, admission: RunAdmission): Session {
    const session = new Session(r.sessionId, r.owner, r.provider, r.options, r.maxConcurrentRuns, r.maxQueuedRuns, admission, r.ordinal);
    session.createdAt = new Date(r.createdAt);
    session.state = r.state;
    session.closedAt = r.closedAt === undefined ? undefined : new Date(r.closedAt);
    session.providerSessionId = r.providerSessionId;
    session.runCount = r.runCount;
    for (const [location, id] of Object.entries(r.continuations)) session.continuations.set(location, id);
    return session;
  }

  /** Records the provider session a run revealed, for the next run in the same place. */
  recordProviderSession(location: string, providerSessionId: string): void {
    this.providerSessionId = providerSessionId;
    this.continuations.set(location, providerSessionId);
  }
}

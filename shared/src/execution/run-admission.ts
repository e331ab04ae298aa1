import { AsmError } from "../errors/asm-error.js";

export interface RunAdmissionLimits {
  /** Runs with a live CLI at once (the controller's ASM_MAX_ACTIVE_RUNS, an executor's --max-runs). */
  maxActive: number;
  /** Runs starting at once: spawned or handed on, no event from them yet (ASM_MAX_STARTING_RUNS, --max-starting). */
  maxStarting: number;
  /** Runs that may wait for a slot; past it, at_capacity. */
  maxWaiting: number;
  /** How the refusal names the place and its settings, e.g. "the controller" / "ASM_MAX_ACTIVE_RUNS". */
  labels?: { where: string; active: string; waiting: string };
}

const CONTROLLER_LABELS = { where: "the controller", active: "ASM_MAX_ACTIVE_RUNS", waiting: "ASM_MAX_WAITING_RUNS" };

interface Entry {
  start: () => void;
  phase: "waiting" | "starting" | "active";
}

/**
 * Admission of runs in front of every CLI of a place (the controller, an executor): a run starts
 * when there is a live-CLI slot and a start slot, else it waits in one FIFO, so overload turns
 * into queueing, not into CLIs starved of CPU. A run holds its start slot until its first event,
 * and its live slot until it ends.
 */
export class RunAdmission {
  private readonly entries = new Map<string, Entry>();
  private readonly waiting: string[] = [];
  private activeCount = 0;
  private startingCount = 0;

  constructor(private readonly limits: RunAdmissionLimits) {}

  get active(): number {
    return this.activeCount;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Throws at_capacity when one more run could neither start nor wait. */
  check(reasonCode: "controller_at_capacity" | "executor_at_capacity" = "controller_at_capacity"): void {
    if (this.hasSlot() || this.waiting.length < this.limits.maxWaiting) return;
    const l = this.limits.labels ?? CONTROLLER_LABELS;
    throw new AsmError({
      reasonCode,
      message: `${l.where} is at capacity: ${this.activeCount} runs with a live CLI (${l.active} ${this.limits.maxActive}), ${this.waiting.length} waiting (${l.waiting} ${this.limits.maxWaiting})`,
      details: { active: this.activeCount, waiting: this.waiting.length },
    });
  }

  /** Whether the run is waiting for a slot, and how many wait before it. */
  positionOf(runId: string): number | undefined {
    const i = this.waiting.indexOf(runId);
    return i < 0 ? undefined : i;
  }

  /** Starts the run now if there are slots, else queues it (call `check` first). */
  enter(runId: string, start: () => void): void {
    this.entries.set(runId, { start, phase: "waiting" });
    if (this.waiting.length === 0 && this.hasSlot()) this.begin(runId);
    else this.waiting.push(runId);
  }

  /** The run produced its first event: its start slot goes to the next run. */
  started(runId: string): void {
    const entry = this.entries.get(runId);
    if (entry?.phase !== "starting") return;
    entry.phase = "active";
    this.startingCount -= 1;
    this.next();
  }

  /** The run ended (or left the queue): its slots go to the next runs. */
  left(runId: string): void {
    const entry = this.entries.get(runId);
    if (!entry) return;
    this.entries.delete(runId);
    if (entry.phase === "waiting") {
      this.waiting.splice(this.waiting.indexOf(runId), 1);
      return;
    }
    this.activeCount -= 1;
    if (entry.phase === "starting") this.startingCount -= 1;
    this.next();
  }

  private hasSlot(): boolean {
    return this.activeCount < this.limits.maxActive && this.startingCount < this.limits.maxStarting;
  }

  private begin(runId: string): void {
    const entry = this.entries.get(runId)!;
    entry.phase = "starting";
    this.activeCount += 1;
    this.startingCount += 1;
    entry.start();
  }

  private next(): void {
    while (this.waiting.length > 0 && this.hasSlot()) this.begin(this.waiting.shift()!);
  }
}

import type { Logger } from "../logging/logger.js";
import type { CliOutput, CliProcess } from "../process/index.js";
import type { AdapterRun } from "../providers/provider-adapter.js";

/** A CLI process kept alive between the runs of one session. */
export interface WarmProcess {
  /** What the process was started with (command, args, cwd, env); a run reuses it only if equal. */
  fingerprint: string;
  proc: CliProcess;
  /** The process's one output iterator, read by one run at a time. */
  output: AsyncIterator<CliOutput>;
  adapterRun: AdapterRun;
  providerSessionId: string | undefined;
}

interface IdleEntry {
  warm: WarmProcess;
  timer: NodeJS.Timeout;
}

/**
 * Idle warm processes per session. A run takes one (matching fingerprint, still running) or starts
 * a fresh process; at the end of a clean turn it puts the process back. Idle processes are
 * stopped after their idle timeout, when their session closes, or at shutdown.
 */
export class WarmPool {
  private readonly idle = new Map<string, IdleEntry[]>();

  constructor(
    private readonly logger: Logger,
    private readonly killGraceMs: number,
  ) {}

  take(sessionId: string, fingerprint: string): WarmProcess | undefined {
    const entries = this.idle.get(sessionId) ?? [];
    for (const [i, entry] of entries.entries()) {
      if (entry.warm.fingerprint !== fingerprint || !entry.warm.proc.running) continue;
      entries.splice(i, 1);
      clearTimeout(entry.timer);
      return entry.warm;
    }
    return undefined;
  }

  put(sessionId: string, warm: WarmProcess, idleTimeoutMs: number): void {
    const entries = this.idle.get(sessionId) ?? [];
    const timer = setTimeout(() => {
      this.remove(sessionId, warm);
      void this.retire(warm);
    }, idleTimeoutMs);
    timer.unref();
    entries.push({ warm, timer });
    this.idle.set(sessionId, entries);
    // A warm process that dies while idle leaves the pool (its exit is only seen once drained).
    void warm.proc.exited.then(() => this.remove(sessionId, warm));
  }

  /** Stops every idle process of a session. */
  async releaseSession(sessionId: string): Promise<void> {
    const entries = this.idle.get(sessionId) ?? [];
    this.idle.delete(sessionId);
    await Promise.all(
      entries.map((e) => {
        clearTimeout(e.timer);
        return this.retire(e.warm);
      }),
    );
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.idle.keys()].map((id) => this.releaseSession(id)));
  }

  /** Closes stdin (the CLIs exit on EOF), reads what is left, escalates if the process lingers. */
  async retire(warm: WarmProcess): Promise<void> {
    const drain = drainOutput(warm.output);
    warm.proc.endInput();
    const exited = await Promise.race([warm.proc.exited.then(() => true), delay(this.killGraceMs).then(() => false)]);
    if (!exited) await warm.proc.terminate({ graceMs: this.killGraceMs, firstSignal: "SIGTERM" });
    await drain;
    await warm.proc.exited;
    this.logger.debug({ pid: warm.proc.pid }, "warm process retired");
  }

  private remove(sessionId: string, warm: WarmProcess): void {
    const entries = this.idle.get(sessionId);
    if (!entries) return;
    const i = entries.findIndex((e) => e.warm === warm);
    if (i >= 0) {
      clearTimeout(entries[i]!.timer);
      entries.splice(i, 1);
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Reads an output iterator to its end, discarding what it yields. */
export async function drainOutput(output: AsyncIterator<unknown>): Promise<void> {
  try {
    for (;;) {
      const next = await output.next();
      if (next.done) return;
    }
  } catch {
    // the process is going away either way
  }
}

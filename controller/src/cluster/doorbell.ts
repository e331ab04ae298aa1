import pg from "pg";
import type { Logger } from "@asm/shared";
import { EVENTS_CHANNEL } from "../store/postgres-store.js";

/** The channel of forwarded calls: `c:<command_id>:<target controller>` when sent, `r:<command_id>` when answered. */
export const COMMANDS_CHANNEL = "asm_commands";

/** How a wait for a run's doorbell ended. */
export type Ring = "rung" | "timeout" | "aborted";

/** A wait armed before the read it follows, so a ring between the read and the wait is not missed. */
export interface ArmedWait {
  wait(signal: AbortSignal | undefined, maxMs: number): Promise<Ring>;
  cancel(): void;
}

/**
 * One LISTEN connection for the whole controller: the `asm_events` doorbells (`<run_id>:<seq>`)
 * wake the readers of that run, and `asm_commands` notifications go to the command channel.
 * A doorbell never carries an event: a woken reader reads the events table by sequence. When the
 * connection is lost it reconnects with backoff, and then wakes every reader (a ring may have been
 * missed meanwhile) and tells `onReconnect`.
 */
export class Doorbell {
  private client: pg.Client | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly commandListeners: ((payload: string) => void)[] = [];
  private readonly reconnectListeners: (() => void)[] = [];
  private stopped = false;
  private retryMs = 100;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.client = await this.connect();
  }

  onCommand(listener: (payload: string) => void): void {
    this.commandListeners.push(listener);
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  /** Arms a wait for the next doorbell of `runId` (or of the commands channel, with `runId` "@commands"). */
  arm(runId: string): ArmedWait {
    let wake!: () => void;
    const rung = new Promise<void>((resolve) => (wake = resolve));
    let set = this.waiters.get(runId);
    if (!set) this.waiters.set(runId, (set = new Set()));
    set.add(wake);
    const cancel = (): void => {
      const current = this.waiters.get(runId);
      current?.delete(wake);
      if (current?.size === 0) this.waiters.delete(runId);
    };
    return {
      cancel,
      wait: async (signal, maxMs) => {
        let timer: NodeJS.Timeout | undefined;
        let onAbort: (() => void) | undefined;
        try {
          if (signal?.aborted) return "aborted";
          return await Promise.race([
            rung.then(() => "rung" as const),
            new Promise<Ring>((resolve) => (timer = setTimeout(() => resolve("timeout"), maxMs))),
            new Promise<Ring>((resolve) => {
              onAbort = () => resolve("aborted");
              signal?.addEventListener("abort", onAbort, { once: true });
            }),
          ]);
        } finally {
          clearTimeout(timer);
          if (onAbort) signal?.removeEventListener("abort", onAbort);
          cancel();
        }
      },
    };
  }

  /** Wakes the waiters of `key` (a run id, or "@commands"). */
  wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    this.waiters.delete(key);
    for (const wake of set) wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url });
    client.on("notification", (n) => this.dispatch(n.channel, n.payload ?? ""));
    client.on("error", (err) => {
      this.logger.warn({ err }, "the LISTEN connection to PostgreSQL failed; reconnecting");
      this.lost(client);
    });
    client.on("end", () => this.lost(client));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    await client.query(`LISTEN ${COMMANDS_CHANNEL}`);
    return client;
  }

  private dispatch(channel: string, payload: string): void {
    if (channel === EVENTS_CHANNEL) {
      // Run ids may hold ':'; the sequence after the last one is not needed to wake a reader.
      const i = payload.lastIndexOf(":");
      if (i > 0) this.wake(payload.slice(0, i));
      return;
    }
    if (channel === COMMANDS_CHANNEL) for (const listener of this.commandListeners) listener(payload);
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    const retry = (): void => {
      if (this.stopped) return;
      this.connect().then(
        (next) => {
          if (this.stopped) return void next.end().catch(() => undefined);
          this.client = next;
          this.retryMs = 100;
          this.logger.info("the LISTEN connection to PostgreSQL is back");
          for (const key of [...this.waiters.keys()]) this.wake(key);
          for (const listener of this.reconnectListeners) listener();
        },
        (err: unknown) => {
          this.retryMs = Math.min(5000, this.retryMs * 2);
          this.logger.warn({ err, retryInMs: this.retryMs }, "cannot reconnect the LISTEN connection yet");
          setTimeout(retry, this.retryMs);
        },
      );
    };
    setTimeout(retry, this.retryMs);
  }
}

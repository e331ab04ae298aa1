import type { Executor } from "@asm/shared";

/** One entry of the controller's executor directory (from config). */
export interface ExecutorEntry {
  name: string;
  /** host:port */
  address: string;
  /** Expected certificate name of the executor. */
  serverName: string;
}

/**
 * The executors the controller knows by name, with what their last handshake said. Handshakes are
 * recorded by the remote backend; until an executor has been reached it is listed as not healthy.
 */
export class ExecutorDirectory {
  private readonly entries = new Map<string, Executor>();

  constructor(entries: readonly ExecutorEntry[]) {
    for (const e of entries) {
      this.entries.set(e.name, {
        name: e.name,
        address: e.address,
        serverName: e.serverName,
        healthy: false,
        lastHandshakeAt: undefined,
        asmVersion: "",
        nodeVersion: "",
        capabilities: [],
        providers: [],
        lastError: "",
        details: undefined,
      });
    }
  }

  lookup(name: string): Executor | undefined {
    return this.entries.get(name);
  }

  list(): Executor[] {
    return [...this.entries.values()];
  }
}

import type { ControllerStore, StoredEvent, StoredState } from "./store.js";

/**
 * Keeps nothing: sessions, runs and events live in the controller's memory only and are gone
 * with the process (ASM_STORE=memory). Events are durable as soon as they are appended.
 */
export class MemoryStore implements ControllerStore {
  readonly kind = "memory";
  readonly location = "";
  readonly durable = false;

  async load(): Promise<StoredState> {
    return { sessions: [], runs: [] };
  }

  putSession(): void {}
  putRun(): void {}
  appendEvent(): void {}
  deleteRun(): void {}
  deleteSession(): void {}
  onCommit(): void {}

  async readEvents(): Promise<StoredEvent[]> {
    return [];
  }

  async lastSourceSequence(): Promise<number> {
    return 0;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

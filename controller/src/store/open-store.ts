import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { AsmError, type Logger } from "@asm/shared";
import { MemoryStore } from "./memory-store.js";
import { PostgresStore } from "./postgres-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { ControllerStore } from "./store.js";

export interface StoreSettings {
  /** ASM_STORE: `sqlite` (default), `memory`, or a `postgres://` URL. */
  store: string;
  /** ASM_DATA_DIR; default `$XDG_STATE_HOME/asm`, else `~/.local/state/asm`. */
  dataDir: string | undefined;
  /** ASM_STORE_SYNC. */
  sync: "normal" | "full";
  /** This controller among those sharing a PostgreSQL database (ASM_CONTROLLER_ID). */
  controllerId: string;
}

/** The data directory of the SQLite store when ASM_DATA_DIR is unset. */
export function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const state = env.XDG_STATE_HOME || join(env.HOME || homedir(), ".local", "state");
  return join(state, "asm");
}

/** Opens the store the settings name; throws store_unavailable. */
export async function openStore(settings: StoreSettings, env: NodeJS.ProcessEnv, logger: Logger): Promise<ControllerStore> {
  if (/^postgres(ql)?:\/\//.test(settings.store)) return PostgresStore.open(settings.store, logger, settings.controllerId);
  switch (settings.store) {
    case "memory":
      return new MemoryStore();
    case "sqlite":
      return SqliteStore.open({ dataDir: resolve(settings.dataDir ?? defaultDataDir(env)), logger, sync: settings.sync });
    default:
      throw new AsmError({ reasonCode: "store_unavailable", message: `ASM_STORE "${settings.store}" is not a store this controller has (sqlite, memory, postgres://…)` });
  }
}

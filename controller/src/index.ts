export { startController, type ControllerApp, type StartOptions } from "./app.js";
export { loadControllerConfig, ControllerConfigSchema, type ControllerConfig } from "./config/controller-config.js";
export { Controller } from "./core/controller.js";
export { Run } from "./runs/run.js";
export { StoredRun } from "./runs/stored-run.js";
export type { AnyRun, RecoveryReport } from "./core/controller.js";
export { SqliteStore } from "./store/sqlite/sqlite-store.js";
export { MemoryStore } from "./store/memory-store.js";
export type { ControllerStore, RunRecord, SessionRecord, StoredEvent } from "./store/store.js";

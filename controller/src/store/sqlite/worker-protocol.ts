import type { PackedBatch } from "./packed-ops.js";

/** What the worker is started with (workerData). */
export interface WorkerStart {
  dataDir: string;
  sync: "normal" | "full";
}

/** A request to the worker; `id` > 0 and unique among those in flight. */
export type WorkerRequest =
  | { id: number; call: "commit"; batch: PackedBatch }
  | { id: number; call: "readEvents"; runId: string; after: number; max: number }
  | { id: number; call: "lastSourceSequence"; runId: string }
  | { id: number; call: "load" }
  | { id: number; call: "close" };

/**
 * The worker's one reply to a request, by id. Id 0 is its first message: the database is open
 * (`value` is its path) or could not be opened (`error`).
 */
export type WorkerReply = { id: number; value: unknown } | { id: number; error: { message: string; code: string } };

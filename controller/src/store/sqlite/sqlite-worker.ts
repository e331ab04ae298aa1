/**
 * The SQLite store's worker thread: it owns the database connection, so no commit, checkpoint or
 * retention delete ever blocks the controller's event loop. Requests are taken in the order they
 * were posted (a read sees every commit posted before it); each gets one reply with its id.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SqliteDatabase } from "./sqlite-database.js";
import { transferOf, type PackedBatch } from "./packed-ops.js";
import type { WorkerReply, WorkerRequest, WorkerStart } from "./worker-protocol.js";

const port = parentPort!;
const start = workerData as WorkerStart;

const failure = (err: unknown): { message: string; code: string } => {
  const e = err as { code?: unknown; message?: unknown };
  return { message: typeof e?.message === "string" ? e.message : String(err), code: typeof e?.code === "string" ? e.code : "" };
};

let db: SqliteDatabase | undefined;
try {
  db = new SqliteDatabase(start.dataDir, start.sync);
  port.postMessage({ id: 0, value: db.location } satisfies WorkerReply);
} catch (err) {
  port.postMessage({ id: 0, error: failure(err) } satisfies WorkerReply);
}

port.on("message", (request: WorkerRequest) => {
  if (!db) return;
  try {
    switch (request.call) {
      case "commit":
        db.commit(request.batch as PackedBatch);
        port.postMessage({ id: request.id, value: null } satisfies WorkerReply);
        return;
      case "readEvents": {
        const events = db.readEvents(request.runId, request.after, request.max);
        port.postMessage({ id: request.id, value: events } satisfies WorkerReply, transferOf(events));
        return;
      }
      case "lastSourceSequence":
        port.postMessage({ id: request.id, value: db.lastSourceSequence(request.runId) } satisfies WorkerReply);
        return;
      case "load":
        port.postMessage({ id: request.id, value: db.load() } satisfies WorkerReply);
        return;
      case "close":
        db.close();
        db = undefined;
        port.postMessage({ id: request.id, value: null } satisfies WorkerReply);
        port.close();
        return;
    }
  } catch (err) {
    port.postMessage({ id: request.id, error: failure(err) } satisfies WorkerReply);
  }
});

import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { AsmError, Result, type Logger } from "@asm/shared";
import type { StoreOp } from "../group-commit.js";
import { QueuedStore } from "../queued-store.js";
import type { RunRecord, SessionRecord, StoredEvent, StoredState } from "../store.js";
import { packEvents, transferOf, unpackEvents, type EventRow, type PackedBatch, type PackedEvents } from "./packed-ops.js";
import type { StoredRows } from "./sqlite-database.js";
import type { WorkerReply, WorkerRequest, WorkerStart } from "./worker-protocol.js";

export interface SqliteStoreOptions {
  /** The data directory (ASM_DATA_DIR); created 0700 when missing. */
  dataDir: string;
  logger: Logger;
  /**
   * `normal` (default): a commit is written to the WAL and survives a crash of the controller
   * (SIGKILL, OOM); an OS crash or power loss may lose the last commits. `full`: each commit is
   * also fsynced, surviving power loss, at a cost per commit.
   */
  sync: "normal" | "full";
}

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
/** A request as the store writes it; `request()` gives it its id. */
type Request = WithoutId<WorkerRequest>;

/**
 * The embedded store of one controller: one SQLite file (`asm.db`) in WAL mode in the data
 * directory, opened exclusively (a second controller on the same directory is refused). The
 * connection lives on a worker thread (sqlite-worker.ts): a turn's writes are packed and posted
 * as one transaction, and the event loop goes on streaming while the worker writes, checkpoints
 * and deletes what retention dropped. Reads go through the same worker, after the commits posted
 * before them.
 */
export class SqliteStore extends QueuedStore {
  readonly kind = "sqlite";
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: AsmError) => void }>();
  private nextId = 1;
  /** Set once the worker is gone: every request after it fails with this. */
  private gone: AsmError | undefined;

  private constructor(
    readonly location: string,
    private readonly worker: Worker,
    logger: Logger,
  ) {
    super(logger);
    worker.on("message", (reply: WorkerReply) => this.settle(reply));
    worker.on("error", (err) => this.lost(err));
    worker.on("exit", (code) => this.lost(new Error(`the store's worker thread exited (code ${code})`)));
    worker.unref();
  }

  /** Opens (creating when missing) the store in `dataDir`; throws store_unavailable. */
  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    const location = join(opts.dataDir, "asm.db");
    const worker = startWorker({ dataDir: opts.dataDir, sync: opts.sync });
    const opened = await new Promise<WorkerReply>((resolve) => {
      const onError = (err: Error): void => resolve({ id: 0, error: { message: err.message, code: "" } });
      const onExit = (code: number): void => resolve({ id: 0, error: { message: `its worker thread exited (code ${code})`, code: "" } });
      worker.once("message", (reply: WorkerReply) => {
        worker.off("error", onError).off("exit", onExit);
        resolve(reply);
      });
      worker.once("error", onError).once("exit", onExit);
    });
    if ("error" in opened) {
      await worker.terminate();
      throw storeUnavailable(location, "cannot open", opened.error);
    }
    return new SqliteStore(location, worker, opts.logger);
  }

  protected async commit(ops: readonly StoreOp[]): Promise<void> {
    const { batch, transfer } = packBatch(ops);
    await this.request({ call: "commit", batch }, transfer);
  }

  protected isRefusal(err: unknown): boolean {
    return err instanceof AsmError && String(err.details?.code ?? "").startsWith("SQLITE_CONSTRAINT");
  }

  async load(): Promise<StoredState> {
    const rows = (await this.request({ call: "load" })) as StoredRows;
    const sessions = rows.sessions.map((r) => JSON.parse(r) as SessionRecord);
    const runs = rows.runs.map((r) => {
      const record = JSON.parse(r.record) as RunRecord;
      record.result = r.result ? Result.decode(r.result) : undefined;
      return record;
    });
    return { sessions, runs };
  }

  async readEvents(runId: string, after: number, max: number): Promise<StoredEvent[]> {
    const events = (await this.request({ call: "readEvents", runId, after, max })) as PackedEvents;
    return unpackEvents(events);
  }

  async lastSourceSequence(runId: string): Promise<number> {
    return (await this.request({ call: "lastSourceSequence", runId })) as number;
  }

  protected async release(): Promise<void> {
    if (!this.gone) await this.request({ call: "close" });
    this.gone ??= new AsmError({ reasonCode: "store_unavailable", message: `the store ${this.location} is closed` });
    await this.worker.terminate();
  }

  private request(request: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    // The worker keeps the process alive only while it has work: a pending commit is never cut short by an exit.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...request, id } as WorkerRequest, transfer);
      } catch (err) {
        // Something that cannot be posted (a defect): this request fails, the store goes on.
        this.settle({ id, error: { message: err instanceof Error ? err.message : String(err), code: "" } });
      }
    });
  }

  private settle(reply: WorkerReply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if ("error" in reply) waiter.reject(storeUnavailable(this.location, "failed on", reply.error));
    else waiter.resolve(reply.value);
  }

  /** The worker stopped: whatever waits on it fails, and so does everything after. */
  private lost(err: Error): void {
    if (this.gone) return;
    this.gone = new AsmError({ reasonCode: "store_unavailable", message: `the store ${this.location} is unavailable: ${err.message}` });
    for (const waiter of this.pending.values()) waiter.reject(this.gone);
    this.pending.clear();
  }
}

/** A turn's ops as one packed batch: records serialized here, events copied into one buffer. */
function packBatch(ops: readonly StoreOp[]): { batch: PackedBatch; transfer: ArrayBuffer[] } {
  const rows: EventRow[] = [];
  const out: PackedBatch["ops"] = [];
  for (const op of ops) {
    if (op.op === "event") {
      const last = out.at(-1);
      if (last?.op === "events") last.count += 1;
      else out.push({ op: "events", count: 1 });
      rows.push({ runId: op.runId, sequence: op.event.sequence, sourceSequence: op.event.sourceSequence, body: op.event.body });
      continue;
    }
    switch (op.op) {
      case "run": {
        const { result, ...rest } = op.record;
        out.push({ op: "run", runId: rest.runId, sessionId: rest.sessionId, record: JSON.stringify(rest), result: result ? Result.encode(result).finish() : null });
        break;
      }
      case "session":
        out.push({ op: "session", sessionId: op.record.sessionId, ordinal: op.record.ordinal, record: JSON.stringify(op.record) });
        break;
      default:
        out.push(op);
    }
  }
  const events = packEvents(rows);
  return { batch: { ops: out, events }, transfer: transferOf(events) };
}

/**
 * The worker, from the compiled sqlite-worker.js; from TypeScript sources (tests, tsx) the worker
 * loads its module through tsx as well.
 */
function startWorker(start: WorkerStart): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./sqlite-worker.js", here), { workerData: start });
  const entry = new URL("./sqlite-worker.ts", here).href;
  return new Worker(`import("tsx/esm/api").then((api) => api.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(here)}))`, { eval: true, workerData: start });
}

/** `what`: "cannot open" (at the start) or "failed on" (a later request). */
function storeUnavailable(location: string, what: string, err: { message: string; code: string }): AsmError {
  const why = err.code === "SQLITE_BUSY" ? "it is in use by another controller (one controller per data directory; use PostgreSQL for several)" : err.message;
  return new AsmError({ reasonCode: "store_unavailable", message: `${what} the store ${location}: ${why}`, details: { location, code: err.code } });
}

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { AsmError, RunStatus, kindOf, payload, silentLogger, type Event, type EventPayload } from "@asm/shared";
import { RunEventLog } from "../../controller/src/runs/run-event-log.js";
import { GroupCommit, type StoreOp } from "../../controller/src/store/group-commit.js";
import { SqliteStore } from "../../controller/src/store/sqlite/sqlite-store.js";
import { KeptSourceTracker } from "../../controller/src/runs/kept-source.js";
import type { RunRecord, SessionRecord } from "../../controller/src/store/store.js";

function ev(sequence: number, p: EventPayload = payload("assistantDelta", { content: `d${sequence}`, index: 0 })): Event {
  return { id: `evt_${sequence}`, runId: "run_1", sessionId: "ses_1", sequence, timestamp: new Date(1_700_000_000_000 + sequence), provider: "claude", kind: kindOf(p), providerSessionId: "", metadata: undefined, payload: p };
}
const terminal = (sequence: number): Event => ev(sequence, payload("runCompleted", { status: RunStatus.RUN_STATUS_COMPLETED }));

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

function deferredLog(uncommittedWindow?: number, primaryWindow = 1000): RunEventLog {
  return new RunEventLog({ maxEvents: 1000, primaryWindow, run: { runId: "run_1", sessionId: "ses_1", provider: "claude", metadata: undefined }, deferredDurability: true, uncommittedWindow });
}

describe("the event log with a durable store: readers get only committed events", () => {
  it("a reader is handed events only once the store committed them, and ends only at a committed terminal event", async () => {
    const log = deferredLog();
    const seen: number[] = [];
    let ended = false;
    void (async () => {
      for await (const batch of log.readBatches(0, { maxEvents: 10 })) seen.push(...log.decode(batch).map((e) => e.sequence));
      ended = true;
    })();
    log.append(ev(1));
    log.append(ev(2));
    log.append(terminal(3));
    await settle();
    expect(seen).toEqual([]);
    expect(log.durableSequence).toBe(0);
    expect(log.ended).toBe(false);
    log.markDurable(2);
    await settle();
    expect(seen).toEqual([1, 2]);
    expect(ended).toBe(false);
    const durable = log.whenDurable(3);
    log.markDurable(3);
    await durable;
    await settle();
    expect(seen).toEqual([1, 2, 3]);
    expect(ended).toBe(true);
    expect(log.ended).toBe(true);
  });

  it("the producer waits while the store is a whole window behind, and goes on when it commits", async () => {
    const log = deferredLog(4);
    for (let i = 1; i <= 4; i++) log.append(ev(i));
    expect(log.hasReaderRoom).toBe(false);
    let room = false;
    void log.waitForRoom().then(() => (room = true));
    await settle();
    expect(room).toBe(false);
    log.markDurable(2);
    await settle();
    expect(room).toBe(true);
  });
});

describe("backpressure with a durable store: the StreamRun reader is behind only on what it could read", () => {
  it("events waiting for their commit do not count against the reader's window; once committed and unread, they do", async () => {
    const log = deferredLog(64, 4);
    const seen: number[] = [];
    const reader = log.readBatches(0, { maxEvents: 100, primary: true })[Symbol.asyncIterator]();
    const pull = async (): Promise<void> => {
      const next = await reader.next();
      if (!next.done) seen.push(...log.decode(next.value).map((e) => e.sequence));
    };
    // Twice the reader's window appended while a commit is in flight: the producer goes on.
    const pending = pull();
    for (let i = 1; i <= 8; i++) log.append(ev(i));
    expect(log.hasReaderRoom).toBe(true);
    log.markDurable(8);
    await pending;
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(log.hasReaderRoom).toBe(true);
    // Committed and not read: now the reader is a window behind and the producer waits for it.
    for (let i = 9; i <= 12; i++) log.append(ev(i));
    log.markDurable(12);
    expect(log.hasReaderRoom).toBe(false);
    let room = false;
    void log.waitForRoom().then(() => (room = true));
    await settle();
    expect(room).toBe(false);
    await pull();
    await settle();
    expect(room).toBe(true);
    await reader.return?.(undefined);
  });
});

describe("group commit", () => {
  it("what one turn of the event loop queues is one transaction, reported once", async () => {
    const commits: StoreOp[][] = [];
    const reports: Map<string, number>[] = [];
    const writer = new GroupCommit({ commit: (ops) => void commits.push([...ops]), logger: silentLogger() });
    writer.onCommit((m) => reports.push(new Map(m)));
    for (let i = 1; i <= 500; i++) writer.add({ op: "event", runId: i % 2 ? "a" : "b", event: { sequence: Math.ceil(i / 2), body: new Uint8Array([i & 255]), sourceSequence: 0 } });
    await writer.flush();
    expect(commits.map((c) => c.length)).toEqual([500]);
    expect(reports).toEqual([new Map([["a", 250], ["b", 250]])]);
  });

  it("a failed commit is retried with its ops in order, and nothing after it is reported before it", async () => {
    let failures = 2;
    const committed: number[] = [];
    const writer = new GroupCommit({
      commit: (ops) => {
        if (failures-- > 0) throw new Error("disk full");
        for (const op of ops) if (op.op === "event") committed.push(op.event.sequence);
      },
      logger: silentLogger(),
      retryMs: 1,
    });
    const reported: number[] = [];
    writer.onCommit((m) => reported.push(m.get("r")!));
    writer.add({ op: "event", runId: "r", event: { sequence: 1, body: new Uint8Array(), sourceSequence: 0 } });
    await tick();
    writer.add({ op: "event", runId: "r", event: { sequence: 2, body: new Uint8Array(), sourceSequence: 0 } });
    await writer.flush();
    expect(committed).toEqual([1, 2]);
    expect(reported).toEqual([2]);
  });
});

function sessionRecord(id: string, ordinal: number): SessionRecord {
  return { sessionId: id, owner: "alice", provider: "claude", options: { defaults: { env: { TOKEN: "x" } } }, maxConcurrentRuns: 1, maxQueuedRuns: 2, ordinal, state: "open", createdAt: 1, closedAt: undefined, providerSessionId: "p1", runCount: 3, continuations: { local: "p1" } };
}

describe("the SQLite store on a real file", () => {
  const open = (dataDir: string): Promise<SqliteStore> => SqliteStore.open({ dataDir, logger: silentLogger(), sync: "normal" });

  it("keeps sessions, runs (with their result) and events across a reopen, and reads events by sequence", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-store-"));
    const store = await open(dir);
    store.putSession(sessionRecord("s1", 1));
    const run = { runId: "r1", sessionId: "s1", owner: "alice", provider: "claude", phase: "ended", lastSequence: 3, bytes: 30, result: { runId: "r1", sessionId: "s1", status: RunStatus.RUN_STATUS_COMPLETED, text: "hi", object: undefined, cost: undefined, error: undefined, durationMs: 5, stopReason: "", providerSessionId: "p1", metadata: undefined, lastSequence: 3, truncated: false } } as unknown as RunRecord;
    store.putRun(run);
    for (let s = 1; s <= 3; s++) store.appendEvent("r1", { sequence: s, body: new Uint8Array([s, s]), sourceSequence: s * 10 });
    await store.close();

    const again = await open(dir);
    const state = await again.load();
    expect(state.sessions).toEqual([sessionRecord("s1", 1)]);
    expect(state.runs).toHaveLength(1);
    expect(state.runs[0]!.result!.text).toBe("hi");
    expect((await again.readEvents("r1", 1, 10)).map((e) => [e.sequence, [...e.body], e.sourceSequence])).toEqual([[2, [2, 2], 20], [3, [3, 3], 30]]);
    expect(await again.lastSourceSequence("r1")).toBe(30);
    again.deleteRun("r1");
    await again.flush();
    expect(await again.readEvents("r1", 0, 10)).toEqual([]);
    expect((await again.load()).runs).toEqual([]);
    await again.close();
  });

  it("one turn's writes keep their order through the worker: a run deleted between its events keeps only what came after", async () => {
    const store = await open(mkdtempSync(join(tmpdir(), "asm-store-")));
    const body = (n: number): Uint8Array => new Uint8Array(300).fill(n).subarray(n, n + 3);
    for (let s = 1; s <= 300; s++) store.appendEvent("r1", { sequence: s, body: body(s % 200), sourceSequence: s });
    store.deleteRun("r1");
    store.appendEvent("r1", { sequence: 1, body: body(7), sourceSequence: 0 });
    store.appendEvent("r2", { sequence: 1, body: body(8), sourceSequence: 5 });
    await store.flush();
    expect((await store.readEvents("r1", 0, 10)).map((e) => [e.sequence, [...e.body]])).toEqual([[1, [7, 7, 7]]]);
    expect((await store.readEvents("r2", 0, 10)).map((e) => [e.sequence, [...e.body], e.sourceSequence])).toEqual([[1, [8, 8, 8], 5]]);
    await store.close();
    await expect(store.readEvents("r1", 0, 10)).rejects.toMatchObject({ reasonCode: "store_unavailable" });
  });

  it("a write the database refuses for good (a duplicate event, a defect) is dropped alone: the writes around it are kept and later commits go on", async () => {
    const store = await open(mkdtempSync(join(tmpdir(), "asm-store-")));
    store.appendEvent("r1", { sequence: 1, body: new Uint8Array([1]), sourceSequence: 0 });
    await store.flush();
    // One turn: an event, the duplicate of sequence 1, another event, and another run's event.
    store.appendEvent("r1", { sequence: 2, body: new Uint8Array([2]), sourceSequence: 0 });
    store.appendEvent("r1", { sequence: 1, body: new Uint8Array([99]), sourceSequence: 0 });
    store.appendEvent("r1", { sequence: 3, body: new Uint8Array([3]), sourceSequence: 0 });
    store.appendEvent("r2", { sequence: 1, body: new Uint8Array([4]), sourceSequence: 0 });
    await store.flush();
    store.appendEvent("r2", { sequence: 2, body: new Uint8Array([5]), sourceSequence: 0 });
    await store.flush();
    expect((await store.readEvents("r1", 0, 10)).map((e) => [e.sequence, [...e.body]])).toEqual([[1, [1]], [2, [2]], [3, [3]]]);
    expect((await store.readEvents("r2", 0, 10)).map((e) => [e.sequence, [...e.body]])).toEqual([[1, [4]], [2, [5]]]);
    await store.close();
  });

  it("a second controller on the same data directory is refused while the first holds it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-store-"));
    const first = await open(dir);
    first.putSession(sessionRecord("s1", 1));
    await first.flush();
    let error: unknown;
    try {
      await open(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AsmError);
    expect((error as AsmError).reasonCode).toBe("store_unavailable");
    expect((error as AsmError).message).toContain("in use by another controller");
    await first.close();
    await (await open(dir)).close();
  });

  it("a store written by a newer asm is refused, not rewritten", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-store-"));
    const db = new Database(join(dir, "asm.db"));
    db.exec("CREATE TABLE asm_schema (version INTEGER NOT NULL); INSERT INTO asm_schema VALUES (99);");
    db.close();
    await expect(open(dir)).rejects.toThrow(/schema is version 99, newer than this asm knows/);
  });

  it("a data directory that cannot be made is store_unavailable, naming the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-store-"));
    writeFileSync(join(dir, "a-file"), "");
    // Under a regular file nobody can make a directory, root included.
    await expect(open(join(dir, "a-file", "data"))).rejects.toThrow(/cannot open the store .*a-file\/data\/asm\.db/);
  });
});

describe("what a remote run acknowledges: the executor's sequences it has kept", () => {
  it("with a deferred store, a source sequence is kept once the event made from it is committed; skipped ones once what came before is", () => {
    const kept = new KeptSourceTracker(true, 10);
    const seen: number[] = [];
    kept.onAdvance(() => seen.push(kept.sequence));
    kept.appended(1, 11);
    kept.appended(2, 12);
    // Two pieces of one source event.
    kept.appended(3, 13);
    kept.appended(4, 13);
    kept.skipped(14, 4, 0);
    expect(kept.sequence).toBe(10);
    kept.committed(3);
    expect(kept.sequence).toBe(13);
    kept.committed(4);
    expect(kept.sequence).toBe(14);
    expect(seen).toEqual([13, 14]);
  });

  it("with an in-memory store, kept at once", () => {
    const kept = new KeptSourceTracker(false);
    kept.appended(1, 5);
    expect(kept.sequence).toBe(5);
    kept.skipped(6, 1, 1);
    expect(kept.sequence).toBe(6);
  });
});

import { setImmediate as tick } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { AsmError, RunStatus, kindOf, payload, type Event, type EventPayload } from "@asm/shared";
import { RunEventLog } from "../../controller/src/runs/run-event-log.js";

function ev(sequence: number, p: EventPayload = payload("assistantDelta", { content: `d${sequence}`, index: 0 })): Event {
  return {
    id: `evt_${sequence}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence,
    timestamp: new Date(1_700_000_000_000 + sequence),
    provider: "claude",
    kind: kindOf(p),
    providerSessionId: "",
    metadata: undefined,
    payload: p,
  };
}

const terminal = (sequence: number): Event => ev(sequence, payload("runCompleted", { status: RunStatus.RUN_STATUS_COMPLETED }));

function newLog(opts: { maxEvents?: number; primaryWindow?: number } = {}): RunEventLog {
  return new RunEventLog({ maxEvents: opts.maxEvents ?? 1000, primaryWindow: opts.primaryWindow ?? 1000, run: { runId: "run_1", sessionId: "ses_1", provider: "claude", metadata: undefined } });
}

/** One event at a time, as an unbatched StreamRun reads the log (readBatches, one per batch), decoded. */
async function* read(log: RunEventLog, after: number, opts: { signal?: AbortSignal; primary?: boolean } = {}): AsyncGenerator<Event> {
  for await (const batch of log.readBatches(after, { ...opts, maxEvents: 1 })) yield log.decode(batch)[0]!;
}

/** readBatches, decoded. */
async function* batchesOf(log: RunEventLog, after: number, opts: { signal?: AbortSignal; primary?: boolean; maxEvents: number }): AsyncGenerator<Event[], void> {
  for await (const batch of log.readBatches(after, opts)) yield log.decode(batch);
}

/** Appends events numbered from lastSequence + 1. */
function appendN(log: RunEventLog, n: number): void {
  for (let i = 0; i < n; i++) log.append(ev(log.lastSequence + 1));
}

/** Drains a reader into `into` (visible while it runs); resolves when the reader ends. */
async function drain(reader: AsyncIterable<Event>, into: number[] = []): Promise<number[]> {
  for await (const e of reader) into.push(e.sequence);
  return into;
}

/** Lets pending promise continuations and generator steps run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

/** Tracks whether a promise has settled. */
function track(p: Promise<unknown>): { done: boolean } {
  const state = { done: false };
  void p.then(() => {
    state.done = true;
  });
  return state;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("RunEventLog: append", () => {
  it("rejects a sequence gap", () => {
    const log = newLog();
    log.append(ev(1));
    let err: unknown;
    try {
      log.append(ev(3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AsmError);
    expect((err as AsmError).kind).toBe("internal");
    expect(log.lastSequence).toBe(1);
    expect(() => log.append(ev(1))).toThrow(AsmError);
    expect(() => log.append(ev(0))).toThrow(AsmError);
    log.append(ev(2));
    expect(log.lastSequence).toBe(2);
  });

  it("the first event must be sequence 1", () => {
    expect(() => newLog().append(ev(2))).toThrow(/sequence gap/);
  });

  it("a terminal event ends the log; nothing may follow", () => {
    const log = newLog();
    appendN(log, 2);
    expect(log.ended).toBe(false);
    log.append(terminal(3));
    expect(log.ended).toBe(true);
    expect(() => log.append(ev(4))).toThrow(AsmError);
    expect(() => log.append(terminal(4))).toThrow(AsmError);
    expect(log.lastSequence).toBe(3);
    expect(log.size).toBe(3);
  });

  it.each([
    ["result", payload("result", { status: "success", stopReason: "end_turn", text: "", object: undefined, output: {} })],
    ["error", payload("error", { error: AsmError.cancelled().toMessage() })],
    ["runCompleted", payload("runCompleted", { status: RunStatus.RUN_STATUS_FAILED })],
  ])("%s is terminal", (_name, p) => {
    const log = newLog();
    log.append(ev(1, p));
    expect(log.ended).toBe(true);
  });

  it("hasRoom leaves space for the terminal event", () => {
    const log = newLog({ maxEvents: 3 });
    expect(log.hasRoom()).toBe(true);
    appendN(log, 1);
    expect(log.hasRoom()).toBe(true);
    appendN(log, 1);
    expect(log.hasRoom()).toBe(false);
    log.append(terminal(3));
    expect(log.lastSequence).toBe(3);
  });

  it("snapshot returns the events after a sequence without waiting", () => {
    const log = newLog();
    appendN(log, 4);
    expect(log.snapshot().map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(log.snapshot(2).map((e) => e.sequence)).toEqual([3, 4]);
    expect(log.snapshot(4)).toEqual([]);
    expect(log.snapshot(-5).map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
  });
});

describe("RunEventLog: readers", () => {
  it("a reader replays what is there, then follows live until the terminal event", async () => {
    const log = newLog();
    appendN(log, 2);
    const seen: number[] = [];
    const done = drain(read(log, 0), seen);
    await settle();
    expect(seen).toEqual([1, 2]);
    appendN(log, 1);
    await settle();
    expect(seen).toEqual([1, 2, 3]);
    log.append(terminal(4));
    expect(await done).toEqual([1, 2, 3, 4]);
  });

  it("yields what was appended: each event encoded once, decoding to the same event with the log's run fields", async () => {
    const log = newLog();
    const first = ev(1);
    log.append(first);
    log.append(terminal(2));
    const got: Event[] = [];
    for await (const e of read(log, 0)) got.push(e);
    expect(got[0]).toEqual(first);
    expect(got.map((e) => e.payload?.$case)).toEqual(["assistantDelta", "runCompleted"]);
  });

  it("many concurrent readers see the same sequence", async () => {
    const log = newLog();
    appendN(log, 3);
    const readers = Array.from({ length: 8 }, () => drain(read(log, 0)));
    for (let i = 0; i < 20; i++) {
      appendN(log, 1 + (i % 3));
      if (i % 2 === 0) await tick();
    }
    const last = log.lastSequence + 1;
    log.append(terminal(last));
    const results = await Promise.all(readers);
    for (const r of results) expect(r).toEqual(range(1, last));
  });

  it("a reader from the middle starts after the given sequence", async () => {
    const log = newLog();
    appendN(log, 5);
    const done = drain(read(log, 3));
    appendN(log, 1);
    log.append(terminal(7));
    expect(await done).toEqual([4, 5, 6, 7]);
  });

  it("a reader after the end of a finished log gets nothing", async () => {
    const log = newLog();
    appendN(log, 2);
    log.append(terminal(3));
    expect(await drain(read(log, 3))).toEqual([]);
    expect(await drain(read(log, 100))).toEqual([]);
    expect(await drain(read(log, Number.MAX_SAFE_INTEGER + 10))).toEqual([]);
  });

  it("a negative start replays from the beginning", async () => {
    const log = newLog();
    appendN(log, 1);
    log.append(terminal(2));
    expect(await drain(read(log, -3))).toEqual([1, 2]);
  });

  it("an abort signal ends a waiting reader", async () => {
    const log = newLog();
    appendN(log, 1);
    const ac = new AbortController();
    const done = drain(read(log, 0, { signal: ac.signal }));
    await settle();
    ac.abort();
    expect(await done).toEqual([1]);
    expect(log.ended).toBe(false);
  });
});

describe("RunEventLog: primary reader backpressure", () => {
  it("without a primary reader there is always room", async () => {
    const log = newLog({ primaryWindow: 1 });
    appendN(log, 10);
    const wait = track(log.waitForRoom());
    await settle();
    expect(wait.done).toBe(true);
  });

  it("waitForRoom waits while the primary reader is a window behind, until it advances", async () => {
    const log = newLog({ primaryWindow: 2 });
    const reader = read(log, 0, { primary: true });
    appendN(log, 1);
    expect((await reader.next()).value?.sequence).toBe(1);

    appendN(log, 1); // 1 unread
    const roomy = track(log.waitForRoom());
    await settle();
    expect(roomy.done).toBe(true);

    appendN(log, 1); // 2 unread: window full
    const blocked = track(log.waitForRoom());
    await settle();
    expect(blocked.done).toBe(false);

    expect((await reader.next()).value?.sequence).toBe(2);
    await settle();
    expect(blocked.done).toBe(true);

    await reader.return(undefined);
  });

  it("a secondary reader does not throttle the producer", async () => {
    const log = newLog({ primaryWindow: 1 });
    const reader = read(log, 0);
    appendN(log, 1);
    await reader.next();
    appendN(log, 5);
    const wait = track(log.waitForRoom());
    await settle();
    expect(wait.done).toBe(true);
    await reader.return(undefined);
  });

  it("an abort signal releases a waiting producer", async () => {
    const log = newLog({ primaryWindow: 1 });
    const reader = read(log, 0, { primary: true });
    appendN(log, 1);
    await reader.next();
    appendN(log, 1);
    const ac = new AbortController();
    const blocked = track(log.waitForRoom(ac.signal));
    await settle();
    expect(blocked.done).toBe(false);
    ac.abort();
    await settle();
    expect(blocked.done).toBe(true);

    // An already aborted signal does not wait at all.
    const again = track(log.waitForRoom(ac.signal));
    await settle();
    expect(again.done).toBe(true);
    await reader.return(undefined);
  });

  it("releasePrimary releases a waiting producer and stops throttling", async () => {
    const log = newLog({ primaryWindow: 1 });
    const reader = read(log, 0, { primary: true });
    appendN(log, 1);
    await reader.next();
    appendN(log, 1);
    const blocked = track(log.waitForRoom());
    await settle();
    expect(blocked.done).toBe(false);
    log.releasePrimary();
    await settle();
    expect(blocked.done).toBe(true);
    appendN(log, 5);
    const later = track(log.waitForRoom());
    await settle();
    expect(later.done).toBe(true);
    await reader.return(undefined);
  });

  it("the primary reader going away releases a waiting producer", async () => {
    const log = newLog({ primaryWindow: 1 });
    const reader = read(log, 0, { primary: true });
    appendN(log, 1);
    await reader.next();
    appendN(log, 1);
    const blocked = track(log.waitForRoom());
    await settle();
    expect(blocked.done).toBe(false);
    await reader.return(undefined);
    await settle();
    expect(blocked.done).toBe(true);
  });

  it("producer and slow primary reader stay in lockstep and nothing is lost", async () => {
    const log = newLog({ primaryWindow: 3 });
    let maxAhead = 0;
    let consumed = 0;
    const consumer = (async () => {
      const seen: number[] = [];
      for await (const e of read(log, 0, { primary: true })) {
        seen.push(e.sequence);
        consumed = e.sequence;
        await tick();
      }
      return seen;
    })();
    for (let s = 1; s <= 30; s++) {
      await log.waitForRoom();
      maxAhead = Math.max(maxAhead, log.lastSequence - consumed);
      log.append(s === 30 ? terminal(s) : ev(s));
    }
    expect(await consumer).toEqual(range(1, 30));
    expect(maxAhead).toBeLessThanOrEqual(3);
  });
});

describe("RunEventLog: batched readers", () => {
  const seqsOf = (batches: Event[][]): number[][] => batches.map((b) => b.map((e) => e.sequence));
  const batchSeqs = (r: IteratorResult<Event[], void>): number[] | undefined => (r.done ? undefined : r.value.map((e) => e.sequence));

  it("a reader that is behind gets what is waiting, at most maxEvents at a time, in order", async () => {
    const log = newLog();
    appendN(log, 9);
    log.append(terminal(10));
    const batches: Event[][] = [];
    for await (const b of batchesOf(log, 0, { maxEvents: 4 })) batches.push(b);
    expect(seqsOf(batches)).toEqual([range(1, 4), range(5, 8), [9, 10]]);
  });

  it("a reader that keeps up gets each event as it comes, without waiting for a batch to fill", async () => {
    const log = newLog();
    const reader = batchesOf(log, 0, { maxEvents: 100 });
    const first = reader.next();
    appendN(log, 1);
    expect(batchSeqs(await first)).toEqual([1]);
    appendN(log, 2);
    expect(batchSeqs(await reader.next())).toEqual([2, 3]);
    log.append(terminal(4));
    expect(batchSeqs(await reader.next())).toEqual([4]);
    expect((await reader.next()).done).toBe(true);
  });

  it("replays after a sequence, and a maxEvents below 1 means one at a time", async () => {
    const log = newLog();
    appendN(log, 5);
    log.append(terminal(6));
    const batches: Event[][] = [];
    for await (const b of batchesOf(log, 2, { maxEvents: 0 })) batches.push(b);
    expect(seqsOf(batches)).toEqual([[3], [4], [5], [6]]);
  });

  it("a batched primary reader throttles the producer by what it has taken", async () => {
    const log = newLog({ primaryWindow: 4 });
    const reader = batchesOf(log, 0, { primary: true, maxEvents: 3 });
    appendN(log, 1);
    expect(batchSeqs(await reader.next())).toEqual([1]);
    appendN(log, 4); // 4 not taken: window full
    const blocked = track(log.waitForRoom());
    await settle();
    expect(blocked.done).toBe(false);
    expect(batchSeqs(await reader.next())).toEqual([2, 3, 4]);
    await settle();
    expect(blocked.done).toBe(true);
    await reader.return(undefined);
  });

  it("producer and slow batched primary reader: nothing lost, the producer at most a window ahead", async () => {
    const log = newLog({ primaryWindow: 5 });
    let maxAhead = 0;
    let consumed = 0;
    const consumer = (async () => {
      const seen: number[] = [];
      for await (const batch of batchesOf(log, 0, { primary: true, maxEvents: 3 })) {
        expect(batch.length).toBeGreaterThan(0);
        expect(batch.length).toBeLessThanOrEqual(3);
        for (const e of batch) seen.push(e.sequence);
        consumed = batch.at(-1)!.sequence;
        await tick();
      }
      return seen;
    })();
    for (let s = 1; s <= 50; s++) {
      await log.waitForRoom();
      maxAhead = Math.max(maxAhead, log.lastSequence - consumed);
      log.append(s === 50 ? terminal(s) : ev(s));
    }
    expect(await consumer).toEqual(range(1, 50));
    expect(maxAhead).toBeLessThanOrEqual(5 + 3);
  });
});

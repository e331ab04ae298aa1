import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Event } from "@asm/shared";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createFakeSession } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

const watch = (runId: string, afterSequence: number) => collectEvents(t.client.watchRun({ runId, afterSequence, maxBatchEvents: 0 }));
const seqs = (events: Event[]) => events.map((e) => e.sequence);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe("WatchRun", () => {
  it("replays from 0, from the middle and after the end of a finished run", async () => {
    const sessionId = await createFakeSession(t);
    const streamed = await collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:flood]] [[n:50]]", runId: "watch-done", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    const last = streamed.at(-1)!.sequence;
    expect(seqs(streamed)).toEqual(range(1, last));

    const all = await watch("watch-done", 0);
    expect(all).toEqual(streamed);
    const middle = Math.floor(last / 2);
    const tail = await watch("watch-done", middle);
    expect(seqs(tail)).toEqual(range(middle + 1, last));
    expect(tail).toEqual(streamed.slice(middle));
    expect(await watch("watch-done", last)).toEqual([]);
    expect(await watch("watch-done", last + 100)).toEqual([]);
  });

  it("three concurrent watchers of a live run see identical, gap-free sequences", async () => {
    const sessionId = await createFakeSession(t);
    const s = t.client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:30]] [[ms:10]]", runId: "watch-live", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const primary = collectEvents(s);
    await waitForEvent(s, (e) => e.sequence >= 3);
    const watchers = await Promise.all([watch("watch-live", 0), watch("watch-live", 0), watch("watch-live", 0)]);
    const streamed = await primary;
    const last = streamed.at(-1)!.sequence;
    for (const events of watchers) {
      expect(seqs(events)).toEqual(range(1, last));
      expect(events).toEqual(streamed);
    }
    expect(streamed.at(-1)!.payload?.$case).toBe("result");
  });

  it("a watcher that joins mid-run from the middle gets the rest live", async () => {
    const sessionId = await createFakeSession(t);
    const s = t.client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:20]] [[ms:10]]", runId: "watch-mid", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const primary = collectEvents(s);
    await waitForEvent(s, (e) => e.sequence >= 5);
    const events = await watch("watch-mid", 4);
    const streamed = await primary;
    expect(events).toEqual(streamed.slice(4));
  });

  it("an unknown run is NOT_FOUND", async () => {
    const err = await watch("no-such-run", 0).catch((e: { code: number }) => e);
    expect((err as { code: number }).code).toBe(Status.NOT_FOUND);
  });

  it("GetRun reports status, result and metadata", async () => {
    const sessionId = await createFakeSession(t);
    await call(t.client, "query", { sessionId, prompt: "hi", runId: "getrun-1", overrides: undefined, provider: 0, sessionOptions: undefined });
    const run = (await call(t.client, "getRun", { runId: "getrun-1" })).run!;
    expect(run.result!.text).toBe("Hello from fake");
    expect(run.metadata!.lane).toBe("core");
    expect(run.lastSequence).toBe(run.result!.lastSequence);
    expect(run.endedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt!.getTime());
  });
});

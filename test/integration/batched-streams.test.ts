import type { ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStatus, type Event } from "@asm/shared";
import { call, collectEvents, eventsOf, type EventMessage } from "../helpers/grpc-client.js";
import { createFakeSession } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

/** Every message of a stream as it arrived (each checked to be one form only, never empty). */
function collectMessages(stream: ClientReadableStream<EventMessage>): Promise<EventMessage[]> {
  return new Promise((resolve, reject) => {
    const messages: EventMessage[] = [];
    stream.on("data", (m: EventMessage) => {
      eventsOf(m);
      messages.push(m);
    });
    stream.on("error", reject);
    stream.on("end", () => resolve(messages));
  });
}

const flatten = (messages: EventMessage[]): Event[] => messages.flatMap(eventsOf);
const seqs = (events: Event[]) => events.map((e) => e.sequence);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const streamRun = (sessionId: string, prompt: string, runId: string, maxBatchEvents: number) =>
  t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents });

describe("batched StreamRun and WatchRun (max_batch_events)", () => {
  it("StreamRun in batches: only `events`, at most max_batch_events each, every event once, in order, as unbatched", async () => {
    const sessionId = await createFakeSession(t);
    const messages = await collectMessages(streamRun(sessionId, "[[scenario:flood]] [[n:3000]]", "batched-stream", 64));
    for (const m of messages) {
      expect(m.event).toBeUndefined();
      expect(m.events!.length).toBeLessThanOrEqual(64);
    }
    const events = flatten(messages);
    expect(seqs(events)).toEqual(range(1, events.length));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(events).toEqual(await collectEvents(t.client.watchRun({ runId: "batched-stream", afterSequence: 0, maxBatchEvents: 0 })));
    // Every event carries the run's metadata, batched or not.
    for (const e of events) expect(e.metadata?.lane).toBe("core");
  });

  it("a finished run replays in full batches; a request above 1024 gets 1024; from the middle too", async () => {
    const sessionId = await createFakeSession(t);
    const streamed = await collectEvents(streamRun(sessionId, "[[scenario:flood]] [[n:3000]]", "batched-replay", 0));
    const last = streamed.at(-1)!.sequence;
    expect(last).toBeGreaterThan(2048);

    const sevens = await collectMessages(t.client.watchRun({ runId: "batched-replay", afterSequence: 0, maxBatchEvents: 7 }));
    expect(sevens.map((m) => m.events!.length)).toEqual([...Array.from({ length: Math.floor(last / 7) }, () => 7), ...(last % 7 ? [last % 7] : [])]);
    expect(flatten(sevens)).toEqual(streamed);

    const capped = await collectMessages(t.client.watchRun({ runId: "batched-replay", afterSequence: 0, maxBatchEvents: 100_000 }));
    expect(capped.map((m) => m.events!.length)).toEqual([1024, 1024, last - 2048]);
    expect(flatten(capped)).toEqual(streamed);

    const tail = await collectMessages(t.client.watchRun({ runId: "batched-replay", afterSequence: last - 5, maxBatchEvents: 64 }));
    expect(tail).toHaveLength(1);
    expect(flatten(tail)).toEqual(streamed.slice(last - 5));
  });

  it("batching never waits for a batch to fill: a run that goes quiet has its events delivered", async () => {
    const sessionId = await createFakeSession(t);
    const stream = streamRun(sessionId, "[[scenario:hang]]", "batched-hang", 512);
    const all = collectMessages(stream);
    // The hanging CLI writes nothing after starting: runStarted must arrive on its own.
    const started = await new Promise<Event>((resolve, reject) => {
      stream.on("data", (m: EventMessage) => {
        const e = eventsOf(m).find((x) => x.payload?.$case === "runStarted");
        if (e) resolve(e);
      });
      stream.on("end", () => reject(new Error("the stream ended before runStarted")));
    });
    expect((await call(t.client, "getRun", { runId: "batched-hang" })).run!.status).toBe(RunStatus.RUN_STATUS_RUNNING);
    await call(t.client, "interrupt", { runId: started.runId });
    const events = flatten(await all);
    expect(seqs(events)).toEqual(range(1, events.length));
    expect(events.at(-1)!.payload?.$case).toBe("error");
  });
});

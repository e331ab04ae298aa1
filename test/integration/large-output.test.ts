/**
 * Outputs of any size reach every reader: one CLI line of several MiB (over the 4 MiB message
 * limits) is delivered in pieces (events.proto, PayloadChunk) that the shared reducer joins, to
 * StreamRun and WatchRun readers with default client limits, locally and through an executor; a
 * large result stays within GetRun / Query as a bounded, `truncated` Result.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider, reduceEvents, RunStatus, type Event } from "@asm/shared";
import { call, collectEvents } from "../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../helpers/remote-setup.js";
import { createSession, runOptions } from "../helpers/sessions.js";
import type { TestController } from "../helpers/test-controller.js";

const MiB = 1024 * 1024;
/** The controller's defaults (README: limits). */
const MAX_EVENT_BYTES = 1 * MiB;
const MAX_RESULT_TEXT_BYTES = 1 * MiB;

let r: RemoteSetup;
beforeAll(async () => {
  r = await startRemoteSetup();
});
afterAll(async () => {
  await r?.stop();
});

const places = [
  ["local", {}],
  ["remote", remoteOptions("executor-a")],
] as const;

async function session(t: TestController, place: (typeof places)[number][1]): Promise<string> {
  return createSession(t, Provider.PROVIDER_CLAUDE, { ...runOptions(place), cliPath: t.fakeClaude });
}

function stream(t: TestController, sessionId: string, runId: string, prompt: string) {
  return collectEvents(t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
}

describe.each(places)("a %s run with a 6 MB line", (place, options) => {
  const runId = `big-line-${place}`;
  let events: Event[];
  // The fake's one assistant line: 6,000,000 bytes, its text about as long.
  const PAD = 6_000_000;

  beforeAll(async () => {
    events = await stream(r.t, await session(r.t, options), runId, `[[scenario:longline]] [[n:${PAD}]]`);
  }, 60_000);

  it("StreamRun delivers every event, in pieces under the event limit, and ends with its terminal event", () => {
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    const pieces = events.filter((e) => e.payload?.$case === "chunk");
    expect(pieces.length).toBeGreaterThan(5);
    for (const p of pieces) expect(p.payload?.$case === "chunk" && p.payload.value.data.length).toBeLessThanOrEqual(MAX_EVENT_BYTES);
  });

  it("the reducer joins the pieces: the whole text, once", () => {
    const text = reduceEvents(events).text;
    expect(text.length).toBeGreaterThan(PAD - 1000);
    expect(text).toMatch(/^x+$/);
  });

  it("WatchRun from the start replays the same events, pieces included", async () => {
    const replay = await collectEvents(r.t.client.watchRun({ runId, afterSequence: 0, maxBatchEvents: 0 }));
    expect(replay.map((e) => [e.sequence, e.payload?.$case])).toEqual(events.map((e) => [e.sequence, e.payload?.$case]));
    expect(reduceEvents(replay).text).toBe(reduceEvents(events).text);
  });

  it("GetRun answers with a bounded result that says it is truncated", async () => {
    const run = (await call(r.t.client, "getRun", { runId })).run!;
    expect(run.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(run.result?.truncated).toBe(true);
    expect(Buffer.byteLength(run.result!.text)).toBe(MAX_RESULT_TEXT_BYTES);
    expect(reduceEvents(events).text.startsWith(run.result!.text)).toBe(true);
  });
});

describe.each(places)("a %s run with 25,000 lines of 200 bytes", (place, options) => {
  it("Query returns a bounded, truncated result; StreamRun and WatchRun have all 25,000 lines", async () => {
    const sessionId = await session(r.t, options);
    const runId = `big-result-${place}`;
    const { result } = await call(r.t.client, "query", { sessionId, prompt: "[[scenario:flood]] [[n:25000]] [[pad:200]]", runId, provider: 0, overrides: undefined, sessionOptions: undefined });
    expect(result!.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(result!.truncated).toBe(true);
    expect(Buffer.byteLength(result!.text)).toBeLessThanOrEqual(MAX_RESULT_TEXT_BYTES);
    expect(result!.text.startsWith(`${"f0".padEnd(200, ".")}\n\n${"f1".padEnd(200, ".")}\n\n`)).toBe(true);
    const run = (await call(r.t.client, "getRun", { runId })).run!;
    expect(run.result).toEqual(result);
    const replay = await collectEvents(r.t.client.watchRun({ runId, afterSequence: 0, maxBatchEvents: 512 }));
    expect(replay.filter((e) => e.payload?.$case === "assistantMessage")).toHaveLength(25_000);
    // 25,000 messages of 200 bytes, each parted from the one before by a blank line.
    expect(reduceEvents(replay).text.length).toBe(25_000 * 200 + 24_999 * 2);
  }, 60_000);
});

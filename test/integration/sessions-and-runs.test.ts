import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventKind, kindName, Provider, RunStatus, SessionStatus, type Event } from "@asm/shared";
import { call, callError, collectEvents } from "../helpers/grpc-client.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

async function newSession(extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call(t.client, "createSession", {
    provider: Provider.PROVIDER_CLAUDE,
    sessionId: "",
    options: { defaults: { lane: 0, executionMode: 0, permissionMode: 0, env: {}, cliPath: t.fakeClaude, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined }, ...extra },
  });
  return res.session!.sessionId;
}

const EXPECTED_METADATA = {
  requestedLane: "auto",
  preferredLane: "core",
  lane: "core",
  backend: "core",
  executionMode: "local",
  laneReason: "sdk_unavailable",
  laneFallbackReason: "",
  provider: "claude",
};

describe("sessions through the real gRPC server", () => {
  it("creates, gets, lists and closes sessions", async () => {
    const id = await newSession();
    const got = await call(t.client, "getSession", { sessionId: id });
    expect(got.session).toMatchObject({ sessionId: id, provider: Provider.PROVIDER_CLAUDE, status: SessionStatus.SESSION_STATUS_OPEN });
    expect(got.session!.options!.maxConcurrentRuns).toBe(1);
    expect(got.session!.options!.maxQueuedRuns).toBe(10);

    const listed = await call(t.client, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" });
    expect(listed.sessions.map((s) => s.sessionId)).toContain(id);

    const closed = await call(t.client, "closeSession", { sessionId: id });
    expect(closed.session!.status).toBe(SessionStatus.SESSION_STATUS_CLOSED);
    const openOnly = await call(t.client, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" });
    expect(openOnly.sessions.map((s) => s.sessionId)).not.toContain(id);
    const all = await call(t.client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" });
    expect(all.sessions.map((s) => s.sessionId)).toContain(id);

    const again = await call(t.client, "closeSession", { sessionId: id });
    expect(again.session!.status).toBe(SessionStatus.SESSION_STATUS_CLOSED);

    const refused = await callError(t.client, "query", { sessionId: id, prompt: "hi", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(refused.code).toBe(Status.FAILED_PRECONDITION);
    expect(refused.error.reasonCode).toBe("session_not_open");
  });

  it("accepts a caller-chosen session id and refuses a duplicate", async () => {
    const res = await call(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "ses_mine", options: undefined });
    expect(res.session!.sessionId).toBe("ses_mine");
    const dup = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "ses_mine", options: undefined });
    expect(dup.code).toBe(Status.ALREADY_EXISTS);
  });

  it("unknown session and run ids are NOT_FOUND", async () => {
    expect((await callError(t.client, "getSession", { sessionId: "nope" })).code).toBe(Status.NOT_FOUND);
    expect((await callError(t.client, "getRun", { runId: "nope" })).code).toBe(Status.NOT_FOUND);
    expect((await callError(t.client, "closeSession", { sessionId: "nope" })).code).toBe(Status.NOT_FOUND);
  });
});

describe("StreamRun and Query", () => {
  it("return the same projected result, with observability metadata on every event and on the result", async () => {
    const sessionId = await newSession();
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "say something [[echo]]", runId: "run_stream_1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(kindName(events[0]!.kind)).toBe("run_started");
    const last = events.at(-1)!;
    expect(last.kind).toBe(EventKind.EVENT_KIND_RESULT);
    for (const e of events) {
      expect(e.metadata).toMatchObject(EXPECTED_METADATA);
      expect(e.runId).toBe("run_stream_1");
      expect(e.sessionId).toBe(sessionId);
    }
    const text = events.filter((e) => e.payload?.$case === "assistantMessage").map((e) => (e.payload as { value: { text: string } }).value.text).join("");
    expect(text).toBe("echo:say something");

    const queried = await call(t.client, "query", { sessionId, prompt: "say something [[echo]]", runId: "run_query_1", overrides: undefined, provider: 0, sessionOptions: undefined });
    const result = queried.result!;
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(result.text).toBe(text);
    expect(result.metadata).toMatchObject(EXPECTED_METADATA);
    expect(result.providerSessionId).not.toBe("");

    const streamedRun = await call(t.client, "getRun", { runId: "run_stream_1" });
    const projected = streamedRun.run!.result!;
    expect({ ...projected, runId: "", durationMs: 0, lastSequence: 0, providerSessionId: "" }).toEqual({ ...result, runId: "", durationMs: 0, lastSequence: 0, providerSessionId: "" });
    expect(projected.lastSequence).toBe(last.sequence);
  });

  it("one-shot Query makes a session for the provider and closes it", async () => {
    const before = (await call(t.client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" })).sessions.length;
    const res = await call(t.client, "query", {
      sessionId: "",
      prompt: "hello [[echo]]",
      runId: "",
      overrides: undefined,
      provider: Provider.PROVIDER_CLAUDE,
      sessionOptions: { defaults: { lane: 0, executionMode: 0, permissionMode: 0, env: {}, cliPath: t.fakeClaude, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined } },
    });
    expect(res.result!.text).toBe("echo:hello");
    const sessions = (await call(t.client, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" })).sessions;
    expect(sessions.length).toBe(before + 1);
    const made = sessions.find((s) => s.sessionId === res.result!.sessionId)!;
    expect(made.status).toBe(SessionStatus.SESSION_STATUS_CLOSED);
  });

  it("continues the provider conversation on the next run of the session", async () => {
    const sessionId = await newSession();
    const first = await call(t.client, "query", { sessionId, prompt: "[[scenario:history]] [[echo]]", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    const second = await call(t.client, "query", { sessionId, prompt: "[[scenario:history]] [[echo]]", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(first.result!.text).toMatch(/^new:/);
    expect(second.result!.text).toContain(`resumed:${first.result!.providerSessionId}`);
    const session = await call(t.client, "getSession", { sessionId });
    expect(session.session!.providerSessionId).toBe(first.result!.providerSessionId);
  });
});

export type { Event };

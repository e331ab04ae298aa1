/**
 * Memory stays bounded by configuration: finished runs and closed sessions are kept by count, by
 * bytes and by age, then forgotten; ListSessions pages by count and by bytes; open sessions and
 * live CLIs have controller-wide caps (refused with at_capacity and a reason, or queued).
 */
import { status as Status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { liveCliProcesses, Provider, RunStatus, type Session } from "@asm/shared";
import { call, callError, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { createFakeSession, runOptions } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

const controllers: TestController[] = [];
async function controller(env: Record<string, string>, clock?: ManualClock): Promise<TestController> {
  const t = await startTestController({ env, clock });
  controllers.push(t);
  return t;
}
afterEach(async () => {
  for (const t of controllers.splice(0)) await t.stop();
});

const run = (t: TestController, sessionId: string, runId: string, prompt = "hello") =>
  collectEvents(t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));

async function allSessions(t: TestController, includeClosed: boolean, pageSize = 0): Promise<{ sessions: Session[]; pages: number }> {
  const sessions: Session[] = [];
  let pageToken = "";
  let pages = 0;
  do {
    const res = await call(t.client, "listSessions", { includeClosed, pageSize, pageToken });
    sessions.push(...res.sessions);
    pageToken = res.nextPageToken;
    pages += 1;
  } while (pageToken !== "");
  return { sessions, pages };
}

describe("retention of closed sessions and finished runs", () => {
  it("closed sessions beyond ASM_RETAINED_CLOSED_SESSIONS are forgotten, oldest first (one-shot Query sessions too)", async () => {
    const t = await controller({ ASM_RETAINED_CLOSED_SESSIONS: "3" });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await createFakeSession(t);
      ids.push(id);
      await call(t.client, "closeSession", { sessionId: id });
    }
    // A one-shot Query makes and closes a session of its own.
    await call(t.client, "query", { sessionId: "", provider: Provider.PROVIDER_CLAUDE, prompt: "hi", runId: "", overrides: undefined, sessionOptions: { defaults: runOptions({ cliPath: t.fakeClaude }), maxConcurrentRuns: undefined, maxQueuedRuns: undefined, keepCliWarm: undefined, warmIdleTimeoutMs: undefined } });
    const { sessions } = await allSessions(t, true);
    expect(sessions).toHaveLength(3);
    expect(sessions.map((s) => s.sessionId)).toEqual(expect.arrayContaining(ids.slice(2)));
    for (const gone of ids.slice(0, 2)) expect((await callError(t.client, "getSession", { sessionId: gone })).code).toBe(Status.NOT_FOUND);
    expect(t.app.controller.footprint.sessions).toBe(3);
  });

  it("finished runs and closed sessions older than ASM_RETENTION_MS are forgotten", async () => {
    const clock = new ManualClock();
    const t = await controller({ ASM_RETENTION_MS: "60000" }, clock);
    const sessionId = await createFakeSession(t);
    await run(t, sessionId, "aged-run");
    await call(t.client, "closeSession", { sessionId });
    expect((await call(t.client, "getRun", { runId: "aged-run" })).run!.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    clock.advance(60_000);
    expect((await callError(t.client, "getRun", { runId: "aged-run" })).code).toBe(Status.NOT_FOUND);
    expect((await callError(t.client, "getSession", { sessionId })).code).toBe(Status.NOT_FOUND);
    expect(t.app.controller.footprint).toMatchObject({ sessions: 0, runs: 0, retainedRunBytes: 0 });
  });

  it("finished runs are kept within ASM_RETAINED_RUN_BYTES of event logs, oldest forgotten first", async () => {
    const t = await controller({ ASM_RETAINED_RUN_BYTES: "500000" });
    const sessionId = await createFakeSession(t);
    for (let i = 0; i < 6; i++) await run(t, sessionId, `bytes-${i}`, "[[scenario:flood]] [[n:2000]]");
    const { retainedRunBytes, runs } = t.app.controller.footprint;
    expect(retainedRunBytes).toBeLessThanOrEqual(500_000);
    expect(runs).toBeLessThan(6);
    expect(runs).toBeGreaterThan(0);
    expect((await callError(t.client, "getRun", { runId: "bytes-0" })).code).toBe(Status.NOT_FOUND);
    expect((await call(t.client, "getRun", { runId: "bytes-5" })).run!.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
  }, 60_000);
});

describe("ListSessions pages", () => {
  it("pages of page_size in creation order, with a token to the next; a bad token is INVALID_ARGUMENT", async () => {
    const t = await controller({});
    const created: string[] = [];
    for (let i = 0; i < 25; i++) created.push(await createFakeSession(t));
    const first = await call(t.client, "listSessions", { includeClosed: false, pageSize: 10, pageToken: "" });
    expect(first.sessions.map((s) => s.sessionId)).toEqual(created.slice(0, 10));
    expect(first.nextPageToken).not.toBe("");
    const { sessions, pages } = await allSessions(t, false, 10);
    expect(pages).toBe(3);
    expect(sessions.map((s) => s.sessionId)).toEqual(created);
    const bad = await callError(t.client, "listSessions", { includeClosed: false, pageSize: 10, pageToken: "not-a-token" });
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.error.field).toBe("page_token");
  });

  it("a page stays under the message limits however large the sessions are", async () => {
    const t = await controller({});
    // 30 sessions of ~190 kB each (a long system prompt): one unpaged answer would be over 5 MiB.
    for (let i = 0; i < 30; i++) await createFakeSession(t, { providerOptions: { system_prompt: "s".repeat(190_000) } });
    const { sessions, pages } = await allSessions(t, false, 1000);
    expect(sessions).toHaveLength(30);
    expect(pages).toBeGreaterThan(2);
  });
});

describe("controller-wide caps", () => {
  it("open sessions: past ASM_MAX_SESSIONS CreateSession is at_capacity / too_many_sessions; closing one makes room", async () => {
    const t = await controller({ ASM_MAX_SESSIONS: "2" });
    const a = await createFakeSession(t);
    await createFakeSession(t);
    const refused = await callError(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: t.fakeClaude }), maxConcurrentRuns: undefined, maxQueuedRuns: undefined, keepCliWarm: undefined, warmIdleTimeoutMs: undefined } });
    expect(refused.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(refused.error).toMatchObject({ kind: "at_capacity", reasonCode: "too_many_sessions" });
    await call(t.client, "closeSession", { sessionId: a });
    await createFakeSession(t);
  });

  it("live CLIs: past ASM_MAX_ACTIVE_RUNS a run waits QUEUED for a slot, past ASM_MAX_WAITING_RUNS it is at_capacity", async () => {
    const t = await controller({ ASM_MAX_ACTIVE_RUNS: "2", ASM_MAX_WAITING_RUNS: "1" });
    const sessions = await Promise.all([0, 1, 2, 3].map(() => createFakeSession(t)));
    const streams = [0, 1].map((i) => t.client.streamRun({ sessionId: sessions[i]!, prompt: "[[scenario:hang]]", runId: `cap-${i}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    const ended = streams.map((s) => collectEvents(s));
    await Promise.all(streams.map((s) => waitForEvent(s, (e) => e.payload?.$case === "runStarted")));
    const third = t.client.streamRun({ sessionId: sessions[2]!, prompt: "hello", runId: "cap-2", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const thirdEvents = collectEvents(third);
    await expect.poll(async () => (await call(t.client, "getRun", { runId: "cap-2" }).catch(() => undefined))?.run?.status, { timeout: 10_000 }).toBe(RunStatus.RUN_STATUS_QUEUED);
    expect(liveCliProcesses()).toHaveLength(2);
    const fourth = await new Promise<{ code: number; details: string }>((resolve) => {
      const s = t.client.streamRun({ sessionId: sessions[3]!, prompt: "hello", runId: "cap-3", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
      s.on("data", () => undefined);
      s.on("error", (err: { code: number; details: string }) => resolve(err));
    });
    expect(fourth.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(fourth.details).toContain("ASM_MAX_ACTIVE_RUNS");
    // A slot frees: the waiting run starts and completes.
    await call(t.client, "interrupt", { runId: "cap-0" });
    expect((await thirdEvents).at(-1)!.payload?.$case).toBe("result");
    await call(t.client, "interrupt", { runId: "cap-1" });
    await Promise.all(ended);
  });
});

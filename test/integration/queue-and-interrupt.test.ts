import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InterruptOutcome, RunStatus, type Event } from "@asm/shared";
import { call, callError, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createFakeSession, waitForRuns } from "../helpers/sessions.js";
import { allGone, eventually, isAlive, readRecord, startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

const stream = (sessionId: string, prompt: string, runId: string) => t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
const terminal = (events: Event[]) => events.at(-1)!;
const errorOf = (e: Event) => (e.payload?.$case === "error" ? e.payload.value.error : undefined);

describe("admission and the FIFO queue", () => {
  it("with max_concurrent_runs=1 and max_queued_runs=2 the 4th run is at_capacity and queued runs start in FIFO order", async () => {
    const record = join(t.dir, "fifo.jsonl");
    const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record } }, { maxConcurrentRuns: 1, maxQueuedRuns: 2 });
    const a = stream(sessionId, "[[scenario:slow]] [[n:5]] [[ms:60]] run-a", "fifo-a");
    await waitForEvent(a, () => true);
    const b = stream(sessionId, "[[echo]] run-b", "fifo-b");
    const bCollected = collectEvents(b);
    await waitForRuns(t, sessionId, ["fifo-a"], ["fifo-b"]);
    const c = stream(sessionId, "[[echo]] run-c", "fifo-c");
    const all = [collectEvents(a), bCollected, collectEvents(c)];
    await waitForRuns(t, sessionId, ["fifo-a"], ["fifo-b", "fifo-c"]);
    const session = await call(t.client, "getSession", { sessionId });
    expect(session.session!.activeRunIds).toEqual(["fifo-a"]);
    expect(session.session!.queuedRunIds).toEqual(["fifo-b", "fifo-c"]);
    expect((await call(t.client, "getRun", { runId: "fifo-b" })).run!.status).toBe(RunStatus.RUN_STATUS_QUEUED);

    const refused = await callError(t.client, "query", { sessionId, prompt: "run-d", runId: "fifo-d", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(refused.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(refused.error.kind).toBe("at_capacity");

    const [ea, eb, ec] = await Promise.all(all);
    for (const events of [ea!, eb!, ec!]) expect(terminal(events).payload?.$case).toBe("result");
    const prompts = readRecord(record).filter((r) => r.t === "turn").map((r) => String(r.prompt));
    expect(prompts.map((p) => p.match(/run-[abc]/)?.[0])).toEqual(["run-a", "run-b", "run-c"]);
    const runB = (await call(t.client, "getRun", { runId: "fifo-b" })).run!;
    const runC = (await call(t.client, "getRun", { runId: "fifo-c" })).run!;
    expect(runB.startedAt!.getTime()).toBeLessThanOrEqual(runC.startedAt!.getTime());
  });

  it("a caller-supplied run id that exists is refused", async () => {
    const sessionId = await createFakeSession(t);
    await call(t.client, "query", { sessionId, prompt: "hi", runId: "dup-run", overrides: undefined, provider: 0, sessionOptions: undefined });
    const dup = await callError(t.client, "query", { sessionId, prompt: "hi", runId: "dup-run", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(dup.code).toBe(Status.ALREADY_EXISTS);
  });
});

describe("Interrupt", () => {
  it("removes a queued run before its CLI is spawned and ends its stream", async () => {
    const record = join(t.dir, "queued.jsonl");
    const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record } });
    const a = stream(sessionId, "[[scenario:hang]] first", "q-active");
    await waitForEvent(a, (e) => e.payload?.$case === "runStarted");
    const b = stream(sessionId, "second-never-spawned", "q-queued");
    const bEvents = collectEvents(b);
    await waitForRuns(t, sessionId, ["q-active"], ["q-queued"]);
    const res = await call(t.client, "interrupt", { runId: "q-queued" });
    expect(res.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_REMOVED_FROM_QUEUE);
    expect(res.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    const events = await bEvents;
    expect(events).toHaveLength(1);
    expect(errorOf(events[0]!)?.kind).toBe("user_cancelled");

    await call(t.client, "interrupt", { runId: "q-active" });
    const prompts = readRecord(record).filter((r) => r.t === "turn").map((r) => String(r.prompt));
    expect(prompts.some((p) => p.includes("second-never-spawned"))).toBe(false);
    expect(readRecord(record).filter((r) => r.t === "start")).toHaveLength(1);
  });

  it("an active run's whole process group is gone afterwards and the run ends user_cancelled", async () => {
    const record = join(t.dir, "active.jsonl");
    const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record } });
    const s = stream(sessionId, "[[scenario:hang]]", "active-1");
    const events = collectEvents(s);
    await eventually(() => readRecord(record).some((r) => r.t === "grandchild"));
    const pid = Number(readRecord(record).find((r) => r.t === "start")!.pid);
    const grandchild = Number(readRecord(record).find((r) => r.t === "grandchild")!.pid);
    expect(isAlive(pid) && isAlive(grandchild)).toBe(true);

    const res = await call(t.client, "interrupt", { runId: "active-1" });
    expect(res.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED);
    expect(await allGone([pid, grandchild])).toBe(true);
    const all = await events;
    expect(errorOf(terminal(all))?.kind).toBe("user_cancelled");
    // The CLI was interrupted through its own protocol first.
    expect(readRecord(record).some((r) => r.t === "stdin" && String(r.line).includes('"interrupt"'))).toBe(true);
    const run = (await call(t.client, "getRun", { runId: "active-1" })).run!;
    expect(run.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(run.result!.error!.kind).toBe("user_cancelled");
  });

  it("escalates to SIGKILL for a CLI that ignores the protocol interrupt and SIGINT/SIGTERM", async () => {
    const record = join(t.dir, "stubborn.jsonl");
    const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record } });
    const s = stream(sessionId, "[[scenario:stubborn]]", "stubborn-1");
    const events = collectEvents(s);
    await eventually(() => readRecord(record).some((r) => r.t === "grandchild"));
    const pid = Number(readRecord(record).find((r) => r.t === "start")!.pid);
    const grandchild = Number(readRecord(record).find((r) => r.t === "grandchild")!.pid);
    await call(t.client, "interrupt", { runId: "stubborn-1" });
    expect(await allGone([pid, grandchild])).toBe(true);
    expect(errorOf(terminal(await events))?.kind).toBe("user_cancelled");
  });

  it("interrupting a finished run says so, and an unknown run is NOT_FOUND", async () => {
    const sessionId = await createFakeSession(t);
    await call(t.client, "query", { sessionId, prompt: "hi", runId: "done-1", overrides: undefined, provider: 0, sessionOptions: undefined });
    const res = await call(t.client, "interrupt", { runId: "done-1" });
    expect(res.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_ALREADY_FINISHED);
    expect(res.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    const unknown = await callError(t.client, "interrupt", { runId: "no-such-run" });
    expect(unknown.code).toBe(Status.NOT_FOUND);
  });

  it("cancelling a StreamRun call interrupts the run unless keep_running is set", async () => {
    const sessionId = await createFakeSession(t, {}, { maxConcurrentRuns: 2 });
    const cancelled = stream(sessionId, "[[scenario:hang]]", "cancel-1");
    cancelled.on("error", () => undefined);
    await waitForEvent(cancelled, (e) => e.payload?.$case === "runStarted");
    cancelled.cancel();
    const run = async (id: string) => (await call(t.client, "getRun", { runId: id })).run!;
    await expect.poll(async () => (await run("cancel-1")).status, { timeout: 5000 }).toBe(RunStatus.RUN_STATUS_CANCELLED);

    const kept = t.client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:5]] [[ms:50]]", runId: "keep-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    kept.on("error", () => undefined);
    await waitForEvent(kept, (e) => e.payload?.$case === "runStarted");
    kept.cancel();
    await expect.poll(async () => (await run("keep-1")).status, { timeout: 5000 }).toBe(RunStatus.RUN_STATUS_COMPLETED);
  });

  it("closing a session interrupts active runs and drops queued ones, ending every stream", async () => {
    const sessionId = await createFakeSession(t);
    const a = collectEvents(stream(sessionId, "[[scenario:hang]]", "close-a"));
    await waitForRuns(t, sessionId, ["close-a"], []);
    const b = collectEvents(stream(sessionId, "never", "close-b"));
    await waitForRuns(t, sessionId, ["close-a"], ["close-b"]);
    const res = await call(t.client, "closeSession", { sessionId });
    expect(res.interruptedRunIds).toEqual(["close-a"]);
    expect(res.droppedRunIds).toEqual(["close-b"]);
    for (const events of await Promise.all([a, b])) {
      const err = errorOf(terminal(events));
      expect(err?.kind).toBe("user_cancelled");
      expect(err?.reasonCode).toBe("session_closed");
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStatus, type Event } from "@asm/shared";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createFakeSession, runOptions, waitForRuns } from "../helpers/sessions.js";
import { startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

const errorOf = (events: Event[]) => {
  const last = events.at(-1)!;
  return last.payload?.$case === "error" ? last.payload.value.error : undefined;
};

describe("timeouts end the run with their own typed error", () => {
  it("queue_timeout_ms: a run waiting too long in the queue never starts", async () => {
    const sessionId = await createFakeSession(t);
    const a = t.client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "qt-active", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const aEvents = collectEvents(a);
    await waitForEvent(a, (e) => e.payload?.$case === "runStarted");
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "waits", runId: "qt-queued", overrides: runOptions({ queueTimeoutMs: 150 }), keepRunning: false, maxBatchEvents: 0 }));
    expect(events).toHaveLength(1);
    expect(errorOf(events)).toMatchObject({ kind: "timeout", reasonCode: "queue_timeout" });
    await waitForRuns(t, sessionId, ["qt-active"], []);
    await call(t.client, "interrupt", { runId: "qt-active" });
    await aEvents;
  });

  it("stream_timeout_ms: no event for too long", async () => {
    const sessionId = await createFakeSession(t, { streamTimeoutMs: 200 });
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:silent]] [[ms:5000]]", runId: "st-1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(errorOf(events)).toMatchObject({ kind: "timeout", reasonCode: "stream_timeout" });
    expect((await call(t.client, "getRun", { runId: "st-1" })).run!.status).toBe(RunStatus.RUN_STATUS_FAILED);
  });

  it("run_deadline_ms: total budget even while events keep coming", async () => {
    const sessionId = await createFakeSession(t);
    const events = await collectEvents(
      t.client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:250]] [[ms:20]]", runId: "dl-1", overrides: runOptions({ runDeadlineMs: 2000, streamTimeoutMs: 5000 }), keepRunning: false, maxBatchEvents: 0 }),
    );
    expect(errorOf(events)).toMatchObject({ kind: "timeout", reasonCode: "run_deadline" });
    expect(events.filter((e) => e.payload?.$case === "assistantMessage").length).toBeGreaterThan(0);
  });

  it("approval_timeout_ms: covered with its CLI-side effect in approvals.test.ts; here the idle timer is paused while an approval waits", async () => {
    const sessionId = await createFakeSession(t, { streamTimeoutMs: 1000, approvalTimeoutMs: 2500, cwd: t.dir });
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:tool]] [[cmd:true]]", runId: "at-1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(errorOf(events)).toMatchObject({ kind: "timeout", reasonCode: "approval_timeout" });
  });
});

import { existsSync } from "node:fs";
import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, RunStatus, type Event } from "@asm/shared";
import { call, callError, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createFakeSession } from "../helpers/sessions.js";
import { readRecord, startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

const isApprovalRequest = (e: Event) => e.payload?.$case === "approvalRequested";
const approvalIdOf = (e: Event) => (e.payload?.$case === "approvalRequested" ? e.payload.value.approvalId : "");
const resolvedOf = (events: Event[]) => events.flatMap((e) => (e.payload?.$case === "approvalResolved" ? [e.payload.value] : []));

describe("approvals", () => {
  for (const [decision, name] of [
    [ApprovalDecision.APPROVAL_DECISION_ALLOW, "allow"],
    [ApprovalDecision.APPROVAL_DECISION_DENY, "deny"],
  ] as const) {
    it(`${name} reaches the CLI`, async () => {
      const record = join(t.dir, `approve-${name}.jsonl`);
      const file = `made-by-${name}.txt`;
      const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record }, cwd: t.dir });
      const s = t.client.streamRun({ sessionId, prompt: `[[scenario:tool]] [[cmd:touch ${file}]]`, runId: `approve-${name}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
      const all = collectEvents(s);
      const request = await waitForEvent(s, isApprovalRequest);
      expect(request.payload?.$case === "approvalRequested" && request.payload.value.subject).toBe("Bash");
      expect((await call(t.client, "getRun", { runId: `approve-${name}` })).run!.pendingApprovalIds).toEqual([approvalIdOf(request)]);

      const res = await call(t.client, "approve", { sessionId, approvalId: approvalIdOf(request), decision, reason: name === "deny" ? "not today" : "" });
      expect(res.runId).toBe(`approve-${name}`);
      const events = await all;
      expect(resolvedOf(events)).toEqual([{ approvalId: approvalIdOf(request), decision, reason: name === "deny" ? "not today" : "" }]);
      expect(events.at(-1)!.payload?.$case).toBe("result");

      const told = readRecord(record).filter((r) => r.t === "approval");
      expect(told).toHaveLength(1);
      expect(told[0]!.behavior).toBe(name);
      expect(told[0]!.request_id).toBe(approvalIdOf(request));
      if (name === "deny") expect(told[0]!.message).toBe("not today");
      expect(existsSync(join(t.dir, file))).toBe(name === "allow");

      const again = await callError(t.client, "approve", { sessionId, approvalId: approvalIdOf(request), decision, reason: "" });
      expect(again.code).toBe(Status.NOT_FOUND);
    });
  }

  it("an unknown approval id is NOT_FOUND", async () => {
    const sessionId = await createFakeSession(t);
    const res = await callError(t.client, "approve", { sessionId, approvalId: "no-such-approval", decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    expect(res.code).toBe(Status.NOT_FOUND);
    expect(res.error.kind).toBe("not_found");
  });

  it("a missing decision is INVALID_ARGUMENT", async () => {
    const sessionId = await createFakeSession(t);
    const res = await callError(t.client, "approve", { sessionId, approvalId: "x", decision: ApprovalDecision.APPROVAL_DECISION_UNSPECIFIED, reason: "" });
    expect(res.code).toBe(Status.INVALID_ARGUMENT);
    expect(res.error.field).toBe("decision");
  });

  it("with a short approval_timeout_ms the run gets approval_resolved deny/timeout, the CLI is told deny, and the run ends timeout", async () => {
    const record = join(t.dir, "approve-timeout.jsonl");
    const sessionId = await createFakeSession(t, { env: { FAKE_CLI_RECORD: record }, cwd: t.dir, approvalTimeoutMs: 200 });
    const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:tool]] [[cmd:touch never.txt]]", runId: "approve-timeout", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    const request = events.find(isApprovalRequest)!;
    expect(resolvedOf(events)).toEqual([{ approvalId: approvalIdOf(request), decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "timeout" }]);
    const told = readRecord(record).filter((r) => r.t === "approval");
    expect(told.map((r) => r.behavior)).toEqual(["deny"]);
    expect(existsSync(join(t.dir, "never.txt"))).toBe(false);
    const last = events.at(-1)!;
    expect(last.payload?.$case === "error" && last.payload.value.error).toMatchObject({ kind: "timeout", reasonCode: "approval_timeout" });
    const run = (await call(t.client, "getRun", { runId: "approve-timeout" })).run!;
    expect(run.status).toBe(RunStatus.RUN_STATUS_FAILED);
    const late = await callError(t.client, "approve", { sessionId, approvalId: approvalIdOf(request), decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    expect(late.code).toBe(Status.NOT_FOUND);
  });

  it("an interrupt while an approval is pending closes the approval before the terminal event", async () => {
    const sessionId = await createFakeSession(t, { cwd: t.dir });
    const s = t.client.streamRun({ sessionId, prompt: "[[scenario:tool]] [[cmd:touch pending.txt]]", runId: "approve-interrupt", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    const request = await waitForEvent(s, isApprovalRequest);
    await call(t.client, "interrupt", { runId: "approve-interrupt" });
    const events = await all;
    const resolved = resolvedOf(events);
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({ approvalId: approvalIdOf(request), decision: ApprovalDecision.APPROVAL_DECISION_DENY });
    expect(events.at(-1)!.payload?.$case === "error" && events.at(-1)!.payload!.value).toMatchObject({ error: { kind: "user_cancelled" } });
    expect(existsSync(join(t.dir, "pending.txt"))).toBe(false);
  });
});

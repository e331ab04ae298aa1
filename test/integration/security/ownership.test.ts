/**
 * A session, its runs and its approvals are its creator's: another principal gets NOT_FOUND on
 * every RPC that names them (exactly as for an id that does not exist), while the run goes on
 * unaffected; ListSessions shows only one's own; an admin sees and acts on all.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, ControllerServiceClient, fromGrpcError, Provider, type Event } from "@asm/shared";
import { bearer, writeTokenFile } from "../../helpers/auth.js";
import { call, collectEvents, waitForEvent } from "../../helpers/grpc-client.js";
import { runOptions } from "../../helpers/sessions.js";
import { startTestController, type TestController } from "../../helpers/test-controller.js";

const TOKENS = { "alice-token-1111": { principal: "alice" }, "bob-token-2222": { principal: "bob" }, "root-token-3333": { principal: "root", roles: ["admin"] } };

describe("ownership: principal B cannot see or touch principal A's session", () => {
  let t: TestController;
  let alice: ControllerServiceClient;
  let bob: ControllerServiceClient;
  let root: ControllerServiceClient;
  let work: string;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-owner-"));
    work = mkdtempSync(join(tmpdir(), "asm-owner-work-"));
    t = await startTestController({ env: { ASM_AUTH_TOKEN_FILE: writeTokenFile(dir, TOKENS) } });
    const as = (token: string): ControllerServiceClient => new ControllerServiceClient(`127.0.0.1:${t.app.port}`, credentials.createInsecure(), { interceptors: [bearer(token)] });
    alice = as("alice-token-1111");
    bob = as("bob-token-2222");
    root = as("root-token-3333");
  });
  afterAll(async () => {
    for (const c of [alice, bob, root]) c?.close();
    await t?.stop();
  });

  /** What B gets back from a call: the status and reason, or "ok". */
  const outcome = (p: Promise<unknown>): Promise<string> =>
    p.then(
      () => "ok",
      (e: ServiceError) => `${Status[e.code]} ${fromGrpcError(e).reasonCode}`,
    );
  const streamOutcome = (s: { on(e: string, f: (x: unknown) => void): unknown }): Promise<string> =>
    new Promise((resolve) => {
      s.on("data", () => resolve("ok (data)"));
      s.on("error", (e) => resolve(`${Status[(e as ServiceError).code]} ${fromGrpcError(e as ServiceError).reasonCode}`));
      s.on("end", () => resolve("ok (end)"));
    });

  /** Every RPC that names the session, its run or its approval, as B; none may reach A's things. */
  async function bobTriesEverything(sessionId: string, runId: string, approvalId: string): Promise<Record<string, string>> {
    const none = { lane: 0, executionMode: 0, permissionMode: 0, env: {}, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined };
    return {
      getSession: await outcome(call(bob, "getSession", { sessionId })),
      getRun: await outcome(call(bob, "getRun", { runId })),
      watchRun: await streamOutcome(bob.watchRun({ runId, afterSequence: 0, maxBatchEvents: 0 })),
      approve: await outcome(call(bob, "approve", { sessionId, approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" })),
      interrupt: await outcome(call(bob, "interrupt", { runId })),
      streamRun: await streamOutcome(bob.streamRun({ sessionId, prompt: "[[scenario:text]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 })),
      query: await outcome(call(bob, "query", { sessionId, provider: 0, prompt: "[[scenario:text]]", runId: "", overrides: none, sessionOptions: undefined })),
      closeSession: await outcome(call(bob, "closeSession", { sessionId })),
    };
  }

  const NOT_FOUND = (what: string): string => `NOT_FOUND ${what}_not_found`;
  const expected = {
    getSession: NOT_FOUND("session"),
    getRun: NOT_FOUND("run"),
    watchRun: NOT_FOUND("run"),
    approve: NOT_FOUND("session"),
    interrupt: NOT_FOUND("run"),
    streamRun: NOT_FOUND("session"),
    query: NOT_FOUND("session"),
    closeSession: NOT_FOUND("session"),
  };

  it("while A's run is live with a pending approval, and after it ended: NOT_FOUND for B on every RPC; A's run unaffected", async () => {
    const created = await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "alices-session", options: { defaults: runOptions({ cliPath: t.fakeClaude, cwd: work }) } });
    expect(created.session!.owner).toBe("alice");
    const sessionId = created.session!.sessionId;
    const stream = alice.streamRun({ sessionId, prompt: "[[scenario:tool]] [[cmd:touch approved.txt]]", runId: "alices-run", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(stream);
    const request = await waitForEvent(stream, (e) => e.payload?.$case === "approvalRequested");
    const approvalId = request.payload?.$case === "approvalRequested" ? request.payload.value.approvalId : "";

    // The same answers as for ids that do not exist.
    expect(await bobTriesEverything("no-such-session", "no-such-run", "no-such-approval")).toEqual(expected);
    expect(await bobTriesEverything(sessionId, "alices-run", approvalId)).toEqual(expected);
    // B's list omits it; the admin's has it.
    expect((await call(bob, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" })).sessions.map((s) => s.sessionId)).not.toContain(sessionId);
    expect((await call(root, "listSessions", { includeClosed: true, pageSize: 0, pageToken: "" })).sessions.map((s) => s.sessionId)).toContain(sessionId);

    // A's run is untouched: its approval still pending, then A allows it and the run succeeds.
    expect((await call(alice, "getRun", { runId: "alices-run" })).run!.pendingApprovalIds).toEqual([approvalId]);
    await call(alice, "approve", { sessionId, approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    const events: Event[] = await all;
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(existsSync(join(work, "approved.txt"))).toBe(true);

    // After the end, still nothing for B, and the session is still A's and open.
    expect(await bobTriesEverything(sessionId, "alices-run", approvalId)).toEqual(expected);
    expect((await call(alice, "getSession", { sessionId })).session!.status).toBe(1);
    expect((await call(alice, "getRun", { runId: "alices-run" })).run!.runId).toBe("alices-run");
  });

  it("an admin sees and acts on A's session; ListExecutors is for admins only", async () => {
    const { session } = await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: t.fakeClaude, cwd: work }) } });
    const events = await collectEvents(root.streamRun({ sessionId: session!.sessionId, prompt: "[[scenario:text]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect((await call(root, "getSession", { sessionId: session!.sessionId })).session!.owner).toBe("alice");
    expect(await outcome(call(bob, "listExecutors", {}))).toBe("PERMISSION_DENIED admin_required");
    expect(await outcome(call(root, "listExecutors", {}))).toBe("ok");
    await call(root, "closeSession", { sessionId: session!.sessionId });
    expect((await call(alice, "getSession", { sessionId: session!.sessionId })).session!.status).toBe(2);
  });
});

/**
 * One conformance suite, the same scenarios for every provider CLI that can run here, driving the
 * real CLI through the controller's public API against a loopback mock model server.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, PermissionMode, providerCatalog, providerFromProto, type RunOptions } from "@asm/shared";
import { startMockModel, type AnyModelMock, type RecordedRequest } from "../mock-models/index.js";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createSession } from "../helpers/sessions.js";
import { allGone, startTestController, type TestController } from "../helpers/test-controller.js";
import { operatorSetup, type ProviderHarness } from "./provider-harness.js";
import { approvalAllowed, approvalDenied, interruptWhileStreaming, pidOf, terminalError, type ScenarioContext } from "./shared-scenarios.js";


export function defineConformance(h: ProviderHarness): void {
  describe(`${h.name}: the real CLI through the controller`, () => {
    let t: TestController;
    let mock: AnyModelMock;
    let work: string;
    let n = 0;

    beforeAll(async () => {
      mock = await startMockModel(h.mock);
      const e = h.environment(mock);
      work = join(e.home, "work");
      mkdirSync(work, { recursive: true });
      // The operator configures the CLI's path and environment; clients send neither.
      const operator = operatorSetup(h, e.env);
      // With authentication on: the client is a plain user with a bearer JWT over TLS.
      t = await startTestController({ env: { ASM_KILL_GRACE_MS: "1000", ASM_PASS_ENV: operator.passEnv.join(",") }, hostEnv: operator.hostEnv, auth: "jwt" });
    });

    afterAll(async () => {
      await t?.stop();
      await mock?.stop();
    });

    const session = (defaults: Partial<RunOptions> = {}, limits = {}) =>
      createSession(t, h.provider, { cwd: work, model: h.model, providerOptions: h.providerOptions, ...defaults }, limits);
    const stream = (sessionId: string, prompt: string, runId = `${h.name}-${++n}`) => t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const requestsSince = (from: number): RecordedRequest[] => mock.requests.slice(from);
    const ctx: ScenarioContext = { h, client: () => t.client, mock: () => mock, work: () => work, session, stream: (sessionId, prompt) => stream(sessionId, prompt) };

    it("a text turn", async () => {
      const sessionId = await session();
      const events = await collectEvents(stream(sessionId, "say hello [[reply:text:Hello from the mock model]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const result = (await call(t.client, "getRun", { runId: events[0]!.runId })).run!.result!;
      expect(result.text).toContain("Hello from the mock model");
      expect(result.providerSessionId).not.toBe("");
      expect(await allGone([pidOf(events)])).toBe(true);
    });

    it("a tool call the mode auto-allows", async () => {
      const sessionId = await session({ permissionMode: h.autoAllowMode });
      const events = await collectEvents(stream(sessionId, "make a file [[reply:tool:touch auto-allowed.txt]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      expect(events.some((e) => e.payload?.$case === "approvalRequested")).toBe(false);
      expect(existsSync(join(work, "auto-allowed.txt"))).toBe(true);
    });

    it("approval allowed: the tool's side effect exists", () => approvalAllowed(ctx, "approved.txt"));

    it("approval denied: no side effect, and the model was told", () => approvalDenied(ctx, "denied.txt"));

    it("approval timeout: deny reaches the CLI", async () => {
      const sessionId = await session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, approvalTimeoutMs: 300 });
      const events = await collectEvents(stream(sessionId, "make a file [[reply:tool:touch timed-out.txt]]"));
      const resolved = events.flatMap((e) => (e.payload?.$case === "approvalResolved" ? [e.payload.value] : []));
      expect(resolved[0]).toMatchObject({ decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "timeout" });
      expect(terminalError(events)).toMatchObject({ kind: "timeout", reasonCode: "approval_timeout" });
      expect(existsSync(join(work, "timed-out.txt"))).toBe(false);
      // The CLI acted on the deny: it reported the tool as not run.
      expect(events.some((e) => e.payload?.$case === "toolResult" && e.payload.value.isError)).toBe(true);
      expect(await allGone([pidOf(events)])).toBe(true);
    });

    it("interrupt while streaming", () => interruptWhileStreaming(ctx));

    it("interrupt while an approval is pending", async () => {
      const sessionId = await session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT });
      const s = stream(sessionId, "make a file [[reply:tool:touch pending.txt]]");
      const all = collectEvents(s);
      const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
      await call(t.client, "interrupt", { runId: request.runId });
      const events = await all;
      expect(terminalError(events)?.kind).toBe("user_cancelled");
      expect(events.some((e) => e.payload?.$case === "approvalResolved")).toBe(true);
      expect(existsSync(join(work, "pending.txt"))).toBe(false);
      expect(await allGone([pidOf(events)])).toBe(true);
    });

    it("a second run continues the conversation", async () => {
      const sessionId = await session(h.continuationMode === undefined ? {} : { permissionMode: h.continuationMode });
      await collectEvents(stream(sessionId, "remember the word PAPAYA-7 [[reply:text:noted]]"));
      const from = mock.requests.length;
      const events = await collectEvents(stream(sessionId, "what did I say? [[reply:echo-history]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const request = requestsSince(from).find((r) => r.rawBody.includes("what did I say?"))!;
      // Only a yes/no here: the request body is large and would flood the failure message.
      expect(request.rawBody.includes("PAPAYA-7")).toBe(true);
    });

    it("a second run in the interactive mode continues the conversation, or says it starts a new one", async () => {
      const sessionId = await session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT });
      const first = await collectEvents(stream(sessionId, "remember the word KIWI-5 [[reply:text:noted]]"));
      expect(first.at(-1)!.payload?.$case).toBe("result");
      const from = mock.requests.length;
      const second = await collectEvents(stream(sessionId, "which word? [[reply:echo-history]]"));
      expect(second.at(-1)!.payload?.$case).toBe("result");
      const started = second[0]!.payload?.$case === "runStarted" ? second[0]!.payload.value : undefined;
      const request = requestsSince(from).find((r) => r.rawBody.includes("which word?"))!;
      const canResume = providerCatalog(providerFromProto(h.provider)).coreCapabilities.includes("resume");
      // Whatever the CLI can do, the run says what it did, and the model saw exactly that.
      expect({ continued: started?.continued, reason: started?.notContinuedReason, modelSawIt: request.rawBody.includes("KIWI-5") }).toEqual(
        canResume ? { continued: true, reason: "", modelSawIt: true } : { continued: false, reason: "resume_unsupported_in_mode", modelSawIt: false },
      );
    });

    it("a warm session: the second run reuses the CLI process and continues the conversation in it", async () => {
      const res = await call(t.client, "createSession", {
        provider: h.provider,
        sessionId: "",
        options: {
          defaults: { lane: 0, executionMode: 0, permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, env: {}, cwd: work, model: h.model, providerOptions: h.providerOptions, driverOpts: undefined },
          keepCliWarm: true,
        },
      });
      const sessionId = res.session!.sessionId;
      const first = await collectEvents(stream(sessionId, "remember the word MANGO-3 [[reply:text:noted]]"));
      const from = mock.requests.length;
      const second = await collectEvents(stream(sessionId, "and what was it? [[reply:echo-history]]"));
      const warmStart = second[0]!.payload?.$case === "runStarted" ? second[0]!.payload.value : undefined;
      expect(warmStart?.warm).toBe(true);
      expect(warmStart?.pid).toBe(pidOf(first));
      expect(second.at(-1)!.payload?.$case).toBe("result");
      const request = requestsSince(from).find((r) => r.rawBody.includes("and what was it?"))!;
      expect(request.rawBody.includes("MANGO-3")).toBe(true);
      await call(t.client, "closeSession", { sessionId });
      expect(await allGone([pidOf(first)])).toBe(true);
    });

    for (const [status, kind, reasonCode, retryable] of [
      [401, "auth_error", "provider_auth_failed", false],
      [429, "rate_limit", "provider_rate_limited", true],
      [500, "provider_error", "provider_unavailable", true],
    ] as const) {
      it(`the model API answers ${status}: typed ${kind} / ${reasonCode} (retryable: ${retryable}), the CLI's own code in details, no retries`, async () => {
        const sessionId = await session();
        const from = mock.requests.length;
        const events = await collectEvents(stream(sessionId, `fail please [[reply:error:${status}]]`));
        const error = terminalError(events);
        expect({ kind: error?.kind, reasonCode: error?.reasonCode, retryable: error?.retryable }, JSON.stringify(error)).toEqual({ kind, reasonCode, retryable });
        expect(error?.details?.provider_code, JSON.stringify(error?.details)).toMatch(/^[A-Za-z_]+$/);
        expect(requestsSince(from).filter((r) => r.rawBody.includes("fail please")).length).toBe(1);
        expect(await allGone([pidOf(events)])).toBe(true);
      });
    }

    it("the CLI is killed mid-run: typed error, no orphan", async () => {
      const sessionId = await session();
      const s = stream(sessionId, "stream slowly [[reply:slow:50:100]]");
      const all = collectEvents(s);
      const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
      const pid = started.payload?.$case === "runStarted" ? started.payload.value.pid : 0;
      await waitForEvent(s, (e) => e.payload?.$case === "assistantDelta");
      process.kill(pid, "SIGKILL");
      const events = await all;
      expect(terminalError(events)).toMatchObject({ kind: "transport_error", signal: "SIGKILL" });
      expect(await allGone([pid])).toBe(true);
    });

    it("every connection the CLI made went to the loopback mock, and nothing unexpected was asked", () => {
      expect(mock.nonLoopbackConnections()).toEqual([]);
      expect(mock.unexpected.map((r) => r.url)).toEqual([]);
      expect(mock.errors).toEqual([]);
    });
  });
}

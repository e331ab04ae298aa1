/**
 * One conformance suite, the same scenarios for every provider CLI that can run here, driving the
 * real CLI through the controller's public API against a loopback mock model server, on either
 * lane: `core` (asm's adapter drives the CLI) or `sdk` (the provider's official SDK, installed as
 * an optional dependency, drives the same CLI). Every difference between the lanes is a declared
 * capability difference, and is asserted as such.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, Lane, PermissionMode, providerCatalog, providerFromProto, type Capability, type Event, type LaneName, type RunOptions } from "@asm/shared";
import type { AnyModelMock, RecordedRequest } from "../mock-models/index.js";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createSession } from "../helpers/sessions.js";
import { allGone, type TestController } from "../helpers/test-controller.js";
import type { ProviderHarness } from "./provider-harness.js";
import { startProviderController, type ProviderController } from "./provider-controller.js";
import { approvalAllowed, approvalDenied, interruptWhileStreaming, midStream, pidOf, terminalError, type ScenarioContext } from "./shared-scenarios.js";

/** What a lane can do for a provider, as the catalog declares it (and GetProviderInfo reports). */
/** What a run's run_started says of continuing the session's conversation. */
function continuation(events: Event[]): { continued: boolean | undefined; reason: string | undefined } {
  const started = events[0]?.payload?.$case === "runStarted" ? events[0].payload.value : undefined;
  return { continued: started?.continued, reason: started?.notContinuedReason };
}

function laneCapabilities(h: ProviderHarness, lane: LaneName): readonly Capability[] {
  const entry = providerCatalog(providerFromProto(h.provider));
  return lane === "sdk" ? entry.sdkCapabilities : entry.coreCapabilities;
}


export function defineConformance(h: ProviderHarness, lane: LaneName = "core"): void {
  const caps = laneCapabilities(h, lane);
  const has = (c: Capability): boolean => caps.includes(c);
  // The sdk suite asks for the sdk lane explicitly: a run it cannot serve is an error, never a silent core run.
  const laneDefaults: Partial<RunOptions> = lane === "sdk" ? { lane: Lane.LANE_SDK, ...(has("approvals") ? {} : { interactiveApprovals: false }) } : {};
  describe(`${h.name} (${lane} lane): the real CLI through the controller`, () => {
    let t: TestController;
    let mock: AnyModelMock;
    let work: string;
    let n = 0;

    let setup: ProviderController | undefined;

    beforeAll(async () => {
      // With authentication on: the client is a plain user with a bearer JWT over TLS. The sdk
      // suite uses what is installed (the SDKs are optional dependencies); the core suite none.
      setup = await startProviderController(h, { auth: "jwt", sdkDiscovery: lane === "sdk" ? "installed" : undefined });
      ({ t, mock, work } = setup);
    });

    afterAll(async () => {
      await setup?.stop();
    });

    const session = (defaults: Partial<RunOptions> = {}, limits = {}) =>
      createSession(t, h.provider, { cwd: work, model: h.model, providerOptions: h.providerOptions, ...laneDefaults, ...defaults }, limits);
    const stream = (sessionId: string, prompt: string, runId = `${h.name}-${++n}`) => t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const requestsSince = (from: number): RecordedRequest[] => mock.requests.slice(from);
    const ctx: ScenarioContext = { h, lane, textDeltas: lane === "core" || h.sdkTextDeltas !== false, client: () => t.client, mock: () => mock, work: () => work, session, stream: (sessionId, prompt) => stream(sessionId, prompt) };
    const sdkRuntime = providerCatalog(providerFromProto(h.provider)).sdkPackage ?? "";

    it("a text turn, and every event and the result say which lane ran it", async () => {
      const sessionId = await session();
      const events = await collectEvents(stream(sessionId, "say hello [[reply:text:Hello from the mock model]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const result = (await call(t.client, "getRun", { runId: events[0]!.runId })).run!.result!;
      expect(result.text).toContain("Hello from the mock model");
      expect(result.providerSessionId).not.toBe("");
      const expected = { lane, backend: lane, requestedLane: lane === "sdk" ? "sdk" : "auto", sdkRuntime, sdkAvailable: lane === "sdk", capabilities: [...caps] };
      for (const e of events) expect(e.metadata).toMatchObject(expected);
      expect(result.metadata).toMatchObject(expected);
      expect(result.metadata?.sdkVersion).toMatch(lane === "sdk" ? /^\d+\.\d+\.\d+/ : /^$/);
      expect(await allGone([pidOf(events)])).toBe(true);
    });

    it("a tool call the mode auto-allows", async () => {
      const sessionId = await session({ permissionMode: h.autoAllowMode });
      const events = await collectEvents(stream(sessionId, "make a file [[reply:tool:touch auto-allowed.txt]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      expect(events.some((e) => e.payload?.$case === "approvalRequested")).toBe(false);
      expect(existsSync(join(work, "auto-allowed.txt"))).toBe(true);
    });

    if (has("approvals")) {
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

      it("a second run in the interactive mode continues the conversation, or says it starts a new one", async () => {
        const sessionId = await session({ permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT });
        const first = await collectEvents(stream(sessionId, "remember the word KIWI-5 [[reply:text:noted]]"));
        expect(first.at(-1)!.payload?.$case).toBe("result");
        const from = mock.requests.length;
        const second = await collectEvents(stream(sessionId, "which word? [[reply:echo-history]]"));
        expect(second.at(-1)!.payload?.$case).toBe("result");
        const request = requestsSince(from).find((r) => r.rawBody.includes("which word?"))!;
        // Whatever the CLI can do, the run says what it did, and the model saw exactly that.
        expect({ ...continuation(second), modelSawIt: request.rawBody.includes("KIWI-5") }).toEqual(
          has("resume") ? { continued: true, reason: "", modelSawIt: true } : { continued: false, reason: "resume_unsupported_in_mode", modelSawIt: false },
        );
      });
    } else {
      it("approvals: declared missing; an sdk-lane run that needs them is config_invalid naming the capability, auto runs it on core and says why", async () => {
        const needsApprovals = { permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, interactiveApprovals: true };
        const refused = await createSession(t, h.provider, { cwd: work, model: h.model, providerOptions: h.providerOptions, lane: Lane.LANE_SDK, ...needsApprovals }).then(
          () => undefined,
          (err: { code?: number; details?: string }) => err,
        );
        expect(refused?.code).toBe(3);
        expect(refused?.details).toMatch(/no approvals capability/);
        const sessionId = await createSession(t, h.provider, { cwd: work, model: h.model, providerOptions: h.providerOptions, lane: Lane.LANE_AUTO, ...needsApprovals });
        const s = stream(sessionId, "make a file [[reply:tool:touch fallback.txt]]");
        const all = collectEvents(s);
        const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
        expect(request.metadata).toMatchObject({ requestedLane: "auto", preferredLane: "sdk", lane: "core", backend: "core", laneFallbackReason: "sdk_lacks_approvals" });
        await call(t.client, "approve", { sessionId, approvalId: request.payload?.$case === "approvalRequested" ? request.payload.value.approvalId : "", decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
        expect((await all).at(-1)!.payload?.$case).toBe("result");
        expect(existsSync(join(work, "fallback.txt"))).toBe(true);
      });
    }

    it("interrupt while streaming", () => interruptWhileStreaming(ctx));

    it("a second run continues the conversation, or says it starts a new one", async () => {
      const sessionId = await session(h.continuationMode === undefined ? {} : { permissionMode: h.continuationMode });
      await collectEvents(stream(sessionId, "remember the word PAPAYA-7 [[reply:text:noted]]"));
      const from = mock.requests.length;
      const events = await collectEvents(stream(sessionId, "what did I say? [[reply:echo-history]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const request = requestsSince(from).find((r) => r.rawBody.includes("what did I say?"))!;
      // A one-shot continuation (gemini's `--resume`) exists only on the core lane.
      const canContinue = has("resume") || (has("resume_one_shot") && h.continuationMode !== undefined);
      // Only a yes/no for the body: it is large and would flood the failure message.
      expect({ ...continuation(events), modelSawIt: request.rawBody.includes("PAPAYA-7") }).toEqual(
        canContinue ? { continued: true, reason: "", modelSawIt: true } : { continued: false, reason: "resume_unsupported_in_mode", modelSawIt: false },
      );
    });

    if (has("warm_process")) {
      it("a warm session: the second run reuses the CLI process and continues the conversation in it", async () => {
        const sessionId = await warmSession(laneDefaults);
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
    } else {
      it("warm processes: declared missing; keep_cli_warm on an explicit sdk session is config_invalid, auto keeps it warm on core and says why", async () => {
        const refused = await warmSession({ ...laneDefaults, lane: Lane.LANE_SDK }).then(
          () => undefined,
          (err: { code?: number; details?: string }) => err,
        );
        expect(refused?.code).toBe(3);
        expect(refused?.details).toMatch(/no warm_process capability/);
        const sessionId = await warmSession({ lane: Lane.LANE_AUTO });
        const first = await collectEvents(stream(sessionId, "say hello [[reply:text:hi]]"));
        // The first capability the run needs that the sdk lane lacks is the reason.
        expect(first[0]!.metadata).toMatchObject({ preferredLane: "sdk", lane: "core", laneFallbackReason: has("approvals") ? "sdk_lacks_warm_process" : "sdk_lacks_approvals" });
        const second = await collectEvents(stream(sessionId, "again [[reply:text:hi again]]"));
        const warmStart = second[0]!.payload?.$case === "runStarted" ? second[0]!.payload.value : undefined;
        expect(warmStart?.warm).toBe(true);
        await call(t.client, "closeSession", { sessionId });
        expect(await allGone([pidOf(first)])).toBe(true);
      });
    }

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
      const from = mock.requests.length;
      const s = stream(sessionId, "stream slowly [[reply:slow:50:100]]");
      const all = collectEvents(s);
      const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
      const pid = started.payload?.$case === "runStarted" ? started.payload.value.pid : 0;
      await midStream(ctx, s, from, started);
      process.kill(pid, "SIGKILL");
      const events = await all;
      expect(terminalError(events), JSON.stringify(events.slice(-3).map((e) => e.payload))).toMatchObject({ kind: "transport_error", signal: "SIGKILL" });
      expect(await allGone([pid])).toBe(true);
    });

    async function warmSession(defaults: Partial<RunOptions>): Promise<string> {
      const res = await call(t.client, "createSession", {
        provider: h.provider,
        sessionId: "",
        options: {
          defaults: { lane: 0, executionMode: 0, permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, env: {}, cwd: work, model: h.model, providerOptions: h.providerOptions, driverOpts: undefined, executionSurface: undefined, ...defaults },
          keepCliWarm: true,
        },
      });
      return res.session!.sessionId;
    }

    it("every connection the CLI made went to the loopback mock, and nothing unexpected was asked", () => {
      expect(mock.nonLoopbackConnections()).toEqual([]);
      expect(mock.unexpected.map((r) => r.url)).toEqual([]);
      expect(mock.errors).toEqual([]);
    });
  });
}

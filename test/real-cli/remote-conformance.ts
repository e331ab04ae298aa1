/**
 * The real CLI on a real executor agent process: the controller (in-process, real gRPC) reaches
 * the bundled executor over mTLS, the executor starts the provider CLI in its workspace against a
 * loopback mock model. Approvals allowed and denied, and an interrupt, travel the whole chain.
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunOptions } from "@asm/shared";
import { startMockModel, type AnyModelMock } from "../mock-models/index.js";
import { startExecutorProcess, type ExecutorProcess } from "../helpers/executor-process.js";
import { call, collectEvents } from "../helpers/grpc-client.js";
import { createTestPki } from "../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../helpers/remote-setup.js";
import { createSession } from "../helpers/sessions.js";
import { allGone, startTestController, type TestController } from "../helpers/test-controller.js";
import { operatorSetup, type ProviderHarness } from "./provider-harness.js";
import { approvalAllowed, approvalDenied, interruptWhileStreaming, pidOf, type ScenarioContext } from "./shared-scenarios.js";


export function defineRemoteConformance(h: ProviderHarness): void {
  describe(`${h.name} on a remote executor: the real CLI through controller and executor`, () => {
    let t: TestController;
    let executor: ExecutorProcess;
    let mock: AnyModelMock;
    let work: string;
    let n = 0;

    beforeAll(async () => {
      mock = await startMockModel(h.mock);
      const e = h.environment(mock);
      work = join(e.home, "work");
      mkdirSync(work, { recursive: true });
      const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
      // The executor's workspace is the CLI's hermetic home; its own HOME is there too.
      // The executor's operator configures the CLI's path and environment; the controller sends neither.
      const operator = operatorSetup(h, e.env);
      executor = await startExecutorProcess({ pki, workspace: e.home, env: operator.hostEnv, args: ["--kill-grace-ms", "1000", ...(operator.passEnv.length ? ["--pass-env", operator.passEnv.join(",")] : [])] });
      // With authentication on: the client is a plain user with a client certificate (mTLS).
      t = await startTestController({ env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `sandbox=${executor.address}@executor-a` }, auth: "mtls" });
    });

    afterAll(async () => {
      await t?.stop();
      await executor?.stop();
      await mock?.stop();
    });

    const session = (defaults: Partial<RunOptions> = {}) =>
      createSession(t, h.provider, { ...remoteOptions("sandbox", { remote_cwd: "work" }), model: h.model, providerOptions: h.providerOptions, ...defaults });
    const stream = (sessionId: string, prompt: string, runId = `${h.name}-remote-${++n}`) => t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const ctx: ScenarioContext = { h, lane: "core", textDeltas: true, client: () => t.client, mock: () => mock, work: () => work, session, stream: (sessionId, prompt) => stream(sessionId, prompt) };

    it("a text turn runs on the executor", async () => {
      const sessionId = await session();
      const events = await collectEvents(stream(sessionId, "say hello [[reply:text:Hello from the mock model]]"));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      expect(events[0]!.metadata).toMatchObject({ executionMode: "remote_node", executor: "sandbox", lane: "core" });
      const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
      expect(started?.cwd).toBe(work);
      const result = (await call(t.client, "getRun", { runId: events[0]!.runId })).run!.result!;
      expect(result.text).toContain("Hello from the mock model");
      expect(await allGone([pidOf(events)])).toBe(true);
      expect(mock.nonLoopbackConnections()).toEqual([]);
    });

    it("approval allowed on the remote CLI: the tool's side effect exists in the executor's workspace", () => approvalAllowed(ctx, "remote-approved.txt"));

    it("approval denied on the remote CLI: no side effect, and the model was told", () => approvalDenied(ctx, "remote-denied.txt"));

    it("interrupt while the remote CLI streams: user_cancelled, its process gone, the model call closed", () => interruptWhileStreaming(ctx));
  });
}

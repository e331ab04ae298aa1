/**
 * The same scenario on both lanes gives the same events and the same result: interrupt, approval
 * timeout (where the sdk lane has approvals) and stream timeout, for each real CLI, with the same
 * settings on one controller that has the SDK packages installed. Event kinds are compared in
 * order with repeats collapsed (how many text deltas arrive before the stop is timing); `raw` and
 * `stderr` are the CLI's own words and are left out. No CLI is left behind on either lane.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lane, PermissionMode, providerCatalog, providerFromProto, type Event, type RunOptions } from "@asm/shared";
import type { AnyModelMock } from "../mock-models/index.js";
import { call, collectEvents } from "../helpers/grpc-client.js";
import { createSession } from "../helpers/sessions.js";
import { allGone, type TestController } from "../helpers/test-controller.js";
import { claudeHarness, codexHarness, geminiHarness, type ProviderHarness } from "./provider-harness.js";
import { startProviderController, type ProviderController } from "./provider-controller.js";
import { midStream, pidOf, type ScenarioContext } from "./shared-scenarios.js";

type LaneName = "core" | "sdk";

/** Event kinds in order, consecutive repeats collapsed, the CLI's verbatim output left out. */
function shape(events: Event[]): string[] {
  const kinds = events.map((e) => e.payload?.$case ?? "").filter((k) => k !== "raw" && k !== "stderr");
  return kinds.filter((k, i) => i === 0 || kinds[i - 1] !== k);
}

/** What a run ended with: its terminal event and the error's kind and reason, and the run's status. */
async function outcome(t: TestController, events: Event[]): Promise<Record<string, unknown>> {
  const last = events.at(-1)!;
  const error = last.payload?.$case === "error" ? last.payload.value.error : undefined;
  const run = (await call(t.client, "getRun", { runId: last.runId })).run!;
  return { terminal: last.payload?.$case, kind: error?.kind, reasonCode: error?.reasonCode, status: run.status, resultStatus: run.result?.status };
}

describe.each([claudeHarness, codexHarness, geminiHarness])("$name: the same scenario on both lanes", (h: ProviderHarness) => {
  let t: TestController;
  let mock: AnyModelMock;
  let work: string;
  let n = 0;
  const sdkHasApprovals = providerCatalog(providerFromProto(h.provider)).sdkCapabilities.includes("approvals");
  // codex's sdk lane cannot ask: both lanes then run codex without interactive approvals.
  const common: Partial<RunOptions> = sdkHasApprovals ? {} : { interactiveApprovals: false };

  let setup: ProviderController | undefined;

  beforeAll(async () => {
    setup = await startProviderController(h, { sdkDiscovery: "installed" });
    ({ t, mock, work } = setup);
  });

  afterAll(async () => {
    await setup?.stop();
  });

  const onLane = (lane: LaneName, defaults: Partial<RunOptions> = {}) =>
    createSession(t, h.provider, { cwd: work, model: h.model, providerOptions: h.providerOptions, lane: lane === "sdk" ? Lane.LANE_SDK : Lane.LANE_CORE, ...common, ...defaults });
  const stream = (sessionId: string, prompt: string) => t.client.streamRun({ sessionId, prompt, runId: `${h.name}-parity-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
  const ctxOf = (lane: LaneName): ScenarioContext => ({ h, lane, textDeltas: sdkHasApprovals, client: () => t.client, mock: () => mock, work: () => work, session: (d) => onLane(lane, d), stream });

  /** Runs `scenario` on each lane; returns what each gave, after checking each ran where asked and left no CLI. */
  async function onBothLanes(scenario: (lane: LaneName) => Promise<Event[]>): Promise<Record<LaneName, { shape: string[]; outcome: Record<string, unknown> }>> {
    const result = {} as Record<LaneName, { shape: string[]; outcome: Record<string, unknown> }>;
    for (const lane of ["core", "sdk"] as const) {
      const events = await scenario(lane);
      expect(events[0]!.metadata?.lane).toBe(lane);
      expect(await allGone([pidOf(events)])).toBe(true);
      result[lane] = { shape: shape(events), outcome: await outcome(t, events) };
    }
    return result;
  }

  it("interrupt while the model streams", async () => {
    const got = await onBothLanes(async (lane) => {
      const sessionId = await onLane(lane);
      const from = mock.requests.length;
      const s = stream(sessionId, "stream slowly [[reply:slow:50:100]]");
      const all = collectEvents(s);
      const during = await midStream(ctxOf(lane), s, from);
      await call(t.client, "interrupt", { runId: during.runId });
      return all;
    });
    expect(got.sdk.outcome).toEqual(got.core.outcome);
    expect(got.core.outcome).toMatchObject({ terminal: "error", kind: "user_cancelled" });
    expect(got.sdk.shape).toEqual(got.core.shape);
  });

  it("stream timeout: the model goes silent mid-answer", async () => {
    const got = await onBothLanes(async (lane) => {
      const sessionId = await onLane(lane, { streamTimeoutMs: 3000 });
      return collectEvents(stream(sessionId, "start then stall [[reply:hang:partial answer]]"));
    });
    expect(got.sdk.outcome).toEqual(got.core.outcome);
    expect(got.core.outcome).toMatchObject({ terminal: "error", kind: "timeout", reasonCode: "stream_timeout" });
    expect(got.sdk.shape).toEqual(got.core.shape);
  });

  // codex's sdk lane has no approvals (a declared difference, asserted in its conformance suite).
  if (sdkHasApprovals)
  it("approval timeout: the deny reaches the CLI", async () => {
    const got = await onBothLanes(async (lane) => {
      const sessionId = await onLane(lane, { permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, approvalTimeoutMs: 300 });
      return collectEvents(stream(sessionId, `make a file [[reply:tool:touch timeout-${lane}.txt]]`));
    });
    expect(got.sdk.outcome).toEqual(got.core.outcome);
    expect(got.core.outcome).toMatchObject({ terminal: "error", kind: "timeout", reasonCode: "approval_timeout" });
    expect(got.sdk.shape).toEqual(got.core.shape);
  });
});

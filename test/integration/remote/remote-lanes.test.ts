import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lane, Provider } from "@asm/shared";
import { call, callError, collectEvents } from "../../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession, runOptions } from "../../helpers/sessions.js";
import { readRecord } from "../../helpers/test-controller.js";

let r: RemoteSetup;

beforeAll(async () => {
  // The SDK runtime is "installed" on the controller: lane auto prefers sdk.
  r = await startRemoteSetup({ sdkDiscovery: () => true });
});
afterAll(async () => {
  await r?.stop();
});

const EXPECTED = {
  requestedLane: "auto",
  preferredLane: "sdk",
  lane: "core",
  backend: "core",
  executionMode: "remote_node",
  laneFallbackReason: "sdk_remote_unsupported",
};

describe("lanes in remote mode (seed 002 with seed 000)", () => {
  it("lane auto with the sdk available runs core remotely; events and result carry exactly that", async () => {
    const record = join(r.executor.workspace, "auto.jsonl");
    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), lane: Lane.LANE_AUTO, cliPath: r.t.fakeClaude, env: { FAKE_CLI_RECORD: record } });
    const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "auto lane", runId: "auto-remote", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    for (const e of events) expect(e.metadata).toMatchObject(EXPECTED);
    const run = (await call(r.t.client, "getRun", { runId: "auto-remote" })).run!;
    expect(run.result?.metadata).toMatchObject(EXPECTED);
    expect(run.metadata).toMatchObject(EXPECTED);
    // It really ran on the executor.
    expect(readRecord(record).some((x) => x.t === "start")).toBe(true);
    const resolved = await call(r.t.client, "resolveLane", { provider: Provider.PROVIDER_CLAUDE, lane: Lane.LANE_AUTO, executionMode: 2, executionSurface: undefined });
    expect(resolved.observability).toMatchObject(EXPECTED);
  });

  it("explicit lane sdk with remote_node is a configuration error, for a session and for a run", async () => {
    const onSession = await callError(r.t.client, "createSession", {
      provider: Provider.PROVIDER_CLAUDE,
      sessionId: "",
      options: { defaults: { ...remoteOptions("executor-a"), lane: Lane.LANE_SDK } },
    });
    expect(onSession.code).toBe(Status.INVALID_ARGUMENT);
    expect(onSession.error.kind).toBe("config_invalid");
    expect(onSession.error.reasonCode).toBe("sdk_remote_unsupported");

    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { cliPath: r.t.fakeClaude, lane: Lane.LANE_CORE });
    const onRun = await callError(r.t.client, "query", {
      sessionId,
      prompt: "x",
      runId: "",
      overrides: runOptions({ ...remoteOptions("executor-a"), lane: Lane.LANE_SDK }),
      provider: Provider.PROVIDER_UNSPECIFIED,
      sessionOptions: undefined,
    });
    expect(onRun.code).toBe(Status.INVALID_ARGUMENT);
    expect(onRun.error.reasonCode).toBe("sdk_remote_unsupported");
  });
});

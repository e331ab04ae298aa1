/**
 * Overload degrades into queueing, not into lost runs: 250 remote runs submitted at once, their
 * CLIs and the executor on the controller's own machine, with the default caps and liveness
 * bounds. Every run completes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider } from "@asm/shared";
import { collectEvents } from "../../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession } from "../../helpers/sessions.js";

let r: RemoteSetup;
beforeAll(async () => {
  // Production liveness bounds (heartbeat every 2 s, lost after 10 s), not the tests' fast ones.
  r = await startRemoteSetup({
    executor: { args: ["--heartbeat-interval-ms", "2000", "--heartbeat-timeout-ms", "10000", "--log-level", "warn"] },
    env: { ASM_REMOTE_HEARTBEAT_INTERVAL_MS: "2000", ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: "10000", ASM_REMOTE_KEEPALIVE_TIME_MS: "30000", ASM_REMOTE_KEEPALIVE_TIMEOUT_MS: "10000" },
  });
});
afterAll(async () => {
  await r?.stop();
});

describe("overload", () => {
  it(
    "250 remote runs at once: all complete (queued on the controller and the executor, none lost)",
    async () => {
      const runs = 250;
      const sessions = await Promise.all(Array.from({ length: runs }, () => createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude })));
      const outcomes = await Promise.all(
        sessions.map((sessionId, i) =>
          collectEvents(r.t.client.streamRun({ sessionId, prompt: "[[scenario:flood]] [[n:50]]", runId: `overload-${i}`, overrides: undefined, keepRunning: false, maxBatchEvents: 64 })),
        ),
      );
      const failed = outcomes.flatMap((events, i) => (events.at(-1)?.payload?.$case === "result" ? [] : [`overload-${i}: ${JSON.stringify(events.at(-1)?.payload).slice(0, 200)}`]));
      expect(failed).toEqual([]);
    },
    300_000,
  );
});

/**
 * A StreamRun caller that stops reading holds its run back (backpressure reaches the CLI), and
 * the time the run waits on that reader is not CLI silence: stream_timeout_ms does not fire for
 * it, locally or on an executor. The runs' clock is a manual one, moved past several stream
 * timeouts while the reader holds the run.
 */
import { join } from "node:path";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider, SYSTEM_PRINCIPAL, type Event, type RunOptions, type StreamRunResponse } from "@asm/shared";
import type { Run } from "@asm/controller";
import { eventsOf } from "../helpers/grpc-client.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../helpers/remote-setup.js";
import { createSession } from "../helpers/sessions.js";
import { eventually, readRecord, startTestController, type TestController } from "../helpers/test-controller.js";

const STREAM_TIMEOUT_MS = 1000;

/** Starts a flood of n events with its reader paused from the first moment. */
function heldStream(t: TestController, sessionId: string, runId: string, n: number): { stream: ClientReadableStream<StreamRunResponse>; events: Event[]; ended: Promise<void> } {
  const stream = t.client.streamRun({ sessionId, prompt: `[[scenario:flood]] [[n:${n}]]`, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
  const events: Event[] = [];
  stream.on("data", (res: StreamRunResponse) => events.push(...eventsOf(res)));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  stream.pause();
  return { stream, events, ended };
}

/**
 * `n` must be more than what the chain between the CLI and the paused reader holds (pipe,
 * executor, link, controller, client buffers), so that the CLI blocks.
 */
async function readerHoldsTheRun(t: TestController, clock: ManualClock, defaults: Partial<RunOptions>, record: string, runId: string, n: number): Promise<void> {
  const sessionId = await createSession(t, Provider.PROVIDER_CLAUDE, { ...defaults, cliPath: t.fakeClaude, streamTimeoutMs: STREAM_TIMEOUT_MS, env: { FAKE_CLI_RECORD: record } });
  const held = heldStream(t, sessionId, runId, n);
  const runs = t.app.controller;
  // Held: the run's producer is parked on its reader, and the CLI is blocked on its stdout. (Not
  // `!hasReaderRoom`: the producer stays parked until the reader is within half a window, so the
  // reader's last writes before its client's buffers filled can give room back without waking it.)
  const state = (): { waiting: boolean; blocked: boolean; events: number; reader: string } => {
    try {
      const log = (runs.getRun(runId, SYSTEM_PRINCIPAL) as Run).log;
      return { waiting: log.producerWaiting, blocked: readRecord(record).some((x) => x.t === "blocked"), events: log.lastSequence, reader: String(log.hasReaderRoom) };
    } catch {
      return { waiting: false, blocked: false, events: 0, reader: "no run yet" }; // the call has not reached the controller yet
    }
  };
  // Filling the chain takes seconds (100,000 events remotely), more on a loaded machine.
  const held_ = await eventually(() => state().waiting && state().blocked, 100_000);
  expect(held_, JSON.stringify(state())).toBe(true);
  // Five stream timeouts pass on the runs' clock while nobody reads.
  clock.advance(5 * STREAM_TIMEOUT_MS);
  held.stream.resume();
  await held.ended;
  const last = held.events.at(-1)!;
  expect(last.payload?.$case === "error" ? last.payload.value.error : undefined).toBeUndefined();
  expect(last.payload?.$case).toBe("result");
  expect(held.events.filter((e) => e.payload?.$case === "assistantMessage")).toHaveLength(n);
}

describe("a slow reader is not CLI silence", () => {
  describe("local", () => {
    const clock = new ManualClock();
    let t: TestController;
    beforeAll(async () => {
      t = await startTestController({ clock });
    });
    afterAll(async () => {
      await t?.stop();
    });

    it("a reader that pauses past stream_timeout_ms gets the whole run, successful", { timeout: 150_000 }, async () => {
      await readerHoldsTheRun(t, clock, {}, join(t.dir, "slow-reader.jsonl"), "slow-reader-local", 20_000);
    });

    it("the stream timeout still ends a run whose CLI is silent", async () => {
      const sessionId = await createSession(t, Provider.PROVIDER_CLAUDE, { cliPath: t.fakeClaude, streamTimeoutMs: STREAM_TIMEOUT_MS });
      const stream = t.client.streamRun({ sessionId, prompt: "[[scenario:silent]] [[ms:600000]]", runId: "silent-cli", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
      const events: Event[] = [];
      stream.on("data", (res: StreamRunResponse) => events.push(...eventsOf(res)));
      const ended = new Promise((resolve) => stream.on("end", resolve));
      // The run has started and is waiting on its silent CLI.
      expect(await eventually(() => events.some((e) => e.payload?.$case === "runStarted"))).toBe(true);
      clock.advance(STREAM_TIMEOUT_MS);
      await ended;
      const last = events.at(-1)!;
      expect(last.payload?.$case === "error" && last.payload.value.error).toMatchObject({ kind: "timeout", reasonCode: "stream_timeout" });
    });
  });

  describe("remote", () => {
    const clock = new ManualClock();
    let r: RemoteSetup;
    beforeAll(async () => {
      r = await startRemoteSetup({ clock });
    });
    afterAll(async () => {
      await r?.stop();
    });

    it("a reader that pauses past stream_timeout_ms gets the whole remote run, successful", { timeout: 150_000 }, async () => {
      await readerHoldsTheRun(r.t, clock, remoteOptions("executor-a"), join(r.executor.workspace, "slow-reader.jsonl"), "slow-reader-remote", 100_000);
    });
  });
});

/**
 * An executor at its own caps queues runs instead of starting CLIs it has no room for: the
 * controller is told (RunQueued) and waits with its heartbeat bound, not the RPC timeout; the
 * queued run starts when a slot frees, or ends without a CLI when it is interrupted first.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InterruptOutcome, Provider, type Event } from "@asm/shared";
import { call, collectEvents, eventsOf, waitForEvent } from "../../helpers/grpc-client.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession } from "../../helpers/sessions.js";
import { eventually } from "../../helpers/test-controller.js";

let r: RemoteSetup;
beforeAll(async () => {
  r = await startRemoteSetup({ executor: { args: ["--max-runs", "1", "--max-starting", "1"] } });
});
afterAll(async () => {
  await r?.stop();
});

/** The executor's log lines about one run (pino JSON). */
const executorLog = (runId: string): { msg: string; position?: number }[] =>
  r.executor
    .output()
    .split("\n")
    .flatMap((line) => {
      try {
        const e = JSON.parse(line) as { runId?: string; msg: string; position?: number };
        return e.runId === runId ? [e] : [];
      } catch {
        return [];
      }
    });

async function remoteSession(): Promise<string> {
  // A short RPC timeout: a queued run must not be mistaken for an executor that does not answer.
  return createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a", { remote_rpc_timeout_ms: 300 }), cliPath: r.t.fakeClaude });
}

function live(runId: string, prompt: string, sessionId: string): { events: Event[]; ended: Promise<Event[]>; stream: ReturnType<RemoteSetup["t"]["client"]["streamRun"]> } {
  const stream = r.t.client.streamRun({ sessionId, prompt, runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
  const events: Event[] = [];
  stream.on("data", (m) => events.push(...eventsOf(m)));
  const ended = new Promise<Event[]>((resolve, reject) => {
    stream.on("end", () => resolve(events));
    stream.on("error", reject);
  });
  return { events, ended, stream };
}

describe("an executor at its caps (--max-runs 1)", () => {
  it("queues the next run until the slot frees; the queued run then starts and completes", async () => {
    const holder = live("holds-the-slot", "[[scenario:hang]]", await remoteSession());
    await waitForEvent(holder.stream, (e) => e.payload?.$case === "runStarted");
    const next = live("waits-for-the-slot", "hello", await remoteSession());
    expect(await eventually(() => executorLog("waits-for-the-slot").some((e) => e.msg.startsWith("run queued")), 10_000)).toBe(true);
    expect(executorLog("waits-for-the-slot").find((e) => e.msg.startsWith("run queued"))!.position).toBe(0);
    expect(next.events.some((e) => e.payload?.$case === "runStarted")).toBe(false);
    expect((await call(r.t.client, "interrupt", { runId: "holds-the-slot" })).outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED);
    await holder.ended;
    const events = await next.ended;
    expect(events[0]!.payload?.$case).toBe("runStarted");
    expect(events.at(-1)!.payload?.$case).toBe("result");
  });

  it("a run interrupted while it waits on the executor ends user_cancelled, with no CLI started", async () => {
    const holder = live("holds-again", "[[scenario:hang]]", await remoteSession());
    await waitForEvent(holder.stream, (e) => e.payload?.$case === "runStarted");
    const waiting = live("interrupted-while-queued", "hello", await remoteSession());
    expect(await eventually(() => executorLog("interrupted-while-queued").some((e) => e.msg.startsWith("run queued")), 10_000)).toBe(true);
    await call(r.t.client, "interrupt", { runId: "interrupted-while-queued" });
    const events = await waiting.ended;
    expect(events.some((e) => e.payload?.$case === "runStarted")).toBe(false);
    const last = events.at(-1)!;
    expect(last.payload?.$case === "error" && last.payload.value.error?.kind).toBe("user_cancelled");
    await call(r.t.client, "interrupt", { runId: "holds-again" });
    await holder.ended;
    // The slot is free again: a new run starts at once.
    const after = await collectEvents(r.t.client.streamRun({ sessionId: await remoteSession(), prompt: "hello", runId: "after-the-queue", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(after.at(-1)!.payload?.$case).toBe("result");
    expect(executorLog("after-the-queue").some((e) => e.msg.startsWith("run queued"))).toBe(false);
  });
});

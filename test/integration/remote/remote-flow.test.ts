import { join } from "node:path";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Provider, type Event, type StreamRunResponse } from "@asm/shared";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { collectEvents, eventsOf } from "../../helpers/grpc-client.js";
import { createSession } from "../../helpers/sessions.js";
import { eventually, readRecord } from "../../helpers/test-controller.js";

let r: RemoteSetup;

beforeAll(async () => {
  // Production-like liveness bounds: this test saturates both cores, and event loops lag under it.
  r = await startRemoteSetup({
    executor: { args: ["--heartbeat-interval-ms", "1000", "--heartbeat-timeout-ms", "20000", "--keepalive-time-ms", "30000", "--keepalive-timeout-ms", "20000", "--log-level", "info"] },
    env: { ASM_REMOTE_HEARTBEAT_INTERVAL_MS: "1000", ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: "20000", ASM_REMOTE_KEEPALIVE_TIME_MS: "30000", ASM_REMOTE_KEEPALIVE_TIMEOUT_MS: "20000" },
  });
});
afterAll(async () => {
  await r?.stop();
});

/** Reads a whole run, pausing at random like a slow client: `pauseEvery` events, up to `maxPauseMs`. */
function readAtRandomSpeed(stream: ClientReadableStream<StreamRunResponse>, random: () => number, maxPauseMs: number): Promise<Event[]> {
  return new Promise((resolve, reject) => {
    const events: Event[] = [];
    let untilPause = Math.floor(random() * 200);
    stream.on("data", (res: StreamRunResponse) => {
      events.push(...eventsOf(res));
      if (--untilPause > 0) return;
      untilPause = Math.floor(random() * 200);
      stream.pause();
      setTimeout(() => stream.resume(), Math.floor(random() * maxPauseMs));
    });
    stream.on("end", () => resolve(events));
    stream.on("error", reject);
  });
}

/** A small deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function checkComplete(events: Event[], n: number): void {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
  const texts = events.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []));
  expect(texts).toEqual(Array.from({ length: n }, (_, i) => `f${i}`));
  expect(events.at(-1)!.payload?.$case).toBe("result");
}

interface HeldRun {
  events: Event[];
  record: string;
  /** Resumes reading and resolves once the stream has ended. */
  release(): Promise<void>;
}

/**
 * Starts a flood of `n` events on the executor with its client paused from the start; resolves
 * once the CLI has started (it records to `<name>.jsonl` in the executor's workspace).
 */
async function startHeldRun(name: string, n: number, maxBatchEvents: number): Promise<HeldRun> {
  const record = join(r.executor.workspace, `${name}.jsonl`);
  const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude, env: { FAKE_CLI_RECORD: record } });
  const stream = r.t.client.streamRun({ sessionId, prompt: `[[scenario:flood]] [[n:${n}]]`, runId: name, overrides: undefined, keepRunning: false, maxBatchEvents });
  const events: Event[] = [];
  stream.on("data", (res: StreamRunResponse) => events.push(...eventsOf(res)));
  const ended = new Promise<void>((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  stream.pause();
  expect(await eventually(() => readRecord(record).some((x) => x.t === "start"), 10_000)).toBe(true);
  return {
    events,
    record,
    release: () => {
      stream.resume();
      return ended;
    },
  };
}

/** Where the flooding CLI stands by its own record: the line its stdout last blocked at, and whether it drained since. */
function blockState(record: string): { entries: number; blockedAt: number | undefined; exited: boolean } {
  const entries = readRecord(record);
  const last = entries.filter((x) => x.t === "blocked" || x.t === "drained").at(-1);
  return { entries: entries.length, blockedAt: last?.t === "blocked" ? Number(last.line) : undefined, exited: entries.some((x) => x.t === "exit") };
}

/** Whole runs of 5,000 events on another session of the same executor link, each checked complete. */
async function runBeside(sessionId: string, label: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const others = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "[[scenario:flood]] [[n:5000]]", runId: `${label}-${i}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    checkComplete(others, 5000);
  }
}

/**
 * With its client paused, the held CLI's stdout blocks for good once the chain (pipe, executor,
 * link, controller, client buffers) is full: its record stops changing during a whole run of
 * 5,000 events beside it on the same executor link. It then stays blocked at that line while
 * `besides` more whole runs pass: it wrote nothing more in all that time, so it cannot finish.
 * Returns the line it is held at.
 */
async function expectHeldWhile(held: HeldRun, other: string, label: string, besides: number): Promise<number> {
  let before = blockState(held.record);
  // While the chain fills, the CLI's writes stop and start again; a bounded number of runs beside it.
  for (let fill = 0; ; fill++) {
    await runBeside(other, `${label}-fill-${fill}`, 1);
    const after = blockState(held.record);
    expect(after.exited, "the held CLI ran to its end: nothing held it back").toBe(false);
    if (after.blockedAt !== undefined && after.entries === before.entries) break;
    expect(fill, "the held CLI kept writing through 10 whole runs beside it").toBeLessThan(10);
    before = after;
  }
  await runBeside(other, label, besides);
  expect(blockState(held.record)).toEqual(before);
  return before.blockedAt!;
}

describe("end-to-end flow control through the executor", () => {
  it.each([
    ["one event per message", 0],
    ["batched", 256],
  ])("a client that stops reading stops the remote CLI (its pipe blocks); nothing is dropped (%s)", async (_form, maxBatchEvents) => {
    const n = 100_000;
    const held = await startHeldRun(`stalled-reader-${maxBatchEvents}`, n, maxBatchEvents);
    const other = await createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude });
    const heldAt = await expectHeldWhile(held, other, `beside-stalled-${maxBatchEvents}`, 1);
    // What is in flight (pipe, executor, link, controller, client buffers) is bounded: far from all of it.
    expect(heldAt).toBeLessThan(n / 2);
    expect(held.events.length).toBeLessThanOrEqual(heldAt);
    await held.release();
    checkComplete(held.events, n);
  });

  it("a client that stops reading holds up only its own run, not the others on the same executor link", async () => {
    const n = 40_000;
    const held = await startHeldRun("held-reader", n, 0);
    const other = await createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude });
    // Runs on the same link carry on, several of them, each to its end, while the held CLI stays blocked.
    await expectHeldWhile(held, other, "beside-held", 3);
    await held.release();
    checkComplete(held.events, n);
  });

  it(
    "200 remote runs, 50 at a time, 2,000 events each, clients reading at random speeds (every other one batched): every event, in order, gap-free",
    async () => {
      const runs = 200;
      const concurrency = 50;
      const n = 2000;
      const sessions = await Promise.all(
        Array.from({ length: concurrency }, () => createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude })),
      );
      let next = 0;
      const results: { runId: string; events: Event[] }[] = [];
      await Promise.all(
        sessions.map(async (sessionId, worker) => {
          const random = prng(worker + 1);
          for (;;) {
            const i = next++;
            if (i >= runs) return;
            const runId = `stress-${i}`;
            // Every other run asks for batches of a random size (2..512), so both forms run under load.
            const maxBatchEvents = i % 2 === 0 ? 0 : 2 + Math.floor(random() * 511);
            const stream = r.t.client.streamRun({ sessionId, prompt: `[[scenario:flood]] [[n:${n}]]`, runId, overrides: undefined, keepRunning: false, maxBatchEvents });
            results.push({ runId, events: await readAtRandomSpeed(stream, random, 15) });
          }
        }),
      );
      expect(results).toHaveLength(runs);
      const failed = results.filter(({ events }) => events.at(-1)?.payload?.$case !== "result");
      expect(failed.map(({ runId, events }) => `${runId}: ${JSON.stringify(events.at(-1)?.payload)}`)).toEqual([]);
      for (const { events } of results) checkComplete(events, n);
    },
    300_000,
  );
});

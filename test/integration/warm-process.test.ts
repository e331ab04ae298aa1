import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InterruptOutcome, Provider, type Event } from "@asm/shared";
import { call, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { runOptions } from "../helpers/sessions.js";
import { allGone, isAlive, readRecord, startTestController, type TestController } from "../helpers/test-controller.js";

let t: TestController;

beforeAll(async () => {
  t = await startTestController();
});
afterAll(async () => {
  await t?.stop();
});

async function warmSession(record: string, idleMs?: number): Promise<string> {
  const res = await call(t.client, "createSession", {
    provider: Provider.PROVIDER_CLAUDE,
    sessionId: "",
    options: { defaults: runOptions({ cliPath: t.fakeClaude, env: { FAKE_CLI_RECORD: record } }), keepCliWarm: true, warmIdleTimeoutMs: idleMs },
  });
  return res.session!.sessionId;
}

const run = (sessionId: string, prompt: string) => collectEvents(t.client.streamRun({ sessionId, prompt, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
const started = (events: Event[]) => {
  const p = events[0]!.payload;
  if (p?.$case !== "runStarted") throw new Error("first event is not run_started");
  return p.value;
};
const resultText = (events: Event[]) => events.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : [])).join("");

describe("warm CLI processes", () => {
  it("the next run reuses the process and continues the conversation in it", async () => {
    const record = join(t.dir, "warm-reuse.jsonl");
    const sessionId = await warmSession(record);
    const first = await run(sessionId, "[[scenario:history]] [[echo]] one");
    const second = await run(sessionId, "[[scenario:history]] [[echo]] two");
    expect(started(first).warm).toBe(false);
    expect(started(second).warm).toBe(true);
    expect(started(second).pid).toBe(started(first).pid);
    expect(second.at(-1)!.payload?.$case).toBe("result");
    expect(resultText(second)).toContain("turn:2");
    expect(readRecord(record).filter((r) => r.t === "start")).toHaveLength(1);
    expect(isAlive(started(first).pid)).toBe(true);
    await call(t.client, "closeSession", { sessionId });
    expect(await allGone([started(first).pid])).toBe(true);
  });

  it("a warm process that died between runs is replaced by a fresh one", async () => {
    const sessionId = await warmSession(join(t.dir, "warm-died.jsonl"));
    const first = await run(sessionId, "hello");
    process.kill(started(first).pid, "SIGKILL");
    expect(await allGone([started(first).pid])).toBe(true);
    const second = await run(sessionId, "hello again");
    expect(started(second).warm).toBe(false);
    expect(started(second).pid).not.toBe(started(first).pid);
    expect(second.at(-1)!.payload?.$case).toBe("result");
    await call(t.client, "closeSession", { sessionId });
  });

  it("a warm process that crashes during a run ends that run with a typed error; the next run starts fresh", async () => {
    const sessionId = await warmSession(join(t.dir, "warm-crash.jsonl"));
    const first = await run(sessionId, "hello");
    const crashed = await run(sessionId, "[[scenario:crash]] [[code:9]]");
    expect(started(crashed).warm).toBe(true);
    const last = crashed.at(-1)!;
    expect(last.payload?.$case === "error" && last.payload.value.error).toMatchObject({ kind: "transport_error", exitCode: 9 });
    const third = await run(sessionId, "still there?");
    expect(started(third).warm).toBe(false);
    expect(started(third).pid).not.toBe(started(first).pid);
    expect(third.at(-1)!.payload?.$case).toBe("result");
    await call(t.client, "closeSession", { sessionId });
  });

  it("an interrupted warm run ends user_cancelled and the process serves the next run", async () => {
    const sessionId = await warmSession(join(t.dir, "warm-interrupt.jsonl"));
    const s = t.client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:100]] [[ms:50]]", runId: "warm-int-1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const events = collectEvents(s);
    // Mid-stream: the first of the 100 words has arrived, the rest are still to come.
    await waitForEvent(s, (e) => e.payload?.$case === "assistantMessage");
    const res = await call(t.client, "interrupt", { runId: "warm-int-1" });
    expect(res.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED);
    const interrupted = await events;
    const last = interrupted.at(-1)!;
    expect(last.payload?.$case === "error" && last.payload.value.error?.kind).toBe("user_cancelled");
    expect(interrupted.filter((e) => e.payload?.$case === "assistantMessage").length).toBeLessThan(100);
    const next = await run(sessionId, "after the interrupt");
    expect(started(next).warm).toBe(true);
    expect(started(next).pid).toBe(started(interrupted).pid);
    expect(next.at(-1)!.payload?.$case).toBe("result");
    await call(t.client, "closeSession", { sessionId });
  });

  it("an idle warm process is stopped after warm_idle_timeout_ms", async () => {
    const sessionId = await warmSession(join(t.dir, "warm-idle.jsonl"), 200);
    const first = await run(sessionId, "hello");
    expect(await allGone([started(first).pid])).toBe(true);
    const session = (await call(t.client, "getSession", { sessionId })).session!;
    expect(session.options!.keepCliWarm).toBe(true);
    await call(t.client, "closeSession", { sessionId });
  });

  it("without keep_cli_warm every run has its own process", async () => {
    const res = await call(t.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: t.fakeClaude }) } });
    const sessionId = res.session!.sessionId;
    const first = await run(sessionId, "one");
    const second = await run(sessionId, "two");
    expect(started(second).warm).toBe(false);
    expect(started(second).pid).not.toBe(started(first).pid);
    expect(await allGone([started(first).pid, started(second).pid])).toBe(true);
  });
});

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import pg from "pg";
import { ApprovalDecision, InterruptOutcome, Provider, RunStatus, type Event } from "@asm/shared";
import { startControllerProcess, type ControllerProcess } from "../../helpers/controller-process.js";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { call, callError, collectEvents, eventsOf, waitForEvent, type Client } from "../../helpers/grpc-client.js";
import { createTestPki } from "../../helpers/pki.js";
import { startPostgres, type TestPostgres } from "../../helpers/postgres.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../../helpers/remote-setup.js";
import { runOptions } from "../../helpers/sessions.js";
import { eventually, readRecord } from "../../helpers/test-controller.js";

/**
 * Issue 15, acceptance 2: two controller processes on one real PostgreSQL database. A run driven
 * by controller A is watched live through B; Approve, Interrupt, StreamRun, Query and
 * CloseSession sent to B reach A; SIGKILL A mid-run and B takes the session over within the
 * bound (ASM_LEASE_TTL_MS + a quarter of it), the remote run continues with the same CLI, and
 * the watcher on B sees no gap.
 */

const LEASE_TTL_MS = 1000;
const pidOf = (e: Event | undefined): number => (e?.payload?.$case === "runStarted" ? e.payload.value.pid : 0);
const errorOf = (e: Event | undefined) => (e?.payload?.$case === "error" ? e.payload.value.error : undefined);
const textOf = (e: Event | undefined): string => (e?.payload?.$case === "result" ? e.payload.value.text ?? "" : "");
const same = (e: Event) => ({ id: e.id, sequence: e.sequence, kind: e.kind, payload: e.payload });
const approvalIdOf = (e: Event): string => (e.payload?.$case === "approvalRequested" ? e.payload.value.approvalId : "");

function expectContiguous(events: Event[]): void {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => 1 + i));
}

/** Every event a WatchRun delivers, as they come, until the stream ends. */
function watch(client: Client, runId: string): { events: Event[]; ended: Promise<void>; error: () => Error | undefined } {
  const events: Event[] = [];
  let failure: Error | undefined;
  const stream = client.watchRun({ runId, afterSequence: 0, maxBatchEvents: 0 });
  stream.on("data", (m) => events.push(...eventsOf(m)));
  const ended = new Promise<void>((resolve) => {
    stream.on("error", (err) => {
      failure = err;
      resolve();
    });
    stream.on("end", () => resolve());
  });
  return { events, ended, error: () => failure };
}

describe("two controllers on one PostgreSQL database", () => {
  let postgres: TestPostgres;
  let url: string;
  let executor: ExecutorProcess;
  let a: ControllerProcess;
  let b: ControllerProcess;
  let root: string;
  let env: Record<string, string>;
  let fakeClaude: string;
  let record: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "asm-cluster-"));
    const pki = createTestPki(join(root, "pki"));
    executor = await startExecutorProcess({ pki });
    record = join(executor.workspace, "remote.jsonl");
    postgres = await startPostgres();
    url = postgres.createDatabase("cluster");
    env = { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ASM_STORE: url, ASM_LEASE_TTL_MS: String(LEASE_TTL_MS) };
    a = await startControllerProcess({ ...env, ASM_CONTROLLER_ID: "ctl-a" }, root);
    b = await startControllerProcess({ ...env, ASM_CONTROLLER_ID: "ctl-b" }, root);
    fakeClaude = inject("fakeClaudePath");
  });

  afterAll(async () => {
    await a?.kill("SIGTERM");
    await b?.kill("SIGTERM");
    await executor?.stop();
    await postgres?.stop();
  });

  const createSession = async (c: Client, sessionId: string, defaults: ReturnType<typeof runOptions>) =>
    (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults, maxConcurrentRuns: 1, maxQueuedRuns: 4, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId })).session!;

  it("B answers for A's sessions and runs, live, and its Approve, Interrupt, StreamRun, Query and CloseSession reach A", async () => {
    const ca = a.client;
    const cb = b.client;
    const created = await createSession(ca, "on-a", { ...remoteOptions("executor-a"), cliPath: fakeClaude, interactiveApprovals: true });

    // Reads: the session as A has it, and in B's listing.
    expect((await call(cb, "getSession", { sessionId: "on-a" })).session).toEqual(created);
    const listed = (await call(cb, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" })).sessions.map((s) => s.sessionId);
    expect(listed).toContain("on-a");
    // Pages across controllers: a token from B's page works on A, and the pages cover the listing once.
    await createSession(cb, "on-b", runOptions({ cliPath: fakeClaude }));
    const paged: string[] = [];
    let token = "";
    for (let i = 0; i < 10; i++) {
      const page = await call(i % 2 === 0 ? cb : ca, "listSessions", { includeClosed: false, pageSize: 1, pageToken: token });
      paged.push(...page.sessions.map((s) => s.sessionId));
      token = page.nextPageToken;
      if (!token) break;
    }
    expect(paged).toEqual((await call(ca, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" })).sessions.map((s) => s.sessionId));
    expect(paged).toEqual(expect.arrayContaining(["on-a", "on-b"]));
    expect(new Set(paged).size).toBe(paged.length);
    expect((await callError(cb, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: created.options, sessionId: "on-a" })).error.reasonCode).toBe("session_exists");

    // A drives a run that asks twice; B watches it live and answers both approvals.
    const stream = ca.streamRun({ sessionId: "on-a", prompt: "[[scenario:approvals]] [[n:2]]", runId: "appr-a", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const viaA = collectEvents(stream);
    // Once A has it (its first event is out, so committed), B knows it.
    await waitForEvent(stream, () => true);
    const watcher = b.client.watchRun({ runId: "appr-a", afterSequence: 0, maxBatchEvents: 0 });
    const viaB = collectEvents(watcher);
    const first = await waitForEvent(watcher, (e) => e.payload?.$case === "approvalRequested");
    let run = (await call(cb, "getRun", { runId: "appr-a" })).run!;
    for (let i = 0; i < 100 && run.pendingApprovalIds.length === 0; i++) run = (await call(cb, "getRun", { runId: "appr-a" })).run!;
    expect(run.pendingApprovalIds).toEqual([approvalIdOf(first)]);
    expect(run.status).toBe(RunStatus.RUN_STATUS_RUNNING);
    expect((await call(cb, "approve", { sessionId: "on-a", approvalId: approvalIdOf(first), decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "via b" })).runId).toBe("appr-a");
    const second = await waitForEvent(watcher, (e) => e.payload?.$case === "approvalRequested" && approvalIdOf(e) !== approvalIdOf(first));
    await call(cb, "approve", { sessionId: "on-a", approvalId: approvalIdOf(second), decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    const [seenA, seenB] = await Promise.all([viaA, viaB]);
    expect(seenA.at(-1)!.payload?.$case).toBe("result");
    expect(seenB.map(same)).toEqual(seenA.map(same));
    const resolved = seenA.flatMap((e) => (e.payload?.$case === "approvalResolved" ? [e.payload.value.decision] : []));
    expect(resolved).toEqual([ApprovalDecision.APPROVAL_DECISION_ALLOW, ApprovalDecision.APPROVAL_DECISION_ALLOW]);
    // A finished run of A's, from B: what A answers.
    let doneA = (await call(ca, "getRun", { runId: "appr-a" })).run!;
    for (let i = 0; i < 200 && !doneA.endedAt; i++) doneA = (await call(ca, "getRun", { runId: "appr-a" })).run!;
    expect((await call(cb, "getRun", { runId: "appr-a" })).run).toEqual(doneA);

    // Interrupt through B.
    const slow = ca.streamRun({ sessionId: "on-a", prompt: "[[scenario:slow]] [[n:400]] [[ms:50]]", runId: "slow-a", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const slowAll = collectEvents(slow);
    await waitForEvent(slow, (e) => e.payload?.$case === "assistantMessage");
    const interrupted = await call(cb, "interrupt", { runId: "slow-a" });
    expect(interrupted.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED);
    expect(errorOf((await slowAll).at(-1))?.reasonCode).toBe("user_cancelled");

    // StreamRun and Query into A's session, sent to B: A runs them, B streams them from the database.
    const streamedViaB = await collectEvents(cb.streamRun({ sessionId: "on-a", prompt: "[[scenario:history]]", runId: "hist:b", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expectContiguous(streamedViaB);
    expect(textOf(streamedViaB.at(-1))).toMatch(/^(new|resumed):/);
    expect((await collectEvents(ca.watchRun({ runId: "hist:b", afterSequence: 0, maxBatchEvents: 0 }))).map(same)).toEqual(streamedViaB.map(same));
    const queried = await call(cb, "query", { sessionId: "on-a", prompt: "[[scenario:history]]", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    expect(queried.result!.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(queried.result!.text).toMatch(/^resumed:/);

    // Unknown and foreign ids answer as on one controller.
    expect((await callError(cb, "getRun", { runId: "no-such-run" })).error.reasonCode).toBe("run_not_found");
    expect((await callError(cb, "approve", { sessionId: "on-a", approvalId: "no-such", decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" })).error.reasonCode).toBe("approval_not_found");

    // CloseSession through B.
    const closed = await call(cb, "closeSession", { sessionId: "on-a" });
    expect(closed.session!.status).toBe(2);
    expect((await call(ca, "getSession", { sessionId: "on-a" })).session!.status).toBe(2);
  });

  it("a client-chosen session id asked of A and B at once is created once: the other is session_exists, and the record is the winner's", async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `same-id-${i}`);
    const attempt = async (c: Client, sessionId: string, maxQueuedRuns: number): Promise<number | "exists"> => {
      try {
        const options = { defaults: runOptions({ cliPath: fakeClaude }), maxConcurrentRuns: 1, maxQueuedRuns, keepCliWarm: false, warmIdleTimeoutMs: 60_000 };
        return (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options, sessionId })).session!.options!.maxQueuedRuns!;
      } catch (err) {
        expect(String(err)).toMatch(/already exists/);
        return "exists";
      }
    };
    for (const sessionId of ids) {
      // A asks for 3 queued runs, B for 5: the session has exactly the one winner's.
      const [onA, onB] = await Promise.all([attempt(a.client, sessionId, 3), attempt(b.client, sessionId, 5)]);
      expect([onA, onB].filter((r) => r === "exists"), sessionId).toHaveLength(1);
      const won = onA === "exists" ? onB : onA;
      expect([3, 5]).toContain(won);
      for (const c of [a.client, b.client]) expect((await call(c, "getSession", { sessionId })).session!.options!.maxQueuedRuns, sessionId).toBe(won);
    }
    for (const sessionId of ids) await call(a.client, "closeSession", { sessionId });
    // A claim whose options are refused is given back: the id is free for the next caller, on any controller.
    const refused = { defaults: { ...remoteOptions("no-such-executor"), cliPath: fakeClaude }, maxConcurrentRuns: 1, maxQueuedRuns: 1, keepCliWarm: false, warmIdleTimeoutMs: 60_000 };
    expect((await callError(b.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: refused, sessionId: "claimed-then-refused" })).error.reasonCode).not.toBe("session_exists");
    expect((await createSession(a.client, "claimed-then-refused", runOptions({ cliPath: fakeClaude }))).sessionId).toBe("claimed-then-refused");
  });

  it("a client-chosen run id submitted at once to a session on A and one on B is one run: the other is run_exists, and both controllers go on committing", async () => {
    const onA = await createSession(a.client, "runs-on-a", runOptions({ cliPath: fakeClaude }));
    const onB = await createSession(b.client, "runs-on-b", runOptions({ cliPath: fakeClaude }));
    const submit = async (c: Client, sessionId: string, runId: string): Promise<string> => {
      try {
        await collectEvents(c.streamRun({ sessionId, prompt: "[[scenario:history]]", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
        return sessionId;
      } catch (err) {
        expect(String(err)).toMatch(/run .* already exists/);
        return "exists";
      }
    };
    for (let i = 0; i < 10; i++) {
      const runId = `same-run-${i}`;
      const results = await Promise.all([submit(a.client, onA.sessionId, runId), submit(b.client, onB.sessionId, runId)]);
      expect(results.filter((r) => r === "exists"), runId).toHaveLength(1);
      const winner = results.find((r) => r !== "exists");
      for (const c of [a.client, b.client]) {
        const run = (await call(c, "getRun", { runId })).run!;
        expect(run.sessionId, runId).toBe(winner);
        const events = await collectEvents(c.watchRun({ runId, afterSequence: 0, maxBatchEvents: 0 }));
        expectContiguous(events);
        expect(events.at(-1)!.payload?.$case, runId).toBe("result");
      }
    }
    // Neither store is stuck on a refused write: both still create and run.
    for (const [c, sessionId] of [[a.client, onA.sessionId], [b.client, onB.sessionId]] as const) {
      const events = await collectEvents(c.streamRun({ sessionId, prompt: "[[scenario:history]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      expect(events.at(-1)!.payload?.$case).toBe("result");
    }
  });

  it("SIGKILL A mid-run: B takes its session over within the bound, the remote run goes on with the same CLI, B's watcher sees no gap", async () => {
    await createSession(a.client, "kill-remote", { ...remoteOptions("executor-a"), cliPath: fakeClaude, env: { FAKE_CLI_RECORD: record } });
    await createSession(a.client, "kill-local", runOptions({ cliPath: fakeClaude }));
    const first = await collectEvents(a.client.streamRun({ sessionId: "kill-local", prompt: "[[scenario:history]]", runId: "kill-local-0", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    const remoteRun = a.client.streamRun({ sessionId: "kill-remote", prompt: "[[scenario:slow]] [[n:60]] [[ms:100]]", runId: "kill-remote-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    remoteRun.on("error", () => undefined);
    const started = await waitForEvent(remoteRun, (e) => e.payload?.$case === "runStarted");
    const localRun = a.client.streamRun({ sessionId: "kill-local", prompt: "[[scenario:slow]] [[n:400]] [[ms:50]]", runId: "kill-local-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    localRun.on("error", () => undefined);
    await waitForEvent(localRun, (e) => e.payload?.$case === "assistantMessage");

    const remoteOnB = watch(b.client, "kill-remote-1");
    const localOnB = watch(b.client, "kill-local-1");
    expect(await eventually(() => remoteOnB.events.length >= 8 && localOnB.events.length >= 3, 10_000)).toBe(true);

    await a.kill("SIGKILL");
    const killedAt = Date.now();
    const seenAtKill = remoteOnB.events.length;
    await Promise.all([remoteOnB.ended, localOnB.ended]);
    expect(remoteOnB.error()).toBeUndefined();
    expect(localOnB.error()).toBeUndefined();

    // The remote run: one gap-free sequence across the take-over, all 60 words, one CLI.
    const all = remoteOnB.events;
    expectContiguous(all);
    expect(all.length).toBeGreaterThan(seenAtKill);
    expect(all.at(-1)!.payload?.$case).toBe("result");
    expect(all.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []))).toEqual(Array.from({ length: 60 }, (_, i) => `w${i}`));
    expect(all.filter((e) => e.payload?.$case === "runStarted").map(pidOf)).toEqual([pidOf(started)]);
    expect(readRecord(record).filter((x) => x.t === "start").map((x) => x.pid)).toEqual([pidOf(started)]);
    // The local run died with A's process: ended by B for the record.
    expectContiguous(localOnB.events);
    expect(errorOf(localOnB.events.at(-1))?.reasonCode).toBe("controller_restarted");

    // B holds the leases now (epoch 2), took them within the bound, and drives the sessions.
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const leases = (await db.query<{ session_id: string; controller_id: string; epoch: string; taken_ms: string }>(
      "SELECT session_id, controller_id, epoch, (EXTRACT(EPOCH FROM acquired_at) * 1000)::bigint AS taken_ms FROM session_leases WHERE session_id IN ('kill-remote', 'kill-local') ORDER BY session_id",
    )).rows;
    const dead = (await db.query<{ state: string }>("SELECT state FROM controllers WHERE controller_id = 'ctl-a'")).rows[0]?.state;
    await db.end();
    expect(leases.map((l) => [l.session_id, l.controller_id, Number(l.epoch)])).toEqual([["kill-local", "ctl-b", 2], ["kill-remote", "ctl-b", 2]]);
    expect(dead).toBe("dead");
    // The documented bound: silent past ASM_LEASE_TTL_MS, seen at the next look (every TTL/4); 2 s of slack for a loaded machine.
    const takenAfterMs = Number(leases[0]!.taken_ms) - killedAt;
    expect(takenAfterMs).toBeLessThan(LEASE_TTL_MS + LEASE_TTL_MS / 4 + 2000);
    console.log(`take-over ${takenAfterMs} ms after the SIGKILL (ASM_LEASE_TTL_MS ${LEASE_TTL_MS})`);

    // The session continues on B: the next run resumes the provider conversation A started.
    const next = await collectEvents(b.client.streamRun({ sessionId: "kill-local", prompt: "[[scenario:history]]", runId: "kill-local-2", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(textOf(next.at(-1))).toBe(textOf(first.at(-1)).replace(/^new:/, "resumed:"));
  });

  it("a graceful stop (SIGTERM) leaves the sessions to another controller at once: it adopts them and their remote run goes on", async () => {
    const d = await startControllerProcess({ ...env, ASM_CONTROLLER_ID: "ctl-d" }, root);
    await createSession(d.client, "on-d", { ...remoteOptions("executor-a"), cliPath: fakeClaude });
    const remote = d.client.streamRun({ sessionId: "on-d", prompt: "[[scenario:slow]] [[n:30]] [[ms:100]]", runId: "term-d", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    remote.on("error", () => undefined);
    const started = await waitForEvent(remote, (e) => e.payload?.$case === "runStarted");
    const onB = watch(b.client, "term-d");
    expect(await eventually(() => onB.events.length >= 5, 10_000)).toBe(true);
    await d.kill("SIGTERM");
    await onB.ended;
    expect(onB.error()).toBeUndefined();
    expectContiguous(onB.events);
    expect(onB.events.at(-1)!.payload?.$case).toBe("result");
    expect(onB.events.filter((e) => e.payload?.$case === "runStarted").map(pidOf)).toEqual([pidOf(started)]);
    // B drives the session now.
    const next = await collectEvents(b.client.streamRun({ sessionId: "on-d", prompt: "after d", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(next.at(-1)!.payload?.$case).toBe("result");
  });

  it("a controller declared dead while it still runs is fenced: it writes nothing more and exits 75", async () => {
    const c = await startControllerProcess({ ...env, ASM_CONTROLLER_ID: "ctl-c", ASM_LEASE_TTL_MS: "600000" }, root);
    const exited = new Promise<number | null>((resolve) => c.proc.once("exit", (code) => resolve(code)));
    await createSession(c.client, "on-c", runOptions({ cliPath: fakeClaude }));
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    // What a take-over does first: the row marked dead (no other controller needs to be quick about it here).
    await db.query("UPDATE controllers SET state = 'dead' WHERE controller_id = 'ctl-c'");
    const outcome = await call(c.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults: runOptions({ cliPath: fakeClaude }), maxConcurrentRuns: 1, maxQueuedRuns: 1, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId: "late-c" }).then(
      () => "created",
      () => "refused",
    );
    expect(outcome).toBe("refused");
    expect(await exited).toBe(75);
    expect(c.output()).toContain("controller_fenced");
    expect((await db.query("SELECT 1 FROM sessions WHERE session_id = 'late-c'")).rowCount).toBe(0);
    expect((await db.query("SELECT 1 FROM sessions WHERE session_id = 'on-c'")).rowCount).toBe(1);
    await db.end();
  });
});

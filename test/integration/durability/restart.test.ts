import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ApprovalDecision, Provider, RunStatus, type Event } from "@asm/shared";
import { startControllerProcess, type ControllerProcess } from "../../helpers/controller-process.js";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { call, callError, collectEvents, eventsOf, waitForEvent, type Client } from "../../helpers/grpc-client.js";
import { createTestPki } from "../../helpers/pki.js";
import { startPostgres, type TestPostgres } from "../../helpers/postgres.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../../helpers/remote-setup.js";
import Database from "better-sqlite3";
import { createFakeSession, runOptions } from "../../helpers/sessions.js";
import { eventually, isAlive, readRecord, startTestController } from "../../helpers/test-controller.js";

/**
 * Issue 15, acceptance 1: SIGKILL the controller mid-run (a local run, a remote run, and a remote
 * run waiting on an approval), restart it on the same store (a SQLite data directory, or a
 * database on a real PostgreSQL server the suite starts), and check every promise of "restart
 * loses nothing" by sequence and content.
 */

const pidOf = (e: Event | undefined): number => (e?.payload?.$case === "runStarted" ? e.payload.value.pid : 0);
const errorOf = (e: Event | undefined) => (e?.payload?.$case === "error" ? e.payload.value.error : undefined);
const textOf = (e: Event | undefined): string => (e?.payload?.$case === "result" ? e.payload.value.text ?? "" : "");

/** The events a WatchRun delivers until its stream ends (normally, or because the controller died). */
function watchUntilEnd(client: Client, runId: string, afterSequence: number): { events: Event[]; ended: Promise<void> } {
  const events: Event[] = [];
  const stream = client.watchRun({ runId, afterSequence, maxBatchEvents: 0 });
  stream.on("data", (m) => events.push(...eventsOf(m)));
  const ended = new Promise<void>((resolve) => {
    stream.on("error", () => resolve());
    stream.on("end", () => resolve());
  });
  return { events, ended };
}

function expectContiguous(events: Event[], from = 1): void {
  expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => from + i));
}

/** What of an event a replay must reproduce exactly. */
const same = (e: Event) => ({ id: e.id, sequence: e.sequence, kind: e.kind, payload: e.payload, timestamp: e.timestamp?.getTime() });

describe.each(["sqlite", "postgres"] as const)("restart on %s: nothing lost", (kind) => {
  let postgres: TestPostgres | undefined;
  let dataDir: string;
  let cwd: string;
  let executor: ExecutorProcess;
  let controller: ControllerProcess;
  let env: Record<string, string>;
  let fakeClaude: string;
  let record: string;

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), "asm-restart-"));
    dataDir = join(root, "data");
    cwd = root;
    const pki = createTestPki(join(root, "pki"));
    executor = await startExecutorProcess({ pki });
    record = join(executor.workspace, "remote.jsonl");
    if (kind === "postgres") postgres = await startPostgres();
    const store: Record<string, string> = postgres ? { ASM_STORE: postgres.createDatabase("restart") } : { ASM_STORE: "sqlite", ASM_DATA_DIR: dataDir };
    env = { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ...store };
    controller = await startControllerProcess(env, cwd);
    fakeClaude = inject("fakeClaudePath");
  });

  afterAll(async () => {
    await controller?.kill("SIGTERM");
    await executor?.stop();
    await postgres?.stop();
  });

  it("finished runs, sessions and continuations survive; local runs end with controller_restarted; remote runs re-attach and finish", async () => {
    const c = controller.client;
    const session = async (defaults: ReturnType<typeof runOptions>) =>
      (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults, maxConcurrentRuns: 1, maxQueuedRuns: 4, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId: "" })).session!.sessionId;
    const local = await session(runOptions({ cliPath: fakeClaude }));
    const remote = await session({ ...remoteOptions("executor-a"), cliPath: fakeClaude, env: { FAKE_CLI_RECORD: record } });
    const approvals = await session({ ...remoteOptions("executor-a"), cliPath: fakeClaude, interactiveApprovals: true });

    // A finished run, and the provider session it leaves to continue.
    const done = await collectEvents(c.streamRun({ sessionId: local, prompt: "[[scenario:history]]", runId: "done-1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(done.at(-1)!.payload?.$case).toBe("result");
    // The run is over once its CLI has exited too (cli_exit, ended_at).
    let doneRun = (await call(c, "getRun", { runId: "done-1" })).run!;
    for (let i = 0; i < 200 && !doneRun.endedAt; i++) doneRun = (await call(c, "getRun", { runId: "done-1" })).run!;
    expect(doneRun.endedAt).toBeDefined();
    const firstText = textOf(done.at(-1));
    expect(firstText).toMatch(/^new:/);

    // In flight at the crash: a slow local run, a slow remote run, a remote run waiting on an approval.
    const localRun = c.streamRun({ sessionId: local, prompt: "[[scenario:slow]] [[n:400]] [[ms:50]]", runId: "local-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    await waitForEvent(localRun, (e) => e.payload?.$case === "assistantDelta" || e.payload?.$case === "assistantMessage");
    const remoteRun = c.streamRun({ sessionId: remote, prompt: "[[scenario:slow]] [[n:60]] [[ms:100]]", runId: "remote-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    const remoteStarted = await waitForEvent(remoteRun, (e) => e.payload?.$case === "runStarted");
    const apprRun = c.streamRun({ sessionId: approvals, prompt: "[[scenario:approvals]] [[n:2]]", runId: "appr-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    const asked = await waitForEvent(apprRun, (e) => e.payload?.$case === "approvalRequested");
    const approvalId = asked.payload?.$case === "approvalRequested" ? asked.payload.value.approvalId : "";

    const watchers = { local: watchUntilEnd(c, "local-1", 0), remote: watchUntilEnd(c, "remote-1", 0), appr: watchUntilEnd(c, "appr-1", 0) };
    expect(await eventually(() => watchers.remote.events.length >= 8 && watchers.local.events.length >= 4, 10_000)).toBe(true);
    const remotePid = pidOf(remoteStarted);
    expect(isAlive(remotePid)).toBe(true);

    await controller.kill("SIGKILL");
    await Promise.all(Object.values(watchers).map((w) => w.ended));
    for (const s of [localRun, remoteRun, apprRun]) s.cancel();
    const seenBefore = { local: [...watchers.local.events], remote: [...watchers.remote.events], appr: [...watchers.appr.events] };
    for (const events of Object.values(seenBefore)) expectContiguous(events);

    controller = await startControllerProcess({ ...env, ASM_LISTEN: `127.0.0.1:${controller.port}` }, cwd);
    const c2 = controller.client;

    // Sessions as they were.
    for (const id of [local, remote, approvals]) expect((await call(c2, "getSession", { sessionId: id })).session!.status).toBe(1);

    // The finished run answers exactly as before.
    const doneAgain = (await call(c2, "getRun", { runId: "done-1" })).run!;
    expect({ ...doneAgain, pendingApprovalIds: [] }).toEqual({ ...doneRun, pendingApprovalIds: [] });
    const doneReplay = await collectEvents(c2.watchRun({ runId: "done-1", afterSequence: 0, maxBatchEvents: 0 }));
    expect(doneReplay.map(same)).toEqual(done.map(same));

    // The local run: what any client saw is kept, then controller_restarted.
    const localAll = await collectEvents(c2.watchRun({ runId: "local-1", afterSequence: 0, maxBatchEvents: 0 }));
    expectContiguous(localAll);
    expect(localAll.slice(0, seenBefore.local.length).map(same)).toEqual(seenBefore.local.map(same));
    expect(errorOf(localAll.at(-1))?.reasonCode).toBe("controller_restarted");
    expect((await call(c2, "getRun", { runId: "local-1" })).run!.status).toBe(RunStatus.RUN_STATUS_FAILED);

    // The remote run re-attached: a watcher that resumes after the last sequence it had sees the rest once.
    const rest = await collectEvents(c2.watchRun({ runId: "remote-1", afterSequence: seenBefore.remote.at(-1)!.sequence, maxBatchEvents: 0 }));
    const remoteAll = [...seenBefore.remote, ...rest];
    expectContiguous(remoteAll);
    expect(remoteAll.at(-1)!.payload?.$case).toBe("result");
    const words = remoteAll.flatMap((e) => (e.payload?.$case === "assistantMessage" ? [e.payload.value.text] : []));
    expect(words).toEqual(Array.from({ length: 60 }, (_, i) => `w${i}`));
    // One CLI, never restarted: one runStarted, one start record, the same pid.
    expect(remoteAll.filter((e) => e.payload?.$case === "runStarted").map(pidOf)).toEqual([remotePid]);
    expect(readRecord(record).filter((x) => x.t === "start").map((x) => x.pid)).toEqual([remotePid]);

    // The approval pending at the crash is still answerable, through the restarted controller.
    expect((await call(c2, "getRun", { runId: "appr-1" })).run!.pendingApprovalIds).toEqual([approvalId]);
    const apprWatch = c2.watchRun({ runId: "appr-1", afterSequence: seenBefore.appr.at(-1)!.sequence, maxBatchEvents: 0 });
    const apprRest = collectEvents(apprWatch);
    await call(c2, "approve", { sessionId: approvals, approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    const second = await waitForEvent(apprWatch, (e) => e.payload?.$case === "approvalRequested" && e.payload.value.approvalId !== approvalId);
    await call(c2, "approve", { sessionId: approvals, approvalId: second.payload?.$case === "approvalRequested" ? second.payload.value.approvalId : "", decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    const apprAll = [...seenBefore.appr, ...(await apprRest)];
    expectContiguous(apprAll);
    expect(apprAll.at(-1)!.payload?.$case).toBe("result");

    // The session's next run continues the provider conversation.
    const next = await collectEvents(c2.streamRun({ sessionId: local, prompt: "[[scenario:history]]", runId: "after-1", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(textOf(next.at(-1))).toBe(firstText.replace(/^new:/, "resumed:"));
  });

  it("an approval pending at the crash keeps its deadline: approval_timeout_ms counts from when the CLI asked, not from the restart", async () => {
    const c = controller.client;
    const timeoutMs = 4000;
    const defaults = { ...remoteOptions("executor-a"), cliPath: fakeClaude, interactiveApprovals: true, approvalTimeoutMs: timeoutMs };
    const sessionId = (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults, maxConcurrentRuns: 1, maxQueuedRuns: 1, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId: "" })).session!.sessionId;
    const run = c.streamRun({ sessionId, prompt: "[[scenario:approvals]] [[n:1]]", runId: "appr-deadline", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
    const asked = await waitForEvent(run, (e) => e.payload?.$case === "approvalRequested");
    const approvalId = asked.payload?.$case === "approvalRequested" ? asked.payload.value.approvalId : "";
    const killedAt = Date.now();
    await controller.kill("SIGKILL");
    run.cancel();
    controller = await startControllerProcess({ ...env, ASM_LISTEN: `127.0.0.1:${controller.port}` }, cwd);

    // The restarted controller arms what was left of the approval's time, never a whole new timeout.
    const line = controller.output().split("\n").find((l) => l.includes("keeps its deadline") && l.includes(approvalId));
    expect(line, "the restored approval's deadline is logged").toBeDefined();
    const { remainingMs } = JSON.parse(line!) as { remainingMs: number };
    expect(remainingMs).toBeLessThanOrEqual(timeoutMs - (killedAt - asked.timestamp!.getTime()));
    // No decision comes: it times out, denied, and the run ends with approval_timeout.
    const events = await collectEvents(controller.client.watchRun({ runId: "appr-deadline", afterSequence: 0, maxBatchEvents: 0 }));
    expect(events.some((e) => e.payload?.$case === "approvalResolved" && e.payload.value.approvalId === approvalId && e.payload.value.reason === "timeout")).toBe(true);
    expect(errorOf(events.at(-1))?.reasonCode).toBe("approval_timeout");
  });
});

describe("graceful restart (SIGTERM) on SQLite", () => {
  it("sessions stay open, a local run ends with controller_shutdown, a queued one runs after the restart, a remote run is left to its executor and re-attached", async () => {
    const root = mkdtempSync(join(tmpdir(), "asm-restart-term-"));
    const pki = createTestPki(join(root, "pki"));
    const executor = await startExecutorProcess({ pki });
    const record = join(executor.workspace, "remote.jsonl");
    const env = { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ASM_DATA_DIR: join(root, "data") };
    let controller = await startControllerProcess(env, root);
    try {
      const fakeClaude = inject("fakeClaudePath");
      const c = controller.client;
      const local = (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults: runOptions({ cliPath: fakeClaude }), maxConcurrentRuns: 1, maxQueuedRuns: 4, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId: "term-local" })).session!.sessionId;
      const remote = (await call(c, "createSession", { provider: Provider.PROVIDER_CLAUDE, options: { defaults: { ...remoteOptions("executor-a"), cliPath: fakeClaude, env: { FAKE_CLI_RECORD: record } }, maxConcurrentRuns: 1, maxQueuedRuns: 4, keepCliWarm: false, warmIdleTimeoutMs: 60_000 }, sessionId: "term-remote" })).session!.sessionId;
      const localRun = c.streamRun({ sessionId: local, prompt: "[[scenario:slow]] [[n:400]] [[ms:50]]", runId: "term-local-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
      const queued = c.streamRun({ sessionId: local, prompt: "queued behind", runId: "term-queued-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
      await waitForEvent(localRun, (e) => e.payload?.$case === "assistantMessage");
      const remoteRun = c.streamRun({ sessionId: remote, prompt: "[[scenario:slow]] [[n:40]] [[ms:100]]", runId: "term-remote-1", overrides: undefined, keepRunning: true, maxBatchEvents: 0 });
      const started = await waitForEvent(remoteRun, (e) => e.payload?.$case === "runStarted");
      const watcher = watchUntilEnd(c, "term-remote-1", 0);
      expect(await eventually(() => watcher.events.length >= 6, 10_000)).toBe(true);
      for (const s of [localRun, queued, remoteRun]) s.on("error", () => undefined);

      await controller.kill("SIGTERM");
      await watcher.ended;
      controller = await startControllerProcess({ ...env, ASM_LISTEN: `127.0.0.1:${controller.port}` }, root);
      const c2 = controller.client;

      expect((await call(c2, "getSession", { sessionId: local })).session!.status).toBe(1);
      const localAll = await collectEvents(c2.watchRun({ runId: "term-local-1", afterSequence: 0, maxBatchEvents: 0 }));
      expect(errorOf(localAll.at(-1))?.reasonCode).toBe("controller_shutdown");
      // The run that waited in the queue waits again and runs after the restart.
      const queuedAll = await collectEvents(c2.watchRun({ runId: "term-queued-1", afterSequence: 0, maxBatchEvents: 0 }));
      expect(queuedAll.at(-1)!.payload?.$case).toBe("result");

      const rest = await collectEvents(c2.watchRun({ runId: "term-remote-1", afterSequence: watcher.events.at(-1)!.sequence, maxBatchEvents: 0 }));
      const all = [...watcher.events, ...rest];
      expectContiguous(all);
      expect(errorOf(all.at(-1))).toBeUndefined();
      expect(all.at(-1)!.payload?.$case).toBe("result");
      expect(readRecord(record).filter((x) => x.t === "start").map((x) => x.pid)).toEqual([pidOf(started)]);
      // The session takes new runs after the restart.
      const next = await collectEvents(c2.streamRun({ sessionId: local, prompt: "after the restart", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      expect(next.at(-1)!.payload?.$case).toBe("result");
    } finally {
      await controller.kill("SIGTERM");
      await executor.stop();
    }
  });
});

describe("retention applies to the store across a restart", () => {
  it("finished runs past ASM_RETAINED_RUNS are forgotten at the start (and gone from the store), the newest answer", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "asm-retain-"));
    const env = { ASM_DATA_DIR: dataDir, ASM_RETAINED_RUNS: "2" };
    let t = await startTestController({ env });
    const sessionId = await createFakeSession(t);
    for (const runId of ["keep-a", "keep-b", "keep-c"]) await collectEvents(t.client.streamRun({ sessionId, prompt: "hi", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    await t.stop();
    t = await startTestController({ env: { ...env, ASM_RETAINED_RUNS: "1" } });
    try {
      expect((await callError(t.client, "getRun", { runId: "keep-a" })).error.reasonCode).toBe("run_not_found");
      expect((await callError(t.client, "getRun", { runId: "keep-b" })).error.reasonCode).toBe("run_not_found");
      expect((await call(t.client, "getRun", { runId: "keep-c" })).run!.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
      expect((await collectEvents(t.client.watchRun({ runId: "keep-c", afterSequence: 0, maxBatchEvents: 0 }))).at(-1)!.payload?.$case).toBe("result");
    } finally {
      await t.stop();
    }
    const db = new Database(join(dataDir, "asm.db"), { readonly: true });
    expect(db.prepare("SELECT run_id FROM runs").all()).toEqual([{ run_id: "keep-c" }]);
    expect(db.prepare("SELECT DISTINCT run_id FROM events").all()).toEqual([{ run_id: "keep-c" }]);
    db.close();
  });
});

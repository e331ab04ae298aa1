import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, ExecutionMode, InterruptOutcome, Provider, RunStatus, type Event } from "@asm/shared";
import { call, collectEvents, waitForEvent } from "../../helpers/grpc-client.js";
import { startExecutorProcess } from "../../helpers/executor-process.js";
import { remoteOptions, startRemoteSetup, type RemoteSetup } from "../../helpers/remote-setup.js";
import { createSession, runOptions } from "../../helpers/sessions.js";
import { allGone, readRecord } from "../../helpers/test-controller.js";

let r: RemoteSetup;

beforeAll(async () => {
  r = await startRemoteSetup();
});
afterAll(async () => {
  await r?.stop();
});

const kinds = (events: Event[]) => events.map((e) => e.payload?.$case);
const approvalIdOf = (e: Event) => (e.payload?.$case === "approvalRequested" ? e.payload.value.approvalId : "");

async function remoteSession(record: string, extra: Record<string, unknown> = {}): Promise<string> {
  return createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a", extra), cliPath: r.t.fakeClaude, env: { FAKE_CLI_RECORD: record } });
}

describe("remote runs through a real executor process", () => {
  it("streams a text run from the executor, numbered gap-free, with remote metadata", async () => {
    const record = join(r.executor.workspace, "text.jsonl");
    const sessionId = await remoteSession(record);
    const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "hello remote", runId: "remote-text", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(kinds(events)[0]).toBe("runStarted");
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    for (const e of events) {
      expect(e.metadata?.executionMode).toBe("remote_node");
      expect(e.metadata?.executor).toBe("executor-a");
      expect(e.metadata?.lane).toBe("core");
    }
    const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
    const spawned = readRecord(record).find((x) => x.t === "start")!;
    expect(started?.pid).toBe(spawned.pid);
    // The CLI ran in the executor's workspace, not in the controller's directory.
    expect(spawned.cwd).toBe(r.executor.workspace);
    const run = (await call(r.t.client, "getRun", { runId: "remote-text" })).run!;
    expect(run.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(run.result?.text).toBe("Hello from fake");
  });

  for (const [decision, name] of [
    [ApprovalDecision.APPROVAL_DECISION_ALLOW, "allow"],
    [ApprovalDecision.APPROVAL_DECISION_DENY, "deny"],
  ] as const) {
    it(`routes an approval ${name} back to the remote CLI`, async () => {
      const record = join(r.executor.workspace, `approve-${name}.jsonl`);
      const file = `remote-made-by-${name}.txt`;
      const sessionId = await remoteSession(record);
      const s = r.t.client.streamRun({ sessionId, prompt: `[[scenario:tool]] [[cmd:touch ${file}]]`, runId: `remote-approve-${name}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
      const all = collectEvents(s);
      const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
      await call(r.t.client, "approve", { sessionId, approvalId: approvalIdOf(request), decision, reason: name === "deny" ? "no" : "" });
      const events = await all;
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const told = readRecord(record).filter((x) => x.t === "approval");
      expect(told.map((x) => x.behavior)).toEqual([name]);
      expect(existsSync(join(r.executor.workspace, file))).toBe(name === "allow");
    });
  }

  it("interrupts a remote run: user_cancelled, the remote process group gone", async () => {
    const record = join(r.executor.workspace, "interrupt.jsonl");
    const sessionId = await remoteSession(record);
    const s = r.t.client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "remote-interrupt", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const res = await call(r.t.client, "interrupt", { runId: "remote-interrupt" });
    expect(res.outcome).toBe(InterruptOutcome.INTERRUPT_OUTCOME_INTERRUPTED);
    expect(res.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    const events = await all;
    const last = events.at(-1)!;
    expect(last.payload?.$case === "error" && last.payload.value.error?.kind).toBe("user_cancelled");
    const pid = Number(readRecord(record).find((x) => x.t === "start")!.pid);
    expect(await allGone([pid])).toBe(true);
  });

  it("runs locally when a run of a remote session says execution_mode local", async () => {
    const record = join(r.t.dir, "local-override.jsonl");
    const sessionId = await remoteSession(record);
    const events = await collectEvents(
      r.t.client.streamRun({ sessionId, prompt: "here", runId: "local-on-remote", overrides: runOptions({ executionMode: ExecutionMode.EXECUTION_MODE_LOCAL, cwd: r.t.dir }), keepRunning: false, maxBatchEvents: 0 }),
    );
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(events[0]!.metadata?.executionMode).toBe("local");
    expect(events[0]!.metadata?.executor).toBe("");
    expect(readRecord(record).find((x) => x.t === "start")!.cwd).toBe(r.t.dir);
  });

  it("runs remotely when a run of a local session says remote_node", async () => {
    const record = join(r.executor.workspace, "remote-override.jsonl");
    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { cliPath: r.t.fakeClaude, env: { FAKE_CLI_RECORD: record } });
    const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "there", runId: "remote-on-local", overrides: remoteOptions("executor-a"), keepRunning: false, maxBatchEvents: 0 }));
    expect(events.at(-1)!.payload, JSON.stringify(events.at(-1)!.payload)).toMatchObject({ $case: "result" });
    expect(events[0]!.metadata?.executionMode).toBe("remote_node");
    expect(readRecord(record).find((x) => x.t === "start")!.cwd).toBe(r.executor.workspace);
  });

  it("continues the provider conversation per place: a remote run never resumes a local provider session", async () => {
    const localRecord = join(r.t.dir, "mixed-local.jsonl");
    const remoteRecord = join(r.executor.workspace, "mixed-remote.jsonl");
    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { cliPath: r.t.fakeClaude, cwd: r.t.dir, env: { FAKE_CLI_RECORD: localRecord } });
    const remote = remoteOptions("executor-a", { remote_cwd: "." }, { env: { FAKE_CLI_RECORD: remoteRecord } });
    const runs: [string, ReturnType<typeof runOptions> | undefined][] = [
      ["mixed-1", undefined],
      ["mixed-2", remote],
      ["mixed-3", remote],
      ["mixed-4", undefined],
    ];
    const sessionIds: string[] = [];
    for (const [runId, overrides] of runs) {
      const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "hi", runId, overrides, keepRunning: false, maxBatchEvents: 0 }));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      sessionIds.push(events.at(-1)!.providerSessionId);
    }
    const resumeOf = (record: string) => readRecord(record).filter((x) => x.t === "start").map((x) => {
      const argv = x.argv as string[];
      const i = argv.indexOf("--resume");
      return i >= 0 ? argv[i + 1] : null;
    });
    // Local: fresh, then resumes the local conversation; remote: fresh, then resumes the remote one.
    expect(resumeOf(localRecord)).toEqual([null, sessionIds[0]]);
    expect(resumeOf(remoteRecord)).toEqual([null, sessionIds[1]]);
  });

  it("the remote CLI's environment: the executor's base env, its --pass-env variables and the run's allowlist, never the controller's", async () => {
    const executor = await startExecutorProcess({
      pki: r.pki,
      env: { PROVIDER_TOKEN: "on-the-executor", NOT_PASSED: "x" },
      args: ["--pass-env", "PROVIDER_TOKEN"],
    });
    try {
      const record = join(executor.workspace, "env.jsonl");
      process.env.ASM_CONTROLLER_ONLY_SECRET = "controller-side";
      const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, {
        ...remoteOptions(executor.address, {}, { env: { FAKE_CLI_RECORD: record, RUN_VAR: "1" } }),
        cliPath: r.t.fakeClaude,
      });
      const events = await collectEvents(r.t.client.streamRun({ sessionId, prompt: "env", runId: "remote-env", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      const keys = readRecord(record).find((x) => x.t === "start")!.env_keys as string[];
      expect(keys).toEqual(expect.arrayContaining(["PATH", "HOME", "PROVIDER_TOKEN", "RUN_VAR", "FAKE_CLI_RECORD"]));
      expect(keys).not.toContain("NOT_PASSED");
      expect(keys).not.toContain("ASM_CONTROLLER_ONLY_SECRET");
    } finally {
      delete process.env.ASM_CONTROLLER_ONLY_SECRET;
      await executor.stop();
    }
  });
});

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Provider, RunStatus, type Event } from "@asm/shared";
import { startControllerProcess } from "../../helpers/controller-process.js";
import { startExecutorProcess } from "../../helpers/executor-process.js";
import { call, collectEvents, waitForEvent } from "../../helpers/grpc-client.js";
import { createTestPki } from "../../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions, startRemoteSetup } from "../../helpers/remote-setup.js";
import { createSession } from "../../helpers/sessions.js";
import { startTcpProxy } from "../../helpers/tcp-proxy.js";
import { allGone, eventually, isAlive, readRecord } from "../../helpers/test-controller.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const errorOf = (e: Event | undefined) => (e?.payload?.$case === "error" ? e.payload.value.error : undefined);
const pidOf = (e: Event) => (e.payload?.$case === "runStarted" ? e.payload.value.pid : 0);

describe("remote faults", () => {
  it("executor SIGKILLed mid-run: terminal transport error, every stream ends, the CLI is reaped", async () => {
    const r = await startRemoteSetup();
    cleanups.push(() => r.stop());
    const record = join(r.executor.workspace, "killed.jsonl");
    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: r.t.fakeClaude, env: { FAKE_CLI_RECORD: record } });
    const s = r.t.client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "exec-killed", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const watcher = collectEvents(r.t.client.watchRun({ runId: "exec-killed", afterSequence: 0, maxBatchEvents: 0 }));
    const cliPid = pidOf(started);
    expect(await eventually(() => readRecord(record).some((x) => x.t === "start"))).toBe(true);
    expect(isAlive(cliPid)).toBe(true);

    await r.executor.kill("SIGKILL");
    const events = await all;
    const error = errorOf(events.at(-1));
    expect(error?.kind).toBe("transport_error");
    expect(error?.reasonCode).toBe("executor_lost");
    expect((await watcher).at(-1)!.sequence).toBe(events.at(-1)!.sequence);
    expect((await call(r.t.client, "getRun", { runId: "exec-killed" })).run!.status).toBe(RunStatus.RUN_STATUS_FAILED);
    // The executor's orphan reaper killed the CLI's process group although the executor died unclean.
    expect(await eventually(() => !isAlive(cliPid), 10_000)).toBe(true);
    // The directory shows the executor as lost.
    const listed = (await call(r.t.client, "listExecutors", {})).executors.find((e) => e.name === "executor-a")!;
    expect(listed.healthy).toBe(false);
    expect(listed.lastError).toContain("executor_lost");
  });

  it("link silently cut mid-run: the heartbeat bound ends the run, and the executor's lease kills the CLI", async () => {
    const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    const executor = await startExecutorProcess({ pki });
    const proxy = await startTcpProxy(executor.port);
    const r = await startRemoteSetup({ pki, env: { ASM_EXECUTORS: `executor-a=${proxy.address}@executor-a` } });
    cleanups.push(async () => {
      await r.stop();
      await proxy.close();
      await executor.stop();
    });
    const record = join(executor.workspace, "cut.jsonl");
    const sessionId = await createSession(r.t, Provider.PROVIDER_CLAUDE, {
      ...remoteOptions("executor-a", { remote_boot_lease_timeout_ms: 500 }),
      cliPath: r.t.fakeClaude,
      env: { FAKE_CLI_RECORD: record },
    });
    const s = r.t.client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "link-cut", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const cliPid = pidOf(started);
    expect(await eventually(() => readRecord(record).some((x) => x.t === "start"))).toBe(true);

    proxy.cut();
    const events = await all;
    const error = errorOf(events.at(-1));
    expect(error?.kind).toBe("transport_error");
    expect(error?.reasonCode).toBe("executor_lost");
    // The executor hears no heartbeat either: after its bound plus the run's lease, the CLI is killed.
    expect(await eventually(() => !isAlive(cliPid), 15_000)).toBe(true);
    expect(executor.output()).toContain("lease over");
  });

  it("controller SIGKILLed mid-run: the executor keeps the CLI for the lease, then kills its process group", async () => {
    const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    const executor = await startExecutorProcess({ pki });
    const dir = mkdtempSync(join(tmpdir(), "asm-ctl-"));
    const controller = await startControllerProcess({ ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}` }, dir);
    cleanups.push(async () => {
      await controller.kill("SIGKILL");
      await executor.stop();
    });
    const record = join(executor.workspace, "orphan.jsonl");
    const fakeClaude = (await import("vitest")).inject("fakeClaudePath");
    const created = await call(controller.client, "createSession", {
      provider: Provider.PROVIDER_CLAUDE,
      sessionId: "",
      options: { defaults: { ...remoteOptions("executor-a", { remote_boot_lease_timeout_ms: 3000 }), cliPath: fakeClaude, env: { FAKE_CLI_RECORD: record } } },
    });
    const s = controller.client.streamRun({ sessionId: created.session!.sessionId, prompt: "[[scenario:hang]]", runId: "orphan", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    s.on("error", () => undefined);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const cliPid = pidOf(started);
    // run_started is sent as soon as the CLI is spawned; its own record follows.
    expect(await eventually(() => readRecord(record).some((x) => x.t === "start"))).toBe(true);
    const group = readRecord(record).find((x) => x.t === "start")!;
    expect(group.pid).toBe(cliPid);

    await controller.kill("SIGKILL");
    // Within the lease the CLI is kept (a controller could only have come back within it) ...
    expect(isAlive(cliPid)).toBe(true);
    // ... and after it the whole process group is gone.
    expect(await eventually(() => !isAlive(cliPid), 15_000)).toBe(true);
    expect(await allGone([Number(group.pgid)])).toBe(true);
    expect(executor.output()).toContain("lease over");
  });
});

import { existsSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASM_VERSION, Provider, RunStatus, type AsmErrorMessage, type Event, type Executor } from "@asm/shared";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { call, collectEvents } from "../../helpers/grpc-client.js";
import { createTestPki, type TestPki } from "../../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../../helpers/remote-setup.js";
import { createSession } from "../../helpers/sessions.js";
import { closedPort, currentHandshake, startSilentTcpServer, startStubExecutor, type SilentTcpServer, type StubExecutor } from "../../helpers/stub-executor.js";
import { readRecord, startTestController, type TestController } from "../../helpers/test-controller.js";

// Seed 000: every way a remote run can fail before its CLI runs ends the run with its own typed
// error (kind + reason_code) as the run's terminal event, and nothing is spawned.

let pki: TestPki;
let t: TestController;
/** A working executor (executor-a) whose PATH holds only `node`: no claude CLI to find. */
let ok: ExecutorProcess;
/** Used for the cookie pin only. */
let pinned: ExecutorProcess;
let codexOnly: ExecutorProcess;
let withCookie: ExecutorProcess;
/** Deferred start, workspace below a regular file: its runtime can never become ready. */
let brokenDeferred: ExecutorProcess;
let silent: SilentTcpServer;
let goneTo: number;
const stubs: Record<string, StubExecutor> = {};
const otherNode = process.versions.node.startsWith("18.") ? "16.20.0" : "18.0.0";

beforeAll(async () => {
  pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
  const nodeOnly = mkdtempSync(join(tmpdir(), "asm-node-only-"));
  symlinkSync(process.execPath, join(nodeOnly, "node"));
  const blocker = join(mkdtempSync(join(tmpdir(), "asm-blocker-")), "a-file");
  writeFileSync(blocker, "not a directory\n");
  [ok, pinned, codexOnly, withCookie, brokenDeferred] = await Promise.all([
    startExecutorProcess({ pki, env: { PATH: nodeOnly } }),
    startExecutorProcess({ pki }),
    startExecutorProcess({ pki, args: ["--providers", "codex"] }),
    startExecutorProcess({ pki, args: ["--cookie", "secret"] }),
    startExecutorProcess({ pki, args: ["--start-mode", "deferred"], workspace: join(blocker, "ws") }),
  ]);
  silent = await startSilentTcpServer();
  goneTo = await closedPort();
  const { capabilities } = currentHandshake();
  const scripts = {
    "old-asm": { handshake: { asmVersion: "9.9.0" } },
    "old-protocol": { handshake: { protocolVersion: 7 } },
    "old-node": { handshake: { nodeVersion: otherNode } },
    "no-heartbeat": { handshake: { capabilities: capabilities.filter((c) => c !== "heartbeat_v1") } },
    stalled: { handshake: "stall" },
  } as const;
  for (const [name, script] of Object.entries(scripts)) stubs[name] = await startStubExecutor({ pki, script });
  const directory = [
    `executor-a=${ok.address}`,
    `pinned=${pinned.address}@executor-a`,
    `codex-only=${codexOnly.address}@executor-a`,
    `with-cookie=${withCookie.address}@executor-a`,
    `deferred=${brokenDeferred.address}@executor-a`,
    `misnamed=${ok.address}@executor-b`,
    `silent=${silent.address}`,
    `gone=127.0.0.1:${goneTo}`,
    ...Object.entries(stubs).map(([name, stub]) => `${name}=${stub.address}@executor-a`),
  ];
  t = await startTestController({ env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: directory.join(",") } });
});

afterAll(async () => {
  await t?.stop();
  await Promise.all([ok, pinned, codexOnly, withCookie, brokenDeferred].map((e) => e?.stop()));
  await Promise.all(Object.values(stubs).map((s) => s.stop()));
  await silent?.stop();
});

let runCounter = 0;

interface Outcome {
  events: Event[];
  error: AsmErrorMessage;
  record: string;
}

/** Runs `prompt` on `node` with driver_opts `opts`; the fake CLI (unless `noCliPath`) records into a fresh file. */
async function runOn(node: string, opts: Record<string, unknown> = {}, extra: { noCliPath?: boolean; provider?: Provider } = {}) {
  runCounter += 1;
  const runId = `remote-failure-${runCounter}`;
  const record = join(t.dir, `${runId}.jsonl`);
  const sessionId = await createSession(t, extra.provider ?? Provider.PROVIDER_CLAUDE, {
    ...remoteOptions(node, opts),
    ...(extra.noCliPath ? {} : { cliPath: t.fakeClaude }),
    env: { FAKE_CLI_RECORD: record },
  });
  const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "hello", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
  return { runId, record, events };
}

/** Runs on `node` expecting a failure; checks the terminal error event, GetRun, and that no CLI ran. */
async function failOn(node: string, opts: Record<string, unknown> = {}, extra: { noCliPath?: boolean; provider?: Provider } = {}): Promise<Outcome> {
  const { runId, record, events } = await runOn(node, opts, extra);
  const last = events.at(-1);
  expect(last?.payload?.$case, JSON.stringify(events.map((e) => e.payload))).toBe("error");
  const error = last!.payload!.$case === "error" ? last!.payload!.value.error! : ({} as AsmErrorMessage);
  expect(events.some((e) => e.payload?.$case === "runStarted")).toBe(false);
  const run = (await call(t.client, "getRun", { runId })).run!;
  expect(run.status).toBe(RunStatus.RUN_STATUS_FAILED);
  expect(run.result?.error?.reasonCode).toBe(error.reasonCode);
  expect(run.result?.error?.kind).toBe(error.kind);
  expect(existsSync(record)).toBe(false);
  return { events, error, record };
}

async function executor(name: string): Promise<Executor> {
  const list = (await call(t.client, "listExecutors", {})).executors;
  const found = list.find((e) => e.name === name);
  if (!found) throw new Error(`executor ${name} not listed: ${list.map((e) => e.name).join(", ")}`);
  return found;
}

describe("remote run failures: each its own typed terminal error, nothing spawned", () => {
  it("distribution disabled: a controller without a client TLS identity refuses remote runs", async () => {
    const plain = await startTestController({ env: { ASM_EXECUTORS: `executor-a=${ok.address}` } });
    try {
      const record = join(plain.dir, "disabled.jsonl");
      const sessionId = await createSession(plain, Provider.PROVIDER_CLAUDE, { ...remoteOptions("executor-a"), cliPath: plain.fakeClaude, env: { FAKE_CLI_RECORD: record } });
      const events = await collectEvents(plain.client.streamRun({ sessionId, prompt: "hello", runId: "disabled", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      const last = events.at(-1)!;
      expect(last.payload?.$case).toBe("error");
      const error = last.payload?.$case === "error" ? last.payload.value.error : undefined;
      expect(error?.kind).toBe("connection_failed");
      expect(error?.reasonCode).toBe("distribution_disabled");
      const run = (await call(plain.client, "getRun", { runId: "disabled" })).run!;
      expect(run.status).toBe(RunStatus.RUN_STATUS_FAILED);
      expect(run.result?.error?.reasonCode).toBe("distribution_disabled");
      expect(existsSync(record)).toBe(false);
      const listed = (await call(plain.client, "listExecutors", {})).executors.find((e) => e.name === "executor-a")!;
      expect(listed.healthy).toBe(false);
      expect(listed.lastError).toContain("distribution_disabled");
    } finally {
      await plain.stop();
    }
  });

  it("a working executor: the run completes and the directory lists it healthy with its versions", async () => {
    const before = Date.now();
    const { events, record } = await runOn("executor-a");
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(readRecord(record).some((x) => x.t === "start")).toBe(true);
    const listed = await executor("executor-a");
    expect(listed.healthy).toBe(true);
    expect(listed.lastError).toBe("");
    expect(listed.asmVersion).toBe(ASM_VERSION);
    expect(listed.nodeVersion).toBe(process.versions.node);
    expect(listed.capabilities).toContain("provider.claude");
    expect(listed.capabilities).toContain("heartbeat_v1");
    // The handshake of this run: the suite's controller first reaches executor-a here.
    expect(listed.lastHandshakeAt).toBeInstanceOf(Date);
    expect(listed.lastHandshakeAt!.getTime()).toBeGreaterThanOrEqual(before);
    expect(listed.lastHandshakeAt!.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("connect timeout: a peer that accepts TCP but never speaks TLS", async () => {
    const { error } = await failOn("silent", { remote_connect_timeout_ms: 300 });
    expect(error.kind).toBe("timeout");
    expect(error.reasonCode).toBe("connect_timeout");
    expect(error.details).toMatchObject({ timeout_ms: 300, executor: "silent" });
    expect(silent.accepted).toBeGreaterThan(0);
    const listed = await executor("silent");
    expect(listed.healthy).toBe(false);
    expect(listed.lastError).toContain("connect_timeout");
  });

  it("connection refused: nothing listens on the port", async () => {
    const { error } = await failOn("gone", { remote_connect_timeout_ms: 2000 });
    expect(error.kind).toBe("connection_failed");
    expect(error.reasonCode).toBe("connect_refused");
    expect(error.details).toMatchObject({ address: `127.0.0.1:${goneTo}` });
    const listed = await executor("gone");
    expect(listed.healthy).toBe(false);
    expect(listed.lastError).toContain("connect_refused");
  });

  for (const mode of ["require_prestarted", "ensure_started"] as const) {
    it(`an executor that dies after a run: the next run on its cached link says connect_refused, as a fresh link would (${mode})`, async () => {
      const doomed = await startExecutorProcess({ pki });
      const name = `doomed-${mode}`;
      const solo = await startTestController({ env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `${name}=${doomed.address}@executor-a` } });
      try {
        const run = async (runId: string) => {
          const sessionId = await createSession(solo, Provider.PROVIDER_CLAUDE, { ...remoteOptions(name, { remote_bootstrap_mode: mode, remote_connect_timeout_ms: 2000 }), cliPath: solo.fakeClaude });
          const events = await collectEvents(solo.client.streamRun({ sessionId, prompt: "hello", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
          return events.at(-1)!.payload!;
        };
        expect((await run("before")).$case).toBe("result");
        await doomed.kill("SIGKILL");
        const after = await run("after");
        expect(after.$case).toBe("error");
        const error = after.$case === "error" ? after.value.error! : ({} as AsmErrorMessage);
        expect({ kind: error.kind, reasonCode: error.reasonCode, retryable: error.retryable }).toEqual({ kind: "connection_failed", reasonCode: "connect_refused", retryable: true });
        expect(error.details).toMatchObject({ address: doomed.address, executor: name });
        const listed = (await call(solo.client, "listExecutors", {})).executors.find((e) => e.name === name)!;
        expect(listed.healthy).toBe(false);
        expect(listed.lastError).toContain("connect_refused");
      } finally {
        await solo.stop();
        await doomed.stop();
      }
    });
  }

  it("certificate name mismatch: executor-a answers where executor-b was expected", async () => {
    const { error } = await failOn("misnamed");
    expect(error.kind).toBe("connection_failed");
    expect(error.reasonCode).toBe("cert_name_mismatch");
    expect(error.details).toMatchObject({ expected_name: "executor-b" });
    const listed = await executor("misnamed");
    expect(listed.healthy).toBe(false);
    expect(listed.lastError).toContain("cert_name_mismatch");
  });

  it("cookie conflict: the first cookie used for an executor is pinned; another one is refused", async () => {
    const first = await runOn("pinned", { remote_cookie: "a" });
    expect(first.events.at(-1)!.payload?.$case).toBe("result");
    expect(readRecord(first.record).some((x) => x.t === "start")).toBe(true);
    const { error } = await failOn("pinned", { remote_cookie: "b" });
    expect(error.kind).toBe("config_invalid");
    expect(error.reasonCode).toBe("cookie_conflict");
    expect(error.field).toBe("options.driver_opts.remote_cookie");
    // Same cookie again still works.
    const again = await runOn("pinned", { remote_cookie: "a" });
    expect(again.events.at(-1)!.payload?.$case).toBe("result");
  });

  it("cookie rejected: an executor configured with --cookie refuses another cookie (and none), accepts its own", async () => {
    const wrong = await failOn("with-cookie", { remote_cookie: "not-the-secret" });
    expect(wrong.error.kind).toBe("permission_denied");
    expect(wrong.error.reasonCode).toBe("cookie_rejected");
    expect(JSON.stringify(wrong.error)).not.toContain("not-the-secret");
    expect(wrong.error.details).toMatchObject({ executor: "with-cookie" });
    expect((await executor("with-cookie")).lastError).toContain("cookie_rejected");
    const none = await failOn("with-cookie");
    expect(none.error.reasonCode).toBe("cookie_rejected");
    const right = await runOn("with-cookie", { remote_cookie: "secret" });
    expect(right.events.at(-1)!.payload?.$case).toBe("result");
    expect(readRecord(right.record).some((x) => x.t === "start")).toBe(true);
    // The entry that listed the refusal is healthy again after a handshake that succeeded.
    const listed = await executor("with-cookie");
    expect(listed.healthy).toBe(true);
    expect(listed.lastError).toBe("");
  });

  it("capability mismatch: a claude run on an executor that serves only codex", async () => {
    const { error } = await failOn("codex-only");
    expect(error.kind).toBe("failed_precondition");
    expect(error.reasonCode).toBe("capability_mismatch");
    expect(error.details).toMatchObject({ missing: ["provider.claude"] });
  });

  it("capability mismatch: an executor without heartbeat_v1", async () => {
    const { error } = await failOn("no-heartbeat");
    expect(error.kind).toBe("failed_precondition");
    expect(error.reasonCode).toBe("capability_mismatch");
    expect(error.details).toMatchObject({ missing: ["heartbeat_v1"] });
    expect(stubs["no-heartbeat"]!.executes).toBe(0);
    const listed = await executor("no-heartbeat");
    expect(listed.healthy).toBe(false);
    expect(listed.lastError).toContain("capability_mismatch");
  });

  for (const [node, what, theirs] of [
    ["old-asm", "asm version", "9.9.0"],
    ["old-protocol", "protocol version", "7"],
    ["old-node", "Node.js version", otherNode],
  ] as const) {
    it(`version mismatch: ${what} ${theirs}`, async () => {
      const { error } = await failOn(node);
      expect(error.kind).toBe("failed_precondition");
      expect(error.reasonCode).toBe("version_mismatch");
      expect(error.details).toMatchObject({ what, executor_value: theirs });
      const stub = stubs[node]!;
      // The controller said who it is, and nothing was started.
      expect(stub.handshakes[0]).toMatchObject({ protocolVersion: 1, asmVersion: ASM_VERSION, nodeVersion: process.versions.node });
      expect(stub.executes).toBe(0);
      expect(stub.bootstraps).toBe(0);
      const listed = await executor(node);
      expect(listed.healthy).toBe(false);
      expect(listed.lastError).toContain("version_mismatch");
    });
  }

  it("RPC timeout: an executor that never answers the handshake", async () => {
    const { error } = await failOn("stalled", { remote_rpc_timeout_ms: 300 });
    expect(error.kind).toBe("timeout");
    expect(error.reasonCode).toBe("rpc_timeout");
    expect(error.details).toMatchObject({ method: "Handshake", timeout_ms: 300 });
    expect(stubs.stalled!.handshakes.length).toBeGreaterThan(0);
    expect(stubs.stalled!.executes).toBe(0);
    expect((await executor("stalled")).lastError).toContain("rpc_timeout");
  });

  it("bootstrap failure: ensure_started on a deferred executor whose workspace cannot be created", async () => {
    const { error } = await failOn("deferred", { remote_bootstrap_mode: "ensure_started" });
    expect(error.kind).toBe("failed_precondition");
    expect(error.reasonCode).toBe("bootstrap_failed");
    expect(error.message).toContain("not writable");
  });

  it("remote not started: require_prestarted on the same deferred executor", async () => {
    const { error } = await failOn("deferred", { remote_bootstrap_mode: "require_prestarted" });
    expect(error.kind).toBe("failed_precondition");
    expect(error.reasonCode).toBe("remote_not_started");
    // Also the default bootstrap mode.
    const byDefault = await failOn("deferred");
    expect(byDefault.error.reasonCode).toBe("remote_not_started");
  });

  it("backend start failure: no cli_path and no claude on the executor's PATH", async () => {
    const { error } = await failOn("executor-a", {}, { noCliPath: true });
    expect(error.kind).toBe("cli_not_found");
    expect(error.reasonCode).toBe("backend_start_failed");
    expect(error.provider).toBe("claude");
    expect(error.details).toMatchObject({ cause: "cli_not_found" });
    // A failure of the run, not of the executor: it stays healthy.
    expect((await executor("executor-a")).healthy).toBe(true);
  });
});

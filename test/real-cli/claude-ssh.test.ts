/**
 * execution_surface ssh_exec with a real OpenSSH server on loopback: the real claude CLI is
 * started on the "SSH host" through the SSH session, its stdio carried by it, against the mock
 * model. Text, approvals allowed and denied, an interrupt mid-stream, a continuation; nothing is
 * left on the SSH side after an interrupt, a stream timeout or a killed connection; each failure
 * has its reason code, and a changed host key is refused.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalDecision, ExecutionMode, Lane, type Event, type ExecutionSurface, type RunOptions } from "@asm/shared";
import { startMockModel, type AnyModelMock } from "../mock-models/index.js";
import { startExecutorProcess, type ExecutorProcess } from "../helpers/executor-process.js";
import { createTestPki } from "../helpers/pki.js";
import { FAST_LIVENESS, remoteIdentityEnv, remoteOptions } from "../helpers/remote-setup.js";
import { call, callError, collectEvents, waitForEvent } from "../helpers/grpc-client.js";
import { createSession } from "../helpers/sessions.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { eventually, startTestController, type TestController } from "../helpers/test-controller.js";
import { claudeHarness as h, operatorSetup } from "./provider-harness.js";
import { startProviderController, type ProviderController } from "./provider-controller.js";
import { approvalAllowed, approvalDenied, interruptWhileStreaming, terminalError, type ScenarioContext } from "./shared-scenarios.js";

/** Live processes started over SSH for this test run (the CLI carries the run's marker, sent as its environment). */
function sshSideProcesses(): string[] {
  const marker = `ASM_TEST_CHILD=${process.env.ASM_TEST_RUN_DIR ?? ""}`;
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (!cmd || cmd.startsWith("ssh ") || cmd.startsWith("/usr/sbin/sshd")) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.charAt(stat.lastIndexOf(")") + 2) === "Z") continue;
      if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(marker) && /claude|tail -f| asm-ssh /.test(cmd) && !cmd.includes("asm-executor")) found.push(`${entry} ${cmd.slice(0, 120)}`);
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** The pid of the one sshd process serving a session ("sshd: root@notty"). */
function sshdSessionOf(): number {
  const pids = readdirSync("/proc").filter((e) => /^\d+$/.test(e) && readCmd(e).startsWith("sshd: root@notty"));
  if (pids.length !== 1) throw new Error(`expected one sshd session process, found ${pids.length}`);
  return Number(pids[0]);
}

function readCmd(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
  } catch {
    return "";
  }
}

describe("claude through execution_surface ssh_exec (a real sshd on loopback)", () => {
  let sshd: TestSshd;
  let setup: ProviderController | undefined;
  let t: TestController;
  let mock: AnyModelMock;
  let work: string;
  let n = 0;

  beforeAll(async () => {
    sshd = await startSshd();
    setup = await startProviderController(h, {
      policy: { ssh_targets: [`root@127.0.0.1:${sshd.port}`] },
      env: { ASM_SSH_IDENTITY_FILE: sshd.identityFile, ASM_SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile, ASM_SSH_ALIVE_INTERVAL_S: "1", ASM_SSH_ALIVE_COUNT_MAX: "2", ASM_SSH_CONNECT_TIMEOUT_S: "5" },
    });
    ({ t, mock, work } = setup);
  });

  afterAll(async () => {
    await setup?.stop();
    await sshd?.stop();
  });

  const surface = (options: Record<string, unknown> = {}): ExecutionSurface => ({ kind: "ssh_exec", options: { host: "127.0.0.1", port: sshd.port, user: "root", ...options } });
  const session = (defaults: Partial<RunOptions> = {}) => createSession(t, h.provider, { cwd: work, model: h.model, executionSurface: surface(), ...defaults });
  const stream = (sessionId: string, prompt: string) => t.client.streamRun({ sessionId, prompt, runId: `ssh-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
  const ctx = (): ScenarioContext => ({ h, lane: "core", textDeltas: true, client: () => t.client, mock: () => mock, work: () => work, session, stream });

  it("a text turn runs on the SSH host; the metadata names the surface", async () => {
    const sessionId = await session();
    const events = await collectEvents(stream(sessionId, "say hello [[reply:text:Hello over SSH]]"));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    for (const e of events) expect(e.metadata).toMatchObject({ executionSurface: "ssh_exec", surfaceTarget: `root@127.0.0.1:${sshd.port}`, executionMode: "local", lane: "core" });
    const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
    expect(started?.command).toBe(h.cliPath);
    const result = (await call(t.client, "getRun", { runId: events[0]!.runId })).run!;
    expect(result.result?.text).toContain("Hello over SSH");
    expect(result.result?.metadata).toMatchObject({ executionSurface: "ssh_exec" });
    expect(await eventually(() => sshSideProcesses().length === 0)).toBe(true);
  });

  it("approval allowed: the tool's side effect exists", () => approvalAllowed(ctx(), "ssh-approved.txt"));

  it("approval denied: no side effect, and the model was told", () => approvalDenied(ctx(), "ssh-denied.txt"));

  it("interrupt mid-stream: user_cancelled, and nothing left on the SSH side", async () => {
    await interruptWhileStreaming(ctx());
    expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
  });

  it("a second run continues the conversation", async () => {
    const sessionId = await session();
    await collectEvents(stream(sessionId, "remember the word PAPAYA-9 [[reply:text:noted]]"));
    const from = mock.requests.length;
    const events = await collectEvents(stream(sessionId, "what did I say? [[reply:echo-history]]"));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
    expect(started?.continued).toBe(true);
    expect(mock.requests.slice(from).find((r) => r.rawBody.includes("what did I say?"))!.rawBody.includes("PAPAYA-9")).toBe(true);
  });

  it("stream timeout: the run ends timeout, and nothing is left on the SSH side", async () => {
    const sessionId = await session({ streamTimeoutMs: 1500 });
    const events = await collectEvents(stream(sessionId, "start then stall [[reply:hang:partial]]"));
    expect(terminalError(events)).toMatchObject({ kind: "timeout", reasonCode: "stream_timeout" });
    expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
  });

  for (const end of ["client", "server"] as const) {
    it(`a killed SSH connection (its ${end} end): ssh_connection_lost, and the CLI's group on the SSH host is killed`, async () => {
      const sessionId = await session();
      const s = stream(sessionId, "stream slowly [[reply:slow:50:100]]");
      const all = collectEvents(s);
      const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
      await waitForEvent(s, (e) => e.payload?.$case === "assistantDelta");
      // The client end: the ssh client the controller started; the server end: sshd's process for the session.
      const client = started.payload?.$case === "runStarted" ? started.payload.value.pid : 0;
      process.kill(end === "client" ? client : sshdSessionOf(), "SIGKILL");
      const events: Event[] = await all;
      expect(terminalError(events)).toMatchObject({ reasonCode: "ssh_connection_lost", kind: "transport_error" });
      expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
    });
  }

  it("a silent connection (the server end frozen, nothing closed): ssh_connection_lost within the keepalive bound", async () => {
    const sessionId = await session();
    const s = stream(sessionId, "stream slowly [[reply:slow:200:100]]");
    const all = collectEvents(s);
    await waitForEvent(s, (e) => e.payload?.$case === "assistantDelta");
    const server = sshdSessionOf();
    process.kill(server, "SIGSTOP");
    try {
      // ASM_SSH_ALIVE_INTERVAL_S 1 × ASM_SSH_ALIVE_COUNT_MAX 2: the client gives up after about 2 s.
      expect(terminalError(await all)).toMatchObject({ reasonCode: "ssh_connection_lost", kind: "transport_error", retryable: true });
    } finally {
      // The server side notices in the end too (sshd's own keepalive); here it is ended at once.
      process.kill(server, "SIGKILL");
    }
    expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
  });

  it("a killed SSH connection while a tool runs: the tool goes with the CLI's group", async () => {
    const sessionId = await session({ permissionMode: h.autoAllowMode });
    const s = stream(sessionId, "run a long tool [[reply:tool:timeout 47 tail -f /dev/null]]");
    const all = collectEvents(s);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    expect(await eventually(() => sshSideProcesses().some((p) => p.includes("tail -f /dev/null")), 15_000)).toBe(true);
    process.kill(started.payload?.$case === "runStarted" ? started.payload.value.pid : 0, "SIGKILL");
    expect(terminalError(await all)).toMatchObject({ reasonCode: "ssh_connection_lost" });
    expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
  });

  describe("failures, each with its reason code", () => {
    const failingRun = async (options: Record<string, unknown>, extra: Partial<RunOptions> = {}) => {
      const sessionId = await session({ executionSurface: surface(options), ...extra });
      return terminalError(await collectEvents(stream(sessionId, "hi [[reply:text:never]]")));
    };

    it("the CLI missing on the host: ssh_cli_missing", async () => {
      // A path the operator lets clients name (test policy), which does not exist on the SSH host.
      expect(await failingRun({}, { cliPath: "/nonexistent/bin/claude" })).toMatchObject({ reasonCode: "ssh_cli_missing", kind: "cli_not_found" });
    });

    it("nothing listens there: ssh_host_unreachable", async () => {
      const refused = await startProviderController(h, { policy: { ssh_targets: ["root@127.0.0.1:1"] }, env: { ASM_SSH_IDENTITY_FILE: sshd.identityFile, ASM_SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile } });
      try {
        const sessionId = await createSession(refused.t, h.provider, { cwd: refused.work, executionSurface: surface({ port: 1 }) });
        const error = terminalError(await collectEvents(refused.t.client.streamRun({ sessionId, prompt: "hi", runId: "ssh-refused", overrides: undefined, keepRunning: false, maxBatchEvents: 0 })));
        expect(error).toMatchObject({ reasonCode: "ssh_host_unreachable", kind: "connection_failed", retryable: true });
      } finally {
        await refused.stop();
      }
    });

    it("an identity the host does not know: ssh_auth_refused", async () => {
      const stranger = await startProviderController(h, { policy: { ssh_targets: [`root@127.0.0.1:${sshd.port}`] }, env: { ASM_SSH_IDENTITY_FILE: `${sshd.knownHostsFile}.none`, ASM_SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile } });
      try {
        const sessionId = await createSession(stranger.t, h.provider, { cwd: stranger.work, executionSurface: surface() });
        const error = terminalError(await collectEvents(stranger.t.client.streamRun({ sessionId, prompt: "hi", runId: "ssh-auth", overrides: undefined, keepRunning: false, maxBatchEvents: 0 })));
        expect(error).toMatchObject({ reasonCode: "ssh_auth_refused", kind: "auth_error" });
      } finally {
        await stranger.stop();
      }
    });

    it("a target the policy does not list: policy_denied at CreateSession, naming the field", async () => {
      const refused = await callError(t.client, "createSession", {
        provider: h.provider,
        sessionId: "",
        options: { defaults: { lane: 0, executionMode: 0, permissionMode: 0, env: {}, cwd: work, driverOpts: undefined, providerOptions: undefined, executionSurface: surface({ port: 2222 }) } },
      });
      expect(refused.error).toMatchObject({ reasonCode: "policy_denied", field: "options.defaults.execution_surface.options.host", details: { rule: "ssh_targets" } });
    });

    it("an unknown surface kind or option: config_invalid naming it", async () => {
      const kind = await callError(t.client, "createSession", { provider: h.provider, sessionId: "", options: { defaults: { lane: 0, executionMode: 0, permissionMode: 0, env: {}, driverOpts: undefined, providerOptions: undefined, executionSurface: { kind: "teleport", options: {} } } } });
      expect(kind.error).toMatchObject({ kind: "config_invalid", field: "options.defaults.execution_surface.kind" });
      const option = await callError(t.client, "createSession", { provider: h.provider, sessionId: "", options: { defaults: { lane: 0, executionMode: 0, permissionMode: 0, env: {}, driverOpts: undefined, providerOptions: undefined, executionSurface: surface({ password: "x" }) } } });
      expect(option.error).toMatchObject({ kind: "config_invalid" });
      expect(option.error.field).toContain("options.defaults.execution_surface.options");
    });

    // Last: it changes the server's host key.
    it("a changed host key is refused: ssh_host_key_mismatch, and the CLI never starts", async () => {
      await sshd.changeHostKey();
      const from = mock.requests.length;
      expect(await failingRun({})).toMatchObject({ reasonCode: "ssh_host_key_mismatch", retryable: false });
      expect(mock.requests.length).toBe(from);
    });
  });
});

describe("claude through an executor whose runs use execution_surface ssh_exec (remote_node + ssh_exec)", () => {
  let sshd: TestSshd;
  let executor: ExecutorProcess;
  let t: TestController;
  let mock: AnyModelMock;
  let work: string;
  let n = 0;

  beforeAll(async () => {
    sshd = await startSshd();
    mock = await startMockModel(h.mock);
    const e = h.environment(mock);
    work = join(e.home, "work");
    mkdirSync(work, { recursive: true });
    const pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    const operator = operatorSetup(h, e.env);
    // The executor opens the SSH session from inside its sandbox, with its own operator's identity and policy.
    executor = await startExecutorProcess({
      pki,
      workspace: e.home,
      env: operator.hostEnv,
      policy: { ssh_targets: [`root@127.0.0.1:${sshd.port}`] },
      args: ["--kill-grace-ms", "1000", "--ssh-identity", sshd.identityFile, "--ssh-known-hosts", sshd.knownHostsFile, "--ssh-alive-interval-s", "1", "--ssh-alive-count-max", "2", ...(operator.passEnv.length ? ["--pass-env", operator.passEnv.join(",")] : [])],
    });
    // The controller's policy admits any user on the host; the executor's only root.
    t = await startTestController({ env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `sandbox=${executor.address}@executor-a` }, policy: { ssh_targets: [`127.0.0.1:${sshd.port}`] } });
  });

  afterAll(async () => {
    await t?.stop();
    await executor?.stop();
    await mock?.stop();
    await sshd?.stop();
  });

  const surface = (): ExecutionSurface => ({ kind: "ssh_exec", options: { host: "127.0.0.1", port: sshd.port, user: "root" } });
  const session = (defaults: Partial<RunOptions> = {}) => createSession(t, h.provider, { ...remoteOptions("sandbox"), cwd: work, model: h.model, executionSurface: surface(), ...defaults });
  const stream = (sessionId: string, prompt: string) => t.client.streamRun({ sessionId, prompt, runId: `ssh-remote-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
  const ctx = (): ScenarioContext => ({ h, lane: "core", textDeltas: true, client: () => t.client, mock: () => mock, work: () => work, session, stream });

  it("a text turn: the executor runs the backend, the CLI runs on the SSH host; the metadata says both", async () => {
    const sessionId = await session();
    const events = await collectEvents(stream(sessionId, "say hello [[reply:text:Hello via executor and SSH]]"));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    for (const e of events) expect(e.metadata).toMatchObject({ executionMode: "remote_node", executor: "sandbox", executionSurface: "ssh_exec", surfaceTarget: `root@127.0.0.1:${sshd.port}` });
    const started = events[0]!.payload?.$case === "runStarted" ? events[0]!.payload.value : undefined;
    expect(started?.cwd).toBe(work);
    expect(await eventually(() => sshSideProcesses().length === 0)).toBe(true);
  });

  it("approval allowed", () => approvalAllowed(ctx(), "ssh-remote-approved.txt"));

  it("approval denied", () => approvalDenied(ctx(), "ssh-remote-denied.txt"));

  it("interrupt mid-stream, and nothing left on the SSH side", async () => {
    await interruptWhileStreaming(ctx());
    expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
  });

  it("a second run continues the conversation", async () => {
    const sessionId = await session();
    await collectEvents(stream(sessionId, "remember the word GUAVA-4 [[reply:text:noted]]"));
    const from = mock.requests.length;
    const events = await collectEvents(stream(sessionId, "what did I say? [[reply:echo-history]]"));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(mock.requests.slice(from).find((r) => r.rawBody.includes("what did I say?"))!.rawBody.includes("GUAVA-4")).toBe(true);
  });

  it("the executor's own policy decides the SSH targets too: a target the controller admits and the executor does not is refused there", async () => {
    const from = mock.requests.length;
    const sessionId = await session({ executionSurface: { kind: "ssh_exec", options: { host: "127.0.0.1", port: sshd.port, user: "nobody" } } });
    const events = await collectEvents(stream(sessionId, "hi [[reply:text:never]]"));
    expect(terminalError(events)).toMatchObject({ reasonCode: "policy_denied", field: "options.execution_surface.options.host", details: { rule: "ssh_targets" } });
    expect(mock.requests.length).toBe(from);
  });
});

describe("lanes with ssh_exec behave exactly as with local_subprocess (the SDK packages installed)", () => {
  let sshd: TestSshd;
  let setup: ProviderController | undefined;
  let t: TestController;
  let work: string;
  let n = 0;

  beforeAll(async () => {
    sshd = await startSshd();
    setup = await startProviderController(h, {
      sdkDiscovery: "installed",
      policy: { ssh_targets: [`root@127.0.0.1:${sshd.port}`] },
      env: { ASM_SSH_IDENTITY_FILE: sshd.identityFile, ASM_SSH_KNOWN_HOSTS_FILE: sshd.knownHostsFile },
    });
    ({ t, work } = setup);
  });

  afterAll(async () => {
    await setup?.stop();
    await sshd?.stop();
  });

  const ssh = (): ExecutionSurface => ({ kind: "ssh_exec", options: { host: "127.0.0.1", port: sshd.port, user: "root" } });
  const laneOf = (o: { requestedLane: string; preferredLane: string; lane: string; backend: string; laneReason: string; laneFallbackReason: string; capabilities: string[] }) =>
    ({ requestedLane: o.requestedLane, preferredLane: o.preferredLane, lane: o.lane, backend: o.backend, laneReason: o.laneReason, laneFallbackReason: o.laneFallbackReason, capabilities: o.capabilities });

  for (const [name, lane] of [["auto", Lane.LANE_AUTO], ["core", Lane.LANE_CORE], ["sdk", Lane.LANE_SDK]] as const) {
    it(`lane ${name}, local: ResolveLane, GetLaneInfo and a run give the same lane as local_subprocess, and show the surface`, async () => {
      const local = (await call(t.client, "resolveLane", { provider: h.provider, lane, executionMode: ExecutionMode.EXECUTION_MODE_LOCAL, executionSurface: undefined })).observability!;
      const remote = (await call(t.client, "resolveLane", { provider: h.provider, lane, executionMode: ExecutionMode.EXECUTION_MODE_LOCAL, executionSurface: ssh() })).observability!;
      expect(laneOf(remote)).toEqual(laneOf(local));
      expect({ surface: remote.executionSurface, target: remote.surfaceTarget }).toEqual({ surface: "ssh_exec", target: `root@127.0.0.1:${sshd.port}` });
      expect(local.executionSurface).toBe("local_subprocess");
      const info = await call(t.client, "getLaneInfo", { provider: h.provider, lane, executionSurface: ssh() });
      expect(info.observability).toMatchObject({ executionSurface: "ssh_exec", preferredLane: local.preferredLane });
      const sessionId = await createSession(t, h.provider, { lane, cwd: work, model: h.model, executionSurface: ssh() });
      const events = await collectEvents(t.client.streamRun({ sessionId, prompt: "say hello [[reply:text:Hello, lanes over SSH]]", runId: `ssh-lanes-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
      expect(events.at(-1)!.payload?.$case).toBe("result");
      expect(laneOf(events[0]!.metadata!)).toEqual(laneOf(local));
      expect(events[0]!.metadata).toMatchObject({ executionSurface: "ssh_exec" });
      expect(await eventually(() => sshSideProcesses().length === 0, 5000), sshSideProcesses().join("\n")).toBe(true);
    });
  }

  it("an approval on the sdk lane over SSH reaches the CLI on the host", async () => {
    const sessionId = await createSession(t, h.provider, { lane: Lane.LANE_SDK, cwd: work, model: h.model, executionSurface: ssh() });
    const s = t.client.streamRun({ sessionId, prompt: "make a file [[reply:tool:touch ssh-sdk-approved.txt]]", runId: `ssh-lanes-${++n}`, overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const all = collectEvents(s);
    const started = await waitForEvent(s, (e) => e.payload?.$case === "runStarted");
    const request = await waitForEvent(s, (e) => e.payload?.$case === "approvalRequested");
    expect(request.metadata).toMatchObject({ lane: "sdk", executionSurface: "ssh_exec" });
    // While the CLI waits for the decision: the SDK's child here is the SSH client, the CLI runs under sshd.
    const pid = started.payload?.$case === "runStarted" ? started.payload.value.pid : 0;
    expect(readCmd(String(pid))).toMatch(/^ssh -T /);
    expect(sshSideProcesses().some((p) => p.includes(h.cliPath))).toBe(true);
    await call(t.client, "approve", { sessionId, approvalId: request.payload?.$case === "approvalRequested" ? request.payload.value.approvalId : "", decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
    expect((await all).at(-1)!.payload?.$case).toBe("result");
    expect(existsSync(join(work, "ssh-sdk-approved.txt"))).toBe(true);
  });
});

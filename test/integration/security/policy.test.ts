/**
 * The operator decides what runs: each policy rule refuses what a client asks for, with
 * PERMISSION_DENIED naming the field and the rule, at the controller and again at the executor
 * (talked to directly with the controller's identity). Marker files prove that no refused attempt
 * ran anything.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AsmError, ControllerServiceClient, ExecutionMode, ExecutorServiceClient, fromGrpcError, PermissionMode, Provider, type ExecuteResponse, type RunOptions } from "@asm/shared";
import { bearer, writeTokenFile } from "../../helpers/auth.js";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { call, collectEvents, waitForEvent } from "../../helpers/grpc-client.js";
import { createTestPki, type TestPki } from "../../helpers/pki.js";
import { remoteIdentityEnv } from "../../helpers/remote-setup.js";
import { createFakeSession, runOptions, waitForRuns } from "../../helpers/sessions.js";
import { writePolicy } from "../../helpers/test-policy.js";
import { readRecord, startTestController, type TestController } from "../../helpers/test-controller.js";

/** What an attacker would try: each writes the marker file if it ever runs. */
interface Traps {
  marker: string;
  root: string;
  nodeOptions: string;
  bashEnv: string;
  pathDir: string;
  cliPath: string;
  symlinkOutside: string;
}

function setTraps(): Traps {
  const base = realpathSync(mkdtempSync(join(tmpdir(), "asm-policy-traps-")));
  const root = join(base, "root");
  mkdirSync(join(root, "work"), { recursive: true });
  const marker = join(base, "MARKER");
  const evil = join(base, "evil.cjs");
  writeFileSync(evil, `require("fs").writeFileSync(${JSON.stringify(marker)}, "NODE_OPTIONS ran");\n`);
  const bashEnv = join(base, "bash-env.sh");
  writeFileSync(bashEnv, `echo BASH_ENV ran > ${JSON.stringify(marker)}\n`, { mode: 0o755 });
  const pathDir = join(base, "bin");
  mkdirSync(pathDir);
  const script = `#!/bin/sh\necho ran > ${JSON.stringify(marker)}\n`;
  for (const name of ["claude", "node", "sh"]) writeFileSync(join(pathDir, name), script, { mode: 0o755 });
  const cliPath = join(base, "my-cli");
  writeFileSync(cliPath, script, { mode: 0o755 });
  const symlinkOutside = join(root, "escape");
  symlinkSync("/etc", symlinkOutside);
  return { marker, root, nodeOptions: `--require ${evil}`, bashEnv, pathDir, cliPath, symlinkOutside };
}

const TOKENS = {
  "alice-token": { principal: "alice" },
  "remote-token": { principal: "rita", roles: ["remote"] },
};

describe("operator policy at the controller", () => {
  let traps: Traps;
  let pki: TestPki;
  let t: TestController;
  let alice: ControllerServiceClient;
  let rita: ControllerServiceClient;

  beforeAll(async () => {
    traps = setTraps();
    pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    const dir = mkdtempSync(join(tmpdir(), "asm-policy-"));
    const policy = writePolicy(dir, {
      workspace_root: traps.root,
      client_env: ["ALLOWED_*"],
      roles: {
        user: { providers: ["claude", "codex"], execution_modes: ["local"], permission_modes: ["default"], max_live_sessions: 3, max_concurrent_runs: 1 },
        remote: { providers: ["claude"], execution_modes: ["remote_node"], executors: ["executor-a"], permission_modes: ["default"] },
      },
    });
    t = await startTestController({
      env: {
        ASM_POLICY_FILE: policy,
        ASM_AUTH_TOKEN_FILE: writeTokenFile(dir, TOKENS),
        ASM_DEFAULT_CWD: join(traps.root, "work"),
        ASM_EXECUTORS: "executor-a=127.0.0.1:1,executor-b=127.0.0.1:2",
        ...remoteIdentityEnv(pki),
      },
      // The operator's CLI: the suite's fake claude.
      hostEnv: { ASM_CLAUDE_CLI_PATH: inject("fakeClaudePath") },
    });
    const as = (token: string): ControllerServiceClient => new ControllerServiceClient(`127.0.0.1:${t.app.port}`, credentials.createInsecure(), { interceptors: [bearer(token)] });
    alice = as("alice-token");
    rita = as("remote-token");
  });
  afterAll(async () => {
    alice?.close();
    rita?.close();
    await t?.stop();
  });

  async function refusedAtCreate(client: ControllerServiceClient, provider: Provider, defaults: Partial<RunOptions>): Promise<{ code: string; reason: string; field: string; rule: unknown }> {
    const err = await call(client, "createSession", { provider, sessionId: "", options: { defaults: runOptions(defaults) } }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    if (!err) return { code: "OK", reason: "", field: "", rule: undefined };
    const e = fromGrpcError(err);
    return { code: Status[err.code]!, reason: e.reasonCode, field: e.field, rule: e.details?.rule };
  }

  const denied = (field: string, rule: string) => ({ code: "PERMISSION_DENIED", reason: "policy_denied", field, rule });

  it("refuses each rule at CreateSession, naming field and rule; nothing runs", async () => {
    const cases: [string, ControllerServiceClient, Provider, Partial<RunOptions>, ReturnType<typeof denied>][] = [
      ["NODE_OPTIONS", alice, Provider.PROVIDER_CLAUDE, { env: { NODE_OPTIONS: traps.nodeOptions } }, denied("options.defaults.env.NODE_OPTIONS", "env_always_refused")],
      ["LD_PRELOAD", alice, Provider.PROVIDER_CLAUDE, { env: { LD_PRELOAD: join(traps.pathDir, "evil.so") } }, denied("options.defaults.env.LD_PRELOAD", "env_always_refused")],
      ["PATH", alice, Provider.PROVIDER_CLAUDE, { env: { PATH: traps.pathDir } }, denied("options.defaults.env.PATH", "env_always_refused")],
      ["BASH_ENV", alice, Provider.PROVIDER_CLAUDE, { env: { BASH_ENV: traps.bashEnv } }, denied("options.defaults.env.BASH_ENV", "env_always_refused")],
      ["an env key off the allow-list", alice, Provider.PROVIDER_CLAUDE, { env: { ANTHROPIC_BASE_URL: "http://attacker.invalid" } }, denied("options.defaults.env.ANTHROPIC_BASE_URL", "client_env")],
      ["a client cli_path", alice, Provider.PROVIDER_CLAUDE, { cliPath: traps.cliPath }, denied("options.defaults.cli_path", "client_cli_paths")],
      ["cwd outside the root", alice, Provider.PROVIDER_CLAUDE, { cwd: "/etc" }, denied("options.defaults.cwd", "workspace_root")],
      ["cwd outside the root through a symlink inside it", alice, Provider.PROVIDER_CLAUDE, { cwd: traps.symlinkOutside }, denied("options.defaults.cwd", "workspace_root")],
      ["a provider the role may not use", alice, Provider.PROVIDER_GEMINI, {}, denied("provider", "providers")],
      ["a codex -c override (it could name an MCP server command)", alice, Provider.PROVIDER_CODEX, { providerOptions: { config: { "mcp_servers.evil.command": join(traps.pathDir, "sh") } } }, denied("options.defaults.provider_options.config", "client_provider_options")],
      ["an execution mode the role may not use", alice, Provider.PROVIDER_CLAUDE, { executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: "executor-a" } }, denied("options.defaults.execution_mode", "execution_modes")],
      ["an executor the role may not use", rita, Provider.PROVIDER_CLAUDE, { executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: "executor-b" } }, denied("options.defaults.driver_opts.remote_node", "executors")],
      ["bypass", alice, Provider.PROVIDER_CLAUDE, { permissionMode: PermissionMode.PERMISSION_MODE_BYPASS }, denied("options.defaults.permission_mode", "permission_modes")],
    ];
    for (const [name, client, provider, defaults, expected] of cases) {
      expect({ name, ...(await refusedAtCreate(client, provider, defaults)) }).toEqual({ name, ...expected });
    }
    // What the same principals may do is still let in.
    expect((await refusedAtCreate(alice, Provider.PROVIDER_CLAUDE, { env: { ALLOWED_X: "1" }, cwd: join(traps.root, "work") })).code).toBe("OK");
    expect((await refusedAtCreate(rita, Provider.PROVIDER_CLAUDE, { executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: "executor-a" } })).code).toBe("OK");
    expect(existsSync(traps.marker)).toBe(false);
  });

  it("refuses the same in a run's overrides; a refused run starts nothing", async () => {
    const { session } = await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } });
    const attempts: Partial<RunOptions>[] = [{ env: { NODE_OPTIONS: traps.nodeOptions } }, { env: { BASH_ENV: traps.bashEnv } }, { cliPath: traps.cliPath }, { cwd: traps.symlinkOutside }];
    for (const overrides of attempts) {
      const err = await collectEvents(alice.streamRun({ sessionId: session!.sessionId, prompt: "[[scenario:text]]", runId: "", overrides: runOptions(overrides), keepRunning: false, maxBatchEvents: 0 })).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).toBe(Status.PERMISSION_DENIED);
      expect(fromGrpcError(err!).field).toMatch(/^overrides\./);
    }
    expect((await call(alice, "getSession", { sessionId: session!.sessionId })).session!.runCount).toBe(0);
    // The session's own runs go on: a plain one succeeds with the operator's CLI.
    const events = await collectEvents(alice.streamRun({ sessionId: session!.sessionId, prompt: "[[scenario:text]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    expect(events.at(-1)!.payload?.$case).toBe("result");
    expect(existsSync(traps.marker)).toBe(false);
  });

  it("quotas: live sessions and concurrent runs per principal", async () => {
    // Alice holds 2 open sessions from the tests above (the refused ones never existed); a third is allowed, a fourth is not.
    const open = (await call(alice, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" })).sessions.length;
    const ids: string[] = [];
    for (let i = open; i < 3; i++) ids.push((await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } })).session!.sessionId);
    const over = await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } }).catch((e: ServiceError) => e);
    expect([Status[(over as ServiceError).code], fromGrpcError(over as ServiceError).reasonCode, fromGrpcError(over as ServiceError).details?.rule]).toEqual(["PERMISSION_DENIED", "quota_exceeded", "max_live_sessions"]);
    // Closing one gives the quota back.
    const spare = (await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } }).catch(() => undefined)) === undefined;
    expect(spare).toBe(true);
    const openNow = (await call(alice, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" })).sessions;
    await call(alice, "closeSession", { sessionId: openNow.at(-1)!.sessionId });
    await call(alice, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({}) } });
    // One run at a time: while a silent run holds the quota, a second (in another session) is refused.
    const sessions = (await call(alice, "listSessions", { includeClosed: false, pageSize: 0, pageToken: "" })).sessions.map((s) => s.sessionId);
    const first = alice.streamRun({ sessionId: sessions[0]!, prompt: "[[scenario:silent]] [[ms:600000]]", runId: "quota-holder", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const firstDone = collectEvents(first).catch(() => []);
    await new Promise<void>((resolve) => first.once("data", () => resolve()));
    const second = await collectEvents(alice.streamRun({ sessionId: sessions[1]!, prompt: "[[scenario:text]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 })).catch((e: ServiceError) => e);
    const error = fromGrpcError(second as ServiceError);
    expect([Status[(second as ServiceError).code], error.reasonCode, error.details?.rule]).toEqual(["PERMISSION_DENIED", "quota_exceeded", "max_concurrent_runs"]);
    await call(alice, "interrupt", { runId: "quota-holder" });
    await firstDone;
  });
});

describe("operator policy at the executor: it does not trust the controller beyond its own policy", () => {
  let traps: Traps;
  let pki: TestPki;
  let executor: ExecutorProcess;
  let client: ExecutorServiceClient;
  let n = 0;

  beforeAll(async () => {
    traps = setTraps();
    pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
    const policy = writePolicy(mkdtempSync(join(tmpdir(), "asm-exec-policy-")), { client_env: ["FAKE_CLI_*"], roles: { user: { providers: ["claude", "codex"] } } });
    executor = await startExecutorProcess({ pki, workspace: traps.root, env: { ASM_CLAUDE_CLI_PATH: inject("fakeClaudePath") }, args: ["--policy", policy] });
    // The controller's own identity: what a compromised or misconfigured controller would send.
    const creds = credentials.createSsl(readFileSync(pki.ca.cert), readFileSync(pki.controllerClient.key), readFileSync(pki.controllerClient.cert));
    client = new ExecutorServiceClient(executor.address, creds, { "grpc.ssl_target_name_override": "executor-a", "grpc.default_authority": "executor-a" });
  });
  afterAll(async () => {
    client?.close();
    await executor?.stop();
  });

  /** Runs one start on a direct Execute stream; the executor's exit says how it ended. */
  function execute(provider: Provider, options: Partial<RunOptions>, remoteCwd = ""): Promise<AsmError | undefined> {
    n += 1;
    return new Promise((resolve, reject) => {
      const stream = client.execute(new Metadata(), { deadline: Date.now() + 15_000 });
      stream.on("data", (reply: ExecuteResponse) => {
        if (reply.reply?.$case !== "exit") return;
        stream.end();
        resolve(reply.reply.value.error ? AsmError.fromMessage(reply.reply.value.error) : undefined);
      });
      stream.on("error", reject);
      stream.write({
        command: {
          $case: "start",
          value: { runId: `exec-policy-${n}`, sessionId: `exec-policy-${n}`, provider, prompt: "[[scenario:text]]", options: runOptions(options), resumeProviderSessionId: "", remoteCwd, leaseTimeoutMs: 1000, cookie: "", extra: undefined },
        },
      });
    });
  }

  it("refuses each rule in the run's start, naming field and rule; nothing runs", async () => {
    const cases: [string, Provider, Partial<RunOptions>, string, string][] = [
      ["NODE_OPTIONS", Provider.PROVIDER_CLAUDE, { env: { NODE_OPTIONS: traps.nodeOptions } }, "options.env.NODE_OPTIONS", "env_always_refused"],
      ["LD_PRELOAD", Provider.PROVIDER_CLAUDE, { env: { LD_PRELOAD: join(traps.pathDir, "evil.so") } }, "options.env.LD_PRELOAD", "env_always_refused"],
      ["PATH", Provider.PROVIDER_CLAUDE, { env: { PATH: traps.pathDir } }, "options.env.PATH", "env_always_refused"],
      ["BASH_ENV", Provider.PROVIDER_CLAUDE, { env: { BASH_ENV: traps.bashEnv } }, "options.env.BASH_ENV", "env_always_refused"],
      ["an env key off the executor's allow-list", Provider.PROVIDER_CLAUDE, { env: { ANTHROPIC_BASE_URL: "http://attacker.invalid" } }, "options.env.ANTHROPIC_BASE_URL", "client_env"],
      ["a cli_path", Provider.PROVIDER_CLAUDE, { cliPath: traps.cliPath }, "options.cli_path", "client_cli_paths"],
      ["bypass", Provider.PROVIDER_CLAUDE, { permissionMode: PermissionMode.PERMISSION_MODE_BYPASS }, "options.permission_mode", "permission_modes"],
      ["a provider its policy does not allow", Provider.PROVIDER_GEMINI, {}, "provider", "providers"],
      ["a codex -c override", Provider.PROVIDER_CODEX, { providerOptions: { config: { "mcp_servers.evil.command": join(traps.pathDir, "sh") } } }, "options.provider_options.config", "client_provider_options"],
    ];
    for (const [name, provider, options, field, rule] of cases) {
      const error = await execute(provider, options);
      expect({ name, kind: error?.kind, reason: error?.reasonCode, field: error?.field, rule: error?.details?.rule }).toEqual({ name, kind: "permission_denied", reason: "policy_denied", field, rule });
    }
    // The workspace confines remote_cwd, symlinks included.
    for (const remoteCwd of ["/etc", "escape"]) {
      const error = await execute(Provider.PROVIDER_CLAUDE, {}, remoteCwd);
      expect({ kind: error?.kind, reason: error?.reasonCode, field: error?.field, rule: error?.details?.rule }).toEqual({ kind: "permission_denied", reason: "remote_cwd_outside_workspace", field: "driver_opts.remote_cwd", rule: "workspace_root" });
    }
    expect(existsSync(traps.marker)).toBe(false);
    // What its policy allows runs.
    expect(await execute(Provider.PROVIDER_CLAUDE, { env: { FAKE_CLI_X: "1" } })).toBeUndefined();
  });
});

describe("a local cwd swapped for a symlink between the check and the spawn", () => {
  let t: TestController;
  let root: string;
  beforeAll(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), "asm-local-race-")));
    mkdirSync(join(root, "ws"));
    t = await startTestController({ policy: { workspace_root: join(root, "ws") } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it("a run checked while its cwd was inside, started after it became a symlink out, never starts its CLI", async () => {
    const ws = join(root, "ws");
    mkdirSync(join(root, "outside", "x"), { recursive: true });
    mkdirSync(join(ws, "race", "x"), { recursive: true });
    const record = join(root, "race.jsonl");
    const sessionId = await createFakeSession(t, { cwd: join(ws, "race", "x"), env: { FAKE_CLI_RECORD: record } }, { maxConcurrentRuns: 1 });
    // The first run holds the session's one slot, so the second is checked now and started later.
    const holder = t.client.streamRun({ sessionId, prompt: "[[scenario:silent]] [[ms:600000]]", runId: "race-holder", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    const holderDone = collectEvents(holder);
    await waitForEvent(holder, (e) => e.payload?.$case === "runStarted");
    const late = collectEvents(t.client.streamRun({ sessionId, prompt: "[[scenario:text]]", runId: "race-late", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    await waitForRuns(t, sessionId, ["race-holder"], ["race-late"]);
    // Between its check and its start, the directory becomes a symlink to one outside the root.
    renameSync(join(ws, "race"), join(ws, "race.moved"));
    symlinkSync(join(root, "outside"), join(ws, "race"));
    await call(t.client, "interrupt", { runId: "race-holder" });
    await holderDone;
    const events = await late;
    const last = events.at(-1)!;
    const error = last.payload?.$case === "error" ? last.payload.value.error : undefined;
    expect({ reason: error?.reasonCode, field: error?.field, rule: error?.details?.rule }).toEqual({ reason: "policy_denied", field: "cwd", rule: "workspace_root" });
    // The CLI never started: the only start in the record is the holder's (its directory, renamed since, is inside the root).
    const starts = readRecord(record).filter((x) => x.t === "start");
    expect(starts.map((x) => x.cwd)).toEqual([join(ws, "race.moved", "x")]);
  });
});

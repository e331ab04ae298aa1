/**
 * `make demo`: starts a real controller process, then drives one session through the public gRPC
 * API the way a client would: a streamed run with a tool approval, a query that continues the
 * conversation, a replay with WatchRun, an interrupt, a run on a remote executor agent over
 * mTLS (a development PKI is generated for it), and closing the session.
 *
 * The provider is the scripted fake Claude Code CLI from test/fake-cli (it speaks Claude Code's
 * real stream-json protocol), so the demo needs no account and no network.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { credentials } from "@grpc/grpc-js";
import { ApprovalDecision, ControllerServiceClient, createDevPki, ExecutionMode, InterruptOutcome, kindName, Provider, RunStatus, type Event } from "@asm/shared";
import { buildFakeCli } from "../fake-cli/build-fake-cli.js";
import { call } from "../helpers/grpc-client.js";

const root = join(import.meta.dirname, "..", "..");

function describe(e: Event): string {
  const p = e.payload;
  switch (p?.$case) {
    case "runStarted":
      return `pid ${p.value.pid}: ${p.value.command.split("/").pop()} ${p.value.args.join(" ")}`;
    case "assistantMessage":
      return JSON.stringify(p.value.text) + (p.value.aborted ? " (aborted)" : "");
    case "userMessage":
      return JSON.stringify(p.value.text);
    case "toolUse":
      return `${p.value.toolName} ${JSON.stringify(p.value.input)}`;
    case "toolResult":
      return JSON.stringify(p.value.content);
    case "approvalRequested":
      return `${p.value.approvalId} asks to run ${p.value.subject}`;
    case "approvalResolved":
      return `${p.value.approvalId} → ${ApprovalDecision[p.value.decision]} ${p.value.reason}`;
    case "costUpdate":
      return `${p.value.inputTokens} in / ${p.value.outputTokens} out, $${p.value.costUsd.toFixed(5)}`;
    case "result":
      return `${p.value.status} (${p.value.stopReason})`;
    case "error":
      return `${p.value.error?.kind}/${p.value.error?.reasonCode}: ${p.value.error?.message}`;
    default:
      return "";
  }
}

function print(e: Event): void {
  process.stdout.write(`  #${String(e.sequence).padStart(2)} ${kindName(e.kind).padEnd(18)} ${describe(e)}\n`);
}

/** Starts a process and waits for its `READY port=N` line. */
async function startReady(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.on("line", (line) => {
      const m = /^READY port=(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    proc.once("exit", (code) => reject(new Error(`${name} exited early (${code})`)));
  });
  return { proc, port };
}

async function main(): Promise<void> {
  const fake = await buildFakeCli(join(root, ".build", "fake-cli"));
  const workdir = mkdtempSync(join(tmpdir(), "asm-demo-"));
  const sandbox = mkdtempSync(join(tmpdir(), "asm-demo-sandbox-"));
  const pki = createDevPki(join(workdir, "certs"), { executors: ["sandbox-a"] });
  // The executor agent as shipped to sandboxes: one bundled file run with plain node.
  const executor = await startReady(
    "executor",
    [join(root, "executor-agent", "dist", "asm-executor.cjs"), "--listen", "127.0.0.1:0", "--workspace", sandbox, "--allow-client", "controller", "--log-level", "warn"],
    {
      PATH: process.env.PATH,
      HOME: sandbox,
      ASM_EXECUTOR_TLS_CA: pki.ca.cert,
      ASM_EXECUTOR_TLS_CERT: pki.executors["sandbox-a"]!.cert,
      ASM_EXECUTOR_TLS_KEY: pki.executors["sandbox-a"]!.key,
      ASM_CLAUDE_CLI_PATH: fake,
    },
  );
  process.stdout.write(`executor agent pid ${executor.proc.pid} (sandbox-a, mTLS) listening on 127.0.0.1:${executor.port}, workspace ${sandbox}\n`);
  const { proc: controller, port } = await startReady("controller", [join(root, "controller", "dist", "main.js")], {
    PATH: process.env.PATH,
    HOME: workdir,
    ASM_LISTEN: "127.0.0.1:0",
    ASM_INSECURE_LOOPBACK: "1",
    ASM_LOG_LEVEL: "warn",
    ASM_CLAUDE_CLI_PATH: fake,
    ASM_DEFAULT_CWD: workdir,
    ASM_EXECUTORS: `sandbox-a=127.0.0.1:${executor.port}`,
    ASM_REMOTE_TLS_CA: pki.ca.cert,
    ASM_REMOTE_TLS_CERT: pki.controller.cert,
    ASM_REMOTE_TLS_KEY: pki.controller.key,
  });
  process.stdout.write(`controller pid ${controller.pid} listening on 127.0.0.1:${port}\n`);
  const client = new ControllerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const defaults = { lane: 0, executionMode: 0, permissionMode: 0, env: {}, cwd: workdir, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined };
    const { session } = await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults } });
    const sessionId = session!.sessionId;
    process.stdout.write(`\nsession ${sessionId} (claude, max_concurrent_runs ${session!.options!.maxConcurrentRuns})\n\n1. StreamRun: the CLI asks to run a command; the demo approves it\n`);

    const stream = client.streamRun({ sessionId, prompt: "create a file [[scenario:tool]] [[cmd:touch demo.txt && echo created demo.txt]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    let runId = "";
    await new Promise<void>((resolve, reject) => {
      stream.on("data", ({ event }: { event: Event }) => {
        runId = event.runId;
        print(event);
        if (event.payload?.$case === "approvalRequested") {
          void call(client, "approve", { sessionId, approvalId: event.payload.value.approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
        }
      });
      stream.on("end", resolve);
      stream.on("error", reject);
    });

    process.stdout.write(`\n2. Query: the next run continues the same provider conversation\n`);
    const { result } = await call(client, "query", { sessionId, prompt: "and then? [[scenario:history]] [[echo]]", runId: "", overrides: undefined, provider: 0, sessionOptions: undefined });
    process.stdout.write(`  text ${JSON.stringify(result!.text)}, lane ${result!.metadata!.lane}, ${result!.durationMs} ms\n`);

    process.stdout.write(`\n3. WatchRun: replay run ${runId} after sequence 3\n`);
    await new Promise<void>((resolve, reject) => {
      const watch = client.watchRun({ runId, afterSequence: 3, maxBatchEvents: 0 });
      watch.on("data", ({ event }: { event: Event }) => print(event));
      watch.on("end", resolve);
      watch.on("error", reject);
    });

    process.stdout.write(`\n4. Interrupt a run that hangs\n`);
    const hanging = client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    await new Promise<void>((resolve, reject) => {
      hanging.on("data", ({ event }: { event: Event }) => {
        print(event);
        if (event.payload?.$case === "runStarted") {
          setTimeout(() => void call(client, "interrupt", { runId: event.runId }).then((r) => process.stdout.write(`  Interrupt → ${InterruptOutcome[r.outcome]}, run ${RunStatus[r.status]}\n`)), 200);
        }
      });
      hanging.on("end", resolve);
      hanging.on("error", reject);
    });

    process.stdout.write(`\n5. StreamRun with execution_mode remote_node: the executor agent runs the CLI in its sandbox, the approval travels back\n`);
    const remote = client.streamRun({
      sessionId,
      prompt: "create a file remotely [[scenario:tool]] [[cmd:touch remote.txt && echo created remote.txt in $PWD]]",
      runId: "",
      overrides: { lane: 0, permissionMode: 0, env: {}, executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: "sandbox-a", remote_cwd: "." }, providerOptions: undefined, executionSurface: undefined },
      keepRunning: false,
      maxBatchEvents: 0,
    });
    await new Promise<void>((resolve, reject) => {
      remote.on("data", ({ event }: { event: Event }) => {
        print(event);
        if (event.payload?.$case === "runStarted") process.stdout.write(`      (on ${event.metadata!.executor}, execution_mode ${event.metadata!.executionMode}, cwd ${event.payload.value.cwd})\n`);
        if (event.payload?.$case === "approvalRequested") {
          void call(client, "approve", { sessionId, approvalId: event.payload.value.approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" });
        }
      });
      remote.on("end", resolve);
      remote.on("error", reject);
    });
    const { executors } = await call(client, "listExecutors", {});
    for (const e of executors) process.stdout.write(`  ListExecutors: ${e.name} ${e.address} healthy=${e.healthy} asm ${e.asmVersion} node ${e.nodeVersion}\n`);

    const closed = await call(client, "closeSession", { sessionId });
    process.stdout.write(`\nsession closed: ${closed.session!.runCount} runs\n`);
  } finally {
    client.close();
    controller.kill("SIGTERM");
    await new Promise((r) => controller.once("exit", r));
    executor.proc.kill("SIGTERM");
    await new Promise((r) => executor.proc.once("exit", r));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

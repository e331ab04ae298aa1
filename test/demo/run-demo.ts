/**
 * `make demo`: a controller and an executor agent on loopback (mTLS between them, from a
 * development PKI generated here), and sessions run with the real Claude Code CLI, locally and
 * through the executor, shown as `asm run` shows them. The CLI asks to run a tool; the demo
 * approves it and shows the file the tool created.
 *
 * With no ANTHROPIC_API_KEY the CLI talks to the scripted offline model endpoint shipped with the
 * project (test/mock-models: it makes the CLI call a tool, then answers); with ANTHROPIC_API_KEY
 * set, to the real API. Everything started here is stopped at the end, and checked gone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { AsmClient, ExecutionMode, PermissionMode, Provider, runOptions, type Event, type RunOptions } from "@asm/client";
import { createDevPki, reduceEvents } from "@asm/shared";
import { RunRenderer } from "../../controller/src/cli/asm/render.js";
import { exitCodeOf } from "../../controller/src/cli/asm/run-command.js";
import { startMockModel } from "../mock-models/index.js";

const root = join(import.meta.dirname, "..", "..");
const claude = join(root, "node_modules", ".bin", "claude");
const realApi = Boolean(process.env.ANTHROPIC_API_KEY);

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

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once("exit", () => resolve());
    proc.kill("SIGTERM");
  });
}

/** A run shown as `asm run` shows it; the demo answers its approvals with "allow". */
async function show(client: AsmClient, sessionId: string, prompt: string, overrides?: Partial<RunOptions>): Promise<Event[]> {
  const renderer = new RunRenderer({ write: (s) => void process.stdout.write(s), isTTY: false }, process.env);
  const events: Event[] = [];
  for await (const event of client.run(sessionId, prompt, { overrides })) {
    events.push(event);
    renderer.event(event);
    if (event.payload?.$case === "approvalRequested") {
      process.stdout.write(`${renderer.approvalPrompt(event)}y   (the demo allows it)\n`);
      await client.approve(sessionId, event.payload.value.approvalId, true);
    }
  }
  renderer.close();
  const result = reduceEvents(events);
  const ok = exitCodeOf(events) === 0;
  renderer.summary(ok ? "done" : "failed", result.cost?.costUsd ?? 0, result.durationMs, ok);
  return events;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "asm-demo-"));
  const home = join(work, "home");
  const sandbox = join(work, "sandbox");
  mkdirSync(join(home, "project"), { recursive: true });
  mkdirSync(sandbox, { recursive: true });
  const model = realApi ? undefined : await startMockModel("anthropic");
  // What the operator gives the CLI (clients send no environment): where the model is, and no telemetry.
  const cliEnv: Record<string, string> = realApi
    ? { ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY! }
    : { ANTHROPIC_BASE_URL: `http://127.0.0.1:${model!.port}`, ANTHROPIC_API_KEY: "offline-demo", CLAUDE_CODE_MAX_RETRIES: "0" };
  Object.assign(cliEnv, { DISABLE_TELEMETRY: "1", DISABLE_AUTOUPDATER: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" });
  const passEnv = Object.keys(cliEnv).join(",");
  const pki = createDevPki(join(work, "certs"), { executors: ["sandbox-a"] });
  const executor = await startReady(
    "executor",
    [join(root, "executor-agent", "dist", "asm-executor.cjs"), "--listen", "127.0.0.1:0", "--workspace", sandbox, "--allow-client", "controller", "--log-level", "warn", "--pass-env", passEnv],
    { PATH: process.env.PATH, HOME: sandbox, ...cliEnv, ASM_EXECUTOR_TLS_CA: pki.ca.cert, ASM_EXECUTOR_TLS_CERT: pki.executors["sandbox-a"]!.cert, ASM_EXECUTOR_TLS_KEY: pki.executors["sandbox-a"]!.key, ASM_CLAUDE_CLI_PATH: claude },
  );
  const controller = await startReady("controller", [join(root, "controller", "dist", "main.js")], {
    PATH: process.env.PATH,
    HOME: home,
    ...cliEnv,
    ASM_PASS_ENV: passEnv,
    ASM_LISTEN: "127.0.0.1:0",
    ASM_INSECURE_LOOPBACK: "1",
    ASM_LOG_LEVEL: "warn",
    ASM_CLAUDE_CLI_PATH: claude,
    ASM_DEFAULT_CWD: home,
    ASM_EXECUTORS: `sandbox-a=127.0.0.1:${executor.port}`,
    ASM_REMOTE_TLS_CA: pki.ca.cert,
    ASM_REMOTE_TLS_CERT: pki.controller.cert,
    ASM_REMOTE_TLS_KEY: pki.controller.key,
  });
  process.stdout.write(
    `controller on 127.0.0.1:${controller.port} (store: SQLite in ${join(home, ".local", "state", "asm")}); executor sandbox-a on 127.0.0.1:${executor.port} (mTLS); Claude Code ${realApi ? "against the real API" : `against the offline scripted model on 127.0.0.1:${model!.port}`}\n`,
  );
  const client = new AsmClient({ address: `127.0.0.1:${controller.port}` });
  const pids: number[] = [];
  try {
    const project = join(home, "project");
    const { sessionId } = await client.createSession(Provider.PROVIDER_CLAUDE, { defaults: runOptions({ cwd: project, permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT }) });
    process.stdout.write(`\n$ asm run --session ${sessionId} "create hello.txt"\n`);
    const first = await show(client, sessionId, realApi ? "Use the Bash tool to run: echo hello from asm > hello.txt" : "create a file [[reply:tool:echo hello from asm > hello.txt]]");
    pids.push(...first.flatMap((e) => (e.payload?.$case === "runStarted" ? [e.payload.value.pid] : [])));
    const file = join(project, "hello.txt");
    process.stdout.write(`\n  the tool's effect: ${file} ${existsSync(file) ? `contains ${JSON.stringify(readFileSync(file, "utf8").trim())}` : "does NOT exist"}\n`);
    if (!existsSync(file)) throw new Error("the approved tool did not create its file");

    process.stdout.write(`\n$ asm run --session ${sessionId} "what did I ask?"   (the same conversation, continued)\n`);
    await show(client, sessionId, realApi ? "In one sentence: what did I ask you to do?" : "what did I ask? [[reply:echo-history]]");

    process.stdout.write(`\n$ asm run --session ${sessionId} (execution_mode remote_node on sandbox-a) "create remote.txt"\n`);
    const remote = await show(client, sessionId, realApi ? "Use the Bash tool to run: echo hello from the sandbox > remote.txt" : "create a file [[reply:tool:echo hello from the sandbox > remote.txt]]", {
      executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE,
      driverOpts: { remote_node: "sandbox-a", remote_cwd: "." },
    });
    pids.push(...remote.flatMap((e) => (e.payload?.$case === "runStarted" ? [e.payload.value.pid] : [])));
    const remoteFile = join(sandbox, "remote.txt");
    process.stdout.write(`\n  the tool's effect on the executor: ${remoteFile} ${existsSync(remoteFile) ? `contains ${JSON.stringify(readFileSync(remoteFile, "utf8").trim())}` : "does NOT exist"}\n`);
    if (!existsSync(remoteFile)) throw new Error("the approved remote tool did not create its file");
    await client.closeSession(sessionId);
  } finally {
    client.close();
    await stop(controller.proc);
    await stop(executor.proc);
    await model?.stop();
  }
  const alive = pids.filter((pid) => existsSync(`/proc/${pid}`));
  process.stdout.write(`\nstopped: controller, executor${model ? ", offline model" : ""}; CLI processes left: ${alive.length}\n`);
  if (alive.length > 0) throw new Error(`CLI processes left: ${alive.join(", ")}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

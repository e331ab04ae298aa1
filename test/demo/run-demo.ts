/**
 * `make demo`: starts a real controller process, then drives one session through the public gRPC
 * API the way a client would: a streamed run with a tool approval, a query that continues the
 * conversation, a replay with WatchRun, an interrupt, and closing the session.
 *
 * Until the real provider CLIs are wired in, the provider is the scripted fake Claude Code CLI
 * from test/fake-cli (it speaks Claude Code's real stream-json protocol).
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { credentials } from "@grpc/grpc-js";
import { ApprovalDecision, ControllerServiceClient, InterruptOutcome, kindName, Provider, RunStatus, type Event } from "@asm/shared";
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

async function main(): Promise<void> {
  const fake = await buildFakeCli(join(root, ".build", "fake-cli"));
  const workdir = mkdtempSync(join(tmpdir(), "asm-demo-"));
  const controller = spawn(process.execPath, [join(root, "controller", "dist", "main.js")], {
    env: { PATH: process.env.PATH, HOME: workdir, ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "warn", ASM_CLAUDE_CLI_PATH: fake, ASM_DEFAULT_CWD: workdir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: controller.stdout! });
    lines.on("line", (line) => {
      const m = /^READY port=(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    controller.once("exit", (code) => reject(new Error(`controller exited early (${code})`)));
  });
  process.stdout.write(`controller pid ${controller.pid} listening on 127.0.0.1:${port}\n`);
  const client = new ControllerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const defaults = { lane: 0, executionMode: 0, permissionMode: 0, env: {}, cwd: workdir, driverOpts: undefined, providerOptions: undefined };
    const { session } = await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults } });
    const sessionId = session!.sessionId;
    process.stdout.write(`\nsession ${sessionId} (claude, max_concurrent_runs ${session!.options!.maxConcurrentRuns})\n\n1. StreamRun: the CLI asks to run a command; the demo approves it\n`);

    const stream = client.streamRun({ sessionId, prompt: "create a file [[scenario:tool]] [[cmd:touch demo.txt && echo created demo.txt]]", runId: "", overrides: undefined, keepRunning: false });
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
      const watch = client.watchRun({ runId, afterSequence: 3 });
      watch.on("data", ({ event }: { event: Event }) => print(event));
      watch.on("end", resolve);
      watch.on("error", reject);
    });

    process.stdout.write(`\n4. Interrupt a run that hangs\n`);
    const hanging = client.streamRun({ sessionId, prompt: "[[scenario:hang]]", runId: "", overrides: undefined, keepRunning: false });
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

    const closed = await call(client, "closeSession", { sessionId });
    process.stdout.write(`\nsession closed: ${closed.session!.runCount} runs\n`);
  } finally {
    client.close();
    controller.kill("SIGTERM");
    await new Promise((r) => controller.once("exit", r));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

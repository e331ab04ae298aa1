/**
 * `make bench`: what the controller holds in memory, through its gRPC API, with a tiny shell CLI
 * that speaks claude's stream-json (so the numbers are the controller's, not a CLI's):
 * - bytes per retained event (finished runs of 2,000 events each),
 * - bytes per idle session,
 * - RSS after 10,000 runs (and as many one-shot Query sessions), against the configured bounds.
 * Heap figures are after a full GC (node --expose-gc). Writes .build/bench/memory.{json,md}.
 * Measures; asserts nothing.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControllerConfigSchema, startController, type ControllerApp } from "@asm/controller";
import { Provider, silentLogger } from "@asm/shared";
import { call, collectEvents, connectInsecure, type Client } from "../helpers/grpc-client.js";
import { runOptions } from "../helpers/sessions.js";
import { systemPath } from "./streaming-stack.js";

const root = join(import.meta.dirname, "..", "..");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");

/** A claude stand-in: reads the user message, prints BENCH_LINES assistant lines and a result, exits. */
const CLI = `#!/bin/sh
read -r _line
n=\${BENCH_LINES:-1}
awk -v n="$n" 'BEGIN {
  print "{\\"type\\":\\"system\\",\\"subtype\\":\\"init\\",\\"session_id\\":\\"8d6c2a3e-0b1f-4e6a-9d52-6f1b7c2e9a41\\"}";
  for (i = 0; i < n; i++) printf "{\\"type\\":\\"assistant\\",\\"session_id\\":\\"8d6c2a3e-0b1f-4e6a-9d52-6f1b7c2e9a41\\",\\"message\\":{\\"model\\":\\"bench\\",\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"f%d\\"}]}}\\n", i;
  print "{\\"type\\":\\"result\\",\\"subtype\\":\\"success\\",\\"is_error\\":false,\\"result\\":\\"done\\",\\"stop_reason\\":\\"end_turn\\",\\"session_id\\":\\"8d6c2a3e-0b1f-4e6a-9d52-6f1b7c2e9a41\\"}";
}'
`;

function heapBytes(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function start(env: Record<string, string>, dir: string): Promise<{ app: ControllerApp; client: Client }> {
  // The bench is the operator: it lets its clients name the bench CLI and set BENCH_* variables.
  const policy = join(dir, "bench-policy.json");
  writeFileSync(policy, JSON.stringify({ client_cli_paths: [join(dir, "bench-cli.sh")], client_env: ["BENCH_*"] }));
  const config = ControllerConfigSchema.parse({ ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "silent", ASM_DEFAULT_CWD: dir, ASM_POLICY_FILE: policy, ...env });
  const app = await startController({ config, logger: silentLogger(), hostEnv: { PATH: systemPath(), HOME: dir }, sdkDiscovery: () => false });
  return { app, client: connectInsecure(app.port) };
}

async function session(client: Client, cli: string, lines: number): Promise<string> {
  const res = await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults: runOptions({ cliPath: cli, env: { BENCH_LINES: String(lines) } }) } });
  return res.session!.sessionId;
}

const run = (client: Client, sessionId: string, runId = "") => collectEvents(client.streamRun({ sessionId, prompt: "go", runId, overrides: undefined, keepRunning: false, maxBatchEvents: 512 }));

async function perEvent(cli: string, dir: string): Promise<{ runs: number; events: number; bytesPerEvent: number; logBytesPerEvent: number }> {
  const { app, client } = await start({ ASM_RETAINED_RUNS: "1000000", ASM_RETAINED_RUN_BYTES: String(2 ** 34) }, dir);
  const sessionId = await session(client, cli, 2000);
  await run(client, sessionId); // warms up code paths and caches
  const before = heapBytes();
  const retainedBefore = app.controller.footprint.retainedRunBytes;
  const runs = 50;
  let events = 0;
  for (let i = 0; i < runs; i++) events += (await run(client, sessionId)).length;
  const bytes = heapBytes() - before;
  const logBytes = app.controller.footprint.retainedRunBytes - retainedBefore;
  client.close();
  await app.stop();
  return { runs, events, bytesPerEvent: bytes / events, logBytesPerEvent: logBytes / events };
}

async function perSession(cli: string, dir: string): Promise<{ sessions: number; bytesPerSession: number }> {
  const { app, client } = await start({ ASM_MAX_SESSIONS: "100000" }, dir);
  await session(client, cli, 1);
  const before = heapBytes();
  const sessions = 10_000;
  for (let i = 0; i < sessions; i++) await session(client, cli, 1);
  const bytes = heapBytes() - before;
  client.close();
  await app.stop();
  return { sessions, bytesPerSession: bytes / sessions };
}

async function manyRuns(cli: string, dir: string, bounds: Record<string, string>): Promise<{ runs: number; rssBeforeMiB: number; rssAfterMiB: number; heapAfterMiB: number; retained: Record<string, number> }> {
  const { app, client } = await start(bounds, dir);
  const rssBefore = process.memoryUsage().rss;
  const total = 10_000;
  const workers = 8;
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < total; i = next++) {
        // Half stream in a session of their own, half are one-shot Queries (a session each, closed).
        if (i % 2 === 0) {
          const sessionId = await session(client, cli, 20);
          await run(client, sessionId);
          await call(client, "closeSession", { sessionId });
        } else {
          await call(client, "query", { sessionId: "", provider: Provider.PROVIDER_CLAUDE, prompt: "go", runId: "", overrides: undefined, sessionOptions: { defaults: runOptions({ cliPath: cli, env: { BENCH_LINES: "20" } }), maxConcurrentRuns: undefined, maxQueuedRuns: undefined, keepCliWarm: undefined, warmIdleTimeoutMs: undefined } });
        }
      }
    }),
  );
  const heapAfter = heapBytes();
  const rssAfter = process.memoryUsage().rss;
  const footprint = app.controller.footprint;
  client.close();
  await app.stop();
  const MiB = 1024 * 1024;
  return { runs: total, rssBeforeMiB: rssBefore / MiB, rssAfterMiB: rssAfter / MiB, heapAfterMiB: heapAfter / MiB, retained: { ...footprint } };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "asm-bench-memory-"));
  const cli = join(dir, "bench-cli.sh");
  writeFileSync(cli, CLI);
  chmodSync(cli, 0o755);
  try {
    const event = await perEvent(cli, dir);
    const sessions = await perSession(cli, dir);
    const bounds = { ASM_RETAINED_RUNS: "2000", ASM_RETAINED_RUN_BYTES: String(16 * 1024 * 1024), ASM_RETAINED_CLOSED_SESSIONS: "2000" };
    const many = await manyRuns(cli, dir, bounds);
    const report = { event, sessions, many: { ...many, bounds }, targets: { bytesPerEvent: 200, bytesPerSession: 2048 } };
    const out = join(root, ".build", "bench");
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "memory.json"), JSON.stringify(report, null, 2));
    const md = [
      "# Controller memory",
      "",
      "| what | measured | target |",
      "| --- | --- | --- |",
      `| heap per retained event (${event.runs} runs, ${event.events} events) | ${event.bytesPerEvent.toFixed(0)} B (event log alone: ${event.logBytesPerEvent.toFixed(0)} B) | ≤ 200 B |`,
      `| heap per idle session (${sessions.sessions} sessions) | ${sessions.bytesPerSession.toFixed(0)} B | ≤ 2 KB |`,
      `| RSS after ${many.runs} runs (half one-shot Queries) | ${many.rssBeforeMiB.toFixed(0)} MiB before, ${many.rssAfterMiB.toFixed(0)} MiB after; heap ${many.heapAfterMiB.toFixed(0)} MiB | retained within ASM_RETAINED_RUNS ${bounds.ASM_RETAINED_RUNS}, ASM_RETAINED_RUN_BYTES 16 MiB, ASM_RETAINED_CLOSED_SESSIONS ${bounds.ASM_RETAINED_CLOSED_SESSIONS} |`,
      `| kept after those runs | ${many.retained.runs} runs (${(many.retained.retainedRunBytes! / 1024 / 1024).toFixed(1)} MiB of logs), ${many.retained.sessions} sessions | |`,
      "",
    ].join("\n");
    writeFileSync(join(out, "memory.md"), md);
    process.stdout.write(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`memory bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

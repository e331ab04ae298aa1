/**
 * `make bench`: how much sooner a warm run reaches its first model output than a cold one, for
 * each real provider CLI, through the controller's gRPC API against the loopback mock models.
 * Writes .build/bench/warm-start.{json,md}. Measures; asserts nothing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { ControllerConfigSchema, startController } from "@asm/controller";
import { ControllerServiceClient, PermissionMode, silentLogger, type Event } from "@asm/shared";
import { startMockModel } from "../mock-models/index.js";
import { call } from "../helpers/grpc-client.js";
import { claudeHarness, codexHarness, geminiHarness, operatorSetup, type ProviderHarness } from "../real-cli/provider-harness.js";

const RUNS = Number(process.env.ASM_BENCH_RUNS ?? 5);
const root = join(import.meta.dirname, "..", "..");

interface Sample {
  firstOutputMs: number;
  totalMs: number;
}

function timedRun(client: ControllerServiceClient, sessionId: string, prompt: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first: number | undefined;
    const stream = client.streamRun({ sessionId, prompt, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    stream.on("data", ({ event }: { event: Event }) => {
      const c = event.payload?.$case;
      if (first === undefined && (c === "assistantDelta" || c === "assistantMessage")) first = performance.now() - t0;
      if (c === "error") reject(new Error(`run failed: ${event.payload?.$case === "error" ? event.payload.value.error?.message : ""}`));
    });
    stream.on("end", () => resolve({ firstOutputMs: first ?? Number.NaN, totalMs: performance.now() - t0 }));
    stream.on("error", reject);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function measure(h: ProviderHarness): Promise<{ cold: Sample[]; warm: Sample[] }> {
  const mock = await startMockModel(h.mock);
  const { env, home } = h.environment(mock);
  // The operator (this bench) supplies the CLI's path and environment; the client sends neither.
  const operator = operatorSetup(h, env);
  const config = ControllerConfigSchema.parse({ ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "silent", ASM_DEFAULT_CWD: home, ASM_PASS_ENV: operator.passEnv.join(",") });
  const app = await startController({ config, logger: silentLogger(), sdkDiscovery: () => false, hostEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...operator.hostEnv } });
  const client = new ControllerServiceClient(`127.0.0.1:${app.port}`, credentials.createInsecure());
  try {
    const work = join(home, "work");
    mkdirSync(work, { recursive: true });
    const defaults = { lane: 0, executionMode: 0, permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT, env: {}, cwd: work, model: h.model, providerOptions: h.providerOptions, driverOpts: undefined, executionSurface: undefined };
    const cold: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      const { session } = await call(client, "createSession", { provider: h.provider, sessionId: "", options: { defaults } });
      cold.push(await timedRun(client, session!.sessionId, "hi [[reply:text:pong]]"));
      await call(client, "closeSession", { sessionId: session!.sessionId });
    }
    const { session } = await call(client, "createSession", { provider: h.provider, sessionId: "", options: { defaults, keepCliWarm: true } });
    await timedRun(client, session!.sessionId, "warm up [[reply:text:pong]]");
    const warm: Sample[] = [];
    for (let i = 0; i < RUNS; i++) warm.push(await timedRun(client, session!.sessionId, "hi [[reply:text:pong]]"));
    await call(client, "closeSession", { sessionId: session!.sessionId });
    return { cold, warm };
  } finally {
    client.close();
    await app.stop();
    await mock.stop();
  }
}

async function main(): Promise<void> {
  const rows: Record<string, { coldFirstOutputMs: number; warmFirstOutputMs: number; coldTotalMs: number; warmTotalMs: number; runs: number }> = {};
  for (const h of [claudeHarness, codexHarness, geminiHarness]) {
    const { cold, warm } = await measure(h);
    rows[h.name] = {
      coldFirstOutputMs: median(cold.map((s) => s.firstOutputMs)),
      warmFirstOutputMs: median(warm.map((s) => s.firstOutputMs)),
      coldTotalMs: median(cold.map((s) => s.totalMs)),
      warmTotalMs: median(warm.map((s) => s.totalMs)),
      runs: RUNS,
    };
    process.stdout.write(`${h.name}: first output cold ${rows[h.name]!.coldFirstOutputMs.toFixed(0)} ms, warm ${rows[h.name]!.warmFirstOutputMs.toFixed(0)} ms\n`);
  }
  const dir = join(root, ".build", "bench");
  mkdirSync(dir, { recursive: true });
  const report = { name: "warm-start", date: new Date().toISOString(), node: process.version, medians: rows };
  writeFileSync(join(dir, "warm-start.json"), `${JSON.stringify(report, null, 2)}\n`);
  const md = [
    "# Warm vs cold run start (median of " + RUNS + " runs, loopback mock models)",
    "",
    "| CLI | first model output, cold | first model output, warm | whole run, cold | whole run, warm |",
    "|---|---|---|---|---|",
    ...Object.entries(rows).map(([n, r]) => `| ${n} | ${r.coldFirstOutputMs.toFixed(0)} ms | ${r.warmFirstOutputMs.toFixed(0)} ms | ${r.coldTotalMs.toFixed(0)} ms | ${r.warmTotalMs.toFixed(0)} ms |`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "warm-start.md"), md);
  process.stdout.write(`\n${md}\nreport: .build/bench/warm-start.{json,md}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

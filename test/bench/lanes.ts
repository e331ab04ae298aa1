/**
 * `make bench`: run start and a text turn's duration on each lane (core: asm's adapter drives the
 * CLI; sdk: the provider's official SDK drives the same CLI), per real provider CLI, through the
 * controller's gRPC API against the loopback mock models. Same settings on both lanes (codex
 * without interactive approvals, which its SDK lacks). Median of ASM_BENCH_RUNS (default 5) cold
 * runs. Writes .build/bench/lanes.{json,md}. Measures; asserts nothing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { ControllerConfigSchema, startController } from "@asm/controller";
import { ControllerServiceClient, Lane, PermissionMode, providerCatalog, providerFromProto, silentLogger, type Event } from "@asm/shared";
import { startMockModel } from "../mock-models/index.js";
import { call } from "../helpers/grpc-client.js";
import { claudeHarness, codexHarness, geminiHarness, operatorSetup, type ProviderHarness } from "../real-cli/provider-harness.js";

const RUNS = Number(process.env.ASM_BENCH_RUNS ?? 5);
const root = join(import.meta.dirname, "..", "..");

interface Sample {
  /** StreamRun call → run_started (the CLI process is up). */
  startMs: number;
  /** StreamRun call → the stream's end (the whole text turn). */
  turnMs: number;
}

function timedRun(client: ControllerServiceClient, sessionId: string, prompt: string, lane: string): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let start: number | undefined;
    const stream = client.streamRun({ sessionId, prompt, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
    stream.on("data", ({ event }: { event: Event }) => {
      const c = event.payload?.$case;
      if (event.metadata?.lane !== lane) reject(new Error(`ran on lane ${event.metadata?.lane}, not ${lane}`));
      if (start === undefined && c === "runStarted") start = performance.now() - t0;
      if (c === "error") reject(new Error(`run failed: ${event.payload?.$case === "error" ? event.payload.value.error?.message : ""}`));
    });
    stream.on("end", () => resolve({ startMs: start ?? Number.NaN, turnMs: performance.now() - t0 }));
    stream.on("error", reject);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function measure(h: ProviderHarness): Promise<Record<"core" | "sdk", Sample[]>> {
  const mock = await startMockModel(h.mock);
  const { env, home } = h.environment(mock);
  const operator = operatorSetup(h, env);
  const config = ControllerConfigSchema.parse({ ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "silent", ASM_DEFAULT_CWD: home, ASM_PASS_ENV: operator.passEnv.join(",") });
  // The controller's own discovery: the SDK packages installed as optional dependencies.
  const app = await startController({ config, logger: silentLogger(), hostEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...operator.hostEnv } });
  const client = new ControllerServiceClient(`127.0.0.1:${app.port}`, credentials.createInsecure());
  const approvals = providerCatalog(providerFromProto(h.provider)).sdkCapabilities.includes("approvals");
  try {
    const work = join(home, "work");
    mkdirSync(work, { recursive: true });
    const samples: Record<"core" | "sdk", Sample[]> = { core: [], sdk: [] };
    for (let i = 0; i < RUNS; i++) {
      // Alternating lanes, so that a slow moment of the machine does not weigh on one lane only.
      for (const lane of ["core", "sdk"] as const) {
        const defaults = {
          lane: lane === "sdk" ? Lane.LANE_SDK : Lane.LANE_CORE,
          executionMode: 0,
          permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT,
          ...(approvals ? {} : { interactiveApprovals: false }),
          env: {},
          cwd: work,
          model: h.model,
          providerOptions: h.providerOptions,
          driverOpts: undefined,
          executionSurface: undefined,
        };
        const { session } = await call(client, "createSession", { provider: h.provider, sessionId: "", options: { defaults } });
        samples[lane].push(await timedRun(client, session!.sessionId, "hi [[reply:text:pong]]", lane));
        await call(client, "closeSession", { sessionId: session!.sessionId });
      }
    }
    return samples;
  } finally {
    client.close();
    await app.stop();
    await mock.stop();
  }
}

async function main(): Promise<void> {
  const rows: Record<string, Record<"core" | "sdk", { startMs: number; turnMs: number }> & { runs: number }> = {};
  for (const h of [claudeHarness, codexHarness, geminiHarness]) {
    const samples = await measure(h);
    const med = (lane: "core" | "sdk") => ({ startMs: median(samples[lane].map((s) => s.startMs)), turnMs: median(samples[lane].map((s) => s.turnMs)) });
    rows[h.name] = { core: med("core"), sdk: med("sdk"), runs: RUNS };
    process.stdout.write(`${h.name}: core start ${rows[h.name]!.core.startMs.toFixed(0)} ms turn ${rows[h.name]!.core.turnMs.toFixed(0)} ms; sdk start ${rows[h.name]!.sdk.startMs.toFixed(0)} ms turn ${rows[h.name]!.sdk.turnMs.toFixed(0)} ms\n`);
  }
  const dir = join(root, ".build", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "lanes.json"), `${JSON.stringify({ name: "lanes", date: new Date().toISOString(), node: process.version, medians: rows }, null, 2)}\n`);
  const md = [
    `# Core lane vs sdk lane (median of ${RUNS} cold runs, loopback mock models)`,
    "",
    "Run start: StreamRun call to `run_started` (the CLI is up). Text turn: StreamRun call to the stream's end.",
    "On codex's sdk lane `run_started` comes with the SDK's first event (`thread.started`): the SDK spawns the CLI itself, and that is when asm learns its pid.",
    "",
    "| CLI | run start, core | run start, sdk | text turn, core | text turn, sdk |",
    "|---|---|---|---|---|",
    ...Object.entries(rows).map(([n, r]) => `| ${n} | ${r.core.startMs.toFixed(0)} ms | ${r.sdk.startMs.toFixed(0)} ms | ${r.core.turnMs.toFixed(0)} ms | ${r.sdk.turnMs.toFixed(0)} ms |`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "lanes.md"), md);
  process.stdout.write(`\n${md}\nreport: .build/bench/lanes.{json,md}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

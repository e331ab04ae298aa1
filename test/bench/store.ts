/**
 * The store benchmark (issue 15): event throughput through the controller's API with the SQLite
 * and PostgreSQL stores as a ratio to the in-memory store, measured in the same run on identical stacks
 * (controller + executor processes, fake claude firehose), alternating so drift hits both; and the
 * time from a controller's start to serving with 10,000 finished runs retained in its SQLite store.
 * Writes .build/bench/store.{json,md}.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Provider, silentLogger } from "@asm/shared";
import { SqliteStore } from "../../controller/src/store/sqlite/sqlite-store.js";
import { call, collectEvents, connectInsecure } from "../helpers/grpc-client.js";
import { startPostgres } from "../helpers/postgres.js";
import { runOptions } from "../helpers/sessions.js";
import { apiThroughput, createBenchSession, type Mode } from "./api-probes.js";
import { median } from "./bench-stats.js";
import { buildArtifacts, ROOT, startBenchStack, startReadyProcess, systemPath, type BenchStack } from "./streaming-stack.js";

const EVENTS = Number(process.env.ASM_BENCH_STORE_EVENTS ?? 50_000);
const REPEATS = Number(process.env.ASM_BENCH_STORE_REPEATS ?? 3);
const RETAINED = 10_000;
const BATCH = 64;
const STORES = ["memory", "sqlite", "postgres"] as const;
type StoreKind = (typeof STORES)[number];

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function throughput(fakeClaude: string, executorBundle: string): Promise<Record<string, unknown>> {
  const stacks = {} as Record<StoreKind, BenchStack>;
  // A real PostgreSQL server on loopback (Debian's binaries, a throwaway cluster), as the tests use.
  const postgres = await startPostgres();
  const storeSetting = (store: StoreKind): string => (store === "postgres" ? postgres.createDatabase("bench") : store);
  for (const store of STORES) stacks[store] = await startBenchStack(fakeClaude, executorBundle, { controllerEnv: { ASM_STORE: storeSetting(store) } });
  const samples: Record<string, number[]> = {};
  try {
    const sessions = {} as Record<StoreKind, Record<Mode, string>>;
    for (const store of STORES) sessions[store] = { local: await createBenchSession(stacks[store], "local"), remote: await createBenchSession(stacks[store], "remote") };
    for (const store of STORES) for (const mode of ["local", "remote"] as const) await apiThroughput(stacks[store].client, sessions[store][mode], Math.round(EVENTS / 10), BATCH);
    for (let i = 0; i < REPEATS; i++) {
      for (const mode of ["local", "remote"] as const) {
        for (const store of STORES) {
          const s = await apiThroughput(stacks[store].client, sessions[store][mode], EVENTS, BATCH);
          (samples[`${store}.${mode}`] ??= []).push(s.eventsPerSec);
        }
      }
      log(`store throughput ${i + 1}/${REPEATS}: ${Object.entries(samples).map(([k, v]) => `${k} ${v.at(-1)}/s`).join(", ")}`);
    }
  } finally {
    for (const store of STORES) await stacks[store].stop();
    await postgres.stop();
  }
  const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  return {
    eventsPerRun: EVENTS,
    samples,
    medianEventsPerSec: med,
    ratioToMemory: {
      sqliteLocal: ratio(med["sqlite.local"]!, med["memory.local"]!),
      sqliteRemote: ratio(med["sqlite.remote"]!, med["memory.remote"]!),
      postgresLocal: ratio(med["postgres.local"]!, med["memory.local"]!),
      postgresRemote: ratio(med["postgres.remote"]!, med["memory.remote"]!),
    },
  };
}

/** The built controller as a process on loopback (plaintext), with `env` on top of the bench's basics. */
function startController(cwd: string, env: Record<string, string>) {
  const base = { PATH: systemPath(), HOME: cwd, ASM_LISTEN: "127.0.0.1:0", ASM_INSECURE_LOOPBACK: "1", ASM_LOG_LEVEL: "warn", ASM_DEFAULT_CWD: cwd };
  return startReadyProcess("controller", [join(ROOT, "controller", "dist", "main.js")], { ...base, ...env }, undefined);
}

/** Starts the built controller on `dataDir`; resolves with the ms to READY and to the first answered GetRun. */
async function timeToServe(dataDir: string, cwd: string, probeRunId: string): Promise<{ readyMs: number; firstGetRunMs: number; rssMb: number }> {
  const t0 = performance.now();
  const controller = await startController(cwd, { ASM_DATA_DIR: dataDir, ASM_RETAINED_RUNS: String(RETAINED) });
  const readyMs = performance.now() - t0;
  const client = connectInsecure(controller.port);
  const run = (await call(client, "getRun", { runId: probeRunId })).run!;
  const firstGetRunMs = performance.now() - t0;
  if (run.lastSequence === 0) throw new Error("the probe run has no events");
  const events = await collectEvents(client.watchRun({ runId: probeRunId, afterSequence: 0, maxBatchEvents: 0 }));
  if (events.length !== run.lastSequence) throw new Error(`replayed ${events.length} of ${run.lastSequence} events`);
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${controller.proc.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  client.close();
  await controller.stop();
  return { readyMs: Math.round(readyMs), firstGetRunMs: Math.round(firstGetRunMs), rssMb: Math.round(rssMb) };
}

/**
 * 10,000 finished runs in a SQLite store: one real run of the fake CLI through a controller, its
 * record and events copied under 10,000 run ids through the store module (the store's own format),
 * then a controller started on that directory.
 */
async function restart(fakeClaude: string): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "asm-bench-restart-"));
  try {
    const dataDir = join(dir, "data");
    // One real run, through a real controller, to copy.
    const seed = await startController(dir, { ASM_DATA_DIR: dataDir, ASM_CLAUDE_CLI_PATH: fakeClaude });
    const client = connectInsecure(seed.port);
    const options = { defaults: runOptions({ cwd: dir }), maxConcurrentRuns: 1, maxQueuedRuns: 1, keepCliWarm: false, warmIdleTimeoutMs: 60_000 };
    const sessionId = (await call(client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "bench-seed", options })).session!.sessionId;
    await collectEvents(client.streamRun({ sessionId, prompt: "[[scenario:slow]] [[n:20]] [[ms:1]]", runId: "seed", overrides: undefined, keepRunning: false, maxBatchEvents: 0 }));
    for (let i = 0; i < 100 && !(await call(client, "getRun", { runId: "seed" })).run!.endedAt; i++) await new Promise((r) => setTimeout(r, 20));
    client.close();
    await seed.stop();

    const store = await SqliteStore.open({ dataDir, logger: silentLogger(), sync: "normal" });
    const state = await store.load();
    const record = state.runs.find((r) => r.runId === "seed")!;
    const events = await store.readEvents("seed", 0, 10_000);
    const t0 = performance.now();
    for (let i = 1; i < RETAINED; i++) {
      const runId = `seed-${i}`;
      store.putRun({ ...record, runId, result: record.result && { ...record.result, runId } });
      for (const e of events) store.appendEvent(runId, e);
      if (i % 500 === 0) await store.flush();
    }
    await store.close();
    const populateMs = Math.round(performance.now() - t0);
    const samples = [];
    for (let i = 0; i < 3; i++) samples.push(await timeToServe(dataDir, dir, `seed-${RETAINED - 1}`));
    return { retainedRuns: RETAINED, eventsPerRun: events.length, populateMs, samples, medianReadyMs: median(samples.map((s) => s.readyMs)), medianFirstGetRunMs: median(samples.map((s) => s.firstGetRunMs)), medianRssMb: median(samples.map((s) => s.rssMb)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const { fakeClaude, executorBundle } = await buildArtifacts();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", node: process.version, loadavgAtStart: loadavg() };
  const results = { throughput: await throughput(fakeClaude, executorBundle), restart: await restart(fakeClaude) };
  const report = { name: "store", date: new Date().toISOString(), durationSeconds: Math.round((performance.now() - started) / 100) / 10, machine: { ...machine, loadavgAtEnd: loadavg() }, results };
  const out = join(ROOT, ".build", "bench");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "store.json"), `${JSON.stringify(report, null, 2)}\n`);
  const t = results.throughput as { medianEventsPerSec: Record<string, number>; ratioToMemory: Record<string, number> };
  const r = results.restart as { medianReadyMs: number; medianFirstGetRunMs: number; medianRssMb: number; eventsPerRun: number };
  const md = [
    "# Store benchmark",
    "",
    `${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}, ${report.date}. Two identical stacks (controller and executor processes, fake claude firehose of ${EVENTS} text deltas, batches of ${BATCH}), one per store, measured alternately.`,
    "",
    "| path | memory (events/s) | sqlite (events/s) | sqlite / memory (target ≥ 0.7) | postgres (events/s) | postgres / memory (target ≥ 0.5) |",
    "|---|---|---|---|---|---|",
    ...(["local", "remote"] as const).map((m) => {
      const cap = m === "local" ? "Local" : "Remote";
      return `| ${m} | ${t.medianEventsPerSec[`memory.${m}`]} | ${t.medianEventsPerSec[`sqlite.${m}`]} | ${t.ratioToMemory[`sqlite${cap}`]} | ${t.medianEventsPerSec[`postgres.${m}`]} | ${t.ratioToMemory[`postgres${cap}`]} |`;
    }),
    "",
    `Restart with ${RETAINED} finished runs retained (${r.eventsPerRun} events each) in SQLite: READY after ${r.medianReadyMs} ms, first GetRun answered after ${r.medianFirstGetRunMs} ms (medians of 3), RSS ${r.medianRssMb} MB.`,
    "",
    "PostgreSQL: one controller on a local server, with its cluster machinery on (fenced commits, the LISTEN connection, heartbeats).",
  ].join("\n");
  writeFileSync(join(out, "store.md"), `${md}\n`);
  log(`\n${md}\nreport: .build/bench/store.{json,md} (${report.durationSeconds} s)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

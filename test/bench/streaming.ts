/**
 * `make bench`: streaming performance of asm's local and remote paths (issue 4), through the
 * controller's public gRPC API, with the fake claude CLI as a firehose. The controller and the
 * executor agent run as real processes (the executor over real mTLS); baselines without asm in the
 * path are measured in the same run. Writes .build/bench/streaming.{json,md}. Measures; asserts
 * nothing (the exit status says only whether the benchmark could run).
 *
 * Knobs (environment): ASM_BENCH_EVENTS (deltas per throughput run), ASM_BENCH_REPEATS
 * (throughput runs per path), ASM_BENCH_LATENCY_SECONDS, ASM_BENCH_APPROVALS, ASM_BENCH_STARTS,
 * ASM_BENCH_INTERRUPTS, ASM_BENCH_ONLY (comma list of throughput,latency,approval,start,interrupt),
 * ASM_BENCH_CPU_PROF (directory for V8 CPU profiles of the controller and the executor).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { apiApprovals, apiInterrupt, apiLatency, apiRunStart, apiThroughput, createBenchSession, recordPath, type InterruptSample, type Mode } from "./api-probes.js";
import { median, processCpuMs, summarize, type Summary } from "./bench-stats.js";
import { bareSpawnFirstDelta, rawPipeLatency, rawPipeThroughput, startGrpcBaseline, type RateSample } from "./raw-baselines.js";
import { buildArtifacts, ROOT, startBenchStack, type BenchStack } from "./streaming-stack.js";

const num = (name: string, dflt: number): number => Number(process.env[name] ?? dflt);
const CONFIG = {
  throughputEvents: num("ASM_BENCH_EVENTS", 100_000),
  throughputRepeats: num("ASM_BENCH_REPEATS", 5),
  latencyRate: 200,
  latencySeconds: num("ASM_BENCH_LATENCY_SECONDS", 5),
  /** Deltas at the start of a latency run left out (connection and JIT warm-up). */
  latencyWarmup: 20,
  approvals: num("ASM_BENCH_APPROVALS", 300),
  runStarts: num("ASM_BENCH_STARTS", 40),
  interrupts: num("ASM_BENCH_INTERRUPTS", 20),
};
const ONLY = new Set((process.env.ASM_BENCH_ONLY ?? "throughput,latency,approval,start,interrupt").split(",").map((s) => s.trim()));
const MODES: Mode[] = ["local", "remote"];
/**
 * StreamRun's max_batch_events for the target paths, and the events per message of the batched
 * gRPC baseline (the executor's default batch size is 256 too).
 */
const BATCH = 256;

interface Target {
  id: string;
  what: string;
  measured: number;
  op: "<=" | ">=";
  target: number;
  unit: string;
  met: boolean;
}

const log = (line: string): void => void process.stdout.write(`${line}\n`);

async function throughput(stack: BenchStack): Promise<Record<string, unknown>> {
  const n = CONFIG.throughputEvents;
  type Path = "rawPipe" | "grpcBaseline" | "grpcBaselineBatched" | Mode | `${Mode}OnePerMessage`;
  const runs: Record<Path, RateSample[]> = { rawPipe: [], grpcBaseline: [], grpcBaselineBatched: [], local: [], remote: [], localOnePerMessage: [], remoteOnePerMessage: [] };
  const grpc = await startGrpcBaseline();
  const sessions = { local: await createBenchSession(stack, "local"), remote: await createBenchSession(stack, "remote") };
  try {
    // Warm-up (JIT, the remote link) at a tenth of the size, not recorded.
    const warm = Math.max(1000, Math.round(n / 10));
    await grpc.throughput(warm);
    await grpc.batchedThroughput(warm, BATCH);
    for (const mode of MODES) await apiThroughput(stack.client, sessions[mode], warm, BATCH);
    for (let i = 0; i < CONFIG.throughputRepeats; i++) {
      runs.rawPipe.push(await rawPipeThroughput(stack.fakeClaude, stack.localCwd, n));
      runs.grpcBaseline.push(await withServerCpu(grpc.pid, n, () => grpc.throughput(n)));
      runs.grpcBaselineBatched.push(await withServerCpu(grpc.pid, n, () => grpc.batchedThroughput(n, BATCH)));
      for (const mode of MODES) {
        runs[mode].push(await withCpu(stack, n, () => apiThroughput(stack.client, sessions[mode], n, BATCH)));
        runs[`${mode}OnePerMessage`].push(await withCpu(stack, n, () => apiThroughput(stack.client, sessions[mode], n, 0)));
      }
      log(`throughput ${i + 1}/${CONFIG.throughputRepeats}: ${Object.entries(runs).map(([k, v]) => `${k} ${v.at(-1)!.eventsPerSec}/s`).join(", ")}`);
    }
  } finally {
    await grpc.stop();
  }
  const med = Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v.map((r) => r.eventsPerSec))])) as Record<keyof typeof runs, number>;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  return {
    eventsPerRun: n,
    runs,
    medianEventsPerSec: med,
    // How many times faster the baseline is than the path (1 = no overhead).
    overhead: {
      rawPipeOverLocal: ratio(med.rawPipe, med.local),
      rawPipeOverRemote: ratio(med.rawPipe, med.remote),
      // Like for like: the batched paths against the baseline with the same batch size.
      grpcBaselineOverLocal: ratio(med.grpcBaselineBatched, med.local),
      grpcBaselineOverRemote: ratio(med.grpcBaselineBatched, med.remote),
    },
  };
}

/** Runs `fn` and adds the CPU time each named process and this client spent per 1000 events. */
async function withCpuOf(pids: Record<string, number>, events: number, fn: () => Promise<RateSample>): Promise<RateSample> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuMs(pid)]));
  const client0 = process.cpuUsage();
  const sample = await fn();
  const client = process.cpuUsage(client0);
  const per1k = (ms: number): number => Math.round((ms / events) * 1000 * 100) / 100;
  const cpu = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, per1k(processCpuMs(pid) - before[name]!)]));
  return { ...sample, cpuMsPer1kEvents: { ...sample.cpuMsPer1kEvents, ...cpu, client: per1k((client.user + client.system) / 1000) } };
}

const withCpu = (stack: BenchStack, events: number, fn: () => Promise<RateSample>): Promise<RateSample> => withCpuOf(stack.pids, events, fn);
const withServerCpu = (pid: number, events: number, fn: () => Promise<RateSample>): Promise<RateSample> => withCpuOf({ server: pid }, events, fn);

async function latency(stack: BenchStack): Promise<Record<string, unknown>> {
  const { latencyRate: rate, latencySeconds, latencyWarmup: skip } = CONFIG;
  const count = rate * latencySeconds + skip;
  const raw = (await rawPipeLatency(stack.fakeClaude, stack.localCwd, rate, count)).slice(skip);
  log(`latency rawPipe: p50 ${summarize(raw).p50} ms`);
  const all: Record<string, number[]> = { rawPipe: raw.map(us) };
  const out: Record<string, unknown> = { rate, samplesPerPath: count - skip, rawPipe: summarize(raw) };
  for (const mode of MODES) {
    const session = await createBenchSession(stack, mode);
    const samples = (await apiLatency(stack.client, session, rate, count)).slice(skip);
    out[mode] = summarize(samples);
    all[mode] = samples.map(us);
    log(`latency ${mode}: p50 ${summarize(samples).p50} ms, p99 ${summarize(samples).p99} ms`);
  }
  return { ...out, samplesMs: all };
}

async function approval(stack: BenchStack): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { approvalsPerPath: CONFIG.approvals };
  const all: Record<string, number[]> = {};
  for (const mode of MODES) {
    const session = await createBenchSession(stack, mode);
    await apiApprovals(stack.client, session, 10); // warm-up
    const samples = await apiApprovals(stack.client, session, CONFIG.approvals);
    out[mode] = summarize(samples);
    all[mode] = samples.map(us);
    log(`approval round trip ${mode}: p50 ${summarize(samples).p50} ms`);
  }
  return { ...out, samplesMs: all };
}

async function runStart(stack: BenchStack): Promise<Record<string, unknown>> {
  const samples: Record<"bare" | Mode, number[]> = { bare: [], local: [], remote: [] };
  const sessions = { local: await createBenchSession(stack, "local"), remote: await createBenchSession(stack, "remote") };
  for (const mode of MODES) await apiRunStart(stack.client, sessions[mode]); // warm-up
  // Interleaved, so drift in machine load hits every path alike.
  for (let i = 0; i < CONFIG.runStarts; i++) {
    samples.bare.push(await bareSpawnFirstDelta(stack.fakeClaude, stack.localCwd));
    for (const mode of MODES) samples[mode].push(await apiRunStart(stack.client, sessions[mode]));
  }
  const s = { bare: summarize(samples.bare), local: summarize(samples.local), remote: summarize(samples.remote) };
  // Each iteration's path minus the bare spawn right before it: the median of these paired
  // differences is steadier than a difference of medians when the machine's load drifts.
  const paired = (mode: Mode): number[] => samples[mode].map((x, i) => x - samples.bare[i]!);
  const extra = { local: round(median(paired("local"))), remote: round(median(paired("remote"))) };
  log(`run start p50: bare ${s.bare.p50} ms, local ${s.local.p50} ms, remote ${s.remote.p50} ms; extra (paired) local ${extra.local} ms, remote ${extra.remote} ms`);
  return { runs: CONFIG.runStarts, ...s, extraP50Ms: extra, samplesMs: { bare: samples.bare.map(us), local: samples.local.map(us), remote: samples.remote.map(us) } };
}

async function interrupt(stack: BenchStack): Promise<Record<string, unknown>> {
  const samples: Record<Mode, InterruptSample[]> = { local: [], remote: [] };
  const sessions: Record<Mode, string> = {
    local: await createBenchSession(stack, "local", { FAKE_CLI_RECORD: recordPath(stack, "local") }),
    remote: await createBenchSession(stack, "remote", { FAKE_CLI_RECORD: recordPath(stack, "remote") }),
  };
  for (let i = 0; i < CONFIG.interrupts; i++) {
    for (const mode of MODES) samples[mode].push(await apiInterrupt(stack.client, sessions[mode], recordPath(stack, mode)));
  }
  const out: Record<string, unknown> = { runs: CONFIG.interrupts, samplesMs: Object.fromEntries(MODES.map((m) => [m, samples[m].map((x) => ({ rpc: us(x.rpcMs), groupGone: us(x.goneMs) }))])) };
  for (const mode of MODES) {
    out[mode] = { rpc: summarize(samples[mode].map((x) => x.rpcMs)), groupGone: summarize(samples[mode].map((x) => x.goneMs)) };
    log(`interrupt ${mode}: group gone p50 ${summarize(samples[mode].map((x) => x.goneMs)).p50} ms`);
  }
  return out;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
/** A sample in ms, kept to the microsecond for the JSON. */
const us = round;

function targetsOf(r: Record<string, Record<string, unknown>>): Target[] {
  const t: Target[] = [];
  const add = (id: string, what: string, measured: number | undefined, op: Target["op"], target: number, unit: string): void => {
    if (measured === undefined) return;
    t.push({ id, what, measured, op, target, unit, met: op === "<=" ? measured <= target : measured >= target });
  };
  const tp = r.throughput?.medianEventsPerSec as Record<string, number> | undefined;
  add("throughput.remote", "Throughput, remote (controller → executor over mTLS → CLI)", tp?.remote, ">=", 100_000, "events/s");
  add("throughput.local", "Throughput, local (controller spawns the CLI)", tp?.local, ">=", 200_000, "events/s");
  const lat = r.latency as Record<string, Summary> | undefined;
  add("latency.remote.p50", "Added latency per event at 200 events/s, remote p50", lat?.remote?.p50, "<=", 1, "ms");
  add("latency.remote.p99", "Added latency per event at 200 events/s, remote p99", lat?.remote?.p99, "<=", 5, "ms");
  const ap = r.approval as Record<string, Summary> | undefined;
  add("approval.remote.p50", "Approval round trip, remote p50 (measured in the CLI)", ap?.remote?.p50, "<=", 3, "ms");
  const rs = r.runStart?.extraP50Ms as Record<Mode, number> | undefined;
  add("runStart.remote.extraP50", "Remote run start over a warm link, beyond a bare spawn of the same CLI (p50)", rs?.remote, "<=", 10, "ms");
  const it = r.interrupt as Record<Mode, { groupGone: Summary }> | undefined;
  add("interrupt.remote.p50", "Interrupt to process group gone, remote p50", it?.remote?.groupGone.p50, "<=", 50, "ms");
  add("interrupt.local.p50", "Interrupt to process group gone, local p50", it?.local?.groupGone.p50, "<=", 50, "ms");
  return t;
}

function fmt(x: number, unit: string): string {
  if (unit === "events/s") return `${Math.round(x).toLocaleString("en-US")} ${unit}`;
  return `${x.toFixed(2)} ${unit}`;
}

const perSec = (x: number): string => Math.round(x).toLocaleString("en-US");

function markdown(report: Record<string, unknown>, results: Record<string, Record<string, unknown>>, targets: Target[]): string {
  const m = report.machine as { cpus: number; cpuModel: string; node: string; loadavgAtStart: number[]; loadavgAtEnd: number[] };
  const lines = [
    "# Streaming benchmark",
    "",
    `${m.cpus} CPUs (${m.cpuModel}), Node ${m.node}, ${report.date as string}; load average ${m.loadavgAtStart[0]!.toFixed(2)} at the start, ${m.loadavgAtEnd[0]!.toFixed(2)} at the end (anything else running skews the rates; the CPU cost per event is steadier). Controller and executor as separate processes with their default settings, executor over mTLS on loopback; the client is the benchmark process; the fake claude CLI is the firehose.`,
    "",
    "| Target | Measured | Target | Met |",
    "|---|---|---|---|",
    ...targets.map((x) => `| ${x.what} | ${fmt(x.measured, x.unit)} | ${x.op === "<=" ? "≤" : "≥"} ${fmt(x.target, x.unit)} | ${x.met ? "yes" : "**no**"} |`),
    "",
  ];
  const tp = results.throughput;
  if (tp) {
    const med = tp.medianEventsPerSec as Record<string, number>;
    const ov = tp.overhead as Record<string, number>;
    const runs = tp.runs as Record<string, RateSample[]>;
    const cpu = (path: string): string => {
      const per = runs[path]?.map((r) => r.cpuMsPer1kEvents).filter((c): c is Record<string, number> => c !== undefined) ?? [];
      if (per.length === 0) return "";
      return Object.keys(per[0]!)
        .map((name) => `${name} ${median(per.map((c) => c[name]!)).toFixed(1)}`)
        .join(", ");
    };
    /** Median over runs of the CPU µs per event summed over the path's processes and the client. */
    const cpuTotal = (path: string): number => {
      const per = runs[path]?.map((r) => r.cpuMsPer1kEvents).filter((c): c is Record<string, number> => c !== undefined) ?? [];
      return per.length === 0 ? 0 : median(per.map((c) => Object.values(c).reduce((a, b) => a + b, 0)));
    };
    lines.push(
      `## Throughput (small text deltas, median of ${CONFIG.throughputRepeats} runs of ${(tp.eventsPerRun as number).toLocaleString("en-US")})`,
      "",
      "| Path | events/s | CPU ms per 1000 events |",
      "|---|---|---|",
      `| raw pipe (CLI stdout read by a bare line counter) | ${perSec(med.rawPipe!)} | |`,
      `| bare grpc-js server stream, one hop, one event per message (same message type) | ${perSec(med.grpcBaseline!)} | ${cpu("grpcBaseline")} |`,
      `| bare grpc-js server stream, one hop, ${BATCH} events per message | ${perSec(med.grpcBaselineBatched!)} | ${cpu("grpcBaselineBatched")} |`,
      `| local: CLI → controller → client, StreamRun max_batch_events ${BATCH} | ${perSec(med.local!)} | ${cpu("local")} |`,
      `| remote: CLI → executor → mTLS → controller → client, max_batch_events ${BATCH} | ${perSec(med.remote!)} | ${cpu("remote")} |`,
      `| (informational) local, one event per message (max_batch_events 0) | ${perSec(med.localOnePerMessage!)} | ${cpu("localOnePerMessage")} |`,
      `| (informational) remote, one event per message | ${perSec(med.remoteOnePerMessage!)} | ${cpu("remoteOnePerMessage")} |`,
      "",
      `Overhead (baseline rate / path rate): raw pipe ÷ local ${ov.rawPipeOverLocal}×, raw pipe ÷ remote ${ov.rawPipeOverRemote}×, batched gRPC baseline ÷ local ${ov.grpcBaselineOverLocal}×, batched gRPC baseline ÷ remote ${ov.grpcBaselineOverRemote}×.`,
      "",
      `CPU budget: every process of a path shares this machine's ${m.cpus} CPUs, so the CPU time per event summed over them (the CLI's included where measured) bounds the rate at ${m.cpus} s ÷ that sum: ${(["grpcBaselineBatched", "local", "remote"] as const)
        .map((path) => {
          const total = cpuTotal(path);
          return total > 0 ? `${path === "grpcBaselineBatched" ? "batched gRPC baseline" : path} ${(total).toFixed(1)} µs → at most ${perSec((m.cpus * 1e6) / total)}/s` : "";
        })
        .filter(Boolean)
        .join("; ")}.`,
      "",
    );
  }
  const summaryTable = (title: string, rows: [string, Summary | undefined][]): void => {
    lines.push(title, "", "| Path | p50 | p90 | p99 | max | n |", "|---|---|---|---|---|---|");
    for (const [name, s] of rows) if (s) lines.push(`| ${name} | ${s.p50.toFixed(3)} ms | ${s.p90.toFixed(3)} ms | ${s.p99.toFixed(3)} ms | ${s.max.toFixed(3)} ms | ${s.n} |`);
    lines.push("");
  };
  const lat = results.latency as Record<string, Summary> | undefined;
  if (lat) summaryTable(`## Latency per event at ${CONFIG.latencyRate} events/s (CLI write → client receive, same clock)`, [["raw pipe", lat.rawPipe], ["local", lat.local], ["remote", lat.remote]]);
  const ap = results.approval as Record<string, Summary> | undefined;
  if (ap) summaryTable("## Approval round trip (CLI writes can_use_tool → reads the answer; the client answers at once with Approve)", [["local", ap.local], ["remote", ap.remote]]);
  const rs = results.runStart as (Record<string, Summary> & { extraP50Ms: Record<Mode, number> }) | undefined;
  if (rs) {
    summaryTable("## Run start (to the first text delta of a fresh CLI; warm link)", [["bare spawn, read directly", rs.bare], ["local, through the controller", rs.local], ["remote, through the controller and executor", rs.remote]]);
    lines.push(
      `Beyond a bare spawn (median of the per-iteration differences; bare, local and remote run back to back in each iteration): local +${rs.extraP50Ms.local.toFixed(2)} ms, remote +${rs.extraP50Ms.remote.toFixed(2)} ms. The bare spawn is timed from spawn() to reading the same first text delta line.`,
      "",
    );
  }
  const it = results.interrupt as Record<Mode, { rpc: Summary; groupGone: Summary }> | undefined;
  if (it) summaryTable("## Interrupt (Interrupt call → the CLI and its grandchild gone)", [["local, process group gone", it.local?.groupGone], ["local, Interrupt answered", it.local?.rpc], ["remote, process group gone", it.remote?.groupGone], ["remote, Interrupt answered", it.remote?.rpc]]);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const started = performance.now();
  const cpuProfDir = process.env.ASM_BENCH_CPU_PROF;
  const { fakeClaude, executorBundle } = await buildArtifacts();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", node: process.version, platform: process.platform, release: release(), totalMemMb: Math.round(totalmem() / 2 ** 20), loadavgAtStart: loadavg() };
  const stack = await startBenchStack(fakeClaude, executorBundle, { cpuProfDir });
  const results: Record<string, Record<string, unknown>> = {};
  try {
    if (ONLY.has("throughput")) results.throughput = await throughput(stack);
    if (ONLY.has("latency")) results.latency = await latency(stack);
    if (ONLY.has("approval")) results.approval = await approval(stack);
    if (ONLY.has("start")) results.runStart = await runStart(stack);
    if (ONLY.has("interrupt")) results.interrupt = await interrupt(stack);
  } finally {
    await stack.stop();
  }
  Object.assign(machine, { loadavgAtEnd: loadavg() });
  const targets = targetsOf(results);
  const report = { name: "streaming", date: new Date().toISOString(), durationSeconds: Math.round((performance.now() - started) / 100) / 10, machine, config: CONFIG, targets, results };
  const dir = join(ROOT, ".build", "bench");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "streaming.json"), `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report, results, targets);
  writeFileSync(join(dir, "streaming.md"), `${md}\n`);
  log(`\n${md}\nreport: .build/bench/streaming.{json,md} (${report.durationSeconds} s)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

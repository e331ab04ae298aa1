/**
 * Measurements through the controller's public gRPC API (StreamRun, Approve, Interrupt), for runs
 * the controller executes itself (local) or on the executor agent over mTLS (remote).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ApprovalDecision, ExecutionMode, Lane, PermissionMode, Provider, type Event, type StreamRunResponse } from "@asm/shared";
import { call, type Client } from "../helpers/grpc-client.js";
import { runOptions } from "../helpers/sessions.js";
import { wallClockMs } from "./bench-stats.js";
import { rateSample, type RateSample } from "./raw-baselines.js";
import { EXECUTOR_NAME, type BenchStack } from "./streaming-stack.js";

export type Mode = "local" | "remote";

export async function createBenchSession(stack: BenchStack, mode: Mode, env: Record<string, string> = {}): Promise<string> {
  const defaults = runOptions({
    // The core lane on both paths: local and remote measure the same adapter (lanes.ts compares the sdk lane).
    lane: Lane.LANE_CORE,
    permissionMode: PermissionMode.PERMISSION_MODE_DEFAULT,
    env,
    ...(mode === "remote"
      ? { executionMode: ExecutionMode.EXECUTION_MODE_REMOTE_NODE, driverOpts: { remote_node: EXECUTOR_NAME } }
      : { executionMode: ExecutionMode.EXECUTION_MODE_LOCAL, cwd: stack.localCwd }),
  });
  const res = await call(stack.client, "createSession", { provider: Provider.PROVIDER_CLAUDE, sessionId: "", options: { defaults } });
  return res.session!.sessionId;
}

interface RunHooks {
  /** Called first thing for every text delta (latency probes read the clock here). */
  onDelta?: (content: string) => void;
  onApproval?: (approvalId: string) => void;
  onStarted?: (pid: number, runId: string) => void;
}

export interface RunTrace {
  startAt: number;
  firstDeltaAt: number;
  lastDeltaAt: number;
  deltas: number;
  events: number;
  resultText: string;
  runId: string;
}

/**
 * One StreamRun, followed to its end; rejects when the run ends with an error event. With
 * `maxBatchEvents` > 1 the controller sends batches (StreamRunRequest.max_batch_events).
 */
export function traceRun(client: Client, sessionId: string, prompt: string, hooks: RunHooks = {}, maxBatchEvents = 0): Promise<RunTrace> {
  return new Promise((resolve, reject) => {
    const trace: RunTrace = { startAt: performance.now(), firstDeltaAt: Number.NaN, lastDeltaAt: Number.NaN, deltas: 0, events: 0, resultText: "", runId: "" };
    let failure: string | undefined;
    const stream = client.streamRun({ sessionId, prompt, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents });
    stream.on("data", (m: StreamRunResponse) => {
      if (m.event) onEvent(m.event);
      else for (const event of m.events) onEvent(event);
    });
    const onEvent = (event: Event): void => {
      const p = event.payload;
      trace.events += 1;
      if (p?.$case === "assistantDelta") {
        hooks.onDelta?.(p.value.content);
        const now = performance.now();
        if (trace.deltas === 0) trace.firstDeltaAt = now;
        trace.lastDeltaAt = now;
        trace.deltas += 1;
        return;
      }
      switch (p?.$case) {
        case "runStarted":
          trace.runId = event.runId;
          hooks.onStarted?.(p.value.pid, event.runId);
          return;
        case "approvalRequested":
          hooks.onApproval?.(p.value.approvalId);
          return;
        case "result":
          trace.resultText = p.value.text;
          return;
        case "error":
          failure = `${p.value.error?.kind}: ${p.value.error?.message}`;
          return;
        default:
      }
    };
    stream.on("error", reject);
    stream.on("end", () => (failure ? reject(new Error(`run failed: ${failure}`)) : resolve(trace)));
  });
}

/**
 * Throughput of N deltas, first delta to last delta as the client receives them (in batches of up
 * to `maxBatchEvents` when > 1), with the CPU the CLI spent producing them (from its final text).
 */
export async function apiThroughput(client: Client, sessionId: string, n: number, maxBatchEvents = 0): Promise<RateSample> {
  const t = await traceRun(client, sessionId, `[[scenario:firehose]] [[n:${n}]]`, {}, maxBatchEvents);
  if (t.deltas !== n) throw new Error(`expected ${n} deltas, got ${t.deltas}`);
  const cliCpuUs = Number(/cpu_us:(\d+)/.exec(t.resultText)?.[1] ?? Number.NaN);
  const sample = rateSample(t.deltas, t.firstDeltaAt, t.lastDeltaAt);
  return Number.isFinite(cliCpuUs) ? { ...sample, cpuMsPer1kEvents: { cli: Math.round((cliCpuUs / n) * 100) / 100 } } : sample;
}

/** Per-event latency at a fixed rate: client receive time minus the CLI's write time (same clock). */
export async function apiLatency(client: Client, sessionId: string, rate: number, count: number): Promise<number[]> {
  const samples: number[] = [];
  await traceRun(client, sessionId, `[[scenario:firehose]] [[n:${count}]] [[rate:${rate}]] [[ts]]`, {
    onDelta: (content) => samples.push(wallClockMs() - Number.parseFloat(content)),
  });
  return samples;
}

/** N approvals answered at once with Approve; the round trips as the CLI timed them. */
export async function apiApprovals(client: Client, sessionId: string, n: number): Promise<number[]> {
  const answers: Promise<unknown>[] = [];
  const t = await traceRun(client, sessionId, `[[scenario:approvals]] [[n:${n}]]`, {
    onApproval: (approvalId) => answers.push(call(client, "approve", { sessionId, approvalId, decision: ApprovalDecision.APPROVAL_DECISION_ALLOW, reason: "" })),
  });
  await Promise.all(answers);
  return (JSON.parse(t.resultText) as { approvalMs: number[] }).approvalMs;
}

/** ms from the StreamRun call to the first text delta of a one-delta turn (a fresh CLI each run). */
export async function apiRunStart(client: Client, sessionId: string): Promise<number> {
  const t = await traceRun(client, sessionId, "[[scenario:firehose]] [[n:1]]");
  return t.firstDeltaAt - t.startAt;
}

export interface InterruptSample {
  /** Interrupt call until its answer (the controller answers once the run's process group is gone). */
  rpcMs: number;
  /** Interrupt call until the CLI and its grandchild are observed gone. */
  goneMs: number;
}

/**
 * Starts a hanging turn (the CLI has a grandchild in its process group), interrupts it once the
 * turn is under way, and times the interrupt until the process group is gone.
 */
export async function apiInterrupt(client: Client, sessionId: string, record: string): Promise<InterruptSample> {
  let pid = 0;
  let runId = "";
  let started!: () => void;
  const startedP = new Promise<void>((resolve) => (started = resolve));
  const run = traceRun(client, sessionId, "[[scenario:hang]]", {
    onStarted: (p, id) => {
      pid = p;
      runId = id;
      started();
    },
  }).catch((err: unknown) => err);
  const early = await Promise.race([startedP.then(() => undefined), run]);
  if (early !== undefined) throw new Error(`the run ended before it started: ${String(early)}`);
  let grandchild = 0;
  await until(() => (grandchild = grandchildOf(record, pid)) !== 0, 2, `the CLI (pid ${pid}) did not record its grandchild in ${record}`);
  const t0 = performance.now();
  await call(client, "interrupt", { runId });
  const rpcMs = performance.now() - t0;
  await until(() => !isAlive(pid) && !isAlive(grandchild), 1, `the CLI (pid ${pid}) or its grandchild (pid ${grandchild}) outlived the interrupt`);
  const goneMs = performance.now() - t0;
  const outcome = await run;
  if (!(outcome instanceof Error && outcome.message.includes("user_cancelled"))) throw new Error(`the interrupted run did not end as user_cancelled: ${String(outcome)}`);
  return { rpcMs, goneMs };
}

/** Polls `check` every `everyMs` for up to 10 s. */
async function until(check: () => boolean, everyMs: number, failure: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(failure);
    await sleep(everyMs);
  }
}

/** The grandchild pid the fake CLI with `pid` recorded, or 0 while it has not yet. */
function grandchildOf(record: string, pid: number): number {
  let text = "";
  try {
    text = readFileSync(record, "utf8");
  } catch {
    return 0;
  }
  // The file collects every run of the session; the last start record with this pid is this run.
  // The CLI may be appending right now: the text after the last newline is not a record yet.
  let inRun = false;
  let found = 0;
  for (const line of text.slice(0, text.lastIndexOf("\n") + 1).split("\n")) {
    if (!line) continue;
    const r = JSON.parse(line) as { t: string; pid?: number };
    if (r.t === "start") inRun = r.pid === pid;
    else if (inRun && r.t === "grandchild") found = r.pid ?? 0;
  }
  return found;
}

/** Whether a process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function recordPath(stack: BenchStack, mode: Mode): string {
  return join(stack.dir, `interrupt-${mode}.jsonl`);
}

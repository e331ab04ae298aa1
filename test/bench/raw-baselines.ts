/**
 * Baselines measured without asm in the path: the fake CLI's stdout read directly by this process
 * (a bare line counter), a bare spawn of the same CLI, and a bare single-hop grpc-js server stream
 * (grpc-baseline-server.ts in its own process).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { credentials, makeGenericClientConstructor, type ClientReadableStream } from "@grpc/grpc-js";
import { ControllerServiceClient, type EventBatch, type StreamRunRequest, type StreamRunResponse } from "@asm/shared";
import { BATCHES } from "./grpc-baseline-service.js";
import { wallClockMs } from "./bench-stats.js";
import { CLIENT_CHANNEL_OPTIONS, systemPath } from "./streaming-stack.js";

/** The arguments the claude adapter gives the CLI in permission mode default. */
export const CLAUDE_ARGS = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--include-partial-messages", "--permission-mode", "default", "--permission-prompt-tool", "stdio"];
/** Lines the firehose writes before its first text delta: system init, message_start, content_block_start. */
const LINES_BEFORE_FIRST_DELTA = 3;
const NL = 0x0a;

function userMessage(prompt: string): string {
  return JSON.stringify({ type: "user", session_id: "", message: { role: "user", content: [{ type: "text", text: prompt }] }, parent_tool_use_id: null });
}

/** Spawns the fake CLI (own process group, like asm does) and gives it one turn; stdin is then closed. */
function spawnCli(fakeClaude: string, cwd: string, prompt: string): ChildProcess {
  const child = spawn(fakeClaude, CLAUDE_ARGS, { cwd, env: { PATH: systemPath(), HOME: cwd }, detached: true, stdio: ["pipe", "pipe", "ignore"] });
  child.stdin!.on("error", () => undefined);
  child.stdin!.end(`${userMessage(prompt)}\n`);
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));
}

export interface RateSample {
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** CPU ms per 1000 events spent in each process of the path during the run (load-independent cost). */
  cpuMsPer1kEvents?: Record<string, number>;
}

export function rateSample(events: number, firstAt: number, lastAt: number): RateSample {
  const seconds = (lastAt - firstAt) / 1000;
  return { events, seconds: Math.round(seconds * 1e6) / 1e6, eventsPerSec: Math.round((events - 1) / seconds) };
}

/** Raw pipe rate: N deltas from the firehose, lines counted from the first delta line to the last. */
export async function rawPipeThroughput(fakeClaude: string, cwd: string, n: number): Promise<RateSample> {
  const child = spawnCli(fakeClaude, cwd, `[[scenario:firehose]] [[n:${n}]]`);
  let lines = 0;
  let firstAt = 0;
  let lastAt = 0;
  const first = LINES_BEFORE_FIRST_DELTA + 1;
  const last = LINES_BEFORE_FIRST_DELTA + n;
  child.stdout!.on("data", (chunk: Buffer) => {
    const now = performance.now();
    let at = chunk.indexOf(NL);
    while (at !== -1) {
      lines += 1;
      if (lines === first) firstAt = now;
      if (lines === last) lastAt = now;
      at = chunk.indexOf(NL, at + 1);
    }
  });
  await exited(child);
  if (lines < last) throw new Error(`raw pipe: expected ${last} lines, read ${lines}`);
  return rateSample(n, firstAt, lastAt);
}

/** Latency over the raw pipe at a fixed rate: read time minus the write time the CLI put in each delta. */
export async function rawPipeLatency(fakeClaude: string, cwd: string, rate: number, count: number): Promise<number[]> {
  const child = spawnCli(fakeClaude, cwd, `[[scenario:firehose]] [[n:${count}]] [[rate:${rate}]] [[ts]]`);
  const samples: number[] = [];
  let rest = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const now = wallClockMs();
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      const m = /"text_delta","text":"([\d.]+) /.exec(line);
      if (m) samples.push(now - Number(m[1]));
    }
  });
  await exited(child);
  return samples;
}

/** A bare spawn of the CLI with a one-delta turn: ms from spawn() to reading the text delta line. */
export async function bareSpawnFirstDelta(fakeClaude: string, cwd: string): Promise<number> {
  const t0 = performance.now();
  const child = spawnCli(fakeClaude, cwd, "[[scenario:firehose]] [[n:1]]");
  let firstAt = Number.NaN;
  let lines = 0;
  child.stdout!.on("data", (chunk: Buffer) => {
    const now = performance.now();
    let at = chunk.indexOf(NL);
    while (at !== -1) {
      lines += 1;
      if (lines === LINES_BEFORE_FIRST_DELTA + 1) firstAt = now;
      at = chunk.indexOf(NL, at + 1);
    }
  });
  await exited(child);
  if (Number.isNaN(firstAt)) throw new Error("bare spawn: the CLI wrote no text delta");
  return firstAt - t0;
}

export interface GrpcBaseline {
  /** Pid of the server process. */
  pid: number;
  throughput(n: number): Promise<RateSample>;
  /** The same events `batch` to a message (informational: what batching would give). */
  batchedThroughput(n: number, batch: number): Promise<RateSample>;
  stop(): Promise<void>;
}

/** Starts grpc-baseline-server.ts in its own process (through the same tsx loader as this one). */
export async function startGrpcBaseline(): Promise<GrpcBaseline> {
  const proc = spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, "grpc-baseline-server.ts")], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const m = /READY port=(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once("exit", (code) => reject(new Error(`grpc baseline server exited with ${code}`)));
  });
  const client = new ControllerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
  const BatchClient = makeGenericClientConstructor(BATCHES, "Baseline");
  const batchClient = new BatchClient(`127.0.0.1:${port}`, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS) as unknown as { streamBatches(req: StreamRunRequest): ClientReadableStream<EventBatch>; close(): void };
  return {
    pid: proc.pid!,
    throughput: (n) =>
      new Promise((resolve, reject) => {
        let deltas = 0;
        let firstAt = 0;
        let lastAt = 0;
        const stream = client.streamRun({ sessionId: "baseline", prompt: `n=${n}`, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
        stream.on("data", (m: StreamRunResponse) => {
          if (m.event?.payload?.$case !== "assistantDelta") return;
          const now = performance.now();
          deltas += 1;
          if (deltas === 1) firstAt = now;
          lastAt = now;
        });
        stream.on("error", reject);
        stream.on("end", () => resolve(rateSample(deltas, firstAt, lastAt)));
      }),
    batchedThroughput: (n, batch) =>
      new Promise((resolve, reject) => {
        let deltas = 0;
        let firstAt = 0;
        let lastAt = 0;
        const stream = batchClient.streamBatches({ sessionId: "baseline", prompt: `n=${n} batch=${batch}`, runId: "", overrides: undefined, keepRunning: false, maxBatchEvents: 0 });
        stream.on("data", (m: EventBatch) => {
          const now = performance.now();
          for (const e of m.events) {
            if (e.payload?.$case !== "assistantDelta") continue;
            deltas += 1;
            if (deltas === 1) firstAt = now;
            lastAt = now;
          }
        });
        stream.on("error", reject);
        stream.on("end", () => resolve(rateSample(deltas, firstAt, lastAt)));
      }),
    stop: async () => {
      client.close();
      batchClient.close();
      const gone = exited(proc);
      proc.kill("SIGTERM");
      await gone;
    },
  };
}

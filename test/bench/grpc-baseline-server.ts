/**
 * The bare single-hop gRPC baseline of the streaming benchmark, run as its own process: a grpc-js
 * server whose StreamRun writes N events shaped like the controller's text deltas (same message
 * type, same metadata) as fast as HTTP/2 flow control takes them. No runs, no CLI, no log.
 * Prompt `n=N`. A second method, BATCHES, writes the same events B to a message (the executor
 * protocol's EventBatch), to show what batching would give. Prints `READY port=N`.
 */
import { Server, ServerCredentials, type ServerWritableStream } from "@grpc/grpc-js";
import { ControllerServiceService, kindOf, payload, ulid, type Event, type EventBatch, type StreamRunRequest, type StreamRunResponse } from "@asm/shared";
import { BATCHES } from "./grpc-baseline-service.js";

const metadata = {
  requestedLane: "auto",
  preferredLane: "core",
  lane: "core",
  backend: "core",
  executionMode: "local",
  laneReason: "sdk_unavailable",
  laneFallbackReason: "",
  sdkRuntime: "@anthropic-ai/claude-agent-sdk",
  sdkAvailable: false,
  capabilities: ["streaming", "approvals", "interrupt", "resume"],
  executor: "",
  provider: "claude",
  sdkVersion: "",
  executionSurface: "local_subprocess",
  surfaceTarget: "",
};

function deltaEvent(runId: string, sessionId: string, sequence: number): Event {
  const p = payload("assistantDelta", { content: `t${sequence} `, index: 0 });
  return {
    id: `evt_${ulid()}`,
    runId,
    sessionId,
    sequence,
    timestamp: new Date(),
    provider: "claude",
    kind: kindOf(p),
    providerSessionId: "2894a72d-7094-4396-8bb8-9c19c2bd9de3",
    metadata,
    payload: p,
  };
}

/** Writes messages made by `next()` while `more()`, as fast as flow control allows, then ends the call. */
function pumpMessages<T>(call: ServerWritableStream<StreamRunRequest, T>, more: () => boolean, next: () => T): void {
  let gone = false;
  call.on("cancelled", () => (gone = true));
  const pump = (): void => {
    while (!gone && more()) {
      if (!call.write(next())) {
        call.once("drain", pump);
        return;
      }
    }
    if (!gone) call.end();
  };
  pump();
}

function streamRun(call: ServerWritableStream<StreamRunRequest, StreamRunResponse>): void {
  const n = Number(/n=(\d+)/.exec(call.request.prompt)?.[1] ?? 0);
  const runId = `run_${ulid()}`;
  let sequence = 0;
  pumpMessages(call, () => sequence < n, () => ({ event: deltaEvent(runId, call.request.sessionId, ++sequence), events: [] }));
}

function streamBatches(call: ServerWritableStream<StreamRunRequest, EventBatch>): void {
  const n = Number(/n=(\d+)/.exec(call.request.prompt)?.[1] ?? 0);
  const batch = Number(/batch=(\d+)/.exec(call.request.prompt)?.[1] ?? 64);
  const runId = `run_${ulid()}`;
  let sequence = 0;
  pumpMessages(call, () => sequence < n, () => {
    const events: Event[] = [];
    while (events.length < batch && sequence < n) events.push(deltaEvent(runId, call.request.sessionId, ++sequence));
    return { events };
  });
}

const server = new Server({ "grpc.max_send_message_length": 4 * 1024 * 1024 - 64 * 1024 });
server.addService(ControllerServiceService, { streamRun });
server.addService(BATCHES, { streamBatches });
server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`READY port=${port}\n`);
});
process.once("SIGTERM", () => server.tryShutdown(() => process.exit(0)));

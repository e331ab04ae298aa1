/**
 * A run as an `AsyncIterable` of whole events that survives a dropped stream: when the connection
 * fails (network, a controller's listener restarting), it re-subscribes with `WatchRun` after the
 * last sequence it delivered, with bounded backoff, so the consumer sees every event exactly once,
 * in order, ending with the terminal event. Chunked payloads (`PayloadChunk`) are joined: only whole
 * events come out.
 */
import { status as Status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { AsmError, fromGrpcError, isBareStatus, isTerminal, joinPieces, type Event, type ControllerServiceClient, type RunOptions } from "@asm/shared";
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffPolicy } from "./backoff.js";

type EventMessage = { event?: Event; events?: Event[] };

export interface RunStreamOptions {
  /** Aborting stops the stream (and interrupts the run, as `break` does). */
  signal?: AbortSignal;
  backoff?: BackoffPolicy;
  /** Whether leaving the loop before the terminal event (break, abort) interrupts the run. Default true. */
  interruptOnBreak?: boolean;
  /** Batched delivery from the controller (see StreamRunRequest.max_batch_events). Default 64. */
  maxBatchEvents?: number;
  /** Told of each re-attach (the error that caused it, the attempt number). */
  onReattach?: (error: AsmError, attempt: number) => void;
}

/** Where a RunStream gets its events: a new run (StreamRun) or an existing one (WatchRun). */
export type RunSource =
  | { kind: "start"; sessionId: string; prompt: string; overrides: RunOptions | undefined }
  | { kind: "watch"; fromSequence: number };

/** A gRPC failure a new call may get past: the transport, not the controller, said no. */
function isTransient(err: unknown): boolean {
  const code = (err as ServiceError).code;
  if (code === Status.UNAVAILABLE) return true;
  if (code === Status.INTERNAL || code === Status.UNKNOWN || code === Status.CANCELLED) return isBareStatus(fromGrpcError(err as ServiceError));
  return false;
}

export class RunStream implements AsyncIterable<Event> {
  /** The sequence of the last whole event delivered (0 before the first). */
  private delivered = 0;
  /** Whether the run is known to exist (an event came, or this stream watches an existing run). */
  private started = false;
  /** A StreamRun was sent: later calls watch, unless the controller never got it. */
  private startSent = false;
  private ended = false;
  private consumed = false;
  private call: ClientReadableStream<EventMessage> | undefined;

  constructor(
    private readonly client: ControllerServiceClient,
    readonly runId: string,
    private readonly source: RunSource,
    private readonly opts: RunStreamOptions = {},
  ) {
    if (source.kind === "watch") {
      this.delivered = source.fromSequence;
      this.started = true;
    }
  }

  /** The sequence of the last event this stream delivered. */
  get lastSequence(): number {
    return this.delivered;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Event> {
    if (this.consumed) throw new AsmError({ reasonCode: "output_already_consumed", message: "a RunStream can be iterated once" });
    this.consumed = true;
    const backoff = this.opts.backoff ?? DEFAULT_BACKOFF;
    let attempt = 0;
    let failingSince: number | undefined;
    // Aborting ends the call being read at once; the loop then throws the signal's reason.
    const onAbort = (): void => this.call?.cancel();
    this.opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        this.opts.signal?.throwIfAborted();
        let parts: Uint8Array[] = [];
        try {
          for await (const message of this.open()) {
            for (const event of eventsOf(message as EventMessage)) {
              // What a re-attach replays again is already delivered.
              if (event.sequence <= this.delivered) continue;
              this.started = true;
              attempt = 0;
              failingSince = undefined;
              let whole: Event | undefined = event;
              if (event.payload?.$case === "chunk") {
                const joined = joinPieces(parts, event.payload.value);
                parts = joined.parts;
                whole = joined.payload ? { ...event, payload: joined.payload } : undefined;
              }
              if (!whole) continue;
              this.delivered = event.sequence;
              yield whole;
              this.opts.signal?.throwIfAborted();
              if (isTerminal(whole)) {
                this.ended = true;
                return;
              }
            }
          }
          // The stream ended before the terminal event (the server went away cleanly): re-attach.
        } catch (err) {
          if (this.opts.signal?.aborted) throw this.opts.signal.reason;
          const code = (err as ServiceError).code;
          if (!this.started && this.source.kind === "start" && code === Status.NOT_FOUND) {
            // The start was lost with the connection: send it again (same run id).
            this.startSent = false;
          } else if (!this.started && this.source.kind === "start" && code === Status.ALREADY_EXISTS) {
            // The start did arrive: watch it.
            this.started = true;
          } else if (!isTransient(err)) {
            throw fromGrpcError(err as ServiceError);
          }
          attempt += 1;
          failingSince ??= Date.now();
          if (Date.now() - failingSince > backoff.giveUpAfterMs) {
            throw new AsmError({ reasonCode: "call_unavailable", message: `run ${this.runId}: the controller stayed unreachable for ${backoff.giveUpAfterMs} ms after ${attempt} attempts to re-attach`, cause: err });
          }
          this.opts.onReattach?.(fromGrpcError(err as ServiceError), attempt);
          await sleep(backoffDelay(backoff, attempt), this.opts.signal);
        }
      }
    } finally {
      this.opts.signal?.removeEventListener("abort", onAbort);
      this.call?.cancel();
      this.call = undefined;
      if (!this.ended && (this.started || this.startSent) && this.opts.interruptOnBreak !== false) {
        // Left before the end (break, abort, an error): the run is not left running unobserved.
        await new Promise<void>((resolve) => this.client.interrupt({ runId: this.runId }, () => resolve()));
      }
    }
  }

  /** The call to read next: the run's start, or a watch after what was delivered. */
  private open(): ClientReadableStream<EventMessage> {
    this.call?.cancel();
    const maxBatchEvents = this.opts.maxBatchEvents ?? 64;
    const source = this.source;
    if (!this.started && !this.startSent && source.kind === "start") {
      // keep_running: a dropped connection must not stop the run; this stream re-attaches instead.
      this.call = this.client.streamRun({ sessionId: source.sessionId, prompt: source.prompt, runId: this.runId, overrides: source.overrides, keepRunning: true, maxBatchEvents });
      this.startSent = true;
    } else {
      this.call = this.client.watchRun({ runId: this.runId, afterSequence: this.delivered, maxBatchEvents });
    }
    return this.call;
  }
}

function eventsOf(m: EventMessage): Event[] {
  if (m.events && m.events.length > 0) return m.events;
  return m.event ? [m.event] : [];
}

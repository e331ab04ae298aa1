import { frameEventMessages, type ControllerServiceService } from "@asm/shared";
import type { EventSource } from "../runs/stored-run.js";

/** Largest `max_batch_events` honoured; larger requests get this. */
export const MAX_BATCH_EVENTS = 1024;
/** A batched message is closed before it passes this size (well under a client's default 4 MiB receive limit). */
export const MAX_BATCH_MESSAGE_BYTES = 1024 * 1024;

export interface EventStreamOptions {
  signal: AbortSignal;
  /** This reader's pace throttles the run (the StreamRun caller). */
  primary?: boolean;
  /** The request's `max_batch_events`: 0 or 1 for one event per message. */
  maxBatchEvents: number;
}

/**
 * The messages of a StreamRun or WatchRun, already encoded: the run's events after `after` as
 * they come, one per message or in batches of what is waiting (see StreamRunRequest.max_batch_events).
 * Yields pre-encoded buffers; the service definition from `withPreEncodedEventStreams` sends them as they are.
 */
export async function* eventStreamMessages(log: EventSource, after: number, opts: EventStreamOptions): AsyncGenerator<Buffer> {
  const batched = opts.maxBatchEvents > 1;
  const maxEvents = batched ? Math.min(opts.maxBatchEvents, MAX_BATCH_EVENTS) : 1;
  for await (const bodies of log.readBatches(after, { signal: opts.signal, primary: opts.primary ?? false, maxEvents })) {
    yield* frameEventMessages(bodies, log.runFields, { batched, maxMessageBytes: MAX_BATCH_MESSAGE_BYTES });
  }
}

type ServiceDefinition = typeof ControllerServiceService;

/**
 * The controller's service definition with StreamRun and WatchRun responses that may also be
 * pre-encoded buffers (from `eventStreamMessages`), written to the wire without re-encoding.
 */
export function withPreEncodedEventStreams(definition: ServiceDefinition): ServiceDefinition {
  const passThrough = <T>(serialize: (value: T) => Buffer) => (value: T | Buffer): Buffer => (Buffer.isBuffer(value) ? value : serialize(value));
  return {
    ...definition,
    streamRun: { ...definition.streamRun, responseSerialize: passThrough(definition.streamRun.responseSerialize) },
    watchRun: { ...definition.watchRun, responseSerialize: passThrough(definition.watchRun.responseSerialize) },
  };
}

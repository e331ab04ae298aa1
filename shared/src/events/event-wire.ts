import { BinaryWriter } from "@bufbuild/protobuf/wire";
import type { Observability } from "../../gen/asm/v1/common_pb.js";
import { Event } from "../../gen/asm/v1/events_pb.js";

/**
 * The wire form of a run's events, built for the hot path and for keeping many events:
 * - an event is encoded once, when it is appended to its run's log, as its **body**: its own
 *   fields (id, sequence, time, kind, provider session id, payload). The fields every event of a
 *   run repeats (run and session ids, provider, observability metadata: a dozen strings) are the
 *   run's **run fields**, encoded once per run. Protobuf lets fields come in any order, so
 *   `body + run fields` decodes exactly as `Event.encode` of the whole event would;
 * - streams send the stored bodies as they are, framed into StreamRunResponse / WatchRunResponse
 *   messages (`Event event = 1` or `repeated Event events = 2`, one shape for both);
 * - sequence and timestamp are written as the plain varints they are (the generated encoder takes
 *   its generic 64-bit path for them), through one reused writer.
 */

const SINGLE_EVENT_TAG = (1 << 3) | 2;
const EVENT_SEQUENCE_TAG = (4 << 3) | 0;
const EVENT_TIMESTAMP_TAG = (5 << 3) | 2;
const TIMESTAMP_SECONDS_TAG = (1 << 3) | 0;
const TIMESTAMP_NANOS_TAG = (2 << 3) | 0;
const BATCHED_EVENTS_TAG = (2 << 3) | 2;

/** What every event of one run shares. */
export interface RunFields {
  runId: string;
  sessionId: string;
  provider: string;
  metadata: Observability | undefined;
}

/** Reused by every call; each call finishes (and so resets) it before returning. */
const writer = new BinaryWriter();

/** The run fields, encoded (as an Event with only those fields set). */
export function encodeRunFields(run: RunFields): Uint8Array {
  const { runId, sessionId, provider, metadata } = run;
  return Event.encode({ id: "", runId, sessionId, sequence: 0, timestamp: undefined, provider, kind: 0, providerSessionId: "", metadata, payload: undefined }, new BinaryWriter()).finish();
}

/** Writes an event's own fields (no tag or length) into `w`. */
function writeBody(w: BinaryWriter, event: Event): void {
  const { id, sequence, timestamp, kind, providerSessionId, payload } = event;
  const ms = timestamp?.getTime() ?? 0;
  // Sequence and time as plain varints: the generated int64 path parses numbers through strings.
  // Values past 2^32 (never, in practice) take that path.
  const plain = sequence < 2 ** 32 && ms >= 0 && ms / 1000 < 2 ** 32;
  Event.encode(
    { id, runId: "", sessionId: "", sequence: plain ? 0 : sequence, timestamp: plain ? undefined : timestamp, provider: "", kind, providerSessionId, metadata: undefined, payload },
    w,
  );
  if (!plain) return;
  if (sequence !== 0) w.uint32(EVENT_SEQUENCE_TAG).uint32(sequence);
  if (timestamp) {
    const seconds = Math.trunc(ms / 1000);
    const nanos = (ms % 1000) * 1_000_000;
    w.uint32(EVENT_TIMESTAMP_TAG).fork();
    if (seconds !== 0) w.uint32(TIMESTAMP_SECONDS_TAG).uint32(seconds);
    if (nanos !== 0) w.uint32(TIMESTAMP_NANOS_TAG).int32(nanos);
    w.join();
  }
}

/** An event's body: everything but its run fields (`run_id`, `session_id`, `provider`, `metadata` are not written). */
export function encodeEventBody(event: Event): Uint8Array {
  try {
    writeBody(writer, event);
  } catch (err) {
    writer.finish(); // leaves the shared writer empty for the next event
    throw err;
  }
  return writer.finish();
}

/** One whole event (body and run fields), decoding as `Event.encode(event).finish()` would. */
export function encodeEvent(event: Event): Uint8Array {
  return concat(encodeEventBody(event), encodeRunFields(event));
}

/** The event a stored body stands for. */
export function decodeEvent(body: Uint8Array, runFields: Uint8Array): Event {
  return Event.decode(concat(body, runFields));
}

export interface EventMessageOptions {
  /** true: `repeated Event events` (field 2), several per message; false: `Event event` (field 1), one per message. */
  batched: boolean;
  /** A batched message is closed before it would grow past this many bytes (a single larger event still goes, alone). */
  maxMessageBytes: number;
}

/** Bytes of one framed event: tag, length, body, run fields. */
function framedLength(body: Uint8Array, runFields: Uint8Array): number {
  const length = body.length + runFields.length;
  return 1 + varintLength(length) + length;
}

/**
 * Frames consecutive event bodies of one run as ready-to-send StreamRunResponse / WatchRunResponse
 * messages: one message per event, or, batched, as few messages as `maxMessageBytes` allows, in order.
 */
export function frameEventMessages(bodies: readonly Uint8Array[], runFields: Uint8Array, opts: EventMessageOptions): Buffer[] {
  const tag = opts.batched ? BATCHED_EVENTS_TAG : SINGLE_EVENT_TAG;
  const messages: Buffer[] = [];
  let start = 0;
  while (start < bodies.length) {
    let end = start + 1;
    let bytes = framedLength(bodies[start]!, runFields);
    if (opts.batched) {
      while (end < bodies.length && bytes + framedLength(bodies[end]!, runFields) <= opts.maxMessageBytes) {
        bytes += framedLength(bodies[end]!, runFields);
        end += 1;
      }
    }
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = start; i < end; i++) {
      const body = bodies[i]!;
      out[at++] = tag;
      at = writeVarint(out, at, body.length + runFields.length);
      out.set(body, at);
      at += body.length;
      out.set(runFields, at);
      at += runFields.length;
    }
    messages.push(out);
    start = end;
  }
  return messages;
}

/** Events of one run as messages (encoding each body here): for callers that hold Event objects. */
export function encodeEventMessages(events: readonly Event[], opts: EventMessageOptions): Buffer[] {
  if (events.length === 0) return [];
  return frameEventMessages(events.map(encodeEventBody), encodeRunFields(events[0]!), opts);
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len += 1;
  }
  return len;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

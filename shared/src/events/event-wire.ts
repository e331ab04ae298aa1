import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Observability } from "../../gen/asm/v1/common_pb.js";
import { Event } from "../../gen/asm/v1/events_pb.js";

/**
 * The wire form of streamed events, built for a run's hot path:
 * - the fields every event of a run repeats (run and session ids, provider, provider session id
 *   and the observability metadata, a dozen strings) are encoded once per run and appended to each
 *   event's own fields; protobuf lets fields come in any order, so the result decodes exactly as
 *   `Event.encode` would. The cache is keyed by the run's metadata object, which all its events
 *   share (the run freezes it);
 * - sequence and timestamp are written as the plain varints they are (the generated encoder takes
 *   its generic 64-bit path for them);
 * - events are written through one reused writer (a fresh writer per event grows and zeroes its
 *   buffer every time, which costs more than the encoding itself), a whole batch in one pass when
 *   it fits in one message.
 *
 * StreamRunResponse and WatchRunResponse share one shape (`Event event = 1; repeated Event
 * events = 2`); `encodeEventMessages` writes either.
 */

const SINGLE_EVENT_TAG = (1 << 3) | 2;
const EVENT_SEQUENCE_TAG = (4 << 3) | 0;
const EVENT_TIMESTAMP_TAG = (5 << 3) | 2;
const TIMESTAMP_SECONDS_TAG = (1 << 3) | 0;
const TIMESTAMP_NANOS_TAG = (2 << 3) | 0;
const BATCHED_EVENTS_TAG = (2 << 3) | 2;

/** The fields every event of a run repeats, encoded once (as an Event with only those fields set). */
interface RunFields {
  runId: string;
  sessionId: string;
  provider: string;
  providerSessionId: string;
  bytes: Uint8Array;
}

/** Keyed by a run's metadata object, which all its events share; re-encoded when a field changes. */
const runFieldsCache = new WeakMap<Observability, RunFields>();
/** Reused by every call; each call finishes (and so resets) it before returning. */
const writer = new BinaryWriter();

function runFieldsOf(event: Event, metadata: Observability): Uint8Array {
  const cached = runFieldsCache.get(metadata);
  if (
    cached &&
    cached.runId === event.runId &&
    cached.sessionId === event.sessionId &&
    cached.provider === event.provider &&
    cached.providerSessionId === event.providerSessionId
  ) {
    return cached.bytes;
  }
  const { runId, sessionId, provider, providerSessionId } = event;
  const bytes = Event.encode(
    { id: "", runId, sessionId, sequence: 0, timestamp: undefined, provider, kind: 0, providerSessionId, metadata, payload: undefined },
    new BinaryWriter(),
  ).finish();
  runFieldsCache.set(metadata, { runId, sessionId, provider, providerSessionId, bytes });
  return bytes;
}

/** Writes one event's fields (no tag or length of its own) into `w`. */
function writeEvent(w: BinaryWriter, event: Event): void {
  const { metadata } = event;
  if (!metadata) {
    Event.encode(event, w);
    return;
  }
  const { id, sequence, timestamp, kind, payload } = event;
  const ms = timestamp?.getTime() ?? 0;
  // Sequence and time as plain varints: the generated int64 path parses numbers through strings.
  // Values past 2^32 (never, in practice) take that path.
  const plain = sequence < 2 ** 32 && ms >= 0 && ms / 1000 < 2 ** 32;
  Event.encode(
    { id, runId: "", sessionId: "", sequence: plain ? 0 : sequence, timestamp: plain ? undefined : timestamp, provider: "", kind, providerSessionId: "", metadata: undefined, payload },
    w,
  );
  if (plain) {
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
  w.raw(runFieldsOf(event, metadata));
}

/** One event, decoding as `Event.encode(event).finish()` would. */
export function encodeEvent(event: Event): Uint8Array {
  try {
    writeEvent(writer, event);
  } catch (err) {
    writer.finish(); // leaves the shared writer empty for the next event
    throw err;
  }
  return writer.finish();
}

export interface EventMessageOptions {
  /** true: `repeated Event events` (field 2), several per message; false: `Event event` (field 1), one per message. */
  batched: boolean;
  /** A batched message is closed before it would grow past this many bytes (a single larger event still goes, alone). */
  maxMessageBytes: number;
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

/** Bytes of one encoded event as an element of a response's event field (tag, length, event). */
const framedLength = (e: Uint8Array): number => 1 + varintLength(e.length) + e.length;

/**
 * Encodes consecutive events as ready-to-send StreamRunResponse / WatchRunResponse messages: one
 * message per event, or, batched, as few messages as `maxMessageBytes` allows, in order.
 */
export function encodeEventMessages(events: readonly Event[], opts: EventMessageOptions): Buffer[] {
  if (opts.batched && events.length > 1) {
    // The common case, small events: the whole batch in one pass through the writer.
    const whole = encodeBatch(events);
    if (whole.length <= opts.maxMessageBytes) return [asBuffer(whole)];
  }
  return splitIntoMessages(events.map(encodeEvent), opts);
}

/** All events as one batched message (`repeated Event events`). */
function encodeBatch(events: readonly Event[]): Uint8Array {
  try {
    for (const event of events) {
      writer.uint32(BATCHED_EVENTS_TAG).fork();
      writeEvent(writer, event);
      writer.join();
    }
  } catch (err) {
    writer.finish(); // leaves the shared writer empty for the next call
    throw err;
  }
  return writer.finish();
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Frames encoded events into messages, each one event or (batched) as many as fit in `maxMessageBytes`. */
function splitIntoMessages(encoded: readonly Uint8Array[], opts: EventMessageOptions): Buffer[] {
  const tag = opts.batched ? BATCHED_EVENTS_TAG : SINGLE_EVENT_TAG;
  const messages: Buffer[] = [];
  let start = 0;
  while (start < encoded.length) {
    let end = start + 1;
    let bytes = framedLength(encoded[start]!);
    if (opts.batched) {
      while (end < encoded.length && bytes + framedLength(encoded[end]!) <= opts.maxMessageBytes) {
        bytes += framedLength(encoded[end]!);
        end += 1;
      }
    }
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (let i = start; i < end; i++) {
      const e = encoded[i]!;
      out[at++] = tag;
      at = writeVarint(out, at, e.length);
      out.set(e, at);
      at += e.length;
    }
    messages.push(out);
    start = end;
  }
  return messages;
}

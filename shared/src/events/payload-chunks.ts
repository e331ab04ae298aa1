import { Event, type PayloadChunk } from "../../gen/asm/v1/events_pb.js";
import type { EventPayload } from "./event-payload.js";
import { kindOf, payload } from "./event-payload.js";

/**
 * Payloads too large for one event travel as consecutive `chunk` pieces (events.proto,
 * PayloadChunk): the protobuf encoding of an Event holding only the payload, cut into pieces.
 * `chunkPayload` cuts; `ChunkAssembler` joins them back for any reader (the reducer uses it).
 */

/** Bytes an event needs besides its piece's data (ids, time, kind, the piece's own fields). */
const PIECE_OVERHEAD_BYTES = 512;

/** The payload as the bytes a chunked event carries. */
function payloadBytes(p: EventPayload): Buffer {
  const bytes = Event.encode({ id: "", runId: "", sessionId: "", sequence: 0, timestamp: undefined, provider: "", kind: 0, providerSessionId: "", metadata: undefined, payload: p }).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The payloads of the pieces of `p`, each small enough that its event stays under
 * `maxEventBytes` (event fields besides the payload take at most `envelopeBytes`).
 */
export function chunkPayload(p: EventPayload, maxEventBytes: number, envelopeBytes: number): EventPayload[] {
  const bytes = payloadBytes(p);
  const room = Math.max(1024, maxEventBytes - envelopeBytes - PIECE_OVERHEAD_BYTES);
  const count = Math.ceil(bytes.length / room);
  const kind = kindOf(p);
  const pieces: EventPayload[] = [];
  for (let index = 0; index < count; index++) {
    pieces.push(payload("chunk", { kind, index, count, data: bytes.subarray(index * room, Math.min(bytes.length, (index + 1) * room)) }));
  }
  return pieces;
}

/**
 * Adds one piece to the pieces so far (in a reader's order of events): the whole payload with its
 * last piece, undefined before. A piece out of order (a reader that joined in the middle of a
 * chunked payload) starts over; only a whole payload ever comes out.
 */
export function joinPieces(parts: readonly Uint8Array[], piece: PayloadChunk): { parts: Uint8Array[]; payload: EventPayload | undefined } {
  const { index, count, data } = piece;
  const so = index === parts.length ? [...parts, data] : index === 0 ? [data] : [];
  if (so.length === 0 || index < count - 1) return { parts: so, payload: undefined };
  const joined = new Uint8Array(so.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of so) {
    joined.set(part, at);
    at += part.length;
  }
  return { parts: [], payload: Event.decode(joined).payload };
}

/**
 * What crosses between the controller's event loop and the SQLite worker. Events travel packed:
 * their bodies copied end to end into one buffer, their numbers into one typed array, so a batch
 * of thousands of events is a few transferred buffers, not thousands of cloned objects (a body is
 * often a view into a larger page, which a structured clone would copy whole).
 */

/** A row write other than an event, ready for its statement. */
export type RowOp =
  | { op: "run"; runId: string; sessionId: string; record: string; result: Uint8Array | null }
  | { op: "session"; sessionId: string; ordinal: number; record: string }
  | { op: "deleteRun"; runId: string }
  | { op: "deleteSession"; sessionId: string };

/** Events, packed: event i has runIds[i], numbers[2i] (sequence), numbers[2i+1] (source sequence), bodies[ends[i-1]..ends[i]). */
export interface PackedEvents {
  runIds: string[];
  numbers: Float64Array;
  ends: Uint32Array;
  bodies: Uint8Array;
}

/** One commit: row writes and runs of events, in their order. `{ events: n }` stands for the next n packed events. */
export interface PackedBatch {
  ops: (RowOp | { op: "events"; count: number })[];
  events: PackedEvents;
}

export interface EventRow {
  runId: string;
  sequence: number;
  sourceSequence: number;
  body: Uint8Array;
}

export function packEvents(rows: readonly EventRow[]): PackedEvents {
  let bytes = 0;
  for (const r of rows) bytes += r.body.length;
  const bodies = new Uint8Array(bytes);
  const numbers = new Float64Array(rows.length * 2);
  const ends = new Uint32Array(rows.length);
  const runIds: string[] = new Array(rows.length);
  let at = 0;
  rows.forEach((r, i) => {
    bodies.set(r.body, at);
    at += r.body.length;
    ends[i] = at;
    numbers[2 * i] = r.sequence;
    numbers[2 * i + 1] = r.sourceSequence;
    runIds[i] = r.runId;
  });
  return { runIds, numbers, ends, bodies };
}

/** The buffers of `events`, to transfer rather than copy. */
export function transferOf(events: PackedEvents): ArrayBuffer[] {
  return [events.numbers.buffer as ArrayBuffer, events.ends.buffer as ArrayBuffer, events.bodies.buffer as ArrayBuffer];
}

/** The packed events as rows; each body is a view into the one buffer. */
export function unpackEvents(events: PackedEvents): EventRow[] {
  return events.runIds.map((runId, i) => ({
    runId,
    sequence: events.numbers[2 * i]!,
    sourceSequence: events.numbers[2 * i + 1]!,
    body: events.bodies.subarray(i === 0 ? 0 : events.ends[i - 1], events.ends[i]),
  }));
}

/** Walks a batch in order: `row` for each row write, `events(packed, from, to)` for each run of events. */
export function eachPackedOp(batch: PackedBatch, row: (op: RowOp) => void, events: (packed: PackedEvents, from: number, to: number) => void): void {
  let next = 0;
  for (const op of batch.ops) {
    if (op.op === "events") {
      events(batch.events, next, next + op.count);
      next += op.count;
    } else row(op);
  }
}

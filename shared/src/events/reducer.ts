import { RunStatus } from "../../gen/asm/v1/common_pb.js";
import type { Event, Result } from "../../gen/asm/v1/events_pb.js";
import type { EventPayload } from "./event-payload.js";
import { joinPieces } from "./payload-chunks.js";

/** The fold state: the result so far plus what the fold needs to remember between events. */
export interface Projection {
  result: Result;
  /** Time of the first event, for `duration_ms`. */
  firstAtMs: number | undefined;
  /** Deltas arrived since the last complete assistant message (whose text then repeats them). */
  pendingDeltas: boolean;
  /** The pieces so far of a payload sent in pieces (events.proto, PayloadChunk). */
  chunkParts: Uint8Array[];
  /** Most bytes of `text` (and of `object`, encoded as JSON) the result keeps; past it, `truncated`. */
  maxTextBytes: number;
  /** UTF-8 bytes of `result.text` so far. */
  textBytes: number;
}

export function emptyResult(): Result {
  return {
    runId: "",
    sessionId: "",
    status: RunStatus.RUN_STATUS_UNSPECIFIED,
    text: "",
    object: undefined,
    cost: undefined,
    error: undefined,
    durationMs: 0,
    stopReason: "",
    providerSessionId: "",
    metadata: undefined,
    lastSequence: 0,
    truncated: false,
  };
}

/** A projection with nothing folded in; `maxTextBytes` bounds the result's text (default: none). */
export function emptyProjection(maxTextBytes = Number.POSITIVE_INFINITY): Projection {
  return { result: emptyResult(), firstAtMs: undefined, pendingDeltas: false, chunkParts: [], maxTextBytes, textBytes: 0 };
}

/** Assistant messages in `text` are parted by a blank line (a message with no text adds nothing). */
const MESSAGE_SEPARATOR = "\n\n";

function startMessage(state: Projection, text: string): void {
  if (text !== "" && state.result.text !== "") addText(state, MESSAGE_SEPARATOR);
}

/** Appends to the result's text up to the projection's bound; what passes it is cut, once. */
function addText(state: Projection, text: string): void {
  if (text === "" || state.result.truncated) return;
  const bytes = Buffer.byteLength(text);
  const room = state.maxTextBytes - state.textBytes;
  if (bytes <= room) {
    state.result.text += text;
    state.textBytes += bytes;
    return;
  }
  // Cut at a character boundary: a split multi-byte character decodes as U+FFFD, which is dropped.
  const cut = Buffer.from(text).subarray(0, Math.max(0, room)).toString("utf8").replace(/\uFFFD$/, "");
  state.result.text += cut;
  state.textBytes += Buffer.byteLength(cut);
  state.result.truncated = true;
}

/**
 * Folds one event into the projection. Pure: the same fold projects a live stream, a `Query`, and
 * a replay of a stored log, so all three agree.
 */
export function reduceEvent(state: Projection, event: Event): Projection {
  const next: Projection = { ...state, result: { ...state.result }, chunkParts: [...state.chunkParts] };
  foldEvent(next, event);
  return next;
}

/**
 * `reduceEvent` in place: folds one event into `state`, changing it (and its result object). For
 * the owner of a live projection, which then copies the result before handing it out.
 */
export function foldEvent(state: Projection, event: Event): void {
  const r = state.result;
  let { firstAtMs, pendingDeltas } = state;
  if (!r.runId) r.runId = event.runId;
  if (!r.sessionId) r.sessionId = event.sessionId;
  if (event.providerSessionId) r.providerSessionId = event.providerSessionId;
  if (event.metadata) r.metadata = event.metadata;
  if (event.timestamp) {
    const at = event.timestamp.getTime();
    firstAtMs ??= at;
    r.durationMs = Math.max(0, at - firstAtMs);
  }
  r.lastSequence = Math.max(r.lastSequence, event.sequence);
  let p: EventPayload | undefined = event.payload;
  if (p?.$case === "chunk") {
    // A piece of a large payload: the payload counts once, with its last piece.
    const joined = joinPieces(state.chunkParts, p.value);
    state.chunkParts = joined.parts;
    p = joined.payload;
  }
  switch (p?.$case) {
    case "runStarted":
      r.status = RunStatus.RUN_STATUS_RUNNING;
      if (p.value.providerSessionId) r.providerSessionId = p.value.providerSessionId;
      break;
    case "assistantDelta":
      // The first delta of a message starts it: a blank line parts it from the message before.
      if (!pendingDeltas) startMessage(state, p.value.content);
      addText(state, p.value.content);
      pendingDeltas = true;
      break;
    case "assistantMessage":
      // A message whose deltas came already repeats them; else it is a message of its own.
      if (!pendingDeltas) {
        startMessage(state, p.value.text);
        addText(state, p.value.text);
      }
      pendingDeltas = false;
      break;
    case "costUpdate": {
      const prev = r.cost ?? { inputTokens: 0, outputTokens: 0, costUsd: 0 };
      r.cost = {
        inputTokens: prev.inputTokens + p.value.inputTokens,
        outputTokens: prev.outputTokens + p.value.outputTokens,
        costUsd: prev.costUsd + p.value.costUsd,
      };
      break;
    }
    case "result":
      r.status = RunStatus.RUN_STATUS_COMPLETED;
      r.stopReason = p.value.stopReason;
      if (p.value.object !== undefined) {
        if (Buffer.byteLength(JSON.stringify(p.value.object) ?? "") <= state.maxTextBytes) r.object = p.value.object;
        else r.truncated = true;
      }
      if (!r.text && p.value.text) addText(state, p.value.text);
      break;
    case "error":
      r.error = p.value.error;
      r.status = p.value.error?.kind === "user_cancelled" ? RunStatus.RUN_STATUS_CANCELLED : RunStatus.RUN_STATUS_FAILED;
      break;
    case "runCompleted":
      r.status = p.value.status || RunStatus.RUN_STATUS_COMPLETED;
      break;
    default:
      break;
  }
  state.firstAtMs = firstAtMs;
  state.pendingDeltas = pendingDeltas;
}

/** Projects a whole event sequence into its result. */
export function reduceEvents(events: Iterable<Event>): Result {
  const state = emptyProjection();
  for (const event of events) foldEvent(state, event);
  return state.result;
}

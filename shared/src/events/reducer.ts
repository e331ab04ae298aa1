import { RunStatus } from "../../gen/asm/v1/common_pb.js";
import type { Event, Result } from "../../gen/asm/v1/events_pb.js";

/** The fold state: the result so far plus what the fold needs to remember between events. */
export interface Projection {
  result: Result;
  /** Time of the first event, for `duration_ms`. */
  firstAtMs: number | undefined;
  /** Deltas arrived since the last complete assistant message (whose text then repeats them). */
  pendingDeltas: boolean;
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
  };
}

export function emptyProjection(): Projection {
  return { result: emptyResult(), firstAtMs: undefined, pendingDeltas: false };
}

/**
 * Folds one event into the projection. Pure: the same fold projects a live stream, a `Query`, and
 * a replay of a stored log, so all three agree.
 */
export function reduceEvent(state: Projection, event: Event): Projection {
  const next: Projection = { result: { ...state.result }, firstAtMs: state.firstAtMs, pendingDeltas: state.pendingDeltas };
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
  const p = event.payload;
  switch (p?.$case) {
    case "runStarted":
      r.status = RunStatus.RUN_STATUS_RUNNING;
      if (p.value.providerSessionId) r.providerSessionId = p.value.providerSessionId;
      break;
    case "assistantDelta":
      r.text += p.value.content;
      pendingDeltas = true;
      break;
    case "assistantMessage":
      if (!pendingDeltas) r.text += p.value.text;
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
      if (p.value.object !== undefined) r.object = p.value.object;
      if (!r.text && p.value.text) r.text = p.value.text;
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

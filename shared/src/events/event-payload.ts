import { EventKind, type Event } from "../../gen/asm/v1/events_pb.js";

/** The payload union of an event: `{ $case, value }`. */
export type EventPayload = NonNullable<Event["payload"]>;
export type PayloadCase = EventPayload["$case"];
export type PayloadOf<C extends PayloadCase> = Extract<EventPayload, { $case: C }>["value"];

const KIND_BY_CASE: Record<Exclude<PayloadCase, "chunk">, EventKind> = {
  runStarted: EventKind.EVENT_KIND_RUN_STARTED,
  assistantDelta: EventKind.EVENT_KIND_ASSISTANT_DELTA,
  assistantMessage: EventKind.EVENT_KIND_ASSISTANT_MESSAGE,
  userMessage: EventKind.EVENT_KIND_USER_MESSAGE,
  thinking: EventKind.EVENT_KIND_THINKING,
  toolUse: EventKind.EVENT_KIND_TOOL_USE,
  toolResult: EventKind.EVENT_KIND_TOOL_RESULT,
  approvalRequested: EventKind.EVENT_KIND_APPROVAL_REQUESTED,
  approvalResolved: EventKind.EVENT_KIND_APPROVAL_RESOLVED,
  costUpdate: EventKind.EVENT_KIND_COST_UPDATE,
  result: EventKind.EVENT_KIND_RESULT,
  error: EventKind.EVENT_KIND_ERROR,
  stderr: EventKind.EVENT_KIND_STDERR,
  raw: EventKind.EVENT_KIND_RAW,
  runCompleted: EventKind.EVENT_KIND_RUN_COMPLETED,
};

/** The kind of a payload; a piece of a chunked payload has its original payload's kind. */
export function kindOf(payload: EventPayload): EventKind {
  return payload.$case === "chunk" ? payload.value.kind : KIND_BY_CASE[payload.$case];
}

/** Typed constructor for a payload: `payload("assistantDelta", { content: "hi", index: 0 })`. */
export function payload<C extends PayloadCase>(c: C, value: PayloadOf<C>): EventPayload {
  return { $case: c, value } as EventPayload;
}

const TERMINAL_KINDS: ReadonlySet<EventKind> = new Set([EventKind.EVENT_KIND_RESULT, EventKind.EVENT_KIND_ERROR, EventKind.EVENT_KIND_RUN_COMPLETED]);

/**
 * RESULT, ERROR and RUN_COMPLETED end a run; nothing follows them in its log. A terminal payload
 * sent in pieces ends it with its last piece.
 */
export function isTerminal(event: Pick<Event, "payload">): boolean {
  const p = event.payload;
  if (p?.$case === "chunk") return p.value.index === p.value.count - 1 && TERMINAL_KINDS.has(p.value.kind);
  const c = p?.$case;
  return c === "result" || c === "error" || c === "runCompleted";
}

/** Lower-case name of a kind, e.g. "assistant_delta". */
export function kindName(kind: EventKind): string {
  return EventKind[kind]?.replace(/^EVENT_KIND_/, "").toLowerCase() ?? "unknown";
}

import { describe, expect, it } from "vitest";
import {
  AsmError,
  decodeEvent,
  encodeEvent,
  encodeEventBody,
  encodeEventMessages,
  encodeRunFields,
  Event,
  frameEventMessages,
  kindOf,
  payload,
  StreamRunResponse,
  WatchRunResponse,
  type EventPayload,
  type Observability,
} from "@asm/shared";

const metadata: Observability = {
  requestedLane: "auto",
  preferredLane: "sdk",
  lane: "core",
  backend: "core",
  executionMode: "remote_node",
  laneReason: "sdk_available",
  laneFallbackReason: "sdk_remote_unsupported",
  sdkRuntime: "@anthropic-ai/claude-agent-sdk",
  sdkAvailable: true,
  capabilities: ["streaming", "approvals", "interrupt", "resume"],
  executor: "sandbox-a",
  provider: "claude",
  sdkVersion: "",
  executionSurface: "local_subprocess",
  surfaceTarget: "",
};

function ev(sequence: number, p: EventPayload, meta: Observability | undefined = metadata): Event {
  return {
    id: `evt_${sequence}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence,
    timestamp: new Date(1_700_000_000_000 + sequence),
    provider: "claude",
    kind: kindOf(p),
    providerSessionId: sequence > 1 ? "2894a72d-7094-4396-8bb8-9c19c2bd9de3" : "",
    metadata: meta,
    payload: p,
  };
}

/** A run's worth of different events: small and large (multi-byte length prefixes), with and without metadata. */
function sampleEvents(): Event[] {
  return [
    ev(1, payload("runStarted", { providerSessionId: "", command: "/usr/bin/claude", args: ["-p", "--output-format", "stream-json"], cwd: "/w", pid: 4242, warm: false, continued: false, notContinuedReason: "" })),
    ev(2, payload("assistantDelta", { content: "Hel", index: 0 })),
    ev(3, payload("assistantDelta", { content: "lo", index: 0 }), undefined),
    ev(4, payload("assistantMessage", { text: "x".repeat(200), model: "m", content: [{ type: "text", text: "x".repeat(200) }], aborted: false })),
    ev(5, payload("stderr", { content: "y".repeat(20_000) })),
    ev(6, payload("error", { error: new AsmError({ reasonCode: "executor_lost", message: "gone" }).toMessage() })),
  ];
}

/** What the generated encoder gives, decoded back: the reference every form must match. */
const roundTrip = (e: Event): Event => Event.decode(Event.encode(e).finish());

describe("event wire encoding", () => {
  it("a body followed by its run's fields decodes exactly as the generated encoder's whole event", () => {
    for (const e of sampleEvents()) {
      const body = encodeEventBody(e);
      expect(decodeEvent(body, encodeRunFields(e))).toEqual(roundTrip(e));
      expect(Event.decode(encodeEvent(e))).toEqual(roundTrip(e));
      // The body holds none of the run's fields: they are only in the run fields.
      const bodyAlone = Event.decode(body);
      expect(bodyAlone).toMatchObject({ runId: "", sessionId: "", provider: "", metadata: undefined, sequence: e.sequence });
    }
  });

  it("a message is its framed event: a tag, the length, the body and the run fields", () => {
    for (const e of sampleEvents()) {
      const body = encodeEventBody(e);
      const run = encodeRunFields(e);
      const [message] = frameEventMessages([body], run, { batched: false, maxMessageBytes: 1 });
      expect(StreamRunResponse.decode(message!).event).toEqual(roundTrip(e));
      const length = body.length + run.length;
      expect(message!.length - length).toBe(1 + (length < 128 ? 1 : length < 16_384 ? 2 : 3));
    }
  });

  it("one event per message: each message is a StreamRunResponse / WatchRunResponse with `event` only", () => {
    const events = sampleEvents().map((e) => ({ ...e, metadata }));
    const messages = encodeEventMessages(events, { batched: false, maxMessageBytes: 1 });
    expect(messages).toHaveLength(events.length);
    messages.forEach((m, i) => {
      expect(StreamRunResponse.decode(m)).toEqual({ event: roundTrip(events[i]!), events: [] });
      expect(WatchRunResponse.decode(m)).toEqual({ event: roundTrip(events[i]!), events: [] });
    });
  });

  it("batched: `events` only, in order, split so no message passes the byte limit unless one event alone does", () => {
    const events = sampleEvents().map((e) => ({ ...e, metadata }));
    const all = encodeEventMessages(events, { batched: true, maxMessageBytes: 1024 * 1024 });
    expect(all).toHaveLength(1);
    expect(StreamRunResponse.decode(all[0]!)).toEqual({ event: undefined, events: events.map(roundTrip) });

    const limit = 2000;
    const split = encodeEventMessages(events, { batched: true, maxMessageBytes: limit });
    const decoded = split.map((m) => StreamRunResponse.decode(m));
    for (const d of decoded) expect(d.event).toBeUndefined();
    expect(decoded.flatMap((d) => d.events)).toEqual(events.map(roundTrip));
    // The 20 kB stderr event goes alone; every other message stays within the limit.
    const oversized = split.filter((m) => m.length > limit);
    expect(oversized).toHaveLength(1);
    expect(StreamRunResponse.decode(oversized[0]!).events.map((e) => e.sequence)).toEqual([5]);
    expect(split.length).toBeGreaterThan(2);
  });

  it("the run fields are the run's own: the same body framed with another run's fields decodes as that run's event", () => {
    const e = ev(2, payload("assistantDelta", { content: "a", index: 0 }));
    const other = { runId: "run_2", sessionId: "ses_2", provider: "codex", metadata: { ...metadata, executor: "sandbox-b" } };
    const [message] = frameEventMessages([encodeEventBody(e)], encodeRunFields(other), { batched: false, maxMessageBytes: 1 });
    expect(StreamRunResponse.decode(message!).event).toEqual(roundTrip({ ...e, ...other }));
  });
});

describe("event wire encoding: sequence and time", () => {
  it.each([
    ["a whole second", 1, new Date(1_700_000_000_000)],
    ["no timestamp", 1, undefined],
    ["sequence 0", 0, new Date(1_700_000_000_123)],
    ["the epoch", 1, new Date(0)],
    ["before the epoch", 2, new Date(-1_234_567)],
    ["past 2106 (seconds beyond 32 bits)", 3, new Date(2 ** 32 * 1000 + 5)],
    ["a sequence beyond 32 bits", 2 ** 32 + 7, new Date(1_700_000_000_999)],
    ["the largest safe sequence", Number.MAX_SAFE_INTEGER, new Date(1_700_000_000_001)],
  ])("%s decodes as the generated encoder's", (_name, sequence, timestamp) => {
    const e = { ...ev(1, payload("assistantDelta", { content: "t", index: 0 })), sequence, timestamp };
    const [message] = encodeEventMessages([e], { batched: false, maxMessageBytes: 1 });
    expect(StreamRunResponse.decode(message!).event).toEqual(roundTrip(e));
  });
});

describe("event wire encoding: the shared writer", () => {
  it("an event that cannot be encoded throws and leaves nothing behind for the next one", () => {
    const bad = ev(7, payload("assistantDelta", { content: "half", index: 1.5 }));
    expect(() => encodeEvent(bad)).toThrow();
    expect(() => encodeEventMessages([ev(8, payload("assistantDelta", { content: "ok", index: 0 })), bad], { batched: true, maxMessageBytes: 1 << 20 })).toThrow();
    const good = ev(9, payload("assistantDelta", { content: "clean", index: 0 }));
    expect(Event.decode(encodeEvent(good))).toEqual(roundTrip(good));
  });
});

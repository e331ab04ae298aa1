import { describe, expect, it } from "vitest";
import {
  AsmError,
  RunStatus,
  emptyProjection,
  foldEvent,
  kindOf,
  payload,
  reduceEvent,
  reduceEvents,
  type Event,
  type EventPayload,
  type Observability,
} from "@asm/shared";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");

function metadata(lane: string): Observability {
  return {
    requestedLane: "auto",
    preferredLane: lane,
    lane,
    backend: lane,
    executionMode: "local",
    laneReason: "sdk_unavailable",
    laneFallbackReason: "",
    sdkRuntime: "@anthropic-ai/claude-agent-sdk",
    sdkAvailable: false,
    capabilities: ["approvals", "interrupt"],
    executor: "",
    provider: "claude",
    sdkVersion: "",
    executionSurface: "local_subprocess",
    surfaceTarget: "",
  };
}

/** Builds event `sequence` at T0 + atMs. */
function ev(sequence: number, p: EventPayload, atMs = sequence * 10, extra: Partial<Event> = {}): Event {
  return {
    id: `evt_${sequence}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence,
    timestamp: new Date(T0 + atMs),
    provider: "claude",
    kind: kindOf(p),
    providerSessionId: "",
    metadata: undefined,
    payload: p,
    ...extra,
  };
}

/** Numbers payloads 1..n, 10 ms apart. */
function seq(...payloads: EventPayload[]): Event[] {
  return payloads.map((p, i) => ev(i + 1, p));
}

const msg = (text: string): EventPayload => payload("assistantMessage", { text, model: "m", content: [{ type: "text", text }], aborted: false });
const delta = (content: string): EventPayload => payload("assistantDelta", { content, index: 0 });
const cost = (inputTokens: number, outputTokens: number, costUsd: number): EventPayload =>
  payload("costUpdate", { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens, costUsd });
const result = (stopReason: string, text = "", object?: unknown): EventPayload => payload("result", { status: "success", stopReason, text, object, output: {} });
const started = (providerSessionId = ""): EventPayload => payload("runStarted", { providerSessionId, command: "claude", args: [], cwd: "/", pid: 1, warm: false, continued: false, notContinuedReason: "" });

describe("reduceEvents", () => {
  it("starts empty", () => {
    const r = reduceEvents([]);
    expect(r.status).toBe(RunStatus.RUN_STATUS_UNSPECIFIED);
    expect(r.text).toBe("");
    expect(r.cost).toBeUndefined();
    expect(r.lastSequence).toBe(0);
    expect(r.durationMs).toBe(0);
    expect(emptyProjection().result).toEqual(r);
  });

  it("run_started sets RUNNING, ids and the provider session", () => {
    const r = reduceEvents(seq(started("prov-1")));
    expect(r.status).toBe(RunStatus.RUN_STATUS_RUNNING);
    expect(r.runId).toBe("run_1");
    expect(r.sessionId).toBe("ses_1");
    expect(r.providerSessionId).toBe("prov-1");
  });

  it("accumulates text from assistant messages, each parted from the one before by a blank line", () => {
    expect(reduceEvents(seq(started(), msg("Hello"), msg("world"))).text).toBe("Hello\n\nworld");
    // A message without text (e.g. only a tool call) adds no separator.
    expect(reduceEvents(seq(started(), msg("Hello"), msg(""), msg("world"))).text).toBe("Hello\n\nworld");
  });

  it("deltas followed by the complete message are not double counted; the deltas of one message join without a separator", () => {
    const r = reduceEvents(seq(started(), delta("Hel"), delta("lo"), msg("Hello"), msg("again"), delta("!"), msg("!")));
    expect(r.text).toBe("Hello\n\nagain\n\n!");
  });

  it("deltas without a closing message still count", () => {
    expect(reduceEvents(seq(delta("par"), delta("tial"))).text).toBe("partial");
  });

  it("sums cost updates", () => {
    const r = reduceEvents(seq(cost(10, 5, 0.25), cost(3, 2, 0.5), cost(0, 1, 0.125)));
    expect(r.cost).toEqual({ inputTokens: 13, outputTokens: 8, costUsd: 0.875 });
  });

  it("result sets COMPLETED, the stop reason and the object", () => {
    const r = reduceEvents(seq(started(), msg("done"), result("end_turn", "done", { answer: 42 })));
    expect(r.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(r.stopReason).toBe("end_turn");
    expect(r.object).toEqual({ answer: 42 });
    expect(r.text).toBe("done");
    expect(r.error).toBeUndefined();
  });

  it("result text is used only when nothing was streamed", () => {
    expect(reduceEvents(seq(result("end_turn", "from result"))).text).toBe("from result");
    expect(reduceEvents(seq(msg("streamed"), result("end_turn", "from result"))).text).toBe("streamed");
  });

  it("error sets FAILED with the error", () => {
    const error = new AsmError({ message: "boom", reasonCode: "provider_failed" }).toMessage();
    const r = reduceEvents(seq(started(), msg("partial"), payload("error", { error })));
    expect(r.status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(r.error).toEqual(error);
    expect(r.text).toBe("partial");
  });

  it("error of kind user_cancelled sets CANCELLED", () => {
    const error = AsmError.cancelled().toMessage();
    const r = reduceEvents(seq(started(), payload("error", { error })));
    expect(r.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(r.error?.kind).toBe("user_cancelled");
  });

  it("run_completed takes its status, or COMPLETED when unspecified", () => {
    expect(reduceEvents(seq(started(), payload("runCompleted", { status: RunStatus.RUN_STATUS_UNSPECIFIED }))).status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(reduceEvents(seq(started(), payload("runCompleted", { status: RunStatus.RUN_STATUS_FAILED }))).status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(reduceEvents(seq(started(), payload("runCompleted", { status: RunStatus.RUN_STATUS_CANCELLED }))).status).toBe(RunStatus.RUN_STATUS_CANCELLED);
  });

  it("carries the provider session id and metadata from events (latest wins, empty never erases)", () => {
    const events = [
      ev(1, started(), 0, { metadata: metadata("core") }),
      ev(2, msg("a"), 10, { providerSessionId: "prov-A" }),
      ev(3, msg("b"), 20, { providerSessionId: "" }),
      ev(4, result("end_turn"), 30, { providerSessionId: "prov-B", metadata: metadata("sdk") }),
    ];
    const upTo3 = reduceEvents(events.slice(0, 3));
    expect(upTo3.providerSessionId).toBe("prov-A");
    expect(upTo3.metadata).toEqual(metadata("core"));
    const all = reduceEvents(events);
    expect(all.providerSessionId).toBe("prov-B");
    expect(all.metadata).toEqual(metadata("sdk"));
  });

  it("duration spans the first to the last event timestamp", () => {
    const events = [ev(1, started(), 1_000), ev(2, msg("x"), 1_250), ev(3, result("end_turn"), 4_500)];
    expect(reduceEvents(events).durationMs).toBe(3_500);
    expect(reduceEvents(events.slice(0, 1)).durationMs).toBe(0);
    // An event without a timestamp leaves the duration alone.
    expect(reduceEvents([...events.slice(0, 2), { ...events[2]!, timestamp: undefined }]).durationMs).toBe(250);
  });

  it("lastSequence is the highest sequence seen", () => {
    expect(reduceEvents(seq(started(), msg("a"), cost(1, 1, 0), result("end_turn"))).lastSequence).toBe(4);
  });

  it("ignores non-projected payloads but still counts their sequence", () => {
    const r = reduceEvents(
      seq(
        started(),
        payload("thinking", { content: "hmm", signature: "" }),
        payload("toolUse", { toolName: "Bash", toolCallId: "t", input: {} }),
        payload("raw", { stream: "stdout", content: "x" }),
        payload("stderr", { content: "warn" }),
      ),
    );
    expect(r.text).toBe("");
    expect(r.status).toBe(RunStatus.RUN_STATUS_RUNNING);
    expect(r.lastSequence).toBe(5);
  });
});

describe("reduceEvent", () => {
  const events = [
    ev(1, started("prov-0"), 0, { metadata: metadata("core") }),
    ev(2, delta("Hel"), 5),
    ev(3, delta("lo"), 7),
    ev(4, msg("Hello"), 9),
    ev(5, cost(10, 2, 0.5), 11),
    ev(6, msg(" world"), 20, { providerSessionId: "prov-1" }),
    ev(7, delta(" and"), 22),
    ev(8, cost(4, 4, 0.25), 30),
    ev(9, result("end_turn", "", { ok: true }), 55),
  ];

  it("is pure: the input projection is not changed", () => {
    const state = reduceEvent(emptyProjection(), events[0]!);
    const snapshot = structuredClone(state);
    reduceEvent(state, events[1]!);
    expect(state).toEqual(snapshot);
  });

  it("folding in place (the live run's projection) gives what the pure reducer gives, event by event", () => {
    const live = emptyProjection();
    let pure = emptyProjection();
    for (const e of events) {
      foldEvent(live, e);
      pure = reduceEvent(pure, e);
      expect(live).toEqual(pure);
    }
  });

  it("reducing a prefix then the rest equals reducing the whole, at every split", () => {
    const whole = reduceEvents(events);
    expect(whole.text).toBe("Hello\n\n world\n\n and");
    expect(whole.cost).toEqual({ inputTokens: 14, outputTokens: 6, costUsd: 0.75 });
    expect(whole.durationMs).toBe(55);
    expect(whole.lastSequence).toBe(9);
    expect(whole.providerSessionId).toBe("prov-1");
    for (let k = 0; k <= events.length; k++) {
      let state = emptyProjection();
      for (const e of events.slice(0, k)) state = reduceEvent(state, e);
      const resumed = structuredClone(state);
      let rest = resumed;
      for (const e of events.slice(k)) rest = reduceEvent(rest, e);
      expect(rest.result, `split at ${k}`).toEqual(whole);
    }
  });
});

import { describe, expect, it } from "vitest";
import {
  checkRunSettings,
  AsmError,
  RunStatus,
  isTerminal,
  kindOf,
  mergeRunOptions,
  reduceEvents,
  type AdapterRun,
  type Event,
  type EventPayload,
  type ParsedLine,
  type PayloadCase,
  type PayloadOf,
  type ProviderAdapter,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { ampAdapter } from "../../shared/src/providers/amp/amp-adapter.js";
import { cursorAdapter } from "../../shared/src/providers/cursor/cursor-adapter.js";
import { handRecorded } from "../helpers/transcripts.js";

// Hand-recorded from the documented formats (see test/fixtures/transcripts/README.md).
function fixtureLines(path: string): string[] {
  const [provider, name] = path.split("/") as ["amp" | "cursor", string];
  return handRecorded(provider, name);
}

function spec(options: RunOptionsInput = {}, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    prompt: "list the files",
    settings: mergeRunOptions({}, options),
    resumeProviderSessionId: undefined,
    baseEnv: { PATH: "/usr/bin:/bin", HOME: "/home/asm" },
    defaultCwd: "/srv/work",
    ...extra,
  };
}

interface Parsed {
  run: AdapterRun;
  perLine: ParsedLine[];
  payloads: EventPayload[];
}

function parseAll(adapter: ProviderAdapter, lines: readonly string[]): Parsed {
  const run = adapter.startRun(spec());
  const perLine = lines.map((l) => run.parseLine(l));
  return { run, perLine, payloads: perLine.flatMap((p) => p.events.map((e) => e.payload)) };
}

function only<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C>[] {
  return payloads.filter((p) => p.$case === c).map((p) => p.value as PayloadOf<C>);
}

function single<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C> {
  const found = only(payloads, c);
  expect(found, `exactly one ${c}`).toHaveLength(1);
  return found[0]!;
}

const T0 = Date.parse("2026-11-21T00:00:00.000Z");

/** Numbers payloads as the controller would (1..n, 10 ms apart) so the reducer can fold them. */
function asEvents(provider: string, payloads: readonly EventPayload[]): Event[] {
  return payloads.map((p, i) => ({
    id: `evt_${i + 1}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence: i + 1,
    timestamp: new Date(T0 + i * 10),
    provider,
    kind: kindOf(p),
    providerSessionId: "",
    metadata: undefined,
    payload: p,
  }));
}

function reduce(provider: string, payloads: readonly EventPayload[]) {
  return reduceEvents(asEvents(provider, payloads));
}

const rawOf = (line: string): ParsedLine => ({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: line } } }] });

const AMP_FIXTURES = ["amp/text", "amp/tool", "amp/error", "amp/events", "amp/cancelled", "amp/failed"];
const CURSOR_FIXTURES = ["cursor/text", "cursor/tool", "cursor/error"];
const ALL = [...AMP_FIXTURES.map((f) => [f, ampAdapter] as const), ...CURSOR_FIXTURES.map((f) => [f, cursorAdapter] as const)];

describe("amp and cursor adapters: every recorded line parses", () => {
  it.each(ALL)("%s: no line throws, one terminal event, on the one line that ends the turn", (name, adapter) => {
    const lines = fixtureLines(name);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    const run = adapter.startRun(spec());
    const perLine: ParsedLine[] = [];
    for (const line of lines) {
      expect(() => perLine.push(run.parseLine(line)), line.slice(0, 120)).not.toThrow();
    }
    for (const p of perLine) expect(Array.isArray(p.events)).toBe(true);

    const terminals = perLine.flatMap((p, i) => p.events.filter((e) => isTerminal(e)).map(() => i));
    expect(terminals).toHaveLength(1);
    const ended = perLine.flatMap((p, i) => (p.turnEnded ? [i] : []));
    expect(ended).toEqual(terminals);
    // The terminal event is the last event of its line.
    const endLine = perLine[ended[0]!]!;
    expect(isTerminal(endLine.events[endLine.events.length - 1]!)).toBe(true);

    // Each file carries a line of an unknown type: it comes out raw, verbatim.
    const raws = perLine.flatMap((p) => only(p.events.map((e) => e.payload), "raw"));
    expect(raws.length).toBeGreaterThanOrEqual(1);
    for (const r of raws) expect(lines).toContain(r.content);

    // Nothing asks for approvals and nothing is written back.
    for (const p of perLine) expect(p.reply).toBeUndefined();
    expect(perLine.flatMap((p) => only(p.events.map((e) => e.payload), "approvalRequested"))).toEqual([]);
  });

  it.each(ALL)("%s: every line that names a session reports it", (name, adapter) => {
    const lines = fixtureLines(name);
    const { perLine } = parseAll(adapter, lines);
    lines.forEach((line, i) => {
      const sid = (JSON.parse(line) as { session_id?: string }).session_id;
      expect(perLine[i]!.providerSessionId).toBe(sid);
    });
  });
});

describe("amp adapter: Claude-compatible stream-json", () => {
  const THREAD = "T-7f3c2a10-5b8e-4d21-9c64-2e1f0a9b8d37";

  it("text turn: prompt echo, message, unknown line, cost from the message usage, result", () => {
    const lines = fixtureLines("amp/text");
    const { perLine, payloads } = parseAll(ampAdapter, lines);
    expect(perLine[0]).toEqual({ events: [], providerSessionId: THREAD });
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "assistantMessage", "raw", "costUpdate", "result"]);
    expect(single(payloads, "userMessage")).toEqual({ text: "what is 2+2?", content: [{ type: "text", text: "what is 2+2?" }] });
    expect(single(payloads, "assistantMessage")).toMatchObject({ text: "2 + 2 equals 4.", aborted: false });
    expect(single(payloads, "raw").content).toContain('"thread_title_updated"');
    // The result line has no usage: the assistant message's usage is the run's cost.
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 12783, outputTokens: 8, totalTokens: 12791, costUsd: 0 });
    const result = single(payloads, "result");
    expect(result).toEqual({
      status: "success",
      stopReason: "end_turn",
      text: "2 + 2 equals 4.",
      object: undefined,
      output: { duration_ms: 2906, num_turns: 1, usage: { input_tokens: 12783, output_tokens: 8 } },
    });
    expect(perLine[perLine.length - 1]!.turnEnded).toBe(true);

    const reduced = reduce("amp", payloads);
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(reduced.text).toBe("2 + 2 equals 4.");
    expect(reduced.stopReason).toBe("end_turn");
    expect(reduced.cost).toEqual({ inputTokens: 12783, outputTokens: 8, costUsd: 0 });
  });

  it("tool turn: tool_use and tool_result blocks, usage summed over the assistant messages", () => {
    const { payloads } = parseAll(ampAdapter, fixtureLines("amp/tool"));
    expect(payloads.map((p) => p.$case)).toEqual([
      "userMessage",
      "assistantMessage",
      "toolUse",
      "toolResult",
      "raw",
      "toolUse",
      "toolResult",
      "assistantMessage",
      "costUpdate",
      "result",
    ]);
    expect(only(payloads, "toolUse")).toEqual([
      { toolName: "Bash", toolCallId: "toolu_01Amp7Bash", input: { cmd: "touch made.txt", cwd: "/srv/work" } },
      { toolName: "Read", toolCallId: "toolu_01Amp8Read", input: { path: "/srv/work/notes.md" } },
    ]);
    expect(only(payloads, "toolResult")).toEqual([
      { toolCallId: "toolu_01Amp7Bash", content: "", isError: false },
      { toolCallId: "toolu_01Amp8Read", content: "File not found: /srv/work/notes.md", isError: true },
    ]);
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 3300, outputTokens: 78, totalTokens: 3378, costUsd: 0 });
    expect(single(payloads, "result")).toMatchObject({ status: "success", stopReason: "end_turn", output: { num_turns: 3, duration_ms: 5123 } });
    expect(reduce("amp", payloads).text).toBe("I'll create the file first.\n\nCreated made.txt. There is no notes.md in /srv/work.");
  });

  it("error turn: an authentication failure is auth_error (provider_auth_failed) and fails the run", () => {
    const { perLine, payloads } = parseAll(ampAdapter, fixtureLines("amp/error"));
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "raw", "error"]);
    const error = single(payloads, "error").error!;
    expect(error).toMatchObject({ kind: "auth_error", domain: "provider", provider: "amp", reasonCode: "provider_auth_failed", retryable: false, details: { provider_code: "error_during_execution" } });
    expect(error.message).toBe("401 Unauthorized: invalid or expired API key. Run `amp login` or set AMP_API_KEY.");
    expect(perLine[perLine.length - 1]!.turnEnded).toBe(true);
    const reduced = reduce("amp", payloads);
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(reduced.error?.kind).toBe("auth_error");
  });
});

describe("amp adapter: event-style lines", () => {
  it("message_streamed deltas, a tool call, token usage and run_completed", () => {
    const { payloads } = parseAll(ampAdapter, fixtureLines("amp/events"));
    expect(payloads.map((p) => p.$case)).toEqual(["assistantDelta", "assistantDelta", "toolUse", "toolResult", "raw", "assistantDelta", "costUpdate", "result"]);
    expect(only(payloads, "assistantDelta").map((d) => d.content)).toEqual(["Listing ", "the directory.", " Two files."]);
    expect(single(payloads, "toolUse")).toEqual({ toolName: "Bash", toolCallId: "tc_01", input: { cmd: "ls" } });
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "tc_01", content: "README.md\nmade.txt\n", isError: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 900, outputTokens: 30, totalTokens: 930, costUsd: 0 });
    expect(single(payloads, "result")).toMatchObject({ status: "completed", text: "Listing the directory. Two files.", output: { duration_ms: 1500, num_turns: 2 } });
    const reduced = reduce("amp", payloads);
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(reduced.text).toBe("Listing the directory. Two files.");
    // token_usage_updated was the cost; run_completed adds none.
    expect(reduced.cost).toEqual({ inputTokens: 900, outputTokens: 30, costUsd: 0 });
  });

  it("run_cancelled ends the run as user_cancelled (turn_interrupted) after the failed tool", () => {
    const { perLine, payloads } = parseAll(ampAdapter, fixtureLines("amp/cancelled"));
    expect(payloads.map((p) => p.$case)).toEqual(["assistantDelta", "assistantDelta", "toolUse", "costUpdate", "raw", "toolResult", "error"]);
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "tc_02", content: "interrupted", isError: true });
    expect(single(payloads, "error").error).toMatchObject({ kind: "user_cancelled", reasonCode: "turn_interrupted", retryable: false, message: "interrupted by user (SIGINT)", provider: "amp", details: { provider_code: "run_cancelled" } });
    expect(perLine[perLine.length - 1]!.turnEnded).toBe(true);
    const reduced = reduce("amp", payloads);
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(reduced.text).toBe("Running the test suite...");
  });

  it("error_occurred is the terminal; the run_failed after it stays raw and does not end the turn again", () => {
    const lines = fixtureLines("amp/failed");
    const { perLine, payloads } = parseAll(ampAdapter, lines);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantDelta", "error", "raw"]);
    expect(single(payloads, "error").error).toMatchObject({
      kind: "rate_limit",
      retryable: true,
      reasonCode: "provider_rate_limited",
      message: "429 Too Many Requests: rate limit exceeded, retry after 30s",
      details: { provider_code: "rate_limit", event: "error_occurred" },
    });
    expect(perLine.map((p) => p.turnEnded === true)).toEqual([false, false, true, false]);
    expect(perLine[3]).toEqual({ ...rawOf(lines[3]!), providerSessionId: "T-0b9e41d7-2c5a-4f80-8e13-95a6c7d2f410" });
  });
});

describe("amp adapter: synthetic lines", () => {
  it.each([
    '{"type":"mystery"}',
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    "42",
    '{"no_type":true}',
    '{"type":"assistant"}',
    '{"type":"assistant","message":{"content":"not an array"}}',
    '{"type":"result","usage":"bad"}',
    '{"type":"user","message":{}}',
    '{"type":"system","subtype":5}',
    '{"type":"message_streamed"}',
    '{"type":"tool_call_started","tool_name":"Bash"}',
    '{"type":"tool_call_completed"}',
    '{"type":"token_usage_updated"}',
    '{"type":"run_completed","status":7}',
    '{"type":"assistant","message":{"content":[]',
  ])("%j becomes raw with the original line", (line) => {
    expect(ampAdapter.startRun(spec()).parseLine(line)).toEqual(rawOf(line));
  });

  it("thinking blocks (--stream-json-thinking) become thinking events", () => {
    const line = JSON.stringify({ type: "assistant", session_id: "T-1", message: { content: [{ type: "thinking", thinking: "hmm" }, { type: "text", text: "ok" }] } });
    const payloads = ampAdapter.startRun(spec()).parseLine(line).events.map((e) => e.payload);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "thinking"]);
    expect(single(payloads, "thinking")).toEqual({ content: "hmm", signature: "" });
  });

  it("a failed result without a reason still says what happened (max_turns_reached, provider_code error_max_turns); a cancelled subtype is user_cancelled (turn_interrupted)", () => {
    const run = ampAdapter.startRun(spec());
    const failed = run.parseLine('{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":5}');
    expect(single(failed.events.map((e) => e.payload), "error").error).toMatchObject({
      kind: "provider_error",
      reasonCode: "max_turns_reached",
      retryable: false,
      message: "amp reported error_max_turns",
      details: { provider_code: "error_max_turns", num_turns: 5 },
    });
    const cancelled = ampAdapter.startRun(spec()).parseLine('{"type":"result","subtype":"cancelled","is_error":true}');
    expect(single(cancelled.events.map((e) => e.payload), "error").error).toMatchObject({ kind: "user_cancelled", reasonCode: "turn_interrupted", details: { provider_code: "cancelled" } });
    expect(cancelled.turnEnded).toBe(true);
  });

  it("a second result line is raw and does not end the turn twice", () => {
    const run = ampAdapter.startRun(spec());
    const line = '{"type":"result","subtype":"success","is_error":false,"result":"a"}';
    expect(run.parseLine(line).turnEnded).toBe(true);
    expect(run.parseLine(line)).toEqual(rawOf(line));
  });
});

describe("cursor adapter: partial output", () => {
  const SESSION = "b7d0c5e2-3f41-4a8e-9d12-6c0e8f7a5b19";

  it("text turn: deltas for the pieces, nothing for the model_call_id repeat, one final message, no doubled text", () => {
    const lines = fixtureLines("cursor/text");
    const { perLine, payloads } = parseAll(cursorAdapter, lines);
    expect(perLine[0]).toEqual({ events: [], providerSessionId: SESSION });
    expect(payloads.map((p) => p.$case)).toEqual([
      "userMessage",
      "thinking",
      "thinking",
      "assistantDelta",
      "assistantDelta",
      "assistantDelta",
      "assistantMessage",
      "raw",
      "costUpdate",
      "result",
    ]);
    expect(only(payloads, "thinking").map((t) => t.content)).toEqual(["The user wants a greeting", " and a one-line description."]);
    expect(only(payloads, "assistantDelta").map((d) => d.content)).toEqual(["Hello", "! I am Cursor's", " coding agent."]);
    const repeat = lines.findIndex((l) => l.includes('"model_call_id"'));
    expect(perLine[repeat]).toEqual({ events: [], providerSessionId: SESSION });
    expect(single(payloads, "assistantMessage")).toMatchObject({ text: "Hello! I am Cursor's coding agent.", model: "Claude 4.5 Sonnet", aborted: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 5321, outputTokens: 14, totalTokens: 5335, costUsd: 0 });
    expect(single(payloads, "result")).toEqual({
      status: "success",
      stopReason: "",
      text: "Hello! I am Cursor's coding agent.",
      object: undefined,
      output: { duration_ms: 1873, duration_api_ms: 1873, usage: { inputTokens: 5321, outputTokens: 14, cacheReadTokens: 4096, cacheWriteTokens: 0 }, request_id: "req_4e1f0c9a" },
    });

    // Concatenating every assistant line, as the docs suggest, would triple the text; the reducer does not.
    const naive = lines
      .map((l) => JSON.parse(l) as { type: string; message?: { content: { text: string }[] } })
      .filter((l) => l.type === "assistant")
      .map((l) => l.message!.content[0]!.text)
      .join("");
    expect(naive).toBe("Hello! I am Cursor's coding agent.".repeat(3));
    const reduced = reduce("cursor", payloads);
    expect(reduced.text).toBe("Hello! I am Cursor's coding agent.");
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(reduced.cost).toEqual({ inputTokens: 5321, outputTokens: 14, costUsd: 0 });
  });

  it("tool turn: shell, read and a failing shell call; the reduced text is the CLI's result text, its messages parted", () => {
    const lines = fixtureLines("cursor/tool");
    const { payloads } = parseAll(cursorAdapter, lines);
    expect(payloads.map((p) => p.$case)).toEqual([
      "userMessage",
      "assistantDelta",
      "assistantDelta",
      "assistantMessage",
      "toolUse",
      "raw",
      "toolResult",
      "toolUse",
      "toolResult",
      "toolUse",
      "toolResult",
      "assistantDelta",
      "assistantDelta",
      "assistantMessage",
      "costUpdate",
      "result",
    ]);
    const uses = only(payloads, "toolUse");
    expect(uses.map((u) => [u.toolName, u.toolCallId])).toEqual([
      ["shell", "toolu_vrtx_01"],
      ["read", "toolu_vrtx_02"],
      ["shell", "toolu_vrtx_03"],
    ]);
    expect(uses[0]!.input).toMatchObject({ command: "ls", workingDirectory: "/srv/work" });
    expect(uses[1]!.input).toEqual({ path: "package.json" });
    expect(only(payloads, "toolResult")).toEqual([
      { toolCallId: "toolu_vrtx_01", content: "README.md\npackage.json\n", isError: false },
      { toolCallId: "toolu_vrtx_02", content: '{\n  "name": "demo"\n}\n', isError: false },
      { toolCallId: "toolu_vrtx_03", content: "cat: missing.txt: No such file or directory\n", isError: true },
    ]);
    const resultLine = JSON.parse(lines[lines.length - 1]!) as { result: string };
    const reduced = reduce("cursor", payloads);
    // The CLI's own result joins the two messages as they are; asm's Result parts them by a blank line.
    expect(reduced.text).toBe("I'll list the files first.\n\nThe package is named demo; missing.txt does not exist.");
    expect(reduced.text.replace("\n\n", "")).toBe(resultLine.result);
    expect(reduced.cost).toEqual({ inputTokens: 18042, outputTokens: 96, costUsd: 0 });
  });

  it("error turn: reconnecting fails the tool in flight, retry stays raw, the failed result is rate_limit (provider_rate_limited)", () => {
    const lines = fixtureLines("cursor/error");
    const { perLine, payloads } = parseAll(cursorAdapter, lines);
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "assistantDelta", "toolUse", "toolResult", "raw", "raw", "raw", "error"]);
    const reconnecting = lines.findIndex((l) => l.includes('"reconnecting"'));
    const events = perLine[reconnecting]!.events.map((e) => e.payload);
    expect(events.map((p) => p.$case)).toEqual(["toolResult", "raw"]);
    expect(single(events, "toolResult")).toMatchObject({ toolCallId: "toolu_vrtx_09", isError: true });
    expect(single(events, "raw").content).toBe(lines[reconnecting]);
    const error = single(payloads, "error").error!;
    expect(error).toMatchObject({ kind: "rate_limit", provider: "cursor", reasonCode: "provider_rate_limited", retryable: true, details: { provider_code: "error" } });
    expect(error.message).toBe("Rate limit exceeded. Please try again later or upgrade your plan.");
    const reduced = reduce("cursor", payloads);
    expect(reduced.status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(reduced.text).toBe("Let me run the tests.");
  });
});

describe("cursor adapter: synthetic lines", () => {
  const partial = (text: string, extra: Record<string, unknown> = {}): string =>
    JSON.stringify({ type: "assistant", message: { role: "assistant", content: [{ type: "text", text }] }, timestamp_ms: 1, ...extra });
  const complete = (text: string): string => JSON.stringify({ type: "assistant", message: { role: "assistant", content: [{ type: "text", text }] } });
  const shellStarted = (id: string): string => JSON.stringify({ type: "tool_call", subtype: "started", call_id: id, tool_call: { shellToolCall: { args: { command: "ls" } } } });

  function reducedText(lines: string[]): { text: string; deltas: string[] } {
    const { payloads } = parseAll(cursorAdapter, lines);
    return { text: reduce("cursor", payloads).text, deltas: only(payloads, "assistantDelta").map((d) => d.content) };
  }

  it("the complete message's unseen suffix is sent as one more delta", () => {
    expect(reducedText([partial("Hel"), partial("lo"), complete("Hello world")])).toEqual({ text: "Hello world", deltas: ["Hel", "lo", " world"] });
  });

  it("without partial output the complete message alone carries the text", () => {
    expect(reducedText([complete("Hi."), shellStarted("c1"), complete("Done.")])).toEqual({ text: "Hi.\n\nDone.", deltas: [] });
  });

  it("a complete message repeating the whole response across tool calls adds nothing", () => {
    expect(reducedText([partial("A. "), shellStarted("c1"), partial("B."), complete("A. B.")])).toEqual({ text: "A. B.", deltas: ["A. ", "B."] });
  });

  it("a complete message repeating only the text since the last tool call adds only its suffix", () => {
    expect(reducedText([partial("A. "), shellStarted("c1"), partial("B"), complete("B!")])).toEqual({ text: "A. B!", deltas: ["A. ", "B", "!"] });
  });

  it("a model_call_id partial that extends the pieces sends only the extension", () => {
    expect(reducedText([partial("ab"), partial("abc", { model_call_id: "m1" }), partial("d", { model_call_id: "m1" })])).toEqual({ text: "abcd", deltas: ["ab", "c", "d"] });
  });

  it("function tool calls parse their JSON arguments; a non-success outcome is an error", () => {
    const run = cursorAdapter.startRun(spec());
    const started = run.parseLine(
      JSON.stringify({ type: "tool_call", subtype: "started", call_id: "f1", tool_call: { function: { name: "web_search", arguments: '{"query":"zod v4"}' } } }),
    );
    expect(single(started.events.map((e) => e.payload), "toolUse")).toEqual({ toolName: "web_search", toolCallId: "f1", input: { query: "zod v4" } });
    const completed = run.parseLine(
      JSON.stringify({ type: "tool_call", subtype: "completed", call_id: "f1", tool_call: { function: { name: "web_search", arguments: "not json", result: { error: { message: "search unavailable" } } } } }),
    );
    expect(single(completed.events.map((e) => e.payload), "toolResult")).toEqual({ toolCallId: "f1", content: "search unavailable", isError: true });
    const write = run.parseLine(
      JSON.stringify({ type: "tool_call", subtype: "completed", call_id: "w1", tool_call: { writeToolCall: { args: { path: "a.txt" }, result: { success: { path: "/srv/work/a.txt", linesCreated: 2, fileSize: 12 } } } } }),
    );
    expect(single(write.events.map((e) => e.payload), "toolResult")).toEqual({ toolCallId: "w1", content: '{"path":"/srv/work/a.txt","linesCreated":2,"fileSize":12}', isError: false });
  });

  it("an error line is terminal and classified; a cancelled result is user_cancelled", () => {
    const run = cursorAdapter.startRun(spec());
    const err = run.parseLine('{"type":"error","message":"Authentication required. Please run \'agent login\' first, or set CURSOR_API_KEY."}');
    expect(err.turnEnded).toBe(true);
    expect(single(err.events.map((e) => e.payload), "error").error).toMatchObject({ kind: "auth_error", provider: "cursor", reasonCode: "provider_auth_failed", details: { provider_code: "error" } });
    const cancelled = cursorAdapter.startRun(spec()).parseLine('{"type":"result","subtype":"cancelled","is_error":true}');
    expect(single(cancelled.events.map((e) => e.payload), "error").error).toMatchObject({ kind: "user_cancelled", reasonCode: "turn_interrupted", details: { provider_code: "cancelled" } });
  });

  it.each([
    '{"type":"mystery"}',
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    '{"type":"assistant"}',
    '{"type":"assistant","message":{"content":"x"}}',
    '{"type":"tool_call","subtype":"started","call_id":"x","tool_call":{}}',
    '{"type":"tool_call","subtype":"started","tool_call":{"shellToolCall":{"args":{}}}}',
    '{"type":"thinking","subtype":"delta"}',
    '{"type":"system","subtype":"status"}',
    '{"type":"result","usage":"bad"}',
    '{"type":"connection","subtype":"reconnected"}',
    '{"type":"retry","attempt":2}',
  ])("%j becomes raw with the original line", (line) => {
    expect(cursorAdapter.startRun(spec()).parseLine(line)).toEqual(rawOf(line));
  });
});

describe("amp and cursor adapters: one-shot, no approvals", () => {
  it.each([
    [ampAdapter, "amp", "ASM_AMP_CLI_PATH"],
    [cursorAdapter, "agent", "ASM_CURSOR_CLI_PATH"],
  ] as const)("%# static facts, interrupt by signal, nothing to answer", (adapter, binary, env) => {
    expect(adapter.defaultBinary).toBe(binary);
    expect(adapter.cliPathEnv).toBe(env);
    expect(adapter.supportsApprovals).toBe(false);
    const run = adapter.startRun(spec());
    expect(run.interrupt()).toBeUndefined();
    expect(run.answerApproval("apr_1", true, "")).toEqual([]);
    for (const permissionMode of ["default", "bypass", "plan"] as const) {
      const cmd = adapter.buildCommand(spec({ permissionMode }), "/opt/bin/cli");
      expect(cmd.keepStdinOpen).toBe(false);
      expect(cmd.initialInput).toEqual([]);
      expect(cmd.command).toBe("/opt/bin/cli");
      expect(cmd.cwd).toBe("/srv/work");
    }
  });

  it.each([ampAdapter, cursorAdapter])("$provider: env is exactly baseEnv + settings.env; cwd from settings", (adapter) => {
    process.env.ASM_TEST_SHOULD_NOT_LEAK = "leak";
    try {
      const cmd = adapter.buildCommand(spec({ env: { AMP_API_KEY: "k", PATH: "/custom/bin" }, cwd: "/tmp/project" }), "cli");
      expect(cmd.env).toEqual({ PATH: "/custom/bin", HOME: "/home/asm", AMP_API_KEY: "k" });
      expect(cmd.cwd).toBe("/tmp/project");
    } finally {
      delete process.env.ASM_TEST_SHOULD_NOT_LEAK;
    }
  });
});

describe("amp adapter: buildCommand", () => {
  const CLI = "/opt/amp/bin/amp";
  const BASE = ["--execute", "list the files", "--stream-json", "--no-ide", "--no-notifications"];

  it.each([
    ["default", BASE],
    ["auto", BASE],
    ["plan", BASE],
    ["bypass", [...BASE, "--dangerously-allow-all"]],
  ] as const)("permission mode %s → %j", (permissionMode, args) => {
    expect(ampAdapter.buildCommand(spec({ permissionMode }), CLI).args).toEqual(args);
  });

  it("mode option → --mode", () => {
    expect(ampAdapter.buildCommand(spec({ providerOptions: { mode: "rush" }, permissionMode: "bypass" }), CLI).args).toEqual([...BASE, "--mode", "rush", "--dangerously-allow-all"]);
  });

  it("a resumed thread continues through `amp threads continue <id>`", () => {
    const { args } = ampAdapter.buildCommand(spec({}, { resumeProviderSessionId: "T-7f3c2a10-5b8e-4d21-9c64-2e1f0a9b8d37" }), CLI);
    expect(args).toEqual(["threads", "continue", "T-7f3c2a10-5b8e-4d21-9c64-2e1f0a9b8d37", ...BASE]);
  });

  it("the prompt is one argv element, and one that looks like a flag is not read as one", () => {
    expect(ampAdapter.buildCommand(spec({}, { prompt: 'line one\nline "two"' }), CLI).args.slice(0, 2)).toEqual(["--execute", 'line one\nline "two"']);
    expect(ampAdapter.buildCommand(spec({}, { prompt: "--help me" }), CLI).args.slice(0, 2)).toEqual(["--execute", " --help me"]);
  });
});

describe("cursor adapter: buildCommand", () => {
  const CLI = "/opt/cursor/bin/agent";
  const BASE = ["-p", "--trust", "--output-format", "stream-json", "--stream-partial-output"];

  it.each([
    ["default", [...BASE, "list the files"]],
    ["bypass", [...BASE, "--force", "list the files"]],
    ["plan", [...BASE, "--mode", "plan", "list the files"]],
  ] as const)("permission mode %s → %j", (permissionMode, args) => {
    expect(cursorAdapter.buildCommand(spec({ permissionMode }), CLI).args).toEqual(args);
  });

  it("model, resume and provider options map to flags; the prompt stays last", () => {
    const { args } = cursorAdapter.buildCommand(
      spec({ model: "sonnet-4.5", providerOptions: { sandbox: "disabled", approve_mcps: true }, permissionMode: "bypass" }, { resumeProviderSessionId: "b7d0c5e2-3f41-4a8e-9d12-6c0e8f7a5b19" }),
      CLI,
    );
    expect(args).toEqual([
      ...BASE,
      "--model",
      "sonnet-4.5",
      "--resume",
      "b7d0c5e2-3f41-4a8e-9d12-6c0e8f7a5b19",
      "--sandbox",
      "disabled",
      "--approve-mcps",
      "--force",
      "list the files",
    ]);
    expect(cursorAdapter.buildCommand(spec({ providerOptions: { approve_mcps: false } }), CLI).args).not.toContain("--approve-mcps");
  });

  it("a prompt that looks like a flag or a subcommand is not read as one", () => {
    const last = (prompt: string): string => cursorAdapter.buildCommand(spec({}, { prompt }), CLI).args.at(-1)!;
    expect(last("-v")).toBe(" -v");
    expect(last("status")).toBe(" status");
    expect(last("what is 2+2?")).toBe("what is 2+2?");
  });
});

describe("amp and cursor adapters: validate", () => {
  function validationError(adapter: ProviderAdapter, options: RunOptionsInput): AsmError {
    try {
      checkRunSettings(adapter, mergeRunOptions({}, options), "options.defaults");
    } catch (e) {
      expect(e).toBeInstanceOf(AsmError);
      return e as AsmError;
    }
    throw new Error("expected validate to throw");
  }

  it.each([ampAdapter, cursorAdapter])("$provider: interactive approvals are a config error naming the field and the provider", (adapter) => {
    for (const permissionMode of ["default", "bypass"] as const) {
      const err = validationError(adapter, { interactiveApprovals: true, permissionMode });
      expect(err.kind).toBe("config_invalid");
      expect(err.field).toBe("options.defaults.interactive_approvals");
      expect(err.provider).toBe(adapter.provider);
      expect(err.reasonCode).toBe("approvals_unsupported");
      expect(err.message).toContain(adapter.provider);
    }
  });

  it.each([ampAdapter, cursorAdapter])("$provider: default mode does not require approvals", (adapter) => {
    expect(() => adapter.validate(mergeRunOptions({}, {}), "options")).not.toThrow();
    expect(() => adapter.validate(mergeRunOptions({}, { permissionMode: "default", interactiveApprovals: false }), "options")).not.toThrow();
    expect(() => adapter.validate(mergeRunOptions({}, { permissionMode: "plan" }), "options")).not.toThrow();
    expect(() => adapter.validate(mergeRunOptions({}, { permissionMode: "bypass" }), "options")).not.toThrow();
  });

  it("amp: accepts mode, rejects a bad or unknown option naming it", () => {
    expect(() => ampAdapter.validate(mergeRunOptions({}, { providerOptions: { mode: "smart" }, permissionMode: "auto" }), "options")).not.toThrow();
    expect(validationError(ampAdapter, { providerOptions: { mode: 3 } }).field).toBe("options.defaults.provider_options.mode");
    expect(validationError(ampAdapter, { providerOptions: { max_turns: 3 } }).field).toBe("options.defaults.provider_options.max_turns");
  });

  it("cursor: accepts sandbox and approve_mcps, rejects a bad value or unknown option naming it", () => {
    expect(() => cursorAdapter.validate(mergeRunOptions({}, { providerOptions: { sandbox: "enabled", approve_mcps: true } }), "options")).not.toThrow();
    const bad = validationError(cursorAdapter, { providerOptions: { sandbox: "on" } });
    expect(bad.kind).toBe("config_invalid");
    expect(bad.field).toBe("options.defaults.provider_options.sandbox");
    expect(validationError(cursorAdapter, { providerOptions: { approveMcps: true } }).field).toBe("options.defaults.provider_options.approveMcps");
  });

  it("cursor: auto has no Cursor equivalent and is rejected naming the field", () => {
    const err = validationError(cursorAdapter, { permissionMode: "auto" });
    expect(err).toMatchObject({ kind: "config_invalid", field: "options.defaults.permission_mode", provider: "cursor" });
  });
});

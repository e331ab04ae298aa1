/**
 * The claude adapter against the transcripts recorded from the pinned Claude Code CLI
 * (test/fixtures/transcripts/claude/, see its README), plus synthetic lines for what no recording shows.
 */
import { describe, expect, it } from "vitest";
import {
  ApprovalDecision,
  AsmError,
  RunStatus,
  kindOf,
  reduceEvents,
  mergeRunOptions,
  type AdapterRun,
  type Event,
  type EventPayload,
  type ParsedLine,
  type PayloadCase,
  type PayloadOf,
  type Result,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { claudeAdapter } from "../../shared/src/providers/claude/claude-adapter.js";
import { StreamEventLine, textDeltaOf } from "../../shared/src/providers/claude/claude-lines.js";
import { isJson, notesOf, spawnArgs, stdinOf, stdoutOf, transcript, recordedScenarios } from "../helpers/transcripts.js";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const CLI = "/opt/claude/bin/claude";
/** The recorder numbers UUIDs by first appearance: the session id is the first one of every file. */
const SESSION = "00000000-0000-4000-8000-000000000001";

const STREAM_JSON = [
  "sj-text",
  "sj-tool-bypass",
  "sj-approval-allow",
  "sj-approval-deny",
  "sj-interrupt-streaming",
  "sj-interrupt-approval",
  "sj-error-401",
  "sj-error-429",
  "sj-error-500",
  "sj-resume",
];
const ONE_SHOT = ["p-text", "p-tool-default", "p-tool-bypass", "p-sigint", "p-error-401", "p-error-429", "p-error-500", "p-resume"];
const SCENARIOS = [...STREAM_JSON, ...ONE_SHOT];

function spec(options: RunOptionsInput = {}, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    prompt: "go",
    settings: mergeRunOptions({}, options),
    resumeProviderSessionId: undefined,
    baseEnv: { PATH: "/usr/bin:/bin", HOME: "/home/asm" },
    defaultCwd: "/srv/work",
    ...extra,
  };
}

/** A recorded line, read loosely: the tests look at the fields they name. */
type Line = any;
const json = (line: string): Line => JSON.parse(line);

const isInit = (j: Line): boolean => j.type === "system" && j.subtype === "init";
const isResult = (j: Line): boolean => j.type === "result";
const isCanUseTool = (j: Line): boolean => j.type === "control_request" && j.request?.subtype === "can_use_tool";
const isTextDelta = (j: Line): boolean => j.type === "stream_event" && j.event?.delta?.type === "text_delta";
const isToolUseMessage = (j: Line): boolean => j.type === "assistant" && j.message.content.some((b: Line) => b.type === "tool_use");

function lineWhere(lines: readonly string[], pred: (j: Line) => boolean): string {
  const found = lines.filter((l) => pred(json(l)));
  expect(found, `exactly one line matches ${pred.toString()}`).toHaveLength(1);
  return found[0]!;
}

/** The `<` lines of each process a scenario spawned, in order. */
function processes(scenario: string): string[][] {
  const out: string[][] = [];
  for (const entry of transcript("claude", scenario)) {
    if (entry.dir === "!" && entry.text.startsWith("spawn ")) out.push([]);
    else if (entry.dir === "<") out.at(-1)!.push(entry.text);
  }
  return out;
}

/** The prompts of a scenario in order: stream-json user messages on stdin, or `-p <prompt>` args. */
function promptsOf(scenario: string): string[] {
  const sent = stdinOf("claude", scenario)
    .map(json)
    .filter((j) => j.type === "user")
    .map((j) => j.message.content[0].text as string);
  const given = spawnArgs("claude", scenario).flatMap((args) => (args[0] === "-p" ? [args[1]!] : []));
  return [...sent, ...given];
}

/** The text the mock model answers to a `[[reply:text:…]]` or `[[reply:hang:…]]` prompt. */
function replyOf(prompt: string): string {
  const m = /\[\[reply:(?:text|hang):(.*?)\]\]/.exec(prompt);
  if (!m) throw new Error(`no text reply asked for in ${prompt}`);
  return m[1]!;
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

interface Parsed {
  perLine: ParsedLine[];
  payloads: EventPayload[];
  cases: PayloadCase[];
}

function parseAll(lines: readonly string[], run: AdapterRun = claudeAdapter.startRun(spec())): Parsed {
  const perLine = lines.map((l) => run.parseLine(l));
  const payloads = perLine.flatMap((p) => p.events.map((e) => e.payload));
  return { perLine, payloads, cases: payloads.map((p) => p.$case) };
}

/** A single-process scenario's stdout, parsed by one adapter run. */
const parsedScenario = (scenario: string): Parsed & { lines: string[] } => {
  const lines = stdoutOf("claude", scenario);
  expect(spawnArgs("claude", scenario), `${scenario} spawns once`).toHaveLength(1);
  return { lines, ...parseAll(lines) };
};

function only<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C>[] {
  return payloads.filter((p) => p.$case === c).map((p) => p.value as PayloadOf<C>);
}

function single<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C> {
  const found = only(payloads, c);
  expect(found, `exactly one ${c}`).toHaveLength(1);
  return found[0]!;
}

/** The parsed lines split into turns, each ending on the line that ended it. */
function turnsOf(perLine: readonly ParsedLine[]): ParsedLine[][] {
  const turns: ParsedLine[][] = [[]];
  for (const p of perLine) {
    turns.at(-1)!.push(p);
    if (p.turnEnded) turns.push([]);
  }
  return turns.filter((t) => t.length > 0);
}

/** What the reducer makes of the events of some parsed lines, as one run. */
function reduced(perLine: readonly ParsedLine[]): Result {
  const events: Event[] = perLine
    .flatMap((p) => p.events.map((e) => ({ payload: e.payload, providerSessionId: p.providerSessionId ?? "" })))
    .map(({ payload, providerSessionId }, i) => ({
      id: `e${i}`,
      runId: "r",
      sessionId: "s",
      sequence: i + 1,
      timestamp: new Date(0),
      provider: "claude",
      kind: kindOf(payload),
      providerSessionId,
      metadata: undefined,
      payload,
    }));
  return reduceEvents(events);
}

interface StdinReplay {
  recorded: string;
  written: string[] | undefined;
}

/**
 * Replays a stream-json transcript through the adapter and, at each `>` line, asks the adapter for
 * what it would write there: the initial input, the next turn, the approval answer (with the
 * recorded decision), the interrupt.
 */
function replayStdin(scenario: string): StdinReplay[] {
  const out: StdinReplay[] = [];
  let run: AdapterRun | undefined;
  let started = false;
  for (const entry of transcript("claude", scenario)) {
    if (entry.dir === "!") {
      if (entry.text.startsWith("spawn ")) [run, started] = [claudeAdapter.startRun(spec()), false];
      continue;
    }
    if (!run) throw new Error(`${scenario}: a line before the first spawn`);
    if (entry.dir === "<") {
      run.parseLine(entry.text);
      continue;
    }
    const j = json(entry.text);
    let written: string[] | undefined;
    if (j.type === "user") {
      const prompt = j.message.content[0].text as string;
      written = started ? run.nextTurn?.(prompt) : claudeAdapter.buildCommand(spec({}, { prompt }), CLI).initialInput;
      started = true;
    } else if (j.type === "control_response") {
      const { request_id, response } = j.response;
      written = run.answerApproval(request_id, response.behavior === "allow", response.message ?? "");
    } else if (j.type === "control_request" && j.request.subtype === "interrupt") {
      written = run.interrupt();
    } else {
      throw new Error(`${scenario}: unexpected stdin line ${entry.text}`);
    }
    out.push({ recorded: entry.text, written });
  }
  return out;
}

const interruptedError = (terminalReason: string) => ({
  kind: "user_cancelled",
  provider: "claude",
  reasonCode: "turn_interrupted",
  retryable: false,
  details: { provider_code: "error_during_execution", terminal_reason: terminalReason, api_error_status: null },
});

// ---------------------------------------------------------------------------------------------
// Every recording
// ---------------------------------------------------------------------------------------------

describe("claude adapter: every recorded line", () => {
  it("the recorded folder holds exactly the scenarios this file covers", () => {
    expect(recordedScenarios("claude")).toEqual([...SCENARIOS].sort());
  });

  it.each(SCENARIOS)("%s: every `<` line is JSON, parses without throwing, and is understood", (scenario) => {
    const procs = processes(scenario);
    expect(procs).toHaveLength(scenario.endsWith("-resume") ? 2 : 1);
    for (const lines of procs) {
      expect(lines.length).toBeGreaterThan(2);
      const run = claudeAdapter.startRun(spec());
      for (const line of lines) {
        const what = line.slice(0, 120);
        expect(isJson(line), what).toBe(true);
        let parsed: ParsedLine = { events: [] };
        expect(() => {
          parsed = run.parseLine(line);
        }, what).not.toThrow();
        const j = json(line);
        // The session id comes from the line itself, whatever its type.
        expect(parsed.providerSessionId, what).toBe(j.session_id);
        // Only result lines end a turn.
        expect(parsed.turnEnded === true, what).toBe(j.type === "result");
        // Nothing asm reads falls back to raw, except system lines other than init and status.
        const kept = j.type === "system" && j.subtype !== "init" && j.subtype !== "status";
        expect(parsed.events.some((e) => e.payload.$case === "raw"), what).toBe(kept);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Text turn, resume
// ---------------------------------------------------------------------------------------------

describe("claude adapter: text turn (p-text, sj-text)", () => {
  const TEXT = [
    ["p-text", ["assistantMessage", "costUpdate", "result"]],
    ["sj-text", ["assistantDelta", "assistantMessage", "costUpdate", "result"]],
  ] as const;

  it.each(TEXT)("%s: system/init reveals the session id but emits no event", (scenario) => {
    const init = lineWhere(stdoutOf("claude", scenario), isInit);
    expect(claudeAdapter.startRun(spec()).parseLine(init)).toEqual({ events: [], providerSessionId: SESSION });
  });

  it.each(TEXT)("%s: yields %j, the turn ending on the result line", (scenario, cases) => {
    const { lines, perLine, payloads, cases: got } = parsedScenario(scenario);
    expect(got).toEqual(cases);
    const reply = replyOf(promptsOf(scenario)[0]!);
    const resultLine = json(lineWhere(lines, isResult));

    expect(single(payloads, "assistantMessage")).toEqual({
      text: reply,
      model: json(lineWhere(lines, isInit)).model,
      content: [{ type: "text", text: reply }],
      aborted: false,
    });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: resultLine.total_cost_usd });
    expect(single(payloads, "result")).toEqual({
      status: "success",
      stopReason: "end_turn",
      text: reply,
      object: undefined,
      output: { duration_ms: 100, num_turns: 1, usage: resultLine.usage },
    });
    expect(perLine.map((p) => p.turnEnded === true)).toEqual(lines.map((l) => isResult(json(l))));
  });

  it.each(TEXT)("%s: the reducer gives the answer once, completed, with the session id and cost", (scenario) => {
    const { lines, perLine } = parsedScenario(scenario);
    const r = reduced(perLine);
    expect(r.text).toBe(replyOf(promptsOf(scenario)[0]!));
    expect(r.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(r.stopReason).toBe("end_turn");
    expect(r.providerSessionId).toBe(SESSION);
    expect(r.cost).toEqual({ inputTokens: 20, outputTokens: 10, costUsd: json(lineWhere(lines, isResult)).total_cost_usd });
  });
});

describe("claude adapter: resume (p-resume, sj-resume)", () => {
  const RESUME = [
    ["p-resume", ["assistantMessage", "costUpdate", "result"]],
    ["sj-resume", ["assistantDelta", "assistantMessage", "costUpdate", "result"]],
  ] as const;

  it.each(RESUME)("%s: the second process is spawned with --resume <first session id> and keeps that provider session id", (scenario) => {
    const [first, second] = processes(scenario);
    const firstSession = json(lineWhere(first!, isResult)).session_id as string;
    expect(firstSession).toBe(SESSION);

    const [args0, args1] = spawnArgs("claude", scenario);
    const prompts = promptsOf(scenario);
    const withoutPrompts = (args: string[]): string[] => args.filter((a) => !prompts.includes(a));
    expect(args0).not.toContain("--resume");
    expect(withoutPrompts(args1!)).toEqual([...withoutPrompts(args0!), "--resume", firstSession]);

    for (const lines of [first!, second!]) {
      const ids = new Set(parseAll(lines).perLine.map((p) => p.providerSessionId).filter((id) => id !== undefined));
      expect([...ids]).toEqual([firstSession]);
    }
  });

  it.each(RESUME)("%s: the resumed turn yields %j and answers from the first turn's history", (scenario, cases) => {
    const [, second] = processes(scenario);
    const { perLine, payloads, cases: got } = parseAll(second!);
    expect(got).toEqual(cases);
    const [p1, p2] = promptsOf(scenario);
    const echo = `history: ${p1} | ${p2}`;
    expect(single(payloads, "result")).toMatchObject({ status: "success", stopReason: "end_turn", text: echo });
    expect(reduced(perLine).text).toBe(echo);
  });
});

// ---------------------------------------------------------------------------------------------
// Tools and approvals
// ---------------------------------------------------------------------------------------------

describe("claude adapter: tool without a prompt tool, auto-denied (p-tool-default)", () => {
  it("keeps system/permission_denied raw and reports the failed tool result", () => {
    const { lines, perLine, payloads, cases } = parsedScenario("p-tool-default");
    expect(cases).toEqual(["toolUse", "raw", "toolResult", "assistantMessage", "costUpdate", "result"]);

    const deniedAt = lines.findIndex((l) => json(l).subtype === "permission_denied");
    const denied = json(lines[deniedAt]!);
    expect(perLine[deniedAt]).toEqual({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: lines[deniedAt] } } }], providerSessionId: SESSION });

    const toolUseId = json(lineWhere(lines, isToolUseMessage)).message.content[0].id;
    expect(denied.tool_use_id).toBe(toolUseId);
    expect(single(payloads, "toolUse")).toEqual({ toolName: "Bash", toolCallId: toolUseId, input: { command: "touch made.txt", description: "Run a command" } });
    const toolResult = single(payloads, "toolResult");
    expect(toolResult).toEqual({ toolCallId: toolUseId, content: denied.message, isError: true });
    expect(toolResult.content).toContain("needs approval");
    expect(single(payloads, "result").text).toBe(`done: ${denied.message}`);
    expect(notesOf("claude", "p-tool-default")).toContain("made.txt exists after the run: no");
  });
});

describe("claude adapter: tool under bypassPermissions (p-tool-bypass, sj-tool-bypass)", () => {
  it.each([
    ["p-tool-bypass", ["toolUse", "toolResult", "assistantMessage", "costUpdate", "result"]],
    ["sj-tool-bypass", ["toolUse", "toolResult", "assistantDelta", "assistantMessage", "costUpdate", "result"]],
  ] as const)("%s: the tool runs unasked: %j", (scenario, cases) => {
    const { lines, payloads, cases: got } = parsedScenario(scenario);
    expect(got).toEqual(cases);
    const toolUseId = json(lineWhere(lines, isToolUseMessage)).message.content[0].id;
    expect(single(payloads, "toolUse")).toEqual({ toolName: "Bash", toolCallId: toolUseId, input: { command: "touch bypassed.txt", description: "Run a command" } });
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: toolUseId, content: "(Bash completed with no output)", isError: false });
    expect(single(payloads, "result")).toMatchObject({ status: "success", text: "done: (Bash completed with no output)", output: { num_turns: 2 } });
    expect(notesOf("claude", scenario)).toContain("bypassed.txt exists after the run: yes");
  });
});

describe("claude adapter: interactive approval (sj-approval-allow, sj-approval-deny)", () => {
  const APPROVALS = [
    ["sj-approval-allow", true, "allowed.txt exists after the run: yes"],
    ["sj-approval-deny", false, "denied.txt exists after the run: no"],
  ] as const;
  /** The answer the recorder wrote, as sent. */
  const recordedAnswer = (scenario: string): Line => json(lineWhere(stdinOf("claude", scenario), (j) => j.type === "control_response")).response;

  it.each(APPROVALS)("%s: tool_use, approval_requested, tool_result in order", (scenario, allow, note) => {
    const { lines, payloads, cases } = parsedScenario(scenario);
    expect(cases).toEqual(["toolUse", "approvalRequested", "toolResult", "assistantDelta", "assistantMessage", "costUpdate", "result"]);

    const request = json(lineWhere(lines, isCanUseTool));
    const toolUse = single(payloads, "toolUse");
    expect(toolUse.toolCallId).toBe(request.request.tool_use_id);
    expect(toolUse.input).toEqual(request.request.input);
    expect(single(payloads, "approvalRequested")).toEqual({
      approvalId: request.request_id,
      subject: "Bash",
      toolCallId: request.request.tool_use_id,
      details: { tool_input: request.request.input, description: "Run a command" },
    });

    const content = allow ? "(Bash completed with no output)" : recordedAnswer(scenario).response.message;
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: toolUse.toolCallId, content, isError: !allow });
    expect(single(payloads, "result")).toMatchObject({ status: "success", text: `done: ${content}` });
    expect(notesOf("claude", scenario)).toContain(note);
  });

  it.each(APPROVALS)("%s: answerApproval writes exactly the recorded control_response line", (scenario, allow) => {
    const answers = replayStdin(scenario).filter((r) => json(r.recorded).type === "control_response");
    expect(answers).toHaveLength(1);
    expect(answers[0]!.written).toEqual([answers[0]!.recorded]);
    expect(recordedAnswer(scenario).response.behavior).toBe(allow ? "allow" : "deny");
  });

  it("a deny without a reason still carries a message", () => {
    const run = claudeAdapter.startRun(spec());
    const answer = json(run.answerApproval("req_1", false, "")[0]!);
    expect(answer.response.response.behavior).toBe("deny");
    expect(answer.response.response.message).not.toBe("");
  });
});

describe("claude adapter: control lines from the CLI", () => {
  const pending = stdoutOf("claude", "sj-interrupt-approval");
  const canUseTool = lineWhere(pending, isCanUseTool);
  const cancel = lineWhere(pending, (j) => j.type === "control_cancel_request");
  const id = json(canUseTool).request_id as string;

  it("the recorded control_cancel_request resolves the pending approval as deny, cancelled_by_cli, once", () => {
    expect(json(cancel).request_id).toBe(id);
    const run = claudeAdapter.startRun(spec());
    run.parseLine(canUseTool);
    expect(run.parseLine(cancel)).toEqual({
      events: [{ payload: { $case: "approvalResolved", value: { approvalId: id, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" } } }],
    });
    // Only once: the approval is no longer pending.
    expect(run.parseLine(cancel)).toEqual({ events: [] });
  });

  it("a control_cancel_request for an unknown or already answered request yields nothing", () => {
    const run = claudeAdapter.startRun(spec());
    expect(run.parseLine(JSON.stringify({ type: "control_cancel_request", request_id: "nope" }))).toEqual({ events: [] });
    run.parseLine(canUseTool);
    run.answerApproval(id, true, "");
    expect(run.parseLine(cancel)).toEqual({ events: [] });
  });

  it("the recorded control_response lines (the interrupt's acknowledgement) produce no events", () => {
    const acks = STREAM_JSON.flatMap((s) => stdoutOf("claude", s)).filter((l) => json(l).type === "control_response");
    expect(acks.length).toBeGreaterThanOrEqual(2);
    for (const ack of acks) expect(claudeAdapter.startRun(spec()).parseLine(ack)).toEqual({ events: [] });
  });
});

// ---------------------------------------------------------------------------------------------
// Interrupts
// ---------------------------------------------------------------------------------------------

describe("claude adapter: interrupt while streaming (sj-interrupt-streaming)", () => {
  const SCENARIO = "sj-interrupt-streaming";

  it("aborted assistant message, interrupted user message, error result, then the second turn's result on the same process", () => {
    const { lines, perLine, payloads, cases } = parsedScenario(SCENARIO);
    expect(cases).toEqual(["assistantDelta", "assistantMessage", "userMessage", "costUpdate", "error", "assistantDelta", "assistantMessage", "costUpdate", "result"]);

    const [first, second] = promptsOf(SCENARIO).map(replyOf);
    expect(only(payloads, "assistantDelta").map((d) => d.content)).toEqual([first, second]);
    expect(only(payloads, "assistantMessage").map((m) => [m.text, m.aborted])).toEqual([
      [first, true],
      [second, false],
    ]);
    expect(single(payloads, "userMessage").text).toBe("[Request interrupted by user]");

    const [interrupted] = lines.filter((l) => isResult(json(l))).map(json);
    expect(single(payloads, "error").error).toMatchObject({ ...interruptedError("aborted_streaming"), message: interrupted.errors.join(" ") });
    expect(single(payloads, "result")).toMatchObject({ status: "success", stopReason: "end_turn", text: second });
    // Both result lines end a turn, and nothing else does.
    expect(perLine.map((p) => p.turnEnded === true)).toEqual(lines.map((l) => isResult(json(l))));
  });

  it("each turn reduces on its own: the partial answer once and cancelled, then the second answer once and completed", () => {
    const { perLine } = parsedScenario(SCENARIO);
    const [first, second] = promptsOf(SCENARIO).map(replyOf);
    expect(turnsOf(perLine).map((t) => [reduced(t).text, reduced(t).status])).toEqual([
      [first, RunStatus.RUN_STATUS_CANCELLED],
      [second, RunStatus.RUN_STATUS_COMPLETED],
    ]);
  });

  it("interrupt() writes exactly the recorded interrupt line, and a fresh request id each time", () => {
    const interrupts = replayStdin(SCENARIO).filter((r) => json(r.recorded).type === "control_request");
    expect(interrupts).toHaveLength(1);
    expect(interrupts[0]!.written).toEqual([interrupts[0]!.recorded]);

    const run = claudeAdapter.startRun(spec());
    const [a, b] = [run.interrupt(), run.interrupt()].map((lines) => {
      expect(lines).toHaveLength(1);
      return json(lines![0]!);
    });
    expect(b).toEqual({ ...a, request_id: b.request_id });
    expect(b.request_id).not.toBe(a.request_id);
  });
});

describe("claude adapter: interrupt while an approval is pending (sj-interrupt-approval)", () => {
  it("control_cancel_request resolves the approval (deny, cancelled_by_cli), then the rejected tool result and the error result", () => {
    const { lines, perLine, payloads, cases } = parsedScenario("sj-interrupt-approval");
    expect(cases).toEqual(["toolUse", "approvalRequested", "approvalResolved", "toolResult", "userMessage", "costUpdate", "error"]);

    const request = json(lineWhere(lines, isCanUseTool));
    expect(single(payloads, "approvalRequested").approvalId).toBe(request.request_id);
    expect(single(payloads, "approvalResolved")).toEqual({ approvalId: request.request_id, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" });

    const rejected = json(lineWhere(lines, (j) => j.type === "user" && j.message.content[0].type === "tool_result")).message.content[0];
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: request.request.tool_use_id, content: rejected.content, isError: true });
    expect(rejected.content).toContain("The tool use was rejected");
    expect(single(payloads, "userMessage").text).toBe("[Request interrupted by user for tool use]");
    expect(single(payloads, "error").error).toMatchObject(interruptedError("aborted_tools"));
    expect(perLine.at(-1)!.turnEnded).toBe(true);
    expect(reduced(perLine).status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(notesOf("claude", "sj-interrupt-approval")).toContain("pending.txt exists after the run: no");
  });
});

describe("claude adapter: SIGINT while streaming in -p mode (p-sigint)", () => {
  it("the delta, the aborted message, the interrupted user message, then an error result", () => {
    const log = transcript("claude", "p-sigint");
    const firstDelta = log.findIndex((l) => l.dir === "<" && isTextDelta(json(l.text)));
    expect(log.findIndex((l) => l.dir === "!" && l.text === "signal SIGINT")).toBe(firstDelta + 1);

    const { perLine, payloads, cases } = parsedScenario("p-sigint");
    expect(cases).toEqual(["assistantDelta", "assistantMessage", "userMessage", "costUpdate", "error"]);
    const reply = replyOf(promptsOf("p-sigint")[0]!);
    expect(single(payloads, "assistantDelta")).toEqual({ content: reply, index: 0 });
    expect(single(payloads, "assistantMessage")).toMatchObject({ text: reply, aborted: true });
    expect(single(payloads, "userMessage").text).toBe("[Request interrupted by user]");
    expect(single(payloads, "error").error).toMatchObject(interruptedError("aborted_streaming"));
    expect(reduced(perLine)).toMatchObject({ text: reply, status: RunStatus.RUN_STATUS_CANCELLED });
  });
});

// ---------------------------------------------------------------------------------------------
// Model API errors
// ---------------------------------------------------------------------------------------------

describe("claude adapter: model API errors (sj-error-*, p-error-*)", () => {
  const KINDS = [
    [401, "auth_error", "provider_auth_failed", false],
    [429, "rate_limit", "provider_rate_limited", true],
    [500, "provider_error", "provider_unavailable", true],
  ] as const;
  const ERRORS = (["sj", "p"] as const).flatMap((mode) => KINDS.map(([status, kind, reasonCode, retryable]) => [`${mode}-error-${status}`, kind, reasonCode, status, retryable] as const));

  it.each(ERRORS)("%s → %s (%s): the synthetic assistant message, then the error result", (scenario, kind, reasonCode, status, retryable) => {
    const { lines, perLine, payloads, cases } = parsedScenario(scenario);
    expect(cases).toEqual(["assistantMessage", "costUpdate", "error"]);
    const resultLine = json(lineWhere(lines, isResult));
    expect(resultLine).toMatchObject({ subtype: "success", is_error: true, api_error_status: status });

    expect(single(payloads, "assistantMessage")).toMatchObject({ text: resultLine.result, model: "<synthetic>", aborted: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 0, outputTokens: 0, totalTokens: 0, costUsd: 0 });
    expect(single(payloads, "error").error).toEqual({
      kind,
      domain: "provider",
      message: resultLine.result,
      reasonCode,
      retryable,
      provider: "claude",
      exitCode: undefined,
      signal: "",
      stderrTail: "",
      field: "",
      details: { provider_code: "api_error", terminal_reason: "api_error", api_error_status: status },
    });
    expect(perLine.map((p) => p.turnEnded === true)).toEqual(lines.map((l) => isResult(json(l))));
    expect(reduced(perLine).status).toBe(RunStatus.RUN_STATUS_FAILED);
  });
});

// ---------------------------------------------------------------------------------------------
// Text deltas, stdin
// ---------------------------------------------------------------------------------------------

describe("claude adapter: text deltas (--include-partial-messages)", () => {
  const STREAMING = [...STREAM_JSON.filter((s) => !s.startsWith("sj-error-")), "p-sigint"];

  it.each(STREAMING)("%s: each text_delta is one assistantDelta with its text and index; other stream events give none", (scenario) => {
    const streamEvents = processes(scenario)
      .flatMap((lines) => {
        const { perLine } = parseAll(lines);
        return lines.map((line, i) => [json(line), perLine[i]!] as const);
      })
      .filter(([j]) => j.type === "stream_event");
    expect(streamEvents.length).toBeGreaterThan(4);
    for (const [j, parsed] of streamEvents) {
      const expected = isTextDelta(j) ? [{ payload: { $case: "assistantDelta", value: { content: j.event.delta.text, index: j.event.index } } }] : [];
      expect(parsed, JSON.stringify(j.event)).toEqual({ events: expected, providerSessionId: SESSION });
    }
  });

  it("the recorded message_delta (a delta without a type) gives no event and keeps the session id", () => {
    const line = lineWhere(stdoutOf("claude", "sj-text"), (j) => j.type === "stream_event" && j.event.type === "message_delta");
    expect(json(line).event.delta.type).toBeUndefined();
    expect(claudeAdapter.startRun(spec()).parseLine(line)).toEqual({ events: [], providerSessionId: SESSION });
  });

  it.each(["sj-text", "sj-tool-bypass", "sj-approval-allow", "sj-approval-deny", "sj-interrupt-streaming", "sj-resume"])(
    "%s: the reducer over each successful turn gives the result's text exactly once",
    (scenario) => {
      let checked = 0;
      for (const lines of processes(scenario)) {
        const { perLine } = parseAll(lines);
        const results = lines.filter((l) => isResult(json(l))).map(json);
        turnsOf(perLine).forEach((turn, i) => {
          if (results[i]!.subtype !== "success" || results[i]!.is_error) return;
          expect(turn.flatMap((p) => p.events.map((e) => e.payload.$case))).toContain("assistantDelta");
          expect(reduced(turn).text).toBe(results[i]!.result);
          checked += 1;
        });
      }
      expect(checked).toBe(scenario === "sj-resume" ? 2 : 1);
    },
  );
});

describe("claude adapter: what it writes to stdin", () => {
  it.each(STREAM_JSON)("%s: every `>` line is exactly what the adapter writes at that point", (scenario) => {
    const replay = replayStdin(scenario);
    expect(replay.length).toBeGreaterThan(0);
    expect(replay.map((r) => r.recorded)).toEqual(stdinOf("claude", scenario));
    for (const { recorded, written } of replay) expect(written, recorded).toEqual([recorded]);
  });
});

// ---------------------------------------------------------------------------------------------
// Synthetic lines (what no recording shows)
// ---------------------------------------------------------------------------------------------

describe("claude adapter: synthetic lines", () => {
  const rawOf = (line: string): ParsedLine => ({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: line } } }] });

  it.each([
    '{"type":"mystery"}',
    '{"type":"mystery","session_id":"s"}',
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    "42",
    '"a string"',
    '{"no_type":true}',
    '{"type":"assistant"}',
    '{"type":"assistant","message":{"content":"not an array"}}',
    '{"type":"result","usage":"bad"}',
    '{"type":"control_request","request_id":"x","request":{"subtype":"something_else"}}',
    '{"type":"control_cancel_request"}',
    '{"type":"user","message":{}}',
    '{"type":"system","subtype":5}',
    '{"type":"assistant","message":{"content":[]',
  ])("%j becomes raw with the original line", (line) => {
    const run = claudeAdapter.startRun(spec());
    expect(run.parseLine(line)).toEqual(rawOf(line));
  });

  it("system/status carries the session id without events; other system lines stay raw", () => {
    const run = claudeAdapter.startRun(spec());
    expect(run.parseLine('{"type":"system","subtype":"status","status":"requesting","session_id":"s1"}')).toEqual({ events: [], providerSessionId: "s1" });
    const retry = '{"type":"system","subtype":"api_retry","attempt":1,"session_id":"s1"}';
    expect(run.parseLine(retry)).toEqual({ ...rawOf(retry), providerSessionId: "s1" });
  });

  it("thinking and tool_use blocks become their own events; text joins into one message", () => {
    const run = claudeAdapter.startRun(spec());
    const line = JSON.stringify({
      type: "assistant",
      session_id: "s2",
      message: {
        model: "m",
        content: [
          { type: "thinking", thinking: "hmm", signature: "sig" },
          { type: "text", text: "a" },
          { type: "text", text: "b" },
          { type: "tool_use", id: "t1", name: "Read", input: { path: "/x" } },
        ],
      },
    });
    const payloads = run.parseLine(line).events.map((e) => e.payload);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "thinking", "toolUse"]);
    expect(single(payloads, "assistantMessage").text).toBe("ab");
    expect(single(payloads, "thinking")).toEqual({ content: "hmm", signature: "sig" });
    expect(single(payloads, "toolUse")).toEqual({ toolName: "Read", toolCallId: "t1", input: { path: "/x" } });
  });

  it("a user line with string content is a user message", () => {
    const run = claudeAdapter.startRun(spec());
    expect(run.parseLine('{"type":"user","session_id":"s3","message":{"content":"hi"}}')).toEqual({
      events: [{ payload: { $case: "userMessage", value: { text: "hi", content: ["hi"] } } }],
      providerSessionId: "s3",
    });
  });

  it("tool_result array content is joined as text", () => {
    const run = claudeAdapter.startRun(spec());
    const line = JSON.stringify({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: "t9", content: [{ type: "text", text: "x" }, { type: "text", text: "y" }] }] } });
    expect(single(run.parseLine(line).events.map((e) => e.payload), "toolResult")).toEqual({ toolCallId: "t9", content: "xy", isError: false });
  });

  it("classifies failed results: 401 is auth_error (provider_auth_failed), 429 is rate_limit (provider_rate_limited)", () => {
    const run = claudeAdapter.startRun(spec());
    const auth = run.parseLine(JSON.stringify({ type: "result", subtype: "error_during_execution", is_error: true, result: "nope", api_error_status: 401 }));
    const authError = single(auth.events.map((e) => e.payload), "error").error;
    expect([authError?.kind, authError?.reasonCode, authError?.retryable, authError?.details?.provider_code]).toEqual(["auth_error", "provider_auth_failed", false, "error_during_execution"]);
    expect(auth.turnEnded).toBe(true);
    const limited = run.parseLine(JSON.stringify({ type: "result", subtype: "success", is_error: true, result: "slow down", api_error_status: 429 }));
    const limitedError = single(limited.events.map((e) => e.payload), "error").error;
    expect([limitedError?.kind, limitedError?.reasonCode, limitedError?.retryable, limitedError?.details?.provider_code]).toEqual(["rate_limit", "provider_rate_limited", true, "error"]);
  });

  it.each([
    [{ subtype: "error_max_turns", terminal_reason: "max_turns" }, "max_turns_reached", "error_max_turns", "claude reported error_max_turns"],
    [{ subtype: "success", terminal_reason: "api_error" }, "provider_failed", "api_error", "claude reported api_error"],
    [{ subtype: "success" }, "provider_failed", "error", "claude reported error"],
    [{}, "provider_failed", "error", "claude reported error"],
  ])("a failed result %j is %s (provider_code %s), never success", (fields, reasonCode, providerCode, message) => {
    const run = claudeAdapter.startRun(spec());
    const error = single(run.parseLine(JSON.stringify({ type: "result", is_error: true, ...fields })).events.map((e) => e.payload), "error").error;
    expect([error?.reasonCode, error?.kind, error?.retryable, error?.details?.provider_code, error?.message]).toEqual([reasonCode, "provider_error", false, providerCode, message]);
  });

  it("a successful result with structured output carries the object", () => {
    const run = claudeAdapter.startRun(spec());
    const parsed = run.parseLine(JSON.stringify({ type: "result", subtype: "success", is_error: false, result: "{}", stop_reason: "end_turn", structured_output: { a: 1 } }));
    expect(parsed.events.map((e) => e.payload.$case)).toEqual(["result"]);
    expect(single(parsed.events.map((e) => e.payload), "result").object).toEqual({ a: 1 });
  });
});

// ---------------------------------------------------------------------------------------------
// buildCommand, validate
// ---------------------------------------------------------------------------------------------

describe("claude adapter: buildCommand", () => {
  /** How asm would have been asked for each recorded stream-json spawn (every other one is the default). */
  const OPTIONS: Record<string, RunOptionsInput> = { "sj-tool-bypass": { permissionMode: "bypass" } };

  it.each(STREAM_JSON)("%s: the argv of each spawn is exactly the recorded one", (scenario) => {
    const recorded = spawnArgs("claude", scenario);
    // A second spawn resumes the session the first process ended with.
    const resumed = processes(scenario)[0]!.map(json).find(isResult).session_id as string;
    const built = recorded.map((_, i) => claudeAdapter.buildCommand(spec(OPTIONS[scenario] ?? {}, { resumeProviderSessionId: i === 0 ? undefined : resumed }), CLI).args);
    expect(built).toEqual(recorded);
  });

  it("the command is the CLI path, stdin stays open and cwd defaults to the spec's", () => {
    const cmd = claudeAdapter.buildCommand(spec(), CLI);
    expect([cmd.command, cmd.keepStdinOpen, cmd.cwd]).toEqual([CLI, true, "/srv/work"]);
  });

  it("always has the stream-json flags", () => {
    for (const permissionMode of ["default", "auto", "bypass", "plan"] as const) {
      const { args } = claudeAdapter.buildCommand(spec({ permissionMode }), CLI);
      expect(flagValue(args, "--output-format")).toBe("stream-json");
      expect(flagValue(args, "--input-format")).toBe("stream-json");
      expect(args).toContain("--verbose");
      expect(args).toContain("--include-partial-messages");
    }
  });

  it.each([
    ["default", "default", true],
    ["auto", "acceptEdits", false],
    ["bypass", "bypassPermissions", false],
    ["plan", "plan", false],
  ] as const)("permission mode %s → --permission-mode %s (prompt tool: %s)", (mode, flag, prompt) => {
    const { args } = claudeAdapter.buildCommand(spec({ permissionMode: mode }), CLI);
    expect(flagValue(args, "--permission-mode")).toBe(flag);
    expect(args.filter((a) => a === "--permission-mode")).toHaveLength(1);
    if (prompt) expect(flagValue(args, "--permission-prompt-tool")).toBe("stdio");
    else expect(args).not.toContain("--permission-prompt-tool");
  });

  it("interactiveApprovals overrides the mode's default", () => {
    const autoInteractive = claudeAdapter.buildCommand(spec({ permissionMode: "auto", interactiveApprovals: true }), CLI).args;
    expect(flagValue(autoInteractive, "--permission-prompt-tool")).toBe("stdio");
    expect(flagValue(autoInteractive, "--permission-mode")).toBe("acceptEdits");
    const defaultHeadless = claudeAdapter.buildCommand(spec({ permissionMode: "default", interactiveApprovals: false }), CLI).args;
    expect(defaultHeadless).not.toContain("--permission-prompt-tool");
    expect(flagValue(defaultHeadless, "--permission-mode")).toBe("default");
  });

  it("--resume only when a provider session is resumed", () => {
    expect(claudeAdapter.buildCommand(spec(), CLI).args).not.toContain("--resume");
    const { args } = claudeAdapter.buildCommand(spec({}, { resumeProviderSessionId: SESSION }), CLI);
    expect(flagValue(args, "--resume")).toBe(SESSION);
  });

  it("--model only when a model is set", () => {
    expect(claudeAdapter.buildCommand(spec(), CLI).args).not.toContain("--model");
    expect(flagValue(claudeAdapter.buildCommand(spec({ model: "claude-opus-5-5" }), CLI).args, "--model")).toBe("claude-opus-5-5");
  });

  it("provider options map to flags", () => {
    const { args } = claudeAdapter.buildCommand(spec({ providerOptions: { max_turns: 3, system_prompt: "be brief", append_system_prompt: "and kind" } }), CLI);
    expect(flagValue(args, "--max-turns")).toBe("3");
    expect(flagValue(args, "--system-prompt")).toBe("be brief");
    expect(flagValue(args, "--append-system-prompt")).toBe("and kind");
  });

  it("env is exactly baseEnv + settings.env, nothing from process.env", () => {
    process.env.ASM_TEST_SHOULD_NOT_LEAK = "leak";
    try {
      const cmd = claudeAdapter.buildCommand(spec({ env: { ANTHROPIC_BASE_URL: "http://127.0.0.1:1", PATH: "/custom/bin" } }), CLI);
      expect(cmd.env).toEqual({ PATH: "/custom/bin", HOME: "/home/asm", ANTHROPIC_BASE_URL: "http://127.0.0.1:1" });
    } finally {
      delete process.env.ASM_TEST_SHOULD_NOT_LEAK;
    }
  });

  it("bypass adds IS_SANDBOX=1 only when running as root, and never overrides the caller's value", () => {
    const root = process.getuid?.() === 0;
    const env = claudeAdapter.buildCommand(spec({ permissionMode: "bypass" }), CLI).env;
    expect(env).toEqual(root ? { PATH: "/usr/bin:/bin", HOME: "/home/asm", IS_SANDBOX: "1" } : { PATH: "/usr/bin:/bin", HOME: "/home/asm" });
    const given = claudeAdapter.buildCommand(spec({ permissionMode: "bypass", env: { IS_SANDBOX: "0" } }), CLI).env;
    expect(given.IS_SANDBOX).toBe("0");
  });

  it("cwd comes from settings when set", () => {
    expect(claudeAdapter.buildCommand(spec({ cwd: "/tmp/project" }), CLI).cwd).toBe("/tmp/project");
  });

  it("the initial input is exactly the recorded first `>` user line; a multi-line prompt stays one line", () => {
    const recorded = stdinOf("claude", "sj-text")[0]!;
    const cmd = claudeAdapter.buildCommand(spec({}, { prompt: promptsOf("sj-text")[0]! }), CLI);
    expect(cmd.initialInput).toEqual([recorded]);

    const multi = claudeAdapter.buildCommand(spec({}, { prompt: 'line one\nline "two"' }), CLI);
    expect(multi.initialInput).toHaveLength(1);
    expect(multi.initialInput[0]).not.toContain("\n");
    expect(JSON.parse(multi.initialInput[0]!)).toEqual({
      type: "user",
      session_id: "",
      message: { role: "user", content: [{ type: "text", text: 'line one\nline "two"' }] },
      parent_tool_use_id: null,
    });
  });
});

describe("claude adapter: validate", () => {
  function validationError(providerOptions: Record<string, unknown>): AsmError {
    try {
      claudeAdapter.validate(mergeRunOptions({}, { providerOptions }), "options.defaults");
    } catch (e) {
      expect(e).toBeInstanceOf(AsmError);
      return e as AsmError;
    }
    throw new Error("expected validate to throw");
  }

  it("accepts known provider options", () => {
    expect(() => claudeAdapter.validate(mergeRunOptions({}, { providerOptions: { max_turns: 2 } }), "options")).not.toThrow();
  });

  it("rejects a bad value naming the option", () => {
    const err = validationError({ max_turns: 0 });
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("options.defaults.provider_options.max_turns");
  });

  it("rejects an unknown option naming it verbatim", () => {
    const err = validationError({ maxTurns: 5 });
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("options.defaults.provider_options.maxTurns");
  });
});

// ---------------------------------------------------------------------------------------------
// Partial messages, synthetic, and the text delta fast path
// ---------------------------------------------------------------------------------------------

describe("partial messages (--include-partial-messages)", () => {
  it("text deltas become assistant_delta; other stream events produce nothing; the reducer does not double the text", () => {
    const run = claudeAdapter.startRun(spec());
    const sid = SESSION;
    const lines = [
      { type: "stream_event", session_id: sid, event: { type: "message_start", message: {} } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "lo" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_stop", index: 0 } },
      { type: "assistant", session_id: sid, message: { model: "m", content: [{ type: "text", text: "Hello" }] } },
      { type: "stream_event", session_id: sid, event: { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } } },
      { type: "stream_event", session_id: sid, event: { type: "message_stop" } },
    ];
    const perLine = lines.map((l) => run.parseLine(JSON.stringify(l)));
    expect(perLine.flatMap((p) => p.events.map((e) => e.payload.$case))).toEqual(["assistantDelta", "assistantDelta", "assistantMessage"]);
    expect(reduced(perLine).text).toBe("Hello");
  });
});

describe("text delta fast path", () => {
  const delta = (over: Record<string, unknown> = {}, eventOver: Record<string, unknown> = {}, deltaOver: Record<string, unknown> = {}) => ({
    type: "stream_event",
    session_id: "sid-1",
    ...over,
    event: { type: "content_block_delta", index: 2, ...eventOver, delta: { type: "text_delta", text: "hi", ...deltaOver } },
  });
  const cases: [string, unknown][] = [
    ["a plain text delta", delta()],
    ["no index (0)", delta({}, { index: undefined })],
    ["no session id", delta({ session_id: undefined })],
    ["extra fields everywhere", delta({ uuid: "u", parent_tool_use_id: null }, { extra: 1 }, { more: true })],
    ["an empty text", delta({}, {}, { text: "" })],
    ["a numeric session id", delta({ session_id: 5 })],
    ["a string index", delta({}, { index: "0" })],
    ["a missing text", delta({}, {}, { text: undefined })],
    ["a numeric text", delta({}, {}, { text: 3 })],
    ["another delta type", delta({}, {}, { type: "input_json_delta" })],
    ["a delta without a type", delta({}, {}, { type: undefined })],
    ["another event type", delta({}, { type: "content_block_start" })],
    ["a message_delta (its delta has no type)", { type: "stream_event", session_id: "sid-1", event: { type: "message_delta", delta: { stop_reason: "end_turn" } } }],
    ["an event that is an array", { type: "stream_event", event: [] }],
    ["a delta that is null", { type: "stream_event", event: { type: "content_block_delta", delta: null } }],
  ];

  it.each(cases)("gives what the schema path gives: %s", (_name, value) => {
    const line = JSON.stringify(value);
    const fast = claudeAdapter.startRun(spec()).parseLine(line);
    // The reference is the schema, StreamEventLine.
    const parsed = StreamEventLine.safeParse(JSON.parse(line));
    if (!parsed.success) {
      expect(fast.events.map((e) => e.payload.$case)).toEqual(["raw"]);
      return;
    }
    const { event, session_id } = parsed.data;
    const isText = event.type === "content_block_delta" && event.delta?.type === "text_delta" && event.delta.text !== undefined;
    expect(fast).toEqual(
      isText
        ? { events: [{ payload: { $case: "assistantDelta", value: { content: event.delta!.text, index: event.index ?? 0 } } }], providerSessionId: session_id }
        : { events: [], providerSessionId: session_id },
    );
    expect(textDeltaOf(JSON.parse(line)) !== undefined).toBe(isText);
  });
});

import { describe, expect, it } from "vitest";
import {
  ApprovalDecision,
  AsmError,
  kindOf,
  reduceEvents,
  mergeRunOptions,
  type AdapterRun,
  type EventPayload,
  type ParsedLine,
  type PayloadCase,
  type PayloadOf,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { claudeAdapter } from "../../shared/src/providers/claude/claude-adapter.js";
import { StreamEventLine, textDeltaOf } from "../../shared/src/providers/claude/claude-lines.js";
import { jsonlLines, logLines, stdoutOfLog, stdinOfLog, isJson } from "../helpers/transcripts.js";


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

interface Parsed {
  run: AdapterRun;
  perLine: ParsedLine[];
  payloads: EventPayload[];
}

function parseAll(lines: readonly string[], run: AdapterRun = claudeAdapter.startRun(spec())): Parsed {
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

const ALL_JSONL = ["claude-p-text.jsonl", "claude-p-resume.jsonl", "claude-p-tool-default.jsonl", "claude-sj-allow.raw.jsonl", "claude-sj-interrupt.raw.jsonl"];
const ALL_LOGS = ["claude-sj-allow.log", "claude-sj-deny.log", "claude-sj-interrupt.log"];


describe("claude adapter: every recorded line parses", () => {
  it.each(ALL_JSONL)("%s: no line throws and each yields a parse result", (name) => {
    const lines = jsonlLines(name);
    expect(lines.length).toBeGreaterThan(2);
    const run = claudeAdapter.startRun(spec());
    for (const line of lines) {
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      expect(Array.isArray(parsed?.events)).toBe(true);
    }
  });

  it.each(ALL_LOGS)("%s: every `<` line parses; abbreviated (invalid) JSON becomes raw", (name) => {
    const lines = stdoutOfLog(name);
    expect(lines.length).toBeGreaterThan(5);
    const run = claudeAdapter.startRun(spec());
    let abbreviated = 0;
    for (const line of lines) {
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      if (!isJson(line)) {
        abbreviated += 1;
        expect(line).toMatch(/…\(\+\d+\)/);
        expect(parsed?.events.map((e) => e.payload)).toEqual([{ $case: "raw", value: { stream: "stdout", content: line } }]);
      }
    }
    // Each log abbreviates at least its result line.
    expect(abbreviated).toBeGreaterThanOrEqual(1);
  });
});

describe("claude adapter: text transcript", () => {
  const lines = jsonlLines("claude-p-text.jsonl");
  const SESSION = "1cdbacd9-96dc-4d45-ba51-680b4f577588";

  it("system/init reveals the session id but emits no event", () => {
    const parsed = claudeAdapter.startRun(spec()).parseLine(lines[0]!);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: "system", subtype: "init" });
    expect(parsed.events).toEqual([]);
    expect(parsed.providerSessionId).toBe(SESSION);
    expect(parsed.turnEnded).toBeFalsy();
  });

  it("yields the assistant message, a cost update and a terminal result", () => {
    const { perLine, payloads } = parseAll(lines);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "costUpdate", "result"]);

    const message = single(payloads, "assistantMessage");
    expect(message.text).toBe("Hello from mock");
    expect(message.model).toBe("claude-opus-5-5");
    expect(message.aborted).toBe(false);
    expect(message.content).toEqual([{ type: "text", text: "Hello from mock" }]);

    const cost = single(payloads, "costUpdate");
    expect(cost).toEqual({ inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0.00014000000000000001 });

    const result = single(payloads, "result");
    expect(result.stopReason).toBe("end_turn");
    expect(result.status).toBe("success");
    expect(result.text).toBe("Hello from mock");
    expect(result.output).toMatchObject({ duration_ms: 98, num_turns: 1 });

    const last = perLine[perLine.length - 1]!;
    expect(last.turnEnded).toBe(true);
    expect(last.providerSessionId).toBe(SESSION);
    for (const p of perLine) expect(p.providerSessionId).toBe(SESSION);
  });

  it("resume transcript continues the same provider session", () => {
    const { perLine, payloads } = parseAll(jsonlLines("claude-p-resume.jsonl"));
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "costUpdate", "result"]);
    expect(single(payloads, "result").stopReason).toBe("end_turn");
    expect(perLine.map((p) => p.providerSessionId)).toEqual([SESSION, SESSION, SESSION]);
  });
});

describe("claude adapter: tool transcript without a prompt tool (auto-denied)", () => {
  it("keeps system/permission_denied as raw and reports the failed tool result", () => {
    const lines = jsonlLines("claude-p-tool-default.jsonl");
    const { perLine, payloads } = parseAll(lines);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "toolUse", "raw", "toolResult", "assistantMessage", "costUpdate", "result"]);

    const deniedIndex = lines.findIndex((l) => l.includes('"subtype":"permission_denied"'));
    expect(perLine[deniedIndex]!.events).toEqual([{ payload: { $case: "raw", value: { stream: "stdout", content: lines[deniedIndex] } } }]);
    expect(perLine[deniedIndex]!.providerSessionId).toBe("b3934c3b-db80-4237-9cf2-9d0d909f5da3");

    const toolUse = single(payloads, "toolUse");
    expect(toolUse).toEqual({ toolName: "Bash", toolCallId: "toolu_mock_1", input: { command: "touch made.txt", description: "Run a command" } });
    const toolResult = single(payloads, "toolResult");
    expect(toolResult.toolCallId).toBe("toolu_mock_1");
    expect(toolResult.isError).toBe(true);
    expect(toolResult.content).toContain("needs approval");
  });
});

describe("claude adapter: interactive approval (allow)", () => {
  const lines = jsonlLines("claude-sj-allow.raw.jsonl");
  const REQUEST_ID = "b8037ef4-1e3c-492c-ba38-b092ce2ea930";

  it("yields tool_use, approval_requested, tool_result in order", () => {
    const { payloads } = parseAll(lines);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "toolUse", "approvalRequested", "toolResult", "assistantMessage", "costUpdate", "result"]);

    expect(single(payloads, "toolUse")).toEqual({ toolName: "Bash", toolCallId: "toolu_mock_2", input: { command: "touch made2.txt", description: "Run a command" } });

    const approval = single(payloads, "approvalRequested");
    const request = JSON.parse(lines.find((l) => l.includes('"can_use_tool"'))!) as { request_id: string };
    expect(approval.approvalId).toBe(request.request_id);
    expect(approval.approvalId).toBe(REQUEST_ID);
    expect(approval.subject).toBe("Bash");
    expect(approval.toolCallId).toBe("toolu_mock_2");
    expect(approval.details?.tool_input.command).toBe("touch made2.txt");
    expect(approval.details?.description).toBe("Run a command");

    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "toolu_mock_2", content: "(Bash completed with no output)", isError: false });
    expect(only(payloads, "assistantMessage").map((m) => m.text)).toEqual(["I will run a command.", "done: (Bash completed with no output)"]);
    expect(single(payloads, "result").stopReason).toBe("end_turn");
  });

  it("the control_response lines (initialize ack) produce no events", () => {
    const run = claudeAdapter.startRun(spec());
    const ack = lines[0]!;
    expect(JSON.parse(ack)).toMatchObject({ type: "control_response" });
    expect(run.parseLine(ack)).toEqual({ events: [] });
  });

  it("answers allow exactly as recorded: updatedInput is the requested input", () => {
    const log = logLines("claude-sj-allow.log");
    const run = claudeAdapter.startRun(spec());
    const canUseTool = log.find((l) => l.dir === "<" && l.text.includes('"can_use_tool"'))!.text;
    run.parseLine(canUseTool);
    const recordedAnswer = log.find((l) => l.dir === ">" && l.text.includes('"behavior"'))!.text;

    const answer = run.answerApproval(REQUEST_ID, true, "");
    expect(answer).toHaveLength(1);
    expect(JSON.parse(answer[0]!)).toEqual(JSON.parse(recordedAnswer));
    expect(JSON.parse(answer[0]!)).toEqual({
      type: "control_response",
      response: { subtype: "success", request_id: REQUEST_ID, response: { behavior: "allow", updatedInput: { command: "touch made2.txt", description: "Run a command" } } },
    });
  });
});

describe("claude adapter: interactive approval (deny)", () => {
  it("answers deny exactly as recorded, with the reason as message", () => {
    const log = logLines("claude-sj-deny.log");
    const run = claudeAdapter.startRun(spec());
    const canUseTool = log.find((l) => l.dir === "<" && l.text.includes('"can_use_tool"'))!.text;
    const id = (JSON.parse(canUseTool) as { request_id: string }).request_id;
    expect(single(run.parseLine(canUseTool).events.map((e) => e.payload), "approvalRequested").approvalId).toBe(id);
    const recordedAnswer = log.find((l) => l.dir === ">" && l.text.includes('"behavior"'))!.text;

    const answer = run.answerApproval(id, false, "denied by test harness");
    expect(answer.map((a) => JSON.parse(a))).toEqual([JSON.parse(recordedAnswer)]);
    expect(JSON.parse(answer[0]!)).toEqual({
      type: "control_response",
      response: { subtype: "success", request_id: id, response: { behavior: "deny", message: "denied by test harness" } },
    });
  });

  it("a deny without a reason still carries a message", () => {
    const run = claudeAdapter.startRun(spec());
    const answer = JSON.parse(run.answerApproval("req_1", false, "")[0]!) as { response: { response: { behavior: string; message: string } } };
    expect(answer.response.response.behavior).toBe("deny");
    expect(answer.response.response.message).not.toBe("");
  });

  it("the denied tool result is an error", () => {
    const { payloads } = parseAll(stdoutOfLog("claude-sj-deny.log"));
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "toolu_mock_3", content: "denied by test harness", isError: true });
  });
});

describe("claude adapter: cancelled approval", () => {
  const canUseTool = jsonlLines("claude-sj-allow.raw.jsonl").find((l) => l.includes('"can_use_tool"'))!;
  const id = "b8037ef4-1e3c-492c-ba38-b092ce2ea930";

  it("control_cancel_request for a pending approval resolves it as deny, cancelled_by_cli", () => {
    const run = claudeAdapter.startRun(spec());
    run.parseLine(canUseTool);
    const cancel = JSON.stringify({ type: "control_cancel_request", request_id: id });
    expect(run.parseLine(cancel).events.map((e) => e.payload)).toEqual([
      { $case: "approvalResolved", value: { approvalId: id, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" } },
    ]);
    // Only once: the approval is no longer pending.
    expect(run.parseLine(cancel).events).toEqual([]);
  });

  it("control_cancel_request for an unknown or already answered request yields nothing", () => {
    const run = claudeAdapter.startRun(spec());
    expect(run.parseLine(JSON.stringify({ type: "control_cancel_request", request_id: "nope" })).events).toEqual([]);
    run.parseLine(canUseTool);
    run.answerApproval(id, true, "");
    expect(run.parseLine(JSON.stringify({ type: "control_cancel_request", request_id: id })).events).toEqual([]);
  });
});

describe("claude adapter: interrupt transcript", () => {
  const lines = jsonlLines("claude-sj-interrupt.raw.jsonl");

  it("aborted assistant message, interrupted user message, error result, then a normal second turn", () => {
    const { perLine, payloads } = parseAll(lines);
    expect(payloads.map((p) => p.$case)).toEqual([
      "assistantMessage",
      "userMessage",
      "costUpdate",
      "error",
      "assistantMessage",
      "costUpdate",
      "result",
    ]);

    const [aborted, second] = only(payloads, "assistantMessage");
    expect(aborted).toMatchObject({ text: "w0 w1 w2", aborted: true });
    expect(second).toMatchObject({ text: "Hello from mock", aborted: false });
    expect(single(payloads, "userMessage").text).toBe("[Request interrupted by user]");

    const error = single(payloads, "error").error;
    expect(error).toBeDefined();
    expect(error!.reasonCode).toBe("error_during_execution");
    expect(error!.provider).toBe("claude");
    expect(error!.message).toContain("[ede_diagnostic]");
    expect(error!.details).toMatchObject({ terminal_reason: "aborted_streaming" });

    // Both result lines end a turn.
    expect(perLine.filter((p) => p.turnEnded).length).toBe(2);
    expect(single(payloads, "result").stopReason).toBe("end_turn");
  });

  it("interrupt() writes a control_request with subtype interrupt and a fresh request id", () => {
    const run = claudeAdapter.startRun(spec());
    const first = run.interrupt();
    const second = run.interrupt();
    expect(first).toHaveLength(1);
    const a = JSON.parse(first![0]!) as { type: string; request_id: string; request: unknown };
    const b = JSON.parse(second![0]!) as { type: string; request_id: string; request: unknown };
    expect(a.type).toBe("control_request");
    expect(a.request).toEqual({ subtype: "interrupt" });
    expect(typeof a.request_id).toBe("string");
    expect(a.request_id).not.toBe("");
    expect(b.request_id).not.toBe(a.request_id);
    // Same shape as what the recording wrote to the CLI.
    const recorded = JSON.parse(stdinOfLog("claude-sj-interrupt.log").find((l) => l.includes('"interrupt"'))!) as Record<string, unknown>;
    expect(Object.keys(a).sort()).toEqual(Object.keys(recorded).sort());
  });
});

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

  it("classifies failed results: 401 is auth_error, 429 is rate_limit", () => {
    const run = claudeAdapter.startRun(spec());
    const auth = run.parseLine(JSON.stringify({ type: "result", subtype: "error_during_execution", is_error: true, result: "nope", api_error_status: 401 }));
    expect(single(auth.events.map((e) => e.payload), "error").error?.kind).toBe("auth_error");
    expect(auth.turnEnded).toBe(true);
    const limited = run.parseLine(JSON.stringify({ type: "result", subtype: "success", is_error: true, result: "slow down", api_error_status: 429 }));
    expect(single(limited.events.map((e) => e.payload), "error").error?.kind).toBe("rate_limit");
  });

  it("a successful result with structured output carries the object", () => {
    const run = claudeAdapter.startRun(spec());
    const parsed = run.parseLine(JSON.stringify({ type: "result", subtype: "success", is_error: false, result: "{}", stop_reason: "end_turn", structured_output: { a: 1 } }));
    expect(parsed.events.map((e) => e.payload.$case)).toEqual(["result"]);
    expect(single(parsed.events.map((e) => e.payload), "result").object).toEqual({ a: 1 });
  });
});

describe("claude adapter: buildCommand", () => {
  const CLI = "/opt/claude/bin/claude";

  function flagValue(args: readonly string[], flag: string): string | undefined {
    const i = args.indexOf(flag);
    return i < 0 ? undefined : args[i + 1];
  }

  it("default settings give the recorded interactive stream-json argv, plus partial messages for text deltas", () => {
    const spawnNote = logLines("claude-sj-allow.log").find((l) => l.dir === "!" && l.text.startsWith("spawn "))!.text;
    // "spawn <binary> <args...> (HOME=...)"
    const recordedArgs = spawnNote.replace(/\s*\(HOME=[^)]*\)\s*$/, "").split(" ").slice(2);
    const cmd = claudeAdapter.buildCommand(spec(), CLI);
    expect(cmd.args.filter((a) => a !== "--include-partial-messages")).toEqual(recordedArgs);
    expect(cmd.args).toContain("--include-partial-messages");
    expect(cmd.command).toBe(CLI);
    expect(cmd.keepStdinOpen).toBe(true);
    expect(cmd.cwd).toBe("/srv/work");
  });

  it("always has the stream-json flags", () => {
    for (const permissionMode of ["default", "auto", "bypass", "plan"] as const) {
      const { args } = claudeAdapter.buildCommand(spec({ permissionMode }), CLI);
      expect(flagValue(args, "--output-format")).toBe("stream-json");
      expect(flagValue(args, "--input-format")).toBe("stream-json");
      expect(args).toContain("--verbose");
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
    const { args } = claudeAdapter.buildCommand(spec({}, { resumeProviderSessionId: "1cdbacd9-96dc-4d45-ba51-680b4f577588" }), CLI);
    expect(flagValue(args, "--resume")).toBe("1cdbacd9-96dc-4d45-ba51-680b4f577588");
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

  it("the initial input is one stream-json user message with the prompt, as recorded", () => {
    const recorded = JSON.parse(stdinOfLog("claude-sj-allow.log").find((l) => l.includes('"type":"user"'))!) as {
      message: { content: { text: string }[] };
    };
    const prompt = recorded.message.content[0]!.text;
    const cmd = claudeAdapter.buildCommand(spec({}, { prompt }), CLI);
    expect(cmd.initialInput).toHaveLength(1);
    expect(JSON.parse(cmd.initialInput[0]!)).toEqual(recorded);

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

describe("partial messages (--include-partial-messages)", () => {
  it("text deltas become assistant_delta; other stream events produce nothing; the reducer does not double the text", () => {
    const run = claudeAdapter.startRun(spec());
    const sid = "5042a80b-7217-46dd-8b91-ef41483ec07f";
    const lines = [
      { type: "stream_event", session_id: sid, event: { type: "message_start", message: {} } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "lo" } } },
      { type: "stream_event", session_id: sid, event: { type: "content_block_stop", index: 0 } },
      { type: "assistant", session_id: sid, message: { model: "m", content: [{ type: "text", text: "Hello" }] } },
    ];
    const drafts = lines.flatMap((l) => run.parseLine(JSON.stringify(l)).events);
    expect(drafts.map((d) => d.payload.$case)).toEqual(["assistantDelta", "assistantDelta", "assistantMessage"]);
    const events = drafts.map((d, i) => ({ id: `e${i}`, runId: "r", sessionId: "s", sequence: i + 1, timestamp: new Date(), provider: "claude", kind: kindOf(d.payload), providerSessionId: sid, metadata: undefined, payload: d.payload }));
    expect(reduceEvents(events).text).toBe("Hello");
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
    ["another event type", delta({}, { type: "content_block_start" })],
    ["an event that is an array", { type: "stream_event", event: [] }],
    ["a delta that is null", { type: "stream_event", event: { type: "content_block_delta", delta: null } }],
  ];

  it.each(cases)("gives what the schema path gives: %s", (_name, json) => {
    const line = JSON.stringify(json);
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


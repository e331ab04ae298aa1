import { describe, expect, it } from "vitest";
import {
  AsmError,
  mergeRunOptions,
  type AdapterRun,
  type EventPayload,
  type ParsedLine,
  type PayloadCase,
  type PayloadOf,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { geminiAdapter } from "../../shared/src/providers/gemini/gemini-adapter.js";
import { jsonlLines, stdoutOfLog, stdinOfLog, isJson } from "../helpers/transcripts.js";

const sentMethod = (name: string, method: string): string => stdinOfLog(name).find((l) => l.includes(`"method":"${method}"`))!;


/**
 * The recordings abbreviate the long `session/new` response (`…(+152)`) inside its `models` list.
 * Cutting that list off gives the valid response the CLI really wrote (sessionId and modes intact).
 */
function repairSessionNew(line: string): string {
  if (isJson(line) || !line.includes('"result":{"sessionId"')) return line;
  const repaired = `${line.slice(0, line.indexOf(',"models":'))}}}`;
  expect(isJson(repaired), repaired.slice(0, 120)).toBe(true);
  return repaired;
}

const RECORDED_CWD = "/tmp/tmp.lQNilAt9Nn";
const BASE_ENV = { PATH: "/usr/bin:/bin", HOME: "/home/asm" };
const CLI = "/opt/gemini/bin/gemini";

function spec(options: RunOptionsInput = {}, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    prompt: "go",
    settings: mergeRunOptions({}, options),
    resumeProviderSessionId: undefined,
    baseEnv: { ...BASE_ENV },
    defaultCwd: "/srv/work",
    ...extra,
  };
}

/** An ACP run (permission mode default → interactive approvals) for a recorded log's prompt and cwd. */
function acpSpecFor(log: string): RunSpec {
  const prompt = JSON.parse(sentMethod(log, "session/prompt")) as { params: { prompt: { text: string }[] } };
  return spec({ cwd: RECORDED_CWD }, { prompt: prompt.params.prompt[0]!.text });
}

interface Fed {
  run: AdapterRun;
  lines: string[];
  perLine: ParsedLine[];
  payloads: EventPayload[];
}

function feed(run: AdapterRun, lines: readonly string[]): Fed {
  const perLine = lines.map((l) => run.parseLine(l));
  return { run, lines: [...lines], perLine, payloads: perLine.flatMap((p) => p.events.map((e) => e.payload)) };
}

function only<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C>[] {
  return payloads.filter((p) => p.$case === c).map((p) => p.value as PayloadOf<C>);
}

function single<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C> {
  const found = only(payloads, c);
  expect(found, `exactly one ${c}`).toHaveLength(1);
  return found[0]!;
}

const update = (sessionId: string, u: Record<string, unknown>): string => JSON.stringify({ jsonrpc: "2.0", method: "session/update", params: { sessionId, update: u } });

const rawOf = (line: string): ParsedLine => ({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: line } } }] });

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

const ACP_LOGS = ["gemini-acp-permission.log", "gemini-acp-cancel.log"];
const P_JSONL = ["gemini-p-text.jsonl", "gemini-p-tool-default.jsonl", "gemini-p-tool-yolo.jsonl", "gemini-p-error.jsonl"];

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: facts", () => {
  it("names the provider, binary, override and approvals", () => {
    expect(geminiAdapter.provider).toBe("gemini");
    expect(geminiAdapter.defaultBinary).toBe("gemini");
    expect(geminiAdapter.cliPathEnv).toBe("ASM_GEMINI_CLI_PATH");
    expect(geminiAdapter.supportsApprovals).toBe(true);
  });
});

describe("gemini adapter: every recorded line parses", () => {
  it.each(ACP_LOGS)("%s: every `<` line parses as-is into one ACP run; abbreviated (invalid) JSON becomes raw", (name) => {
    const lines = stdoutOfLog(name);
    expect(lines.length).toBeGreaterThan(5);
    const run = geminiAdapter.startRun(acpSpecFor(name));
    let abbreviated = 0;
    for (const line of lines) {
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      expect(Array.isArray(parsed?.events)).toBe(true);
      if (!isJson(line)) {
        abbreviated += 1;
        expect(line).toMatch(/…\(\+\d+\)/);
        expect(parsed).toEqual(rawOf(line));
      }
    }
    // session/new response and available_commands_update are abbreviated in both logs.
    expect(abbreviated).toBe(2);
  });

  it("both ACP logs back to back into one run never throw", () => {
    const run = geminiAdapter.startRun(spec());
    for (const line of [...stdoutOfLog(ACP_LOGS[0]!), ...stdoutOfLog(ACP_LOGS[1]!)].map(repairSessionNew)) {
      expect(() => run.parseLine(line)).not.toThrow();
    }
  });

  it.each(P_JSONL)("%s: every line parses in a -p run without throwing, and none becomes raw", (name) => {
    const lines = jsonlLines(name);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const run = geminiAdapter.startRun(spec({ permissionMode: "bypass" }));
    for (const line of lines) {
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      expect(parsed?.events.some((e) => e.payload.$case === "raw")).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: ACP permission transcript", () => {
  const LOG = "gemini-acp-permission.log";
  const SESSION = "fe8a0afd-828a-493a-914f-3b309aa44dcd";
  const TOOL_CALL = "run_shell_command__run_shell_command_1795240090499_0";
  const recordedPermission = (): { id: number; params: { options: unknown[]; toolCall: { content: unknown[] } } } =>
    JSON.parse(stdoutOfLog(LOG).find((l) => l.includes('"session/request_permission"'))!) as never;

  function replay(): Fed {
    const s = acpSpecFor(LOG);
    return feed(geminiAdapter.startRun(s), stdoutOfLog(LOG).map(repairSessionNew));
  }

  it("the command's initial input is the recorded initialize request", () => {
    const cmd = geminiAdapter.buildCommand(acpSpecFor(LOG), CLI);
    expect(cmd.initialInput.map((l) => JSON.parse(l) as unknown)).toEqual([JSON.parse(sentMethod(LOG, "initialize"))]);
    expect(JSON.parse(cmd.initialInput[0]!)).toEqual({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: 1, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false } },
    });
    expect(cmd.keepStdinOpen).toBe(true);
  });

  it("answers each handshake response with the next recorded request, then the prompt", () => {
    const { perLine, lines } = replay();
    const replies = perLine.map((p) => (p.reply ?? []).map((r) => JSON.parse(r) as unknown));
    const at = (needle: string): number => lines.findIndex((l) => l.includes(needle));
    expect(replies[at('"id":1,"result"')]).toEqual([JSON.parse(sentMethod(LOG, "authenticate"))]);
    expect(replies[at('"id":2,"result"')]).toEqual([JSON.parse(sentMethod(LOG, "session/new"))]);
    expect(replies[at('"id":3,"result"')]).toEqual([JSON.parse(sentMethod(LOG, "session/prompt"))]);
    expect(replies[at('"id":3,"result"')]).toEqual([
      { jsonrpc: "2.0", id: 4, method: "session/prompt", params: { sessionId: SESSION, prompt: [{ type: "text", text: "go [[scenario:tool]] [[cmd:touch made5.txt && echo ok]]" }] } },
    ]);
    // Nothing else is written back on its own: the permission answer comes from answerApproval.
    expect(replies.filter((r) => r.length > 0)).toHaveLength(3);
    expect(perLine[at('"id":3,"result"')]!.providerSessionId).toBe(SESSION);
    expect(perLine[at('"id":3,"result"')]!.events).toEqual([]);
  });

  it("yields tool use, approval request, tool result, delta, cost and result in order", () => {
    const { perLine, payloads } = replay();
    expect(payloads.map((p) => p.$case)).toEqual(["raw", "toolUse", "approvalRequested", "toolResult", "assistantDelta", "costUpdate", "result"]);

    expect(single(payloads, "toolUse")).toEqual({
      toolName: "execute",
      toolCallId: TOOL_CALL,
      input: { title: "touch made5.txt && echo ok", kind: "execute" },
    });

    const approval = single(payloads, "approvalRequested");
    expect(approval.approvalId).toMatch(/^apr_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(approval.subject).toBe("execute");
    expect(approval.toolCallId).toBe(TOOL_CALL);
    const recorded = recordedPermission();
    expect(approval.details).toEqual({
      title: "touch made5.txt && echo ok",
      options: recorded.params.options,
      content: recorded.params.toolCall.content,
      tool_input: { title: "touch made5.txt && echo ok", kind: "execute" },
    });
    expect(approval.details?.options).toEqual([
      { optionId: "proceed_always", name: "Allow for this session", kind: "allow_always" },
      { optionId: "proceed_once", name: "Allow", kind: "allow_once" },
      { optionId: "cancel", name: "Reject", kind: "reject_once" },
    ]);

    expect(single(payloads, "toolResult")).toEqual({ toolCallId: TOOL_CALL, content: "", isError: false });
    const delta = single(payloads, "assistantDelta");
    expect(delta.index).toBe(0);
    expect(delta.content).toBe('done: {"output":"<untrusted_context>\\nOutput: ok\\nProcess Group PGID: 27349\\n</untrusted_context>"}');
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    const result = single(payloads, "result");
    expect(result.status).toBe("success");
    expect(result.stopReason).toBe("end_turn");
    expect(result.text).toBe(delta.content);
    expect(result.output).toEqual({
      usage: { input_tokens: 20, output_tokens: 10 },
      model_usage: [{ model: "gemini-2.5-flash", token_count: { input_tokens: 20, output_tokens: 10 } }],
    });

    // Only the prompt response ends the turn; session lines carry the session id.
    expect(perLine.map((p) => p.turnEnded === true)).toEqual(perLine.map((_, i) => i === perLine.length - 1));
    expect(perLine[perLine.length - 1]!.providerSessionId).toBe(SESSION);
    expect(perLine.find((p) => p.events.some((e) => e.payload.$case === "approvalRequested"))!.providerSessionId).toBe(SESSION);
  });

  it("allow answers exactly as recorded: the allow_once option", () => {
    const { run, payloads } = replay();
    const { approvalId } = single(payloads, "approvalRequested");
    const answer = run.answerApproval(approvalId, true, "");
    expect(answer).toHaveLength(1);
    const recordedAnswer = stdinOfLog(LOG).find((l) => l.includes('"outcome"'))!;
    expect(JSON.parse(answer[0]!)).toEqual(JSON.parse(recordedAnswer));
    expect(JSON.parse(answer[0]!)).toEqual({ jsonrpc: "2.0", id: recordedPermission().id, result: { outcome: { outcome: "selected", optionId: "proceed_once" } } });
  });

  it("deny answers with the reject_once option (ACP carries no reason)", () => {
    const { run, payloads } = replay();
    const { approvalId } = single(payloads, "approvalRequested");
    const answer = run.answerApproval(approvalId, false, "denied by test harness");
    expect(answer.map((a) => JSON.parse(a) as unknown)).toEqual([{ jsonrpc: "2.0", id: 0, result: { outcome: { outcome: "selected", optionId: "cancel" } } }]);
  });

  it("after a deny the tool is reported not run with the next line (gemini sends no update for it)", () => {
    const lines = stdoutOfLog(LOG).map(repairSessionNew);
    const at = lines.findIndex((l) => l.includes('"session/request_permission"'));
    const { run, payloads } = feed(geminiAdapter.startRun(acpSpecFor(LOG)), lines.slice(0, at + 1));
    run.answerApproval(single(payloads, "approvalRequested").approvalId, false, "not allowed by policy");
    const next = run.parseLine(update(SESSION, { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "ok, I will not" } }));
    expect(next.events.map((e) => e.payload)).toEqual([
      { $case: "toolResult", value: { toolCallId: TOOL_CALL, content: "denied: not allowed by policy", isError: true } },
      { $case: "assistantDelta", value: { content: "ok, I will not", index: 0 } },
    ]);
    // Reported once; a later update for the same call would not repeat it.
    const later = lines[at + 1]!;
    expect(later).toContain('"tool_call_update"');
    expect(run.parseLine(later)).toEqual({ ...rawOf(later), providerSessionId: SESSION });
  });

  it("an allow adds nothing: the CLI's own update reports the tool", () => {
    const lines = stdoutOfLog(LOG).map(repairSessionNew);
    const at = lines.findIndex((l) => l.includes('"session/request_permission"'));
    const { run, payloads } = feed(geminiAdapter.startRun(acpSpecFor(LOG)), lines.slice(0, at + 1));
    run.answerApproval(single(payloads, "approvalRequested").approvalId, true, "");
    expect(run.parseLine(lines[at + 1]!).events.map((e) => e.payload)).toEqual([{ $case: "toolResult", value: { toolCallId: TOOL_CALL, content: "", isError: false } }]);
  });

  it("interrupt while asking: session/cancel, then a cancelled outcome for the pending permission", () => {
    const lines = stdoutOfLog(LOG).map(repairSessionNew);
    const at = lines.findIndex((l) => l.includes('"session/request_permission"'));
    const { run, payloads } = feed(geminiAdapter.startRun(acpSpecFor(LOG)), lines.slice(0, at + 1));
    const { approvalId } = single(payloads, "approvalRequested");
    expect(run.interrupt()?.map((l) => JSON.parse(l) as unknown)).toEqual([
      { jsonrpc: "2.0", method: "session/cancel", params: { sessionId: SESSION } },
      { jsonrpc: "2.0", id: 0, result: { outcome: { outcome: "cancelled" } } },
    ]);
    // Already answered by the interrupt.
    expect(run.answerApproval(approvalId, true, "")).toEqual([]);
    const end = run.parseLine('{"jsonrpc":"2.0","id":4,"result":{"stopReason":"cancelled"}}');
    expect(end.turnEnded).toBe(true);
    const endPayloads = end.events.map((e) => e.payload);
    expect(endPayloads.map((p) => p.$case)).toEqual(["toolResult", "error"]);
    expect(single(endPayloads, "toolResult")).toEqual({ toolCallId: TOOL_CALL, content: "cancelled: the run was interrupted", isError: true });
    expect(single(endPayloads, "error").error?.kind).toBe("user_cancelled");
  });

  it("an approval is answered once; unknown approval ids produce nothing", () => {
    const { run, payloads } = replay();
    const { approvalId } = single(payloads, "approvalRequested");
    expect(run.answerApproval("apr_unknown", true, "")).toEqual([]);
    expect(run.answerApproval(approvalId, true, "")).toHaveLength(1);
    expect(run.answerApproval(approvalId, false, "")).toEqual([]);
  });

  it("approval ids are fresh for every request, even when the CLI reuses its JSON-RPC id", () => {
    const permission = stdoutOfLog(LOG).find((l) => l.includes('"session/request_permission"'))!;
    const ids = [geminiAdapter.startRun(spec()), geminiAdapter.startRun(spec())].flatMap((run) =>
      [permission, permission].map((l) => single(run.parseLine(l).events.map((e) => e.payload), "approvalRequested").approvalId),
    );
    expect(new Set(ids).size).toBe(4);
  });

  it("options without a *_once kind fall back to any allow/reject option, else a cancelled outcome", () => {
    const run = geminiAdapter.startRun(spec());
    const ask = (id: number, options: unknown[]): string =>
      single(
        run.parseLine(JSON.stringify({ jsonrpc: "2.0", id, method: "session/request_permission", params: { sessionId: "s", options, toolCall: { toolCallId: `t${id}`, title: "edit x" } } })).events.map((e) => e.payload),
        "approvalRequested",
      ).approvalId;
    const a = ask(1, [{ optionId: "always", kind: "allow_always" }, { optionId: "never", kind: "reject_always" }]);
    expect(JSON.parse(run.answerApproval(a, true, "")[0]!)).toEqual({ jsonrpc: "2.0", id: 1, result: { outcome: { outcome: "selected", optionId: "always" } } });
    const b = ask(2, [{ optionId: "always", kind: "allow_always" }, { optionId: "never", kind: "reject_always" }]);
    expect(JSON.parse(run.answerApproval(b, false, "")[0]!)).toEqual({ jsonrpc: "2.0", id: 2, result: { outcome: { outcome: "selected", optionId: "never" } } });
    const c = ask(3, [{ optionId: "always", kind: "allow_always" }]);
    expect(JSON.parse(run.answerApproval(c, false, "")[0]!)).toEqual({ jsonrpc: "2.0", id: 3, result: { outcome: { outcome: "cancelled" } } });
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: ACP cancel transcript", () => {
  const LOG = "gemini-acp-cancel.log";
  const SESSION = "27a63e66-bdad-41db-8d1a-21fe60619d8e";

  it("streams deltas; interrupt() is the recorded session/cancel; cancelled ends the turn with user_cancelled", () => {
    const run = geminiAdapter.startRun(acpSpecFor(LOG));
    const lines = stdoutOfLog(LOG).map(repairSessionNew);
    const cancelledAt = lines.findIndex((l) => l.includes('"stopReason":"cancelled"'));
    expect(cancelledAt).toBeGreaterThan(0);

    const first = feed(run, lines.slice(0, cancelledAt));
    const interrupt = run.interrupt();
    expect(interrupt?.map((l) => JSON.parse(l) as unknown)).toEqual([JSON.parse(sentMethod(LOG, "session/cancel"))]);
    expect(JSON.parse(interrupt![0]!)).toEqual({ jsonrpc: "2.0", method: "session/cancel", params: { sessionId: SESSION } });

    expect(first.payloads.map((p) => p.$case)).toEqual(["raw", "assistantDelta", "assistantDelta", "assistantDelta", "assistantDelta", "assistantDelta"]);
    const deltas = only(first.payloads, "assistantDelta");
    expect(deltas.map((d) => d.content).join("")).toBe("w0 w1 w2 w3 w4");
    // index is the content block (as for claude): one streamed text block.
    expect(deltas.map((d) => d.index)).toEqual([0, 0, 0, 0, 0]);
    expect(first.perLine.some((p) => p.turnEnded)).toBe(false);

    const cancelled = run.parseLine(lines[cancelledAt]!);
    expect(cancelled.turnEnded).toBe(true);
    expect(cancelled.providerSessionId).toBe(SESSION);
    const payloads = cancelled.events.map((e) => e.payload);
    expect(payloads.map((p) => p.$case)).toEqual(["error"]);
    const error = single(payloads, "error").error!;
    expect(error.kind).toBe("user_cancelled");
    expect(error.domain).toBe("runtime");
    expect(error.retryable).toBe(false);
    expect(AsmError.fromMessage(error).kind).toBe("user_cancelled");

    // The turn is over: no protocol interrupt any more.
    expect(run.interrupt()).toBeUndefined();

    // The recording then sent a 2nd prompt (id 5) itself, which this run never sent: its
    // streamed text is still mapped, and the response to an id asm never used stays raw.
    const rest = lines.slice(cancelledAt + 1);
    const after = feed(run, rest);
    expect(after.payloads.map((p) => p.$case)).toEqual(["assistantDelta", "raw"]);
    expect(after.perLine[1]).toEqual(rawOf(rest[1]!));
    expect(after.perLine.some((p) => p.turnEnded)).toBe(false);
  });

  it("an interrupt before the prompt is sent has no protocol message (signals), and the prompt is never sent", () => {
    const run = geminiAdapter.startRun(acpSpecFor(LOG));
    const lines = stdoutOfLog(LOG).map(repairSessionNew);
    run.parseLine(lines[0]!);
    run.parseLine(lines[1]!);
    expect(run.interrupt()).toBeUndefined();
    const created = run.parseLine(lines[2]!);
    expect(created.reply).toBeUndefined();
    expect(created.turnEnded).toBe(true);
    expect(created.providerSessionId).toBe(SESSION);
    expect(single(created.events.map((e) => e.payload), "error").error?.kind).toBe("user_cancelled");
  });
});

// ---------------------------------------------------------------------------------------------

/** An ACP run driven through the recorded handshake until its session/prompt (id 4) is in flight. */
function acpAtPrompt(options: RunOptionsInput = {}): { run: AdapterRun; session: string } {
  const run = geminiAdapter.startRun(spec(options));
  const handshake = stdoutOfLog("gemini-acp-permission.log").slice(0, 3).map(repairSessionNew);
  const replies = handshake.flatMap((l) => run.parseLine(l).reply ?? []);
  expect(replies.map((r) => (JSON.parse(r) as { method: string }).method)).toEqual(["authenticate", "session/new", "session/prompt"]);
  return { run, session: "fe8a0afd-828a-493a-914f-3b309aa44dcd" };
}

describe("gemini adapter: ACP errors", () => {
  function terminalError(line: string, run: AdapterRun): NonNullable<PayloadOf<"error">["error"]> {
    const parsed = run.parseLine(line);
    expect(parsed.turnEnded).toBe(true);
    const payloads = parsed.events.map((e) => e.payload);
    expect(payloads.map((p) => p.$case)).toEqual(["error"]);
    return single(payloads, "error").error!;
  }

  it("a failed authenticate (-32000) is auth_error", () => {
    const run = geminiAdapter.startRun(spec());
    run.parseLine(stdoutOfLog("gemini-acp-permission.log")[0]!);
    const error = terminalError('{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"Gemini API key is missing or not configured."}}', run);
    expect(error.kind).toBe("auth_error");
    expect(error.provider).toBe("gemini");
    expect(error.reasonCode).toBe("authenticate_failed");
    expect(error.message).toContain("Gemini API key is missing");
    expect(error.details).toMatchObject({ method: "authenticate", rpc_code: -32000 });
  });

  it("a failed initialize is a provider_error naming the method", () => {
    const run = geminiAdapter.startRun(spec());
    const error = terminalError('{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":{"details":"boom"}}}', run);
    expect(error.kind).toBe("provider_error");
    expect(error.reasonCode).toBe("initialize_failed");
    expect(error.message).toBe('Internal error: {"details":"boom"}');
  });

  it("session/new refused for auth (-32000) is auth_error", () => {
    const run = geminiAdapter.startRun(spec());
    const handshake = stdoutOfLog("gemini-acp-permission.log").slice(0, 2);
    for (const l of handshake) run.parseLine(l);
    const error = terminalError('{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"Authentication required."}}', run);
    expect(error.kind).toBe("auth_error");
    expect(error.reasonCode).toBe("session_new_failed");
  });

  it.each([
    ['{"code":429,"message":"Rate limit exceeded. Try again later."}', "rate_limit", 429],
    ['{"code":401,"message":"API key not valid. Please pass a valid API key."}', "auth_error", 401],
    ['{"code":403,"message":"The caller does not have permission"}', "auth_error", 403],
    ['{"code":400,"message":"mock 400"}', "provider_error", 400],
    ['{"code":500,"message":"Unknown stream execution error."}', "provider_error", 500],
    ['{"code":-32603,"message":"Internal error","data":{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}}', "rate_limit", 429],
    ['{"code":-32603,"message":"Internal error","data":{"details":"No previous sessions found for this project."}}', "provider_error", null],
  ] as const)("session/prompt error %s → %s", (errorJson, kind, http) => {
    const { run } = acpAtPrompt();
    const error = terminalError(`{"jsonrpc":"2.0","id":4,"error":${errorJson}}`, run);
    expect(error.kind).toBe(kind);
    expect(error.reasonCode).toBe("session_prompt_failed");
    expect(error.details).toMatchObject({ method: "session/prompt", http_status: http });
    expect(error.retryable).toBe(kind === "rate_limit");
    expect(run.interrupt()).toBeUndefined();
  });

  it("an error response to an id asm never used stays raw and ends nothing", () => {
    const { run } = acpAtPrompt();
    const line = '{"jsonrpc":"2.0","id":99,"error":{"code":-32603,"message":"Internal error"}}';
    expect(run.parseLine(line)).toEqual(rawOf(line));
    const nullId = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}';
    expect(run.parseLine(nullId)).toEqual(rawOf(nullId));
  });

  it("a session/new response without a session id ends the run", () => {
    const run = geminiAdapter.startRun(spec());
    for (const l of stdoutOfLog("gemini-acp-permission.log").slice(0, 2)) run.parseLine(l);
    const parsed = run.parseLine('{"jsonrpc":"2.0","id":3,"result":{}}');
    expect(parsed.turnEnded).toBe(true);
    expect(parsed.reply).toBeUndefined();
    expect(single(parsed.events.map((e) => e.payload), "error").error?.reasonCode).toBe("session_new_failed");
  });
});

describe("gemini adapter: ACP requests and updates", () => {
  it("requests asm cannot serve get a JSON-RPC error reply and a raw event", () => {
    const { run } = acpAtPrompt();
    const line = '{"jsonrpc":"2.0","id":7,"method":"fs/read_text_file","params":{"sessionId":"s","path":"/etc/hosts"}}';
    const parsed = run.parseLine(line);
    expect(parsed.events).toEqual(rawOf(line).events);
    expect(parsed.reply?.map((r) => JSON.parse(r) as unknown)).toEqual([{ jsonrpc: "2.0", id: 7, error: { code: -32601, message: "asm does not implement fs/read_text_file" } }]);
  });

  it("a permission request asm cannot read is refused (the CLI is never left waiting)", () => {
    const { run } = acpAtPrompt();
    const line = '{"jsonrpc":"2.0","id":"p1","method":"session/request_permission","params":{"sessionId":"s"}}';
    const parsed = run.parseLine(line);
    expect(parsed.events).toEqual(rawOf(line).events);
    expect(parsed.reply?.map((r) => JSON.parse(r) as unknown)).toEqual([{ jsonrpc: "2.0", id: "p1", error: { code: -32602, message: "asm could not read this session/request_permission" } }]);
  });

  it("thought chunks are thinking; user chunks are user messages", () => {
    const { run, session } = acpAtPrompt();
    expect(run.parseLine(update(session, { sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "**Plan**\nthink" } })).events.map((e) => e.payload)).toEqual([
      { $case: "thinking", value: { content: "**Plan**\nthink", signature: "" } },
    ]);
    expect(run.parseLine(update(session, { sessionUpdate: "user_message_chunk", content: { type: "text", text: "earlier" } })).events.map((e) => e.payload)).toEqual([
      { $case: "userMessage", value: { text: "earlier", content: [{ type: "text", text: "earlier" }] } },
    ]);
  });

  it("tool_call → toolUse; completed/failed updates → toolResult; a later permission request does not repeat the toolUse", () => {
    const { run, session } = acpAtPrompt();
    const call = run.parseLine(
      update(session, { sessionUpdate: "tool_call", toolCallId: "read_file_1", status: "in_progress", title: "README.md", kind: "read", content: [], locations: [{ path: "/w/README.md" }] }),
    );
    expect(call.providerSessionId).toBe(session);
    expect(call.events.map((e) => e.payload)).toEqual([
      { $case: "toolUse", value: { toolName: "read", toolCallId: "read_file_1", input: { title: "README.md", kind: "read", locations: [{ path: "/w/README.md" }] } } },
    ]);
    const permission = run.parseLine(
      JSON.stringify({ jsonrpc: "2.0", id: 5, method: "session/request_permission", params: { sessionId: session, options: [], toolCall: { toolCallId: "read_file_1", title: "README.md", kind: "read" } } }),
    );
    expect(permission.events.map((e) => e.payload.$case)).toEqual(["approvalRequested"]);

    const progress = update(session, { sessionUpdate: "tool_call_update", toolCallId: "read_file_1", status: "in_progress" });
    expect(run.parseLine(progress)).toEqual({ ...rawOf(progress), providerSessionId: session });

    const done = run.parseLine(update(session, { sessionUpdate: "tool_call_update", toolCallId: "read_file_1", status: "completed", content: [{ type: "content", content: { type: "text", text: "# Title" } }] }));
    expect(done.events.map((e) => e.payload)).toEqual([{ $case: "toolResult", value: { toolCallId: "read_file_1", content: "# Title", isError: false } }]);

    const failed = run.parseLine(update(session, { sessionUpdate: "tool_call_update", toolCallId: "w1", status: "failed", content: [{ type: "content", content: { type: "text", text: "EACCES" } }] }));
    expect(failed.events.map((e) => e.payload)).toEqual([{ $case: "toolResult", value: { toolCallId: "w1", content: "EACCES", isError: true } }]);

    const diff = run.parseLine(update(session, { sessionUpdate: "tool_call_update", toolCallId: "e1", status: "completed", content: [{ type: "diff", path: "/w/a", oldText: "a", newText: "b" }] }));
    expect(single(diff.events.map((e) => e.payload), "toolResult").content).toBe('{"type":"diff","path":"/w/a","oldText":"a","newText":"b"}');
  });

  it.each([
    { sessionUpdate: "available_commands_update", availableCommands: [] },
    { sessionUpdate: "plan", entries: [] },
    { sessionUpdate: "current_mode_update", currentModeId: "yolo" },
    { sessionUpdate: "agent_message_chunk", content: { type: "image", data: "…", mimeType: "image/png" } },
    { sessionUpdate: "tool_call", title: "no id" },
  ])("unmapped update %j stays raw (with the session id)", (u) => {
    const { run, session } = acpAtPrompt();
    const line = update(session, u);
    expect(run.parseLine(line)).toEqual({ ...rawOf(line), providerSessionId: session });
  });

  it("an update for another session stays raw", () => {
    const { run } = acpAtPrompt();
    const line = update("someone-else", { sessionUpdate: "agent_message_chunk", content: { type: "text", text: "x" } });
    expect(run.parseLine(line)).toEqual(rawOf(line));
  });

  it.each([
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    "42",
    '"a string"',
    '{"jsonrpc":"2.0"}',
    '{"jsonrpc":"2.0","method":"session/update"}',
    '{"jsonrpc":"2.0","method":"session/update","params":{"update":{}}}',
    '{"jsonrpc":"2.0","method":"some/notification","params":{}}',
    '{"jsonrpc":"2.0","id":{},"result":{}}',
    '{"jsonrpc":"2.0","id":4,"result":{"stopReason":',
  ])("%j becomes raw with the original line", (line) => {
    const { run } = acpAtPrompt();
    expect(run.parseLine(line)).toEqual(rawOf(line));
  });

  it("other stop reasons are results carrying the reason", () => {
    const { run } = acpAtPrompt();
    const parsed = run.parseLine('{"jsonrpc":"2.0","id":4,"result":{"stopReason":"max_turn_requests"}}');
    expect(parsed.turnEnded).toBe(true);
    expect(parsed.events.map((e) => e.payload.$case)).toEqual(["result"]);
    expect(single(parsed.events.map((e) => e.payload), "result")).toMatchObject({ status: "success", stopReason: "max_turn_requests", text: "" });
  });

  it("the auth_method option picks the authenticate method", () => {
    const run = geminiAdapter.startRun(spec({ providerOptions: { auth_method: "oauth-personal" } }));
    const reply = run.parseLine(stdoutOfLog("gemini-acp-permission.log")[0]!).reply!;
    expect(JSON.parse(reply[0]!)).toEqual({ jsonrpc: "2.0", id: 2, method: "authenticate", params: { methodId: "oauth-personal" } });
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: -p transcripts", () => {
  const pRun = (): AdapterRun => geminiAdapter.startRun(spec({ permissionMode: "bypass" }));

  it("text: init reveals the session; user message, delta, cost and result follow", () => {
    const SESSION = "452f74cb-0bad-46f7-b3e3-cfef81bcc500";
    const { perLine, payloads } = feed(pRun(), jsonlLines("gemini-p-text.jsonl"));
    expect(perLine[0]).toEqual({ events: [], providerSessionId: SESSION });
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "assistantDelta", "costUpdate", "result"]);
    expect(single(payloads, "userMessage")).toEqual({ text: "hi", content: ["hi"] });
    expect(single(payloads, "assistantDelta")).toEqual({ content: "Hello from mock", index: 0 });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0 });
    const result = single(payloads, "result");
    expect(result.status).toBe("success");
    expect(result.stopReason).toBe("end_turn");
    expect(result.text).toBe("Hello from mock");
    expect(result.output).toEqual({
      duration_ms: 53,
      tool_calls: 0,
      usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15, cached: 0 },
      models: { "gemini-2.5-flash": { total_tokens: 15, input_tokens: 10, output_tokens: 5, cached: 0, input: 10 } },
    });
    expect(perLine.map((p) => p.providerSessionId)).toEqual([SESSION, SESSION, SESSION, SESSION]);
    expect(perLine.map((p) => p.turnEnded === true)).toEqual([false, false, false, true]);
  });

  it("yolo tool: tool use and successful tool result", () => {
    const { payloads } = feed(pRun(), jsonlLines("gemini-p-tool-yolo.jsonl"));
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "toolUse", "toolResult", "assistantDelta", "costUpdate", "result"]);
    const id = "run_shell_command__run_shell_command_1795240086985_0";
    expect(single(payloads, "toolUse")).toEqual({ toolName: "run_shell_command", toolCallId: id, input: { command: "touch made.txt && echo ok", description: "mock command" } });
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: id, content: "ok", isError: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(payloads, "result").output).toMatchObject({ tool_calls: 1, duration_ms: 112 });
  });

  it("default-mode tool: the unregistered tool's result is an error", () => {
    const { payloads } = feed(pRun(), jsonlLines("gemini-p-tool-default.jsonl"));
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "toolUse", "toolResult", "assistantDelta", "costUpdate", "result"]);
    const toolResult = single(payloads, "toolResult");
    expect(toolResult.isError).toBe(true);
    expect(toolResult.content).toBe('Tool "run_shell_command" not found. Did you mean one of: "update_topic", "grep_search", "invoke_agent"?');
  });

  it("API error 400: a typed provider_error ends the turn", () => {
    const { perLine, payloads } = feed(pRun(), jsonlLines("gemini-p-error.jsonl"));
    expect(payloads.map((p) => p.$case)).toEqual(["userMessage", "costUpdate", "error"]);
    const error = single(payloads, "error").error!;
    expect(error.kind).toBe("provider_error");
    expect(error.domain).toBe("provider");
    expect(error.provider).toBe("gemini");
    expect(error.reasonCode).toBe("api_error");
    expect(error.message).toBe("gemini API error 400 INVALID_ARGUMENT: mock 400");
    expect(error.details).toMatchObject({ http_status: 400, api_status: "INVALID_ARGUMENT", status: "error", error_type: "unknown" });
    expect(error.details?.cli_message).toContain("[API Error:");
    expect(perLine[perLine.length - 1]!.turnEnded).toBe(true);
    expect(perLine[perLine.length - 1]!.providerSessionId).toBe("dba78bdd-fced-41e3-b231-445806ab08c6");
  });

  it("has no protocol interrupt and no approvals", () => {
    const run = pRun();
    expect(run.interrupt()).toBeUndefined();
    expect(run.answerApproval("apr_x", true, "")).toEqual([]);
  });
});

describe("gemini adapter: -p error classification", () => {
  const apiError = (code: number, status: string): string =>
    `[API Error: ${JSON.stringify({ error: { code, message: `mock ${code}`, status } })}]`;
  const resultLine = (error: Record<string, unknown> | undefined): string => JSON.stringify({ type: "result", status: "error", ...(error ? { error } : {}) });

  it.each([
    [{ type: "unknown", message: apiError(401, "UNAUTHENTICATED") }, "auth_error", "api_error"],
    [{ type: "unknown", message: apiError(403, "PERMISSION_DENIED") }, "auth_error", "api_error"],
    [{ type: "unknown", message: apiError(429, "RESOURCE_EXHAUSTED") }, "rate_limit", "api_error"],
    [{ type: "unknown", message: apiError(500, "INTERNAL") }, "provider_error", "api_error"],
    [{ type: "unknown", message: "[API Error: mock 429]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method" }, "rate_limit", "api_error"],
    [{ type: "unknown", message: "[API Error: Too many (Status: RESOURCE_EXHAUSTED)]" }, "rate_limit", "api_error"],
    [{ type: "FatalAuthenticationError", message: "Invalid auth method selected." }, "auth_error", "FatalAuthenticationError"],
    [{ type: "FatalCancellationError", message: "Operation cancelled." }, "user_cancelled", "FatalCancellationError"],
    [{ type: "FatalTurnLimitedError", message: "Reached max session turns" }, "provider_error", "FatalTurnLimitedError"],
    [{ type: "unknown", message: "[API Error: exception TypeError: fetch failed sending request]" }, "provider_error", "api_error"],
  ] as const)("%j → %s", (error, kind, reasonCode) => {
    const run = geminiAdapter.startRun(spec({ permissionMode: "auto" }));
    const parsed = run.parseLine(resultLine(error));
    expect(parsed.turnEnded).toBe(true);
    const e = single(parsed.events.map((ev) => ev.payload), "error").error!;
    expect(e.kind).toBe(kind);
    expect(e.reasonCode).toBe(reasonCode);
  });

  it("error lines are raw and not terminal; a bare failed result takes the last error's message", () => {
    const run = geminiAdapter.startRun(spec({ permissionMode: "auto" }));
    const warning = '{"type":"error","severity":"warning","message":"slow response"}';
    const fatal = '{"type":"error","severity":"error","message":"Maximum session turns exceeded"}';
    expect(run.parseLine(warning)).toEqual(rawOf(warning));
    const second = run.parseLine(fatal);
    expect(second).toEqual(rawOf(fatal));
    expect(second.turnEnded).toBeUndefined();
    const end = run.parseLine(resultLine(undefined));
    const e = single(end.events.map((ev) => ev.payload), "error").error!;
    expect(e.kind).toBe("provider_error");
    expect(e.message).toBe("Maximum session turns exceeded");
    expect(end.turnEnded).toBe(true);
  });

  it.each([
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    '{"type":"mystery"}',
    '{"no_type":true}',
    '{"type":"init"}',
    '{"type":"message","role":"system","content":"x"}',
    '{"type":"tool_use","tool_name":"x"}',
    '{"type":"tool_result","status":"success"}',
    '{"type":"result"}',
    '{"type":"result","status":"success","stats":"bad"}',
    '{"type":"message","role":"assistant","content":"trunc',
  ])("%j becomes raw with the original line", (line) => {
    const run = geminiAdapter.startRun(spec({ permissionMode: "auto" }));
    expect(run.parseLine(line)).toEqual(rawOf(line));
  });

  it("a non-delta assistant message is a complete message", () => {
    const run = geminiAdapter.startRun(spec({ permissionMode: "auto" }));
    expect(run.parseLine('{"type":"message","role":"assistant","content":"whole"}').events.map((e) => e.payload)).toEqual([
      { $case: "assistantMessage", value: { text: "whole", model: "", content: [{ type: "text", text: "whole" }], aborted: false } },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: buildCommand", () => {
  it("default mode → ACP: exact argv, stdin kept open, one initialize line", () => {
    const cmd = geminiAdapter.buildCommand(spec(), CLI);
    expect(cmd.command).toBe(CLI);
    expect(cmd.args).toEqual(["--acp", "--skip-trust", "--approval-mode", "default"]);
    expect(cmd.cwd).toBe("/srv/work");
    expect(cmd.keepStdinOpen).toBe(true);
    expect(cmd.initialInput).toHaveLength(1);
    expect((JSON.parse(cmd.initialInput[0]!) as { method: string }).method).toBe("initialize");
    expect(cmd.args.join(" ")).not.toContain("go");
  });

  it("auto mode → one-shot: exact argv, stdin closed, no input", () => {
    const cmd = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI);
    expect(cmd.args).toEqual(["--prompt=go", "--output-format", "stream-json", "--skip-trust", "--approval-mode", "auto_edit"]);
    expect(cmd.keepStdinOpen).toBe(false);
    expect(cmd.initialInput).toEqual([]);
  });

  it.each([
    ["default", undefined, true, "default"],
    ["auto", undefined, false, "auto_edit"],
    ["bypass", undefined, false, "yolo"],
    ["plan", undefined, false, "plan"],
    ["auto", true, true, "auto_edit"],
    ["bypass", true, true, "yolo"],
    ["plan", true, true, "plan"],
    ["default", false, false, "default"],
  ] as const)("permission mode %s (interactiveApprovals %s) → ACP %s, --approval-mode %s", (permissionMode, interactiveApprovals, acp, flag) => {
    const s = spec({ permissionMode, ...(interactiveApprovals === undefined ? {} : { interactiveApprovals }) });
    const { args, keepStdinOpen, initialInput } = geminiAdapter.buildCommand(s, CLI);
    expect(flagValue(args, "--approval-mode")).toBe(flag);
    expect(args.filter((a) => a === "--approval-mode")).toHaveLength(1);
    expect(args).toContain("--skip-trust");
    expect(args.includes("--acp")).toBe(acp);
    expect(args.some((a) => a.startsWith("--prompt="))).toBe(!acp);
    expect(args.includes("stream-json")).toBe(!acp);
    expect(keepStdinOpen).toBe(acp);
    expect(initialInput).toHaveLength(acp ? 1 : 0);
    // startRun makes the same choice: only the ACP run answers an initialize response.
    const reply = geminiAdapter.startRun(s).parseLine(stdoutOfLog("gemini-acp-permission.log")[0]!).reply;
    expect(reply !== undefined).toBe(acp);
  });

  it("-m only when a model is set, in both modes", () => {
    expect(geminiAdapter.buildCommand(spec(), CLI).args).not.toContain("-m");
    expect(geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI).args).not.toContain("-m");
    expect(flagValue(geminiAdapter.buildCommand(spec({ model: "gemini-2.5-flash" }), CLI).args, "-m")).toBe("gemini-2.5-flash");
    expect(flagValue(geminiAdapter.buildCommand(spec({ model: "gemini-2.5-flash", permissionMode: "bypass" }), CLI).args, "-m")).toBe("gemini-2.5-flash");
  });

  it("--resume in one-shot mode only; ACP starts a new session (session/load is broken)", () => {
    const id = "452f74cb-0bad-46f7-b3e3-cfef81bcc500";
    const oneShot = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }, { resumeProviderSessionId: id }), CLI);
    expect(flagValue(oneShot.args, "--resume")).toBe(id);
    expect(geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI).args).not.toContain("--resume");

    const acpSpec = spec({}, { resumeProviderSessionId: id });
    const acp = geminiAdapter.buildCommand(acpSpec, CLI);
    expect(acp.args).not.toContain("--resume");
    expect(acp.initialInput.map((l) => (JSON.parse(l) as { method: string }).method)).toEqual(["initialize"]);
    const run = geminiAdapter.startRun(acpSpec);
    const replies = stdoutOfLog("gemini-acp-permission.log")
      .slice(0, 2)
      .flatMap((l) => run.parseLine(l).reply ?? []);
    expect(replies.map((r) => (JSON.parse(r) as { method: string }).method)).toEqual(["authenticate", "session/new"]);
  });

  it("the prompt is one argv element, safe when it starts with a dash or spans lines", () => {
    for (const prompt of ["-x hello", "--model foo", 'line one\nline "two"', "a=b --c"]) {
      const { args } = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }, { prompt }), CLI);
      expect(args[0]).toBe(`--prompt=${prompt}`);
      expect(args.filter((a) => a.includes(prompt))).toHaveLength(1);
    }
  });

  it("the ACP prompt travels in session/prompt, not argv", () => {
    const s = spec({}, { prompt: 'multi\nline "quoted"' });
    expect(geminiAdapter.buildCommand(s, CLI).args.some((a) => a.includes("multi"))).toBe(false);
    const { run } = { run: geminiAdapter.startRun(s) };
    const replies = stdoutOfLog("gemini-acp-permission.log").slice(0, 3).map(repairSessionNew).flatMap((l) => run.parseLine(l).reply ?? []);
    const prompt = JSON.parse(replies[2]!) as { params: { prompt: unknown } };
    expect(prompt.params.prompt).toEqual([{ type: "text", text: 'multi\nline "quoted"' }]);
    expect(replies[2]).not.toContain("\n");
  });

  it("session/new uses the run's cwd (settings, else the default)", () => {
    const newSession = (s: RunSpec): unknown => {
      const run = geminiAdapter.startRun(s);
      const replies = stdoutOfLog("gemini-acp-permission.log").slice(0, 2).flatMap((l) => run.parseLine(l).reply ?? []);
      return (JSON.parse(replies[1]!) as { params: unknown }).params;
    };
    expect(newSession(spec())).toEqual({ cwd: "/srv/work", mcpServers: [] });
    expect(newSession(spec({ cwd: "/tmp/project" }))).toEqual({ cwd: "/tmp/project", mcpServers: [] });
    expect(geminiAdapter.buildCommand(spec({ cwd: "/tmp/project" }), CLI).cwd).toBe("/tmp/project");
  });

  it("provider options map to flags in both modes", () => {
    for (const permissionMode of ["default", "auto"] as const) {
      const { args } = geminiAdapter.buildCommand(spec({ permissionMode, providerOptions: { extensions: ["conductor", "security"], include_directories: ["/srv/lib", "../docs"] } }), CLI);
      expect(flagValue(args, "--extensions")).toBe("conductor,security");
      expect(flagValue(args, "--include-directories")).toBe("/srv/lib,../docs");
    }
    expect(flagValue(geminiAdapter.buildCommand(spec({ providerOptions: { extensions: [] } }), CLI).args, "--extensions")).toBe("none");
    const plain = geminiAdapter.buildCommand(spec({ providerOptions: { include_directories: [] } }), CLI).args;
    expect(plain).not.toContain("--extensions");
    expect(plain).not.toContain("--include-directories");
  });

  it("env is baseEnv + settings.env + GEMINI_CLI_NO_RELAUNCH=true, nothing from process.env", () => {
    process.env.ASM_TEST_SHOULD_NOT_LEAK = "leak";
    try {
      for (const permissionMode of ["default", "bypass"] as const) {
        const cmd = geminiAdapter.buildCommand(spec({ permissionMode, env: { GEMINI_API_KEY: "k", PATH: "/custom/bin" } }), CLI);
        expect(cmd.env).toEqual({ PATH: "/custom/bin", HOME: "/home/asm", GEMINI_API_KEY: "k", GEMINI_CLI_NO_RELAUNCH: "true" });
      }
    } finally {
      delete process.env.ASM_TEST_SHOULD_NOT_LEAK;
    }
  });

  it("GEMINI_CLI_NO_RELAUNCH cannot be turned off (the relauncher ignores signals)", () => {
    const cmd = geminiAdapter.buildCommand(spec({ env: { GEMINI_CLI_NO_RELAUNCH: "false" } }), CLI);
    expect(cmd.env.GEMINI_CLI_NO_RELAUNCH).toBe("true");
  });
});

describe("gemini adapter: validate", () => {
  function validationError(providerOptions: Record<string, unknown>): AsmError {
    try {
      geminiAdapter.validate(mergeRunOptions({}, { providerOptions }), "options.defaults");
    } catch (e) {
      expect(e).toBeInstanceOf(AsmError);
      return e as AsmError;
    }
    throw new Error("expected validate to throw");
  }

  it("accepts known provider options", () => {
    expect(() =>
      geminiAdapter.validate(mergeRunOptions({}, { providerOptions: { extensions: ["a"], include_directories: ["/x"], auth_method: "vertex-ai" } }), "options"),
    ).not.toThrow();
    expect(() => geminiAdapter.validate(mergeRunOptions({}, {}), "options")).not.toThrow();
  });

  it.each([
    [{ extensions: "a,b" }, "options.defaults.provider_options.extensions"],
    [{ extensions: ["a,b"] }, "options.defaults.provider_options.extensions[0]"],
    [{ include_directories: ["/ok", ""] }, "options.defaults.provider_options.include_directories[1]"],
    [{ auth_method: "api-key" }, "options.defaults.provider_options.auth_method"],
    [{ includeDirectories: ["/x"] }, "options.defaults.provider_options.includeDirectories"],
  ])("rejects %j naming %s", (providerOptions, field) => {
    const err = validationError(providerOptions);
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe(field);
  });
});

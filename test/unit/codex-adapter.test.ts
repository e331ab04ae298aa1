import { describe, expect, it } from "vitest";
import {
  ApprovalDecision,
  AsmError,
  kindOf,
  mergeRunOptions,
  reduceEvents,
  RunStatus,
  type AdapterRun,
  type Event,
  type EventPayload,
  type ParsedLine,
  type PayloadCase,
  type PayloadOf,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { codexAdapter, codexMode } from "../../shared/src/providers/codex/codex-adapter.js";
import { jsonlLines, logLines, stdoutOfLog, stdinOfLog, isJson } from "../helpers/transcripts.js";



const json = (line: string): Record<string, any> => JSON.parse(line) as Record<string, any>;

const BASE_ENV = { PATH: "/usr/bin:/bin", HOME: "/home/asm" };

function spec(options: RunOptionsInput = {}, extra: Partial<RunSpec> = {}): RunSpec {
  return {
    prompt: "go",
    settings: mergeRunOptions({}, options),
    resumeProviderSessionId: undefined,
    baseEnv: BASE_ENV,
    defaultCwd: "/srv/work",
    ...extra,
  };
}

const payloadsOf = (parsed: readonly ParsedLine[]): EventPayload[] => parsed.flatMap((p) => p.events.map((e) => e.payload));

function only<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C>[] {
  return payloads.filter((p) => p.$case === c).map((p) => p.value as PayloadOf<C>);
}

function single<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C> {
  const found = only(payloads, c);
  expect(found, `exactly one ${c}`).toHaveLength(1);
  return found[0]!;
}

const rawOf = (line: string): ParsedLine => ({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: line } } }] });

/** Wraps drafts into events so the shared reducer can project them. */
function asEvents(payloads: readonly EventPayload[]): Event[] {
  return payloads.map((p, i) => ({
    id: `evt_${i}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence: i + 1,
    timestamp: undefined,
    provider: "codex",
    kind: kindOf(p),
    providerSessionId: "",
    metadata: undefined,
    payload: p,
  }));
}

// ---------------------------------------------------------------------------------------------
// app-server transcripts

const APPROVAL_LOG = "codex-app-server-approval.log";
const INTERRUPT_LOG = "codex-app-server-interrupt.log";
const LOGS = [APPROVAL_LOG, INTERRUPT_LOG];
const EXEC_JSONL = ["codex-exec-text.jsonl", "codex-exec-tool.jsonl", "codex-exec-error.jsonl"];

const RECORDED_CWD = "/tmp/tmp.lQNilAt9Nn";

/** The thread id the recording noted (`! threadId=…`); the thread/start answer itself is abbreviated in the log. */
function recordedThreadId(name: string): string {
  const note = logLines(name).find((l) => l.dir === "!" && l.text.startsWith("threadId="))!;
  return note.text.slice("threadId=".length);
}

/** The spec the recording's run corresponds to: model, cwd and prompt of the recorded requests. */
function recordedSpec(name: string): RunSpec {
  const turnStart = json(stdinOfLog(name).find((l) => l.includes('"turn/start"'))!);
  return spec({ model: "gpt-5.5", cwd: RECORDED_CWD }, { prompt: turnStart.params.input[0].text as string });
}

/** What asm's client name and version replace in the recorded initialize request (the recording used "asm-test"). */
function normalizeClientInfo(line: Record<string, any>): Record<string, any> {
  if (line.method !== "initialize") return line;
  return { ...line, params: { ...line.params, clientInfo: { ...line.params.clientInfo, name: "<client>", version: "<version>" } } };
}

interface Replay {
  run: AdapterRun;
  perLine: { line: string; parsed: ParsedLine }[];
  payloads: EventPayload[];
  /** Lines asm wrote (initial input, replies, answers, interrupts), in order. */
  written: string[];
}

/**
 * Replays a recorded app-server conversation through one run: every `<` line is parsed in order;
 * each `>` line is matched against what asm itself would have written at that point (initial
 * input, protocol replies, the approval answer, the interrupt). The one `<` line the recording
 * abbreviated that asm needs (the thread/start answer) is restored from the `! threadId=` note.
 */
function replay(name: string): Replay {
  const s = recordedSpec(name);
  const threadId = recordedThreadId(name);
  const command = codexAdapter.buildCommand(s, "/opt/codex");
  const run = codexAdapter.startRun(s);
  const queue = [...command.initialInput];
  const written = [...command.initialInput];
  const perLine: Replay["perLine"] = [];
  let lastApprovalId: string | undefined;
  for (const entry of logLines(name)) {
    if (entry.dir === "!") continue;
    if (entry.dir === ">") {
      const recorded = json(entry.text);
      let ours = queue.shift();
      if (ours === undefined && recorded.result?.decision !== undefined) {
        expect(lastApprovalId).toBeDefined();
        const answer = run.answerApproval(lastApprovalId!, recorded.result.decision === "accept", "");
        expect(answer).toHaveLength(1);
        ours = answer[0];
        written.push(...answer);
      } else if (ours === undefined && recorded.method === "turn/interrupt") {
        const lines = run.interrupt();
        expect(lines).toHaveLength(1);
        ours = lines![0];
        written.push(...lines!);
      }
      if (ours === undefined) {
        // Written by the recording harness itself (a second turn on the same process), not by asm.
        expect(recorded.method).toBe("turn/start");
        continue;
      }
      expect(normalizeClientInfo(json(ours)), entry.text.slice(0, 80)).toEqual(normalizeClientInfo(recorded));
      continue;
    }
    let line = entry.text;
    if (!isJson(line) && line.startsWith('{"id":2,"result":{"thread":')) {
      line = JSON.stringify({ id: 2, result: { thread: { id: threadId }, model: "gpt-5.5", modelProvider: "mock" } });
    }
    const parsed = run.parseLine(line);
    perLine.push({ line, parsed });
    for (const r of parsed.reply ?? []) {
      queue.push(r);
      written.push(r);
    }
    for (const e of parsed.events) if (e.payload.$case === "approvalRequested") lastApprovalId = e.payload.value.approvalId;
  }
  expect(queue, "every line asm wrote appears in the recording").toEqual([]);
  return { run, perLine, payloads: payloadsOf(perLine.map((p) => p.parsed)), written };
}

describe("codex adapter: every recorded line parses", () => {
  it.each(LOGS)("%s: every `<` line parses in app-server mode; abbreviated (invalid) JSON becomes raw", (name) => {
    const lines = stdoutOfLog(name);
    expect(lines.length).toBeGreaterThan(10);
    const run = codexAdapter.startRun(recordedSpec(name));
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
    // The thread/start answer and thread/started are abbreviated in both logs.
    expect(abbreviated).toBe(2);
  });

  it.each([...EXEC_JSONL, "codex-exec-sigint.log"])("%s: no line throws in exec mode", (name) => {
    const lines = name.endsWith(".log") ? stdoutOfLog(name) : jsonlLines(name);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const run = codexAdapter.startRun(spec({ permissionMode: "bypass" }));
    for (const line of lines) {
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      expect(Array.isArray(parsed?.events)).toBe(true);
    }
  });
});

describe("codex adapter: app-server approval transcript", () => {
  const THREAD = "01a1fca5-bfe0-72c2-8734-bef952508b56";
  const TURN = "01a1fca5-bff3-76c1-8026-df124e1d945b";
  const COMMAND = "/bin/bash -lc 'touch made4.txt && echo ok'";
  const REPLY = "done: Chunk ID: bab873\nWall time: 0.0000 seconds\nProcess exited with code 0\nOriginal token count: 1\nOutput:\nok\n";

  it("writes exactly what the recording wrote: handshake, turn/start after the thread answer, the approval answer", () => {
    const { written } = replay(APPROVAL_LOG);
    expect(written.map((l) => json(l).method ?? "answer")).toEqual(["initialize", "initialized", "thread/start", "turn/start", "answer"]);
    expect(json(written[3]!)).toEqual({
      method: "turn/start",
      id: 3,
      params: { threadId: THREAD, input: [{ type: "text", text: "go [[scenario:tool]] [[cmd:touch made4.txt && echo ok]]", text_elements: [] }] },
    });
    expect(json(written[4]!)).toEqual({ id: 0, result: { decision: "accept" } });
  });

  it("yields tool use, approval, tool result, usage, the streamed reply and one result", () => {
    const { payloads, perLine } = replay(APPROVAL_LOG);
    expect(payloads.map((p) => p.$case)).toEqual([
      "raw", // configWarning
      "raw", // thread/started, abbreviated in the recording
      "toolUse",
      "approvalRequested",
      "toolResult",
      "costUpdate",
      "assistantDelta",
      "assistantMessage",
      "costUpdate",
      "result",
    ]);
    expect(json(only(payloads, "raw")[0]!.content).method).toBe("configWarning");

    expect(single(payloads, "toolUse")).toEqual({ toolName: "shell", toolCallId: "call_mock_6", input: { command: COMMAND, cwd: RECORDED_CWD } });

    const approval = single(payloads, "approvalRequested");
    expect(approval.approvalId).toMatch(/^apr_[0-9A-Z]{26}$/);
    expect(approval.subject).toBe("command");
    expect(approval.toolCallId).toBe("call_mock_6");
    expect(approval.details).toMatchObject({ command: COMMAND, cwd: RECORDED_CWD, kind: "command", tool_input: { command: COMMAND, cwd: RECORDED_CWD } });
    expect(approval.details?.command_actions).toEqual([{ type: "unknown", command: "touch made4.txt && echo ok" }]);

    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "call_mock_6", content: "ok\n", isError: false });
    expect(only(payloads, "costUpdate")).toEqual([
      { inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0 },
      { inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0 },
    ]);
    expect(single(payloads, "assistantDelta")).toEqual({ content: REPLY, index: 0 });
    expect(single(payloads, "assistantMessage")).toEqual({ text: REPLY, model: "gpt-5.5", content: [{ type: "text", text: REPLY }], aborted: false });

    const result = single(payloads, "result");
    expect(result.status).toBe("completed");
    expect(result.stopReason).toBe("end_turn");
    expect(result.text).toBe(REPLY);
    expect(result.output).toEqual({ turn_id: TURN, duration_ms: 149, usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30 } });

    // Only turn/completed ends the turn; the thread answer reveals the provider session.
    expect(perLine.filter((p) => p.parsed.turnEnded).map((p) => json(p.line).method)).toEqual(["turn/completed"]);
    expect(perLine.find((p) => p.line.startsWith('{"id":2,'))!.parsed.providerSessionId).toBe(THREAD);
    expect(perLine[perLine.length - 1]!.parsed.providerSessionId).toBe(THREAD);
  });

  it("the shared reducer projects the run: text once (delta then message), usage summed, completed", () => {
    const result = reduceEvents(asEvents(replay(APPROVAL_LOG).payloads));
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(result.text).toBe(REPLY);
    expect(result.cost).toEqual({ inputTokens: 20, outputTokens: 10, costUsd: 0 });
    expect(result.stopReason).toBe("end_turn");
  });

  it("serverRequest/resolved after asm answered yields nothing; before, it withdraws the approval", () => {
    const lines = stdoutOfLog(APPROVAL_LOG);
    const request = lines.find((l) => l.includes('"item/commandExecution/requestApproval"'))!;
    const resolved = lines.find((l) => l.includes('"serverRequest/resolved"'))!;

    const answered = codexAdapter.startRun(recordedSpec(APPROVAL_LOG));
    const id = single(payloadsOf([answered.parseLine(request)]), "approvalRequested").approvalId;
    answered.answerApproval(id, true, "");
    expect(answered.parseLine(resolved)).toEqual({ events: [] });

    const withdrawn = codexAdapter.startRun(recordedSpec(APPROVAL_LOG));
    const id2 = single(payloadsOf([withdrawn.parseLine(request)]), "approvalRequested").approvalId;
    expect(withdrawn.parseLine(resolved).events.map((e) => e.payload)).toEqual([
      { $case: "approvalResolved", value: { approvalId: id2, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" } },
    ]);
    // Withdrawn: a late decision has nothing to answer.
    expect(withdrawn.answerApproval(id2, true, "")).toEqual([]);
    expect(withdrawn.parseLine(resolved)).toEqual({ events: [] });
  });
});

describe("codex adapter: app-server approvals", () => {
  it("an interrupt while a question is open: the approval is withdrawn before the terminal error, once", () => {
    // As the real CLI does it: turn/completed (interrupted) first, serverRequest/resolved after.
    const run = codexAdapter.startRun(spec());
    run.parseLine(JSON.stringify({ id: 2, result: { thread: { id: "thr_1" } } }));
    run.parseLine(JSON.stringify({ id: 3, result: { turn: { id: "turn_1" } } }));
    const requestLine = JSON.stringify({ method: "item/commandExecution/requestApproval", id: 0, params: { itemId: "call_1", threadId: "thr_1", turnId: "turn_1", command: "touch x", cwd: "/w" } });
    const approvalId = single(payloadsOf([run.parseLine(requestLine)]), "approvalRequested").approvalId;
    expect(run.interrupt()!.map(json)).toEqual([{ method: "turn/interrupt", id: 4, params: { threadId: "thr_1", turnId: "turn_1" } }]);
    const ended = run.parseLine(JSON.stringify({ method: "turn/completed", params: { threadId: "thr_1", turn: { id: "turn_1", status: "interrupted", error: null, items: [] } } }));
    expect(ended.turnEnded).toBe(true);
    expect(payloadsOf([ended]).map((p) => p.$case)).toEqual(["approvalResolved", "error"]);
    expect(single(payloadsOf([ended]), "approvalResolved")).toEqual({ approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" });
    expect(single(payloadsOf([ended]), "error").error?.kind).toBe("user_cancelled");
    expect(run.parseLine(JSON.stringify({ method: "serverRequest/resolved", params: { threadId: "thr_1", requestId: 0 } }))).toEqual({ events: [] });
    expect(run.answerApproval(approvalId, true, "")).toEqual([]);
  });

  const request = stdoutOfLog(APPROVAL_LOG).find((l) => l.includes('"item/commandExecution/requestApproval"'))!;

  function requested(run: AdapterRun, line: string = request): PayloadOf<"approvalRequested"> {
    return single(payloadsOf([run.parseLine(line)]), "approvalRequested");
  }

  it("allow answers accept, deny answers decline, both under the CLI's own request id", () => {
    const run = codexAdapter.startRun(spec());
    const a = requested(run);
    expect(run.answerApproval(a.approvalId, true, "").map(json)).toEqual([{ id: 0, result: { decision: "accept" } }]);
    const b = requested(run, JSON.stringify({ ...json(request), id: "req-7" }));
    expect(run.answerApproval(b.approvalId, false, "not today").map(json)).toEqual([{ id: "req-7", result: { decision: "decline" } }]);
  });

  it("unknown or already answered approvals write nothing", () => {
    const run = codexAdapter.startRun(spec());
    expect(run.answerApproval("apr_unknown", true, "")).toEqual([]);
    const a = requested(run);
    expect(run.answerApproval(a.approvalId, true, "")).toHaveLength(1);
    expect(run.answerApproval(a.approvalId, false, "")).toEqual([]);
  });

  it("approval ids are fresh per request, also across runs where the CLI reuses JSON-RPC id 0", () => {
    const first = requested(codexAdapter.startRun(spec()));
    const second = requested(codexAdapter.startRun(spec()));
    expect(first.approvalId).not.toBe(second.approvalId);
  });

  it("file changes: tool use at item/started, approval with the proposed changes, result summary", () => {
    const run = codexAdapter.startRun(spec());
    const changes = [{ path: "/w/a.txt", kind: { type: "add" }, diff: "+hi\n" }];
    const item = { type: "fileChange", id: "call_patch_1", changes, status: "inProgress" };
    const started = run.parseLine(JSON.stringify({ method: "item/started", params: { item, threadId: "t", turnId: "u" } }));
    expect(payloadsOf([started])).toEqual([{ $case: "toolUse", value: { toolName: "apply_patch", toolCallId: "call_patch_1", input: { changes } } }]);

    const approval = requested(
      run,
      JSON.stringify({ method: "item/fileChange/requestApproval", id: 1, params: { threadId: "t", turnId: "u", itemId: "call_patch_1", startedAtMs: 1, reason: "write access" } }),
    );
    expect(approval.subject).toBe("file_change");
    expect(approval.toolCallId).toBe("call_patch_1");
    expect(approval.details).toMatchObject({ changes, reason: "write access", tool_input: { changes } });
    expect(run.answerApproval(approval.approvalId, true, "").map(json)).toEqual([{ id: 1, result: { decision: "accept" } }]);

    const done = run.parseLine(JSON.stringify({ method: "item/completed", params: { item: { ...item, status: "completed" } } }));
    expect(payloadsOf([done])).toEqual([{ $case: "toolResult", value: { toolCallId: "call_patch_1", content: "add /w/a.txt", isError: false } }]);
    const declined = run.parseLine(JSON.stringify({ method: "item/completed", params: { item: { ...item, id: "call_patch_2", status: "declined" } } }));
    expect(payloadsOf([declined]).map((p) => p.$case)).toEqual(["toolUse", "toolResult"]);
    expect(single(payloadsOf([declined]), "toolResult")).toEqual({ toolCallId: "call_patch_2", content: "patch declined", isError: true });
  });

  it("legacy execCommandApproval / applyPatchApproval use the v1 decision vocabulary", () => {
    const run = codexAdapter.startRun(spec());
    const exec = requested(
      run,
      JSON.stringify({ method: "execCommandApproval", id: 4, params: { conversationId: "c", callId: "call_9", command: ["bash", "-lc", "rm x"], cwd: "/w", reason: null, parsedCmd: [] } }),
    );
    expect(exec).toMatchObject({ subject: "command", toolCallId: "call_9", details: { command: "bash -lc rm x", argv: ["bash", "-lc", "rm x"], cwd: "/w" } });
    expect(run.answerApproval(exec.approvalId, true, "").map(json)).toEqual([{ id: 4, result: { decision: "approved" } }]);

    const patch = requested(run, JSON.stringify({ method: "applyPatchApproval", id: 5, params: { conversationId: "c", callId: "call_10", fileChanges: { "/w/b": { add: { content: "x" } } }, reason: null, grantRoot: null } }));
    expect(patch).toMatchObject({ subject: "file_change", toolCallId: "call_10", details: { file_changes: { "/w/b": { add: { content: "x" } } } } });
    expect(run.answerApproval(patch.approvalId, false, "no writes").map(json)).toEqual([{ id: 5, result: { decision: { denied: { rejection: "no writes" } } } }]);
  });
});

describe("codex adapter: server requests asm cannot answer", () => {
  it.each([
    ["item/tool/requestUserInput", { threadId: "t", turnId: "u", itemId: "i", questions: [] }],
    ["mcpServer/elicitation/request", { threadId: "t", serverName: "s", message: "?" }],
    ["item/tool/call", { threadId: "t", turnId: "u", callId: "c", tool: "lookup", arguments: {} }],
    ["item/permissions/requestApproval", { threadId: "t", turnId: "u", itemId: "i" }],
    ["account/chatgptAuthTokens/refresh", {}],
    ["some/futureRequest", {}],
  ])("%s gets a JSON-RPC error reply at once and is kept as raw", (method, params) => {
    const run = codexAdapter.startRun(spec());
    const line = JSON.stringify({ method, id: 12, params });
    const parsed = run.parseLine(line);
    expect(parsed.events).toEqual(rawOf(line).events);
    expect(parsed.reply).toHaveLength(1);
    const reply = json(parsed.reply![0]!);
    expect(reply).toEqual({ id: 12, error: { code: -32601, message: `asm cannot answer ${method}` } });
    expect(reply).not.toHaveProperty("jsonrpc");
    expect(parsed.turnEnded).toBeFalsy();
  });

  it("an approval request asm cannot read is refused the same way, never left waiting", () => {
    const run = codexAdapter.startRun(spec());
    const line = JSON.stringify({ method: "item/commandExecution/requestApproval", id: "x1", params: { command: "ls" } });
    const parsed = run.parseLine(line);
    expect(parsed.events).toEqual(rawOf(line).events);
    expect(parsed.reply!.map(json)).toEqual([{ id: "x1", error: { code: -32602, message: "asm could not read this item/commandExecution/requestApproval" } }]);
  });
});

describe("codex adapter: app-server interrupt transcript", () => {
  const THREAD = "01a1fca5-c111-7193-8aa9-3d80bfd03c85";
  const TURN = "01a1fca5-c120-7541-a35b-7c340a144411";

  it("interrupt() writes exactly the recorded turn/interrupt (next id, thread and turn ids)", () => {
    const { written } = replay(INTERRUPT_LOG);
    const recorded = json(stdinOfLog(INTERRUPT_LOG).find((l) => l.includes('"turn/interrupt"'))!);
    expect(recorded).toEqual({ method: "turn/interrupt", id: 4, params: { threadId: THREAD, turnId: TURN } });
    expect(written.map(json)).toContainEqual(recorded);
  });

  it("the interrupted turn ends with one user_cancelled error; the harness's second turn still parses", () => {
    const { payloads, perLine } = replay(INTERRUPT_LOG);
    expect(payloads.map((p) => p.$case)).toEqual([
      "raw", // configWarning
      "raw", // thread/started, abbreviated
      "error", // turn/completed interrupted
      "raw", // answer to the harness's own turn/start (id 5), not asm's request
      "assistantMessage",
      "costUpdate",
      "result",
    ]);
    const error = single(payloads, "error").error!;
    expect(error.kind).toBe("user_cancelled");
    expect(error.provider).toBe("codex");
    expect(error.reasonCode).toBe("turn_interrupted");
    expect(error.details).toEqual({ turn_id: TURN });

    const ended = perLine.filter((p) => p.parsed.turnEnded);
    expect(ended.map((p) => json(p.line).params.turn.status)).toEqual(["interrupted", "completed"]);
    // The interrupt's own answer ({"id":4,"result":{}}) is quiet.
    expect(perLine.find((p) => p.line === '{"id":4,"result":{}}')!.parsed).toEqual({ events: [] });

    expect(single(payloads, "assistantMessage").text).toBe("Hello from mock");
    expect(single(payloads, "result").text).toBe("Hello from mock");
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0 });
  });

  it("the reducer marks the interrupted part cancelled", () => {
    const { payloads } = replay(INTERRUPT_LOG);
    const firstTurn = payloads.slice(0, payloads.findIndex((p) => p.$case === "error") + 1);
    expect(reduceEvents(asEvents(firstTurn)).status).toBe(RunStatus.RUN_STATUS_CANCELLED);
  });

  it("interrupt() is undefined before a turn is active and after it completed; ids keep counting", () => {
    const s = recordedSpec(INTERRUPT_LOG);
    const run = codexAdapter.startRun(s);
    expect(run.interrupt()).toBeUndefined();
    const lines = stdoutOfLog(INTERRUPT_LOG);
    run.parseLine(JSON.stringify({ id: 2, result: { thread: { id: THREAD }, model: "gpt-5.5" } }));
    expect(run.interrupt()).toBeUndefined(); // turn/start sent, no turn id yet: signals
    run.parseLine(lines.find((l) => l.startsWith('{"id":3,'))!);
    expect(run.interrupt()!.map(json)).toEqual([{ method: "turn/interrupt", id: 4, params: { threadId: THREAD, turnId: TURN } }]);
    expect(run.interrupt()!.map(json)).toEqual([{ method: "turn/interrupt", id: 5, params: { threadId: THREAD, turnId: TURN } }]);
    run.parseLine(lines.find((l) => l.includes('"status":"interrupted"'))!);
    expect(run.interrupt()).toBeUndefined();
  });
});

describe("codex adapter: app-server synthetic lines", () => {
  const THREAD_ANSWER = JSON.stringify({ id: 2, result: { thread: { id: "thr_1" }, model: "gpt-5.5" } });
  const TURN_ANSWER = JSON.stringify({ id: 3, result: { turn: { id: "turn_1", status: "inProgress", items: [], error: null } } });

  function started(options: RunOptionsInput = {}): AdapterRun {
    const run = codexAdapter.startRun(spec({ model: "gpt-5.5", ...options }));
    run.parseLine(THREAD_ANSWER);
    run.parseLine(TURN_ANSWER);
    return run;
  }

  const notify = (method: string, params: unknown): string => JSON.stringify({ method, params });
  const completed = (status: string, error: unknown = null): string =>
    notify("turn/completed", { threadId: "thr_1", turn: { id: "turn_1", status, error, items: [], durationMs: 5 } });

  it.each([
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    "42",
    '"a string"',
    '{"no_method":true}',
    '{"method":"turn/completed","params":{}}',
    '{"method":"item/started","params":{"item":"nope"}}',
    '{"method":"item/agentMessage/delta","params":{"delta":5}}',
    '{"method":"some/unknownNotification","params":{}}',
    '{"id":99,"result":{}}',
    '{"method":"item/started","params":{"item":{"type":"futureItem","id":"x"}}}',
    '{"method":"thread/tokenUsage/updated","params":{"tokenUsage":"bad"}}',
    '{"id":2,"result":{"thread":{"id":"t"}}',
  ])("%j becomes raw with the original line", (line) => {
    expect(codexAdapter.startRun(spec()).parseLine(line)).toEqual(rawOf(line));
  });

  it.each(["thread/status/changed", "remoteControl/status/changed", "account/rateLimits/updated", "thread/readState/changed", "item/commandExecution/outputDelta", "item/reasoning/summaryTextDelta"])(
    "noise notification %s yields no event",
    (method) => {
      expect(codexAdapter.startRun(spec()).parseLine(notify(method, { threadId: "t" }))).toEqual({ events: [] });
    },
  );

  it("a thread answer without a thread id ends the run instead of leaving the CLI waiting", () => {
    const run = codexAdapter.startRun(spec());
    const line = JSON.stringify({ id: 2, result: { thread: {} } });
    const parsed = run.parseLine(line);
    expect(parsed.turnEnded).toBe(true);
    expect(parsed.reply).toBeUndefined();
    expect(payloadsOf([parsed]).map((p) => p.$case)).toEqual(["raw", "error"]);
    expect(single(payloadsOf([parsed]), "error").error).toMatchObject({ kind: "provider_error", reasonCode: "thread_start_failed" });
  });

  it("a refused request of asm's own ends the run: auth wording → auth_error, otherwise config_invalid", () => {
    const refusedThread = codexAdapter.startRun(spec()).parseLine(JSON.stringify({ id: 2, error: { code: -32600, message: "invalid model: nope" } }));
    expect(refusedThread.turnEnded).toBe(true);
    expect(single(payloadsOf([refusedThread]), "error").error).toMatchObject({
      kind: "config_invalid",
      provider: "codex",
      reasonCode: "thread_start_failed",
      message: "codex refused thread/start: invalid model: nope",
      details: { method: "thread/start", rpc_code: -32600, data: null },
    });

    const refusedInit = codexAdapter.startRun(spec()).parseLine(JSON.stringify({ id: 1, error: { code: -32000, message: "Unauthorized: not logged in" } }));
    expect(single(payloadsOf([refusedInit]), "error").error?.kind).toBe("auth_error");
    expect(refusedInit.turnEnded).toBe(true);

    const resumed = codexAdapter.startRun(spec({}, { resumeProviderSessionId: "thr_gone" }));
    const refusedResume = resumed.parseLine(JSON.stringify({ id: 2, error: { code: -32600, message: "no rollout found for thread id thr_gone" } }));
    expect(single(payloadsOf([refusedResume]), "error").error).toMatchObject({ kind: "config_invalid", reasonCode: "thread_resume_failed" });

    const threadOnly = codexAdapter.startRun(spec());
    threadOnly.parseLine(THREAD_ANSWER);
    const refusedTurn = threadOnly.parseLine(JSON.stringify({ id: 3, error: { code: -32600, message: "bad input" } }));
    expect(refusedTurn.turnEnded).toBe(true);
    expect(single(payloadsOf([refusedTurn]), "error").error?.reasonCode).toBe("turn_start_failed");
  });

  it("a refused turn/interrupt is not terminal (signals follow)", () => {
    const run = started();
    run.interrupt();
    const line = JSON.stringify({ id: 4, error: { code: -32600, message: "no active turn" } });
    const parsed = run.parseLine(line);
    expect(parsed).toEqual(rawOf(line));
  });

  it.each([
    ["unauthorized info", { message: "unexpected status 401", codexErrorInfo: "unauthorized", additionalDetails: null }, "auth_error"],
    ["HTTP 401 in info", { message: "stream failed", codexErrorInfo: { responseStreamConnectionFailed: { httpStatusCode: 401 } }, additionalDetails: null }, "auth_error"],
    ["HTTP 429 in info", { message: "stream failed", codexErrorInfo: { httpConnectionFailed: { httpStatusCode: 429 } }, additionalDetails: null }, "rate_limit"],
    ["usage limit", { message: "You've hit your usage limit.", codexErrorInfo: "usageLimitExceeded", additionalDetails: null }, "rate_limit"],
    ["429 text", { message: "exceeded retry limit, last status: 429 Too Many Requests", codexErrorInfo: null, additionalDetails: null }, "rate_limit"],
    ["other", { message: "The server had an error while processing your request.", codexErrorInfo: "internalServerError", additionalDetails: null }, "provider_error"],
  ] as const)("a failed turn (%s) is one terminal error of kind %s", (_label, error, kind) => {
    const run = started();
    const parsed = run.parseLine(completed("failed", error));
    expect(parsed.turnEnded).toBe(true);
    const e = single(payloadsOf([parsed]), "error").error!;
    expect(e.kind).toBe(kind);
    expect(e.provider).toBe("codex");
    expect(e.reasonCode).toBe("turn_failed");
    expect(e.message).toBe(error.message);
    expect(e.details).toMatchObject({ turn_id: "turn_1", turn_status: "failed" });
  });

  it("a failed turn without its own error uses the last error notification (shown as raw when it came)", () => {
    const run = started();
    const errorLine = notify("error", {
      error: { message: "unexpected status 401 Unauthorized: Incorrect API key provided", codexErrorInfo: null, additionalDetails: null },
      willRetry: false,
      threadId: "thr_1",
      turnId: "turn_1",
    });
    expect(run.parseLine(errorLine)).toEqual(rawOf(errorLine));
    const e = single(payloadsOf([run.parseLine(completed("failed"))]), "error").error!;
    expect(e.kind).toBe("auth_error");
    expect(e.message).toBe("unexpected status 401 Unauthorized: Incorrect API key provided");
  });

  it("usage: counted per model request, never twice for a repeated update, only for this run's turn", () => {
    const usage = (turnId: string | null, total: number, last: number): string =>
      notify("thread/tokenUsage/updated", {
        threadId: "thr_1",
        turnId,
        tokenUsage: {
          total: { totalTokens: total, inputTokens: total - 1, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 1, reasoningOutputTokens: 0 },
          last: { totalTokens: last, inputTokens: last - 1, cachedInputTokens: 0, cacheWriteInputTokens: 0, outputTokens: 1, reasoningOutputTokens: 0 },
          modelContextWindow: null,
        },
      });
    // Before the turn (a resumed thread's history): nothing.
    const run = codexAdapter.startRun(spec());
    run.parseLine(THREAD_ANSWER);
    expect(run.parseLine(usage(null, 500, 100))).toEqual({ events: [] });
    run.parseLine(TURN_ANSWER);
    expect(payloadsOf([run.parseLine(usage("turn_1", 515, 15))])).toEqual([{ $case: "costUpdate", value: { inputTokens: 14, outputTokens: 1, totalTokens: 15, costUsd: 0 } }]);
    expect(run.parseLine(usage("turn_1", 515, 15))).toEqual({ events: [] });
    expect(run.parseLine(usage("turn_other", 530, 15))).toEqual({ events: [] });
    expect(single(payloadsOf([run.parseLine(usage("turn_1", 545, 15))]), "costUpdate").totalTokens).toBe(15);
    expect(single(payloadsOf([run.parseLine(completed("completed"))]), "result").output).toMatchObject({ usage: { input_tokens: 28, output_tokens: 2, total_tokens: 30 } });
  });

  it("reasoning becomes thinking; commands that fail or are declined are error results", () => {
    const run = started();
    const reasoning = run.parseLine(notify("item/completed", { item: { type: "reasoning", id: "r1", summary: ["plan", "act"], content: [] } }));
    expect(payloadsOf([reasoning])).toEqual([{ $case: "thinking", value: { content: "plan\nact", signature: "" } }]);
    expect(run.parseLine(notify("item/completed", { item: { type: "reasoning", id: "r2", summary: [], content: [] } }))).toEqual({ events: [] });

    const cmd = { type: "commandExecution", id: "c1", command: "false", cwd: "/w", status: "failed", aggregatedOutput: "boom", exitCode: 1, commandActions: [] };
    const failed = payloadsOf([run.parseLine(notify("item/completed", { item: cmd }))]);
    expect(failed.map((p) => p.$case)).toEqual(["toolUse", "toolResult"]);
    expect(single(failed, "toolResult")).toEqual({ toolCallId: "c1", content: "boom", isError: true });

    const declined = payloadsOf([run.parseLine(notify("item/completed", { item: { ...cmd, id: "c2", status: "declined", aggregatedOutput: null, exitCode: null } }))]);
    expect(single(declined, "toolResult")).toEqual({ toolCallId: "c2", content: "command declined", isError: true });

    const nonZero = payloadsOf([run.parseLine(notify("item/completed", { item: { ...cmd, id: "c3", status: "completed", aggregatedOutput: "", exitCode: 2 } }))]);
    expect(single(nonZero, "toolResult").isError).toBe(true);
  });

  it("MCP tool calls are tool use / tool result named mcp__<server>__<tool>", () => {
    const run = started();
    const item = { type: "mcpToolCall", id: "m1", server: "docs", tool: "search", status: "inProgress", arguments: { q: "x" }, result: null, error: null };
    expect(payloadsOf([run.parseLine(notify("item/started", { item }))])).toEqual([
      { $case: "toolUse", value: { toolName: "mcp__docs__search", toolCallId: "m1", input: { q: "x" } } },
    ]);
    const done = run.parseLine(notify("item/completed", { item: { ...item, status: "completed", result: { content: [{ type: "text", text: "found" }] } } }));
    expect(payloadsOf([done])).toEqual([{ $case: "toolResult", value: { toolCallId: "m1", content: '{"content":[{"type":"text","text":"found"}]}', isError: false } }]);
  });

  it("deltas count up across messages; each completed message repeats its full text", () => {
    const run = started();
    const d = (itemId: string, delta: string): string => notify("item/agentMessage/delta", { threadId: "thr_1", turnId: "turn_1", itemId, delta });
    expect(payloadsOf([run.parseLine(d("a", "Hel")), run.parseLine(d("a", "lo")), run.parseLine(d("b", "!"))])).toEqual([
      { $case: "assistantDelta", value: { content: "Hel", index: 0 } },
      { $case: "assistantDelta", value: { content: "lo", index: 1 } },
      { $case: "assistantDelta", value: { content: "!", index: 2 } },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// exec transcripts

describe("codex adapter: exec transcripts", () => {
  function execParse(name: string, options: RunOptionsInput = { permissionMode: "bypass" }, extra: Partial<RunSpec> = {}): { perLine: ParsedLine[]; payloads: EventPayload[] } {
    const run = codexAdapter.startRun(spec(options, extra));
    const perLine = jsonlLines(name).map((l) => run.parseLine(l));
    return { perLine, payloads: payloadsOf(perLine) };
  }

  it("text: message, cost, result; thread.started reveals the thread id", () => {
    const { perLine, payloads } = execParse("codex-exec-text.jsonl", { permissionMode: "auto", model: "gpt-5.5" });
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "costUpdate", "result"]);
    expect(perLine[0]).toEqual({ events: [], providerSessionId: "01a1fca5-b79f-7861-9646-434b931bcd0d" });
    expect(perLine[1]).toEqual({ events: [] });
    expect(single(payloads, "assistantMessage")).toEqual({ text: "Hello from mock", model: "gpt-5.5", content: [{ type: "text", text: "Hello from mock" }], aborted: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0 });
    const result = single(payloads, "result");
    expect(result).toMatchObject({ status: "completed", stopReason: "end_turn", text: "Hello from mock" });
    expect(result.output).toEqual({
      usage: { input_tokens: 10, cached_input_tokens: 0, cache_write_input_tokens: 0, output_tokens: 5, reasoning_output_tokens: 0 },
      usage_scope: "run",
    });
    expect(perLine.map((p) => p.turnEnded ?? false)).toEqual([false, false, false, true]);
    expect(perLine[3]!.providerSessionId).toBe("01a1fca5-b79f-7861-9646-434b931bcd0d");
  });

  it("tool: command tool use and result, then the reply", () => {
    const { payloads } = execParse("codex-exec-tool.jsonl");
    expect(payloads.map((p) => p.$case)).toEqual(["toolUse", "toolResult", "assistantMessage", "costUpdate", "result"]);
    expect(single(payloads, "toolUse")).toEqual({ toolName: "shell", toolCallId: "item_0", input: { command: "/bin/bash -lc 'touch made.txt && echo ok'" } });
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: "item_0", content: "ok\n", isError: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(payloads, "result").text).toMatch(/^done: Chunk ID: 11bbe7/);
  });

  it("error: the error line stays raw, turn.failed is the one terminal, typed error", () => {
    const lines = jsonlLines("codex-exec-error.jsonl");
    const { perLine, payloads } = execParse("codex-exec-error.jsonl");
    expect(payloads.map((p) => p.$case)).toEqual(["raw", "error"]);
    expect(only(payloads, "raw")[0]!.content).toBe(lines[2]);
    const error = single(payloads, "error").error!;
    expect(error.kind).toBe("provider_error");
    expect(error.provider).toBe("codex");
    expect(error.message).toBe("mock 400");
    expect(error.reasonCode).toBe("turn_failed");
    expect(error.details).toMatchObject({ error_type: "invalid_request_error", http_status: null });
    expect(perLine.filter((p) => p.turnEnded)).toHaveLength(1);
    expect(perLine[3]!.turnEnded).toBe(true);
    expect(reduceEvents(asEvents(payloads)).status).toBe(RunStatus.RUN_STATUS_FAILED);
  });

  it("sigint: thread and turn start lines only, no events (the exit ends the run)", () => {
    const run = codexAdapter.startRun(spec({ permissionMode: "bypass" }));
    const perLine = stdoutOfLog("codex-exec-sigint.log").map((l) => run.parseLine(l));
    expect(perLine).toEqual([{ events: [], providerSessionId: "01a1fca5-b988-7a21-bcc4-f8eff38d9762" }, { events: [] }]);
    expect(run.interrupt()).toBeUndefined();
  });

  it("a resumed thread's usage is the thread's running total: kept in the result, not counted as this run's cost", () => {
    const { payloads } = execParse("codex-exec-text.jsonl", { permissionMode: "bypass" }, { resumeProviderSessionId: "01a1fca5-b79f-7861-9646-434b931bcd0d" });
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "result"]);
    expect(single(payloads, "result").output).toMatchObject({ usage: { input_tokens: 10, output_tokens: 5 }, usage_scope: "thread" });
  });
});

describe("codex adapter: exec synthetic lines", () => {
  const execRun = (): AdapterRun => codexAdapter.startRun(spec({ permissionMode: "bypass" }));
  const failed = (message: string): AsmError => {
    const run = execRun();
    run.parseLine(JSON.stringify({ type: "error", message }));
    const parsed = run.parseLine(JSON.stringify({ type: "turn.failed", error: { message } }));
    expect(parsed.turnEnded).toBe(true);
    return AsmError.fromMessage(single(payloadsOf([parsed]), "error").error!);
  };

  it.each([
    "not json at all",
    "",
    "[1,2,3]",
    "null",
    '{"no_type":true}',
    '{"type":"mystery"}',
    '{"type":"thread.started"}',
    '{"type":"item.completed"}',
    '{"type":"item.completed","item":{"id":"i","type":"web_search","query":"x"}}',
    '{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `mock-model` not found."}}',
    '{"type":"turn.completed","usage":"bad"}',
    '{"type":"item.completed","item":{"id":"i","type":"agent_message"}',
  ])("%j becomes raw with the original line", (line) => {
    expect(execRun().parseLine(line)).toEqual(rawOf(line));
  });

  it.each([
    ["unexpected status 401 Unauthorized: Incorrect API key provided: dummy., url: http://127.0.0.1:1/v1/responses", "auth_error"],
    ['{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}', "auth_error"],
    ["exceeded retry limit, last status: 429 Too Many Requests, request id: req_1", "rate_limit"],
    ['{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}', "rate_limit"],
    ["We’re currently experiencing high demand, which may cause temporary errors.", "provider_error"],
  ])("turn.failed %j → %s", (message, kind) => {
    expect(failed(message).kind).toBe(kind);
  });

  it("turn.failed without a message falls back to the error line", () => {
    const run = execRun();
    run.parseLine(JSON.stringify({ type: "error", message: "stream disconnected" }));
    const e = single(payloadsOf([run.parseLine('{"type":"turn.failed","error":null}')]), "error").error!;
    expect(e.message).toBe("stream disconnected");
  });

  it("reasoning, failed commands, file changes and MCP calls map like app-server items", () => {
    const run = execRun();
    const item = (phase: string, it: Record<string, unknown>): EventPayload[] => payloadsOf([run.parseLine(JSON.stringify({ type: phase, item: it }))]);
    expect(item("item.completed", { id: "r", type: "reasoning", text: "**thinking**" })).toEqual([{ $case: "thinking", value: { content: "**thinking**", signature: "" } }]);

    const cmd = { id: "c", type: "command_execution", command: "bash -lc false", aggregated_output: "", exit_code: null, status: "in_progress" };
    expect(item("item.started", cmd).map((p) => p.$case)).toEqual(["toolUse"]);
    expect(item("item.completed", { ...cmd, aggregated_output: "nope", exit_code: 1, status: "failed" })).toEqual([
      { $case: "toolResult", value: { toolCallId: "c", content: "nope", isError: true } },
    ]);

    const change = item("item.completed", { id: "f", type: "file_change", changes: [{ path: "/w/a", kind: "add" }, { path: "/w/b", kind: "update" }], status: "completed" });
    expect(change.map((p) => p.$case)).toEqual(["toolUse", "toolResult"]);
    expect(single(change, "toolUse")).toEqual({ toolName: "apply_patch", toolCallId: "f", input: { changes: [{ path: "/w/a", kind: "add" }, { path: "/w/b", kind: "update" }] } });
    expect(single(change, "toolResult")).toEqual({ toolCallId: "f", content: "add /w/a\nupdate /w/b", isError: false });

    const mcp = item("item.completed", { id: "m", type: "mcp_tool_call", server: "s", tool: "t", arguments: "raw", result: null, error: { message: "down" }, status: "failed" });
    expect(mcp).toEqual([
      { $case: "toolUse", value: { toolName: "mcp__s__t", toolCallId: "m", input: { arguments: "raw" } } },
      { $case: "toolResult", value: { toolCallId: "m", content: '{"message":"down"}', isError: true } },
    ]);
  });

  it("exec answers no approvals", () => {
    expect(execRun().answerApproval("apr_x", true, "")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Commands

describe("codex adapter: mode selection", () => {
  it.each([
    ["default", undefined, "app-server"],
    ["auto", undefined, "exec"],
    ["bypass", undefined, "exec"],
    ["plan", undefined, "exec"],
    ["auto", true, "app-server"],
    ["bypass", true, "app-server"],
    ["default", false, "exec"],
  ] as const)("permission mode %s, interactive approvals %s → %s, the same in buildCommand and startRun", (permissionMode, interactiveApprovals, mode) => {
    const s = spec({ permissionMode, interactiveApprovals });
    expect(codexMode(s.settings)).toBe(mode);
    const cmd = codexAdapter.buildCommand(s, "/opt/codex");
    expect(cmd.args[0]).toBe(mode);
    expect(cmd.keepStdinOpen).toBe(mode === "app-server");
    // The run speaks the same protocol: only an exec run understands thread.started.
    const parsed = codexAdapter.startRun(s).parseLine('{"type":"thread.started","thread_id":"t1"}');
    expect(parsed.providerSessionId).toBe(mode === "exec" ? "t1" : undefined);
  });
});

describe("codex adapter: buildCommand (app-server)", () => {
  const CLI = "/opt/codex/bin/codex";

  it("the handshake is exactly the recorded one (apart from asm's client name)", () => {
    const s = recordedSpec(APPROVAL_LOG);
    const cmd = codexAdapter.buildCommand(s, CLI);
    expect(cmd).toMatchObject({ command: CLI, args: ["app-server"], cwd: RECORDED_CWD, keepStdinOpen: true });
    const recorded = stdinOfLog(APPROVAL_LOG).slice(0, 3).map(json);
    expect(cmd.initialInput.map((l) => normalizeClientInfo(json(l)))).toEqual(recorded.map(normalizeClientInfo));
    const init = json(cmd.initialInput[0]!);
    expect(init.params.clientInfo).toEqual({ name: "asm", title: null, version: "0.1.0" });
    expect(init.params.capabilities.experimentalApi).toBe(true);
    for (const line of cmd.initialInput) {
      expect(line).not.toContain("\n");
      expect(json(line)).not.toHaveProperty("jsonrpc");
    }
  });

  it.each([
    ["default", "read-only"],
    ["auto", "workspace-write"],
    ["bypass", "danger-full-access"],
    ["plan", "read-only"],
  ] as const)("permission mode %s → thread sandbox %s, approval policy untrusted", (permissionMode, sandbox) => {
    const cmd = codexAdapter.buildCommand(spec({ permissionMode, interactiveApprovals: true }), CLI);
    expect(json(cmd.initialInput[2]!)).toEqual({ method: "thread/start", id: 2, params: { cwd: "/srv/work", approvalPolicy: "untrusted", sandbox } });
  });

  it("resume asks for thread/resume of the provider session, without the history, and the run expects its answer", () => {
    const s = spec({ model: "gpt-5.5" }, { resumeProviderSessionId: "thr_prev", prompt: "again" });
    const cmd = codexAdapter.buildCommand(s, CLI);
    expect(cmd.args).toEqual(["app-server"]);
    expect(json(cmd.initialInput[2]!)).toEqual({
      method: "thread/resume",
      id: 2,
      params: { threadId: "thr_prev", model: "gpt-5.5", cwd: "/srv/work", approvalPolicy: "untrusted", sandbox: "read-only", excludeTurns: true },
    });
    const parsed = codexAdapter.startRun(s).parseLine(JSON.stringify({ id: 2, result: { thread: { id: "thr_prev" }, model: "gpt-5.5" } }));
    expect(parsed.providerSessionId).toBe("thr_prev");
    expect(parsed.reply!.map(json)).toEqual([{ method: "turn/start", id: 3, params: { threadId: "thr_prev", input: [{ type: "text", text: "again", text_elements: [] }] } }]);
  });

  it("config overrides go on the command line as -c key=<TOML value>", () => {
    const cmd = codexAdapter.buildCommand(spec({ providerOptions: { config: { model_provider: "mock", "model_providers.mock.stream_max_retries": 0, "analytics.enabled": false } } }), CLI);
    expect(cmd.args).toEqual(["app-server", "-c", 'model_provider="mock"', "-c", "model_providers.mock.stream_max_retries=0", "-c", "analytics.enabled=false"]);
  });
});

describe("codex adapter: buildCommand (exec)", () => {
  const CLI = "/opt/codex/bin/codex";

  it.each([
    ["auto", ["--sandbox", "workspace-write"]],
    ["bypass", ["--dangerously-bypass-approvals-and-sandbox"]],
    ["plan", ["--sandbox", "read-only"]],
  ] as const)("permission mode %s → %j", (permissionMode, flags) => {
    const cmd = codexAdapter.buildCommand(spec({ permissionMode }), CLI);
    expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", ...flags, "--", "go"]);
    expect(cmd).toMatchObject({ command: CLI, cwd: "/srv/work", initialInput: [], keepStdinOpen: false });
  });

  it("default mode without interactive approvals adds no sandbox flag", () => {
    expect(codexAdapter.buildCommand(spec({ interactiveApprovals: false }), CLI).args).toEqual(["exec", "--json", "--skip-git-repo-check", "--", "go"]);
  });

  it("resume: options first, then `resume <thread_id>`, then the prompt", () => {
    const cmd = codexAdapter.buildCommand(spec({ permissionMode: "auto", model: "gpt-5.5" }, { resumeProviderSessionId: "01a1fca5-b79f-7861-9646-434b931bcd0d", prompt: "second" }), CLI);
    expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-m", "gpt-5.5", "resume", "01a1fca5-b79f-7861-9646-434b931bcd0d", "--", "second"]);
  });

  it("model, profile, config and skip_git_repo_check", () => {
    const cmd = codexAdapter.buildCommand(
      spec({
        permissionMode: "bypass",
        model: "gpt-5.5",
        providerOptions: { profile: "ci", skip_git_repo_check: false, config: { "model_providers.mock.base_url": 'http://127.0.0.1:1/v1 "x"\\\n', "a.b": 1.5, c: true } },
      }),
      CLI,
    );
    expect(cmd.args).toEqual([
      "exec",
      "--json",
      "--dangerously-bypass-approvals-and-sandbox",
      "-m",
      "gpt-5.5",
      "-p",
      "ci",
      "-c",
      'model_providers.mock.base_url="http://127.0.0.1:1/v1 \\"x\\"\\\\\\n"',
      "-c",
      "a.b=1.5",
      "-c",
      "c=true",
      "--",
      "go",
    ]);
  });

  it("a prompt that looks like a flag or a subcommand stays the prompt, after --", () => {
    expect(codexAdapter.buildCommand(spec({ permissionMode: "auto" }, { prompt: "--help" }), CLI).args.slice(-2)).toEqual(["--", "--help"]);
    expect(codexAdapter.buildCommand(spec({ permissionMode: "auto" }, { prompt: "resume" }), CLI).args.slice(-2)).toEqual(["--", "resume"]);
  });

  it("env is exactly baseEnv + settings.env in both modes, nothing from process.env", () => {
    process.env.ASM_TEST_SHOULD_NOT_LEAK = "leak";
    try {
      for (const permissionMode of ["default", "auto"] as const) {
        const cmd = codexAdapter.buildCommand(spec({ permissionMode, env: { CODEX_HOME: "/h/.codex", PATH: "/custom/bin" } }), CLI);
        expect(cmd.env).toEqual({ PATH: "/custom/bin", HOME: "/home/asm", CODEX_HOME: "/h/.codex" });
      }
    } finally {
      delete process.env.ASM_TEST_SHOULD_NOT_LEAK;
    }
  });

  it("cwd comes from settings when set", () => {
    expect(codexAdapter.buildCommand(spec({ permissionMode: "auto", cwd: "/tmp/project" }), CLI).cwd).toBe("/tmp/project");
    const appServer = codexAdapter.buildCommand(spec({ cwd: "/tmp/project" }), CLI);
    expect(appServer.cwd).toBe("/tmp/project");
    expect(json(appServer.initialInput[2]!).params.cwd).toBe("/tmp/project");
  });
});

describe("codex adapter: facts and validate", () => {
  it("names its binary, override variable and approval support", () => {
    expect(codexAdapter.provider).toBe("codex");
    expect(codexAdapter.defaultBinary).toBe("codex");
    expect(codexAdapter.cliPathEnv).toBe("ASM_CODEX_CLI_PATH");
    expect(codexAdapter.supportsApprovals).toBe(true);
    expect(codexAdapter.providerOptionsSchema.parse({})).toEqual({ skip_git_repo_check: true });
  });

  function validationError(options: RunOptionsInput): AsmError {
    try {
      codexAdapter.validate(mergeRunOptions({}, options), "options.defaults");
    } catch (e) {
      expect(e).toBeInstanceOf(AsmError);
      return e as AsmError;
    }
    throw new Error("expected validate to throw");
  }

  it("accepts known provider options", () => {
    expect(() =>
      codexAdapter.validate(mergeRunOptions({}, { permissionMode: "auto", providerOptions: { config: { "features.plugins": false, x: "y", n: 3 }, profile: "ci", skip_git_repo_check: true } }), "options"),
    ).not.toThrow();
  });

  it("rejects an unknown option naming it verbatim", () => {
    const err = validationError({ providerOptions: { skipGitRepoCheck: true } });
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("options.defaults.provider_options.skipGitRepoCheck");
  });

  it("rejects a bad config value or key under provider_options.config", () => {
    const value = validationError({ providerOptions: { config: { "a.b": { nested: true } } } });
    expect(value.kind).toBe("config_invalid");
    expect(value.field).toBe("options.defaults.provider_options.config.a.b");
    const key = validationError({ providerOptions: { config: { "bad key=1": "x" } } });
    expect(key.kind).toBe("config_invalid");
    expect(key.field.startsWith("options.defaults.provider_options.config")).toBe(true);
  });

  it("rejects a bad profile name and skip_git_repo_check of the wrong type", () => {
    expect(validationError({ permissionMode: "auto", providerOptions: { profile: "../x" } }).field).toBe("options.defaults.provider_options.profile");
    expect(validationError({ providerOptions: { skip_git_repo_check: "yes" } }).field).toBe("options.defaults.provider_options.skip_git_repo_check");
  });

  it("rejects a profile when approvals go to asm (app-server has no profiles)", () => {
    const err = validationError({ providerOptions: { profile: "ci" } });
    expect(err.kind).toBe("config_invalid");
    expect(err.field).toBe("options.defaults.provider_options.profile");
    expect(err.message).toContain("interactive_approvals");
    expect(() => codexAdapter.validate(mergeRunOptions({}, { interactiveApprovals: false, providerOptions: { profile: "ci" } }), "options")).not.toThrow();
  });
});

import { describe, expect, it } from "vitest";
import {
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
  type Result,
  type RunOptionsInput,
  type RunSpec,
} from "@asm/shared";
import { geminiAdapter } from "../../shared/src/providers/gemini/gemini-adapter.js";
import { isJson, notesOf, spawnArgs, stdinOf, stdoutOf, transcript, recordedScenarios, type LogLine } from "../helpers/transcripts.js";

// The recordings are test/fixtures/transcripts/gemini/*.log, made from the pinned Gemini CLI by
// `make transcripts` (scenarios: test/transcripts/gemini-scenarios.ts).

const ACP_SCENARIOS = [
  "acp-text",
  "acp-approval-allow",
  "acp-approval-deny",
  "acp-interrupt-streaming",
  "acp-interrupt-approval",
  "acp-error-401",
  "acp-error-429",
  "acp-error-500",
] as const;
const P_SCENARIOS = ["p-text", "p-tool-default", "p-tool-yolo", "p-sigint", "p-error-401", "p-error-429", "p-error-500", "p-resume"] as const;
type AcpScenario = (typeof ACP_SCENARIOS)[number];
type PScenario = (typeof P_SCENARIOS)[number];

const BASE_ENV = { PATH: "/usr/bin:/bin", HOME: "/home/asm" };
const CLI = "/opt/gemini/bin/gemini";
/** The model every recording ran with (`-m`). */
const MODEL = "gemini-2.5-flash";

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

// ---------------------------------------------------------------------------------------------
// What the recordings say

const json = (line: string): Record<string, any> => JSON.parse(line) as Record<string, any>;
const stdout = (scenario: string): string[] => stdoutOf("gemini", scenario);
const stdin = (scenario: string): string[] => stdinOf("gemini", scenario);
const notes = (scenario: string): string[] => notesOf("gemini", scenario);

/** The recorded requests written to the CLI with this method, in order. */
const sent = (scenario: string, method: string): Record<string, any>[] => stdin(scenario).map(json).filter((j) => j.method === method);
/** The prompt texts of the recorded `session/prompt` requests. */
const recordedPrompts = (scenario: string): string[] => sent(scenario, "session/prompt").map((p) => p.params.prompt[0].text as string);
const recordedCwd = (scenario: string): string => sent(scenario, "session/new")[0]!.params.cwd as string;
/** The session id in the CLI's answer to the recorded `session/new` (JSON-RPC id 3). */
const recordedSessionId = (scenario: string): string => json(stdout(scenario).find((l) => json(l).id === 3 && "result" in json(l))!).result.sessionId as string;
/** The recorded `session/request_permission` request. */
const recordedPermission = (scenario: string): Record<string, any> => json(stdout(scenario).find((l) => json(l).method === "session/request_permission")!);
const indexOfLine = (lines: readonly string[], test: (j: Record<string, any>) => boolean): number => lines.findIndex((l) => test(json(l)));

/** One spawned process of a recording: its argv, every entry from its `! spawn` on, its stdout lines. */
interface RecordedProcess {
  args: string[];
  entries: LogLine[];
  lines: string[];
}

/** The argv, entries and stdout lines of each process a scenario spawned, in order. */
function processesOf(scenario: string): RecordedProcess[] {
  const args = spawnArgs("gemini", scenario);
  const out: RecordedProcess[] = [];
  for (const entry of transcript("gemini", scenario)) {
    if (entry.dir === "!" && entry.text.startsWith("spawn ")) out.push({ args: args[out.length]!, entries: [], lines: [] });
    out.at(-1)!.entries.push(entry);
    if (entry.dir === "<") out.at(-1)!.lines.push(entry.text);
  }
  return out;
}

/**
 * The prompt a one-shot process was given: its one `>` entry (the text the recorder wrote to its
 * stdin), which stdin's close follows before the CLI printed anything.
 */
function recordedStdinPrompt({ entries }: RecordedProcess): string {
  const written = entries.filter((e) => e.dir === ">");
  expect(written, "a one-shot process is written exactly one text, its prompt").toHaveLength(1);
  const at = entries.indexOf(written[0]!);
  expect(entries[at + 1], "stdin is closed right after the prompt").toEqual({ dir: "!", text: "stdin closed" });
  expect(entries.slice(0, at).filter((e) => e.dir === "<"), "nothing read before the prompt was written").toEqual([]);
  return written[0]!.text;
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

// ---------------------------------------------------------------------------------------------
// Feeding lines to the adapter

interface Fed {
  run: AdapterRun;
  lines: string[];
  perLine: ParsedLine[];
  payloads: EventPayload[];
}

function feed(run: AdapterRun, lines: readonly string[]): Fed {
  const perLine = lines.map((l) => run.parseLine(l));
  return { run, lines: [...lines], perLine, payloads: payloadsOf(perLine) };
}

const payloadsOf = (parsed: readonly ParsedLine[]): EventPayload[] => parsed.flatMap((p) => p.events.map((e) => e.payload));
const casesOf = (payloads: readonly EventPayload[]): string[] => payloads.map((p) => p.$case);

function only<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C>[] {
  return payloads.filter((p) => p.$case === c).map((p) => p.value as PayloadOf<C>);
}

function single<C extends PayloadCase>(payloads: readonly EventPayload[], c: C): PayloadOf<C> {
  const found = only(payloads, c);
  expect(found, `exactly one ${c}`).toHaveLength(1);
  return found[0]!;
}

const T0 = Date.parse("2026-01-01T00:00:00.000Z");

/** Folds payloads as the controller would number them (1..n, 10 ms apart) through the reducer. */
function reduce(payloads: readonly EventPayload[]): Result {
  const events: Event[] = payloads.map((payload, i) => ({
    id: `evt_${i + 1}`,
    runId: "run_1",
    sessionId: "ses_1",
    sequence: i + 1,
    timestamp: new Date(T0 + i * 10),
    provider: "gemini",
    kind: kindOf(payload),
    providerSessionId: "",
    metadata: undefined,
    payload,
  }));
  return reduceEvents(events);
}

const update = (sessionId: string, u: Record<string, unknown>): string => JSON.stringify({ jsonrpc: "2.0", method: "session/update", params: { sessionId, update: u } });

const rawOf = (line: string): ParsedLine => ({ events: [{ payload: { $case: "raw", value: { stream: "stdout", content: line } } }] });

// ---------------------------------------------------------------------------------------------
// Replaying an ACP recording as a conversation

/**
 * What asm does where the recorder wrote a line asm does not write on its own (an approval
 * answer, an interrupt, the next turn): called with the run and the payloads so far.
 */
type Action = (run: AdapterRun, payloads: readonly EventPayload[]) => string[] | undefined;

const lastApproval = (payloads: readonly EventPayload[]): string => only(payloads, "approvalRequested").at(-1)!.approvalId;
const DENY_REASON = "not allowed by policy";
const allow: Action = (run, payloads) => run.answerApproval(lastApproval(payloads), true, "");
const deny: Action = (run, payloads) => run.answerApproval(lastApproval(payloads), false, DENY_REASON);
const interrupt: Action = (run) => run.interrupt();
const nextTurn =
  (scenario: string): Action =>
  (run) =>
    run.nextTurn?.(recordedPrompts(scenario)[1]!);

const ACP_ACTIONS: Record<AcpScenario, Action[]> = {
  "acp-text": [],
  "acp-approval-allow": [allow],
  "acp-approval-deny": [deny],
  "acp-interrupt-streaming": [interrupt, nextTurn("acp-interrupt-streaming")],
  "acp-interrupt-approval": [interrupt],
  "acp-error-401": [],
  "acp-error-429": [],
  "acp-error-500": [],
};

/** An ACP run as the recorded one was started: its cwd, model and (first) prompt. */
const acpSpec = (scenario: string): RunSpec => spec({ cwd: recordedCwd(scenario), model: MODEL }, { prompt: recordedPrompts(scenario)[0]! });

interface Replay extends Fed {
  /** What asm wrote, one entry per recorded `>` line, at the place of that line. */
  written: string[];
  /** What each action returned. */
  answers: string[][];
  /** The payloads of each turn (split after each line that ends one). */
  turns: EventPayload[][];
}

/**
 * Plays a recorded ACP conversation: the command's initial input, then every `<` line into one
 * run. At each recorded `>` line asm must have something to write right then: a reply to an
 * earlier line, else what the scenario's next action returns.
 */
function replayAcp(scenario: AcpScenario): Replay {
  const s = acpSpec(scenario);
  const run = geminiAdapter.startRun(s);
  const toWrite = [...geminiAdapter.buildCommand(s, CLI).initialInput];
  const actions = [...ACP_ACTIONS[scenario]];
  const fed: Fed = { run, lines: [], perLine: [], payloads: [] };
  const written: string[] = [];
  const answers: string[][] = [];
  const turns: EventPayload[][] = [[]];
  for (const { dir, text } of transcript("gemini", scenario)) {
    if (dir === "<") {
      const parsed = run.parseLine(text);
      const payloads = parsed.events.map((e) => e.payload);
      fed.lines.push(text);
      fed.perLine.push(parsed);
      fed.payloads.push(...payloads);
      turns.at(-1)!.push(...payloads);
      if (parsed.turnEnded) turns.push([]);
      toWrite.push(...(parsed.reply ?? []));
    } else if (dir === ">") {
      if (toWrite.length === 0) {
        const action = actions.shift();
        if (!action) throw new Error(`${scenario}: asm has nothing to write where the recording wrote ${text.slice(0, 100)}`);
        const answer = action(run, fed.payloads) ?? [];
        answers.push(answer);
        toWrite.push(...answer);
      }
      written.push(toWrite.shift() ?? "(nothing)");
    }
  }
  expect(toWrite, `${scenario}: asm wrote more than the recording`).toEqual([]);
  expect(actions, `${scenario}: actions the recording had no place for`).toEqual([]);
  if (turns.at(-1)!.length === 0) turns.pop();
  return { ...fed, written, answers, turns };
}

/** The payloads of the line at `i` of a replay. */
const payloadsAt = (r: Fed, i: number): EventPayload[] => r.perLine[i]!.events.map((e) => e.payload);

// ---------------------------------------------------------------------------------------------
// Replaying a -p recording

/** The settings asm maps to each -p recording's `--approval-mode` (`default` headless needs interactiveApprovals off). */
const pOptions = (scenario: PScenario): RunOptionsInput =>
  scenario === "p-tool-yolo" ? { permissionMode: "bypass", model: MODEL } : { permissionMode: "default", interactiveApprovals: false, model: MODEL };

/** The spec of one recorded -p process (prompt from what it was written on stdin), resuming `resume` if given. */
const pSpec = (scenario: PScenario, process: RecordedProcess, resume?: string): RunSpec =>
  spec(pOptions(scenario), { prompt: recordedStdinPrompt(process), resumeProviderSessionId: resume });

/** One recorded -p process fed into its own run. */
interface PProcess extends Fed {
  spec: RunSpec;
  /** Its recorded argv. */
  args: string[];
  /** The prompt it was written on stdin. */
  prompt: string;
}

/** Every process of a -p recording, each fed into its own run; a later process resumes the session the one before reported. */
function replayP(scenario: PScenario): PProcess[] {
  const out: PProcess[] = [];
  for (const process of processesOf(scenario)) {
    const previous = out.at(-1)?.perLine.at(-1)?.providerSessionId;
    const s = pSpec(scenario, process, previous);
    out.push({ ...feed(geminiAdapter.startRun(s), process.lines), spec: s, args: process.args, prompt: s.prompt });
  }
  return out;
}

const pOnly = (scenario: PScenario): PProcess => {
  const runs = replayP(scenario);
  expect(runs, `${scenario} spawned one process`).toHaveLength(1);
  return runs[0]!;
};

const turnEndFlags = (f: Fed): boolean[] => f.perLine.map((p) => p.turnEnded === true);
const onlyLastEnds = (f: Fed): boolean[] => f.perLine.map((_, i) => i === f.perLine.length - 1);

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: facts", () => {
  it("names the provider, binary, override and approvals", () => {
    expect(geminiAdapter.provider).toBe("gemini");
    expect(geminiAdapter.defaultBinary).toBe("gemini");
    expect(geminiAdapter.cliPathEnv).toBe("ASM_GEMINI_CLI_PATH");
    expect(geminiAdapter.supportsApprovals).toBe(true);
    expect(geminiAdapter.promptOnArgv).toBe(false);
  });
});

describe("gemini adapter: every recorded line parses", () => {
  const ALL = [...ACP_SCENARIOS, ...P_SCENARIOS];

  it("the recordings folder holds exactly the scenarios this file replays", () => {
    expect(recordedScenarios("gemini")).toEqual([...ALL].sort());
  });

  it.each(ALL)("%s: every `<` line is complete JSON and parses without throwing", (scenario) => {
    const lines = stdout(scenario);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const run = geminiAdapter.startRun(scenario.startsWith("acp-") ? acpSpec(scenario) : spec(pOptions(scenario as PScenario)));
    for (const line of lines) {
      expect(isJson(line), line.slice(0, 120)).toBe(true);
      let parsed: ParsedLine | undefined;
      expect(() => {
        parsed = run.parseLine(line);
      }, line.slice(0, 120)).not.toThrow();
      expect(Array.isArray(parsed?.events), line.slice(0, 120)).toBe(true);
    }
  });

  it("every ACP recording back to back into one run never throws", () => {
    const run = geminiAdapter.startRun(spec());
    const lines = ACP_SCENARIOS.flatMap((s) => stdout(s));
    expect(lines.length).toBeGreaterThan(40);
    for (const line of lines) expect(() => run.parseLine(line), line.slice(0, 120)).not.toThrow();
  });

  it.each(ACP_SCENARIOS)("%s: only available_commands_update lines stay raw", (scenario) => {
    const r = replayAcp(scenario);
    const rawLines = r.lines.filter((_, i) => payloadsAt(r, i).some((p) => p.$case === "raw"));
    expect(rawLines.map((l) => json(l).params.update.sessionUpdate)).toEqual(["available_commands_update"]);
  });

  it.each(P_SCENARIOS)("%s: no line becomes raw", (scenario) => {
    for (const { payloads } of replayP(scenario)) expect(casesOf(payloads)).not.toContain("raw");
  });

  it("the recordings carry the normalized cwd and session id", () => {
    for (const scenario of ACP_SCENARIOS) {
      expect(recordedCwd(scenario)).toBe("/tmp/asm-transcript/work");
      expect(recordedSessionId(scenario)).toBe("00000000-0000-4000-8000-000000000001");
    }
    for (const scenario of P_SCENARIOS) expect(json(stdout(scenario)[0]!)).toMatchObject({ type: "init", session_id: "00000000-0000-4000-8000-000000000001" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: ACP handshake and conversation (recorded)", () => {
  it.each(ACP_SCENARIOS)("%s: asm writes exactly the recorded `>` lines, each where the recording wrote it", (scenario) => {
    const r = replayAcp(scenario);
    expect(r.written).toEqual(stdin(scenario));
  });

  it.each(ACP_SCENARIOS)("%s: buildCommand gives the recorded argv; its initial input is the first recorded `>` line", (scenario) => {
    const cmd = geminiAdapter.buildCommand(acpSpec(scenario), CLI);
    expect(spawnArgs("gemini", scenario)).toEqual([["--acp", "--skip-trust", "--approval-mode", "default", "-m", MODEL]]);
    expect(cmd.args).toEqual(spawnArgs("gemini", scenario)[0]);
    expect(cmd.initialInput).toEqual([stdin(scenario)[0]]);
    expect(cmd.keepStdinOpen).toBe(true);
    expect(cmd.cwd).toBe(recordedCwd(scenario));
  });

  it.each(ACP_SCENARIOS)("%s: the answers to initialize, authenticate and session/new are the next recorded requests", (scenario) => {
    const { perLine, lines } = feed(geminiAdapter.startRun(acpSpec(scenario)), stdout(scenario));
    const sentLines = stdin(scenario);
    const answerTo = (id: number): ParsedLine => perLine[indexOfLine(lines, (j) => j.id === id && "result" in j)]!;
    expect([1, 2, 3].map((id) => answerTo(id).reply)).toEqual([[sentLines[1]], [sentLines[2]], [sentLines[3]]]);
    expect(sentLines.slice(0, 4).map((l) => json(l).method)).toEqual(["initialize", "authenticate", "session/new", "session/prompt"]);
    expect(json(sentLines[3]!).params).toEqual({ sessionId: recordedSessionId(scenario), prompt: [{ type: "text", text: recordedPrompts(scenario)[0] }] });
    // The handshake produces no events; session/new reveals the session.
    expect([1, 2, 3].map((id) => answerTo(id).events)).toEqual([[], [], []]);
    expect(answerTo(3).providerSessionId).toBe(recordedSessionId(scenario));
    // Nothing else is written back on its own (approvals, interrupts and next turns are asm's calls).
    expect(perLine.filter((p) => p.reply !== undefined)).toHaveLength(3);
  });

  it("acp-text: one text turn; the reducer gives the streamed text", () => {
    const r = replayAcp("acp-text");
    expect(casesOf(r.payloads)).toEqual(["raw", "assistantDelta", "costUpdate", "result"]);
    expect(single(r.payloads, "assistantDelta")).toEqual({ content: "Hello from the mock model", index: 0 });
    expect(single(r.payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(r.payloads, "result")).toEqual({
      status: "success",
      stopReason: "end_turn",
      text: "Hello from the mock model",
      object: undefined,
      output: { usage: { input_tokens: 20, output_tokens: 10 }, model_usage: [{ model: MODEL, token_count: { input_tokens: 20, output_tokens: 10 } }] },
    });
    expect(turnEndFlags(r)).toEqual(onlyLastEnds(r));
    const result = reduce(r.payloads);
    expect(result.text).toBe("Hello from the mock model");
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: ACP permission (acp-approval-allow, acp-approval-deny)", () => {
  const SCENARIOS = [
    { scenario: "acp-approval-allow", file: "allowed.txt", kind: "allow_once" },
    { scenario: "acp-approval-deny", file: "denied.txt", kind: "reject_once" },
  ] as const;

  it.each(SCENARIOS)("$scenario: the tool is announced by the permission request and asked about with the recorded details", ({ scenario, file }) => {
    const r = replayAcp(scenario);
    const request = recordedPermission(scenario);
    const call = request.params.toolCall;
    expect(call.title).toBe(`touch ${file}`);
    const at = indexOfLine(r.lines, (j) => j.method === "session/request_permission");
    expect(casesOf(payloadsAt(r, at))).toEqual(["toolUse", "approvalRequested"]);
    expect(r.perLine[at]!.providerSessionId).toBe(recordedSessionId(scenario));

    const input = { title: `touch ${file}`, kind: "execute" };
    expect(single(r.payloads, "toolUse")).toEqual({ toolName: "execute", toolCallId: call.toolCallId, input });
    const approval = single(r.payloads, "approvalRequested");
    expect(approval.approvalId).toMatch(/^apr_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(approval.subject).toBe("execute");
    expect(approval.toolCallId).toBe(call.toolCallId);
    expect(approval.details).toEqual({ title: `touch ${file}`, options: request.params.options, content: call.content, tool_input: input });
    expect(approval.details?.options).toEqual([
      { optionId: "proceed_always", name: "Allow for this session", kind: "allow_always" },
      { optionId: "proceed_once", name: "Allow", kind: "allow_once" },
      { optionId: "cancel", name: "Reject", kind: "reject_once" },
    ]);
  });

  it.each(SCENARIOS)("$scenario: answerApproval writes exactly the recorded answer, the $kind option", ({ scenario, kind }) => {
    const r = replayAcp(scenario);
    const request = recordedPermission(scenario);
    const recordedAnswer = stdin(scenario).find((l) => json(l).id === request.id && "result" in json(l))!;
    expect(r.answers).toEqual([[recordedAnswer]]);
    const option = (request.params.options as { optionId: string; kind: string }[]).find((o) => o.kind === kind)!;
    expect(json(recordedAnswer)).toEqual({ jsonrpc: "2.0", id: request.id, result: { outcome: { outcome: "selected", optionId: option.optionId } } });
  });

  it("allow: the CLI's own update reports the tool run; delta, cost and result follow; the file was made", () => {
    const r = replayAcp("acp-approval-allow");
    const call = recordedPermission("acp-approval-allow").params.toolCall;
    expect(casesOf(r.payloads)).toEqual(["raw", "toolUse", "approvalRequested", "toolResult", "assistantDelta", "costUpdate", "result"]);
    // The line right after the answer is the CLI's completed update, and asm adds nothing to it.
    const at = indexOfLine(r.lines, (j) => j.method === "session/request_permission");
    expect(json(r.lines[at + 1]!).params.update).toMatchObject({ sessionUpdate: "tool_call_update", toolCallId: call.toolCallId, status: "completed" });
    expect(payloadsAt(r, at + 1)).toEqual([{ $case: "toolResult", value: { toolCallId: call.toolCallId, content: "", isError: false } }]);

    const text = "done: <untrusted_context>\nOutput: (empty)\nProcess Group PGID: 4242\n</untrusted_context>";
    expect(single(r.payloads, "assistantDelta")).toEqual({ content: text, index: 0 });
    expect(single(r.payloads, "costUpdate")).toEqual({ inputTokens: 40, outputTokens: 20, totalTokens: 60, costUsd: 0 });
    expect(single(r.payloads, "result")).toMatchObject({ status: "success", stopReason: "end_turn", text });
    expect(turnEndFlags(r)).toEqual(onlyLastEnds(r));
    expect(r.perLine.at(-1)!.providerSessionId).toBe(recordedSessionId("acp-approval-allow"));

    const result = reduce(r.payloads);
    expect(result.text).toBe(text);
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
    expect(result.cost).toEqual({ inputTokens: 40, outputTokens: 20, costUsd: 0 });
    expect(notes("acp-approval-allow")).toContain("allowed.txt exists after the run: yes");
  });

  it("deny: the CLI sends no update for the refused tool, so asm reports it not run with the next line; no file was made", () => {
    const r = replayAcp("acp-approval-deny");
    const call = recordedPermission("acp-approval-deny").params.toolCall;
    // Only a denial: no tool_call_update for the call at all (the allow recording has a completed one).
    expect(r.lines.filter((l) => json(l).params?.update?.toolCallId === call.toolCallId)).toEqual([]);
    expect(casesOf(r.payloads)).toEqual(["raw", "toolUse", "approvalRequested", "toolResult", "assistantDelta", "costUpdate", "result"]);

    const at = indexOfLine(r.lines, (j) => j.method === "session/request_permission");
    const text = 'done: Tool "run_shell_command" was canceled by the user.';
    expect(payloadsAt(r, at + 1)).toEqual([
      { $case: "toolResult", value: { toolCallId: call.toolCallId, content: `denied: ${DENY_REASON}`, isError: true } },
      { $case: "assistantDelta", value: { content: text, index: 0 } },
    ]);
    expect(single(r.payloads, "result")).toMatchObject({ status: "success", stopReason: "end_turn", text });
    expect(turnEndFlags(r)).toEqual(onlyLastEnds(r));
    expect(reduce(r.payloads).text).toBe(text);
    expect(notes("acp-approval-deny")).toContain("denied.txt exists after the run: no");
  });

  it("deny without a reason says just denied; a later update for the same call is not reported again", () => {
    const lines = stdout("acp-approval-deny");
    const at = indexOfLine(lines, (j) => j.method === "session/request_permission");
    const { run, payloads } = feed(geminiAdapter.startRun(acpSpec("acp-approval-deny")), lines.slice(0, at + 1));
    expect(run.answerApproval(single(payloads, "approvalRequested").approvalId, false, "")).toEqual([stdin("acp-approval-deny").at(-1)]);
    expect(single(payloadsOf([run.parseLine(lines[at + 1]!)]), "toolResult")).toMatchObject({ content: "denied", isError: true });
    // The allow recording's completed update for the same call id.
    const allowed = stdout("acp-approval-allow").find((l) => json(l).params?.update?.sessionUpdate === "tool_call_update")!;
    expect(json(allowed).params.update.toolCallId).toBe(recordedPermission("acp-approval-deny").params.toolCall.toolCallId);
    expect(run.parseLine(allowed)).toEqual({ ...rawOf(allowed), providerSessionId: recordedSessionId("acp-approval-deny") });
  });

  it("an approval is answered once; unknown approval ids produce nothing", () => {
    const lines = stdout("acp-approval-allow");
    const { run, payloads } = feed(geminiAdapter.startRun(acpSpec("acp-approval-allow")), lines);
    const { approvalId } = single(payloads, "approvalRequested");
    expect(run.answerApproval("apr_unknown", true, "")).toEqual([]);
    expect(run.answerApproval(approvalId, true, "")).toHaveLength(1);
    expect(run.answerApproval(approvalId, false, "")).toEqual([]);
  });

  it("approval ids are fresh for every request, even when the CLI reuses its JSON-RPC id", () => {
    const permission = JSON.stringify(recordedPermission("acp-approval-allow"));
    expect(json(permission).id).toBe(0);
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

describe("gemini adapter: ACP interrupt (acp-interrupt-streaming, acp-interrupt-approval)", () => {
  it("while streaming: interrupt() writes exactly the recorded session/cancel; cancelled ends the turn with user_cancelled", () => {
    const r = replayAcp("acp-interrupt-streaming");
    const cancel = stdin("acp-interrupt-streaming").find((l) => json(l).method === "session/cancel")!;
    expect(r.answers[0]).toEqual([cancel]);
    expect(json(cancel)).toEqual({ jsonrpc: "2.0", method: "session/cancel", params: { sessionId: recordedSessionId("acp-interrupt-streaming") } });

    expect(r.turns).toHaveLength(2);
    const [first] = r.turns;
    expect(casesOf(first!)).toEqual(["raw", "assistantDelta", "error"]);
    expect(single(first!, "assistantDelta")).toEqual({ content: "Partial answer", index: 0 });
    const error = single(first!, "error").error!;
    expect(error.kind).toBe("user_cancelled");
    expect(error.domain).toBe("runtime");
    expect(error.retryable).toBe(false);
    expect(AsmError.fromMessage(error).kind).toBe("user_cancelled");

    const cancelledAt = indexOfLine(r.lines, (j) => j.result?.stopReason === "cancelled");
    expect(r.perLine[cancelledAt]).toMatchObject({ turnEnded: true, providerSessionId: recordedSessionId("acp-interrupt-streaming") });
    expect(r.perLine.slice(0, cancelledAt).some((p) => p.turnEnded)).toBe(false);

    const result = reduce(first!);
    expect(result.status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(result.text).toBe("Partial answer");
    expect(result.error?.kind).toBe("user_cancelled");
  });

  it("after the cancel, nextTurn writes exactly the recorded second session/prompt on the same process and gets a normal result", () => {
    const r = replayAcp("acp-interrupt-streaming");
    const prompts = sent("acp-interrupt-streaming", "session/prompt");
    expect(prompts.map((p) => p.id)).toEqual([4, 5]);
    expect(r.answers[1]).toEqual([stdin("acp-interrupt-streaming").find((l) => json(l).id === 5)]);

    const second = r.turns[1]!;
    expect(casesOf(second)).toEqual(["assistantDelta", "costUpdate", "result"]);
    expect(single(second, "result")).toMatchObject({ status: "success", stopReason: "end_turn", text: "Second turn" });
    expect(single(second, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(r.perLine.at(-1)).toMatchObject({ turnEnded: true, providerSessionId: recordedSessionId("acp-interrupt-streaming") });
    // The second turn's text starts afresh: nothing of the cancelled turn.
    const result = reduce(second);
    expect(result.text).toBe("Second turn");
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
  });

  it("interrupt() and nextTurn() have nothing to write at the wrong time", () => {
    const lines = stdout("acp-interrupt-streaming");
    const cancelledAt = indexOfLine(lines, (j) => j.result?.stopReason === "cancelled");
    const { run } = feed(geminiAdapter.startRun(acpSpec("acp-interrupt-streaming")), lines.slice(0, cancelledAt));
    // A prompt is in flight: no next turn yet.
    expect(run.nextTurn?.("too early")).toBeUndefined();
    expect(run.interrupt()).toHaveLength(1);
    run.parseLine(lines[cancelledAt]!);
    // The turn is over: no protocol interrupt any more.
    expect(run.interrupt()).toBeUndefined();
  });

  it("while a permission waits: interrupt() writes exactly the recorded session/cancel and cancelled outcome; the tool is reported not run", () => {
    const r = replayAcp("acp-interrupt-approval");
    const request = recordedPermission("acp-interrupt-approval");
    const recorded = stdin("acp-interrupt-approval").slice(-2);
    expect(r.answers).toEqual([recorded]);
    expect(recorded.map(json)).toEqual([
      { jsonrpc: "2.0", method: "session/cancel", params: { sessionId: recordedSessionId("acp-interrupt-approval") } },
      { jsonrpc: "2.0", id: request.id, result: { outcome: { outcome: "cancelled" } } },
    ]);

    expect(casesOf(r.payloads)).toEqual(["raw", "toolUse", "approvalRequested", "toolResult", "error"]);
    const end = payloadsAt(r, r.lines.length - 1);
    expect(json(r.lines.at(-1)!).result).toEqual({ stopReason: "cancelled" });
    expect(end).toEqual([
      { $case: "toolResult", value: { toolCallId: request.params.toolCall.toolCallId, content: "cancelled: the run was interrupted", isError: true } },
      expect.objectContaining({ $case: "error" }),
    ]);
    expect(single(end, "error").error?.kind).toBe("user_cancelled");
    expect(turnEndFlags(r)).toEqual(onlyLastEnds(r));
    // Already answered by the interrupt.
    expect(r.run.answerApproval(single(r.payloads, "approvalRequested").approvalId, true, "")).toEqual([]);
    expect(reduce(r.payloads).status).toBe(RunStatus.RUN_STATUS_CANCELLED);
    expect(notes("acp-interrupt-approval")).toContain("pending.txt exists after the run: no");
  });

  it("an interrupt before the prompt is sent has no protocol message (signals), and the prompt is never sent", () => {
    const run = geminiAdapter.startRun(acpSpec("acp-interrupt-streaming"));
    const lines = stdout("acp-interrupt-streaming");
    expect(lines.slice(0, 3).map((l) => json(l).id)).toEqual([1, 2, 3]);
    run.parseLine(lines[0]!);
    run.parseLine(lines[1]!);
    expect(run.interrupt()).toBeUndefined();
    const created = run.parseLine(lines[2]!);
    expect(created.reply).toBeUndefined();
    expect(created.turnEnded).toBe(true);
    expect(created.providerSessionId).toBe(recordedSessionId("acp-interrupt-streaming"));
    expect(single(created.events.map((e) => e.payload), "error").error?.kind).toBe("user_cancelled");
  });
});

// ---------------------------------------------------------------------------------------------

/** How each recorded model API failure must come out, in both modes. */
const RECORDED_ERRORS = [
  [401, "auth_error", "provider_auth_failed", false],
  [429, "rate_limit", "provider_rate_limited", true],
  [500, "provider_error", "provider_unavailable", true],
] as const;

describe("gemini adapter: recorded API errors", () => {
  it.each(RECORDED_ERRORS)("acp-error-%i: the session/prompt error response is a terminal %s (%s)", (status, kind, reasonCode, retryable) => {
    const scenario = `acp-error-${status}` as AcpScenario;
    const r = replayAcp(scenario);
    const recorded = json(r.lines.at(-1)!);
    expect(recorded).toMatchObject({ id: 4, error: { code: status } });
    expect(casesOf(r.payloads)).toEqual(["raw", "error"]);
    expect(turnEndFlags(r)).toEqual(onlyLastEnds(r));
    expect(r.perLine.at(-1)!.providerSessionId).toBe(recordedSessionId(scenario));
    const error = single(r.payloads, "error").error!;
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.provider).toBe("gemini");
    expect(error.reasonCode).toBe(reasonCode);
    expect(error.details).toMatchObject({ provider_code: "session_prompt_failed", method: "session/prompt", rpc_code: status, http_status: status, cli_message: recorded.error.message });
    expect(r.run.interrupt()).toBeUndefined();
    const result = reduce(r.payloads);
    expect(result.status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(result.error?.kind).toBe(kind);
  });

  it.each([
    [401, "gemini API error 401 UNAUTHENTICATED: API key not valid. Please pass a valid API key."],
    [429, "Resource has been exhausted (e.g. check quota).\nSuggested retry after 1s."],
    [500, "gemini API error 500 INTERNAL: An internal error has occurred."],
  ] as const)("acp-error-%i: the message", (status, message) => {
    expect(single(replayAcp(`acp-error-${status}` as AcpScenario).payloads, "error").error?.message).toBe(message);
  });

  it.each(RECORDED_ERRORS)("p-error-%i: the failed result line is a terminal %s (%s)", (status, kind, reasonCode, retryable) => {
    const scenario = `p-error-${status}` as PScenario;
    const f = pOnly(scenario);
    const recorded = json(f.lines.at(-1)!);
    expect(recorded).toMatchObject({ type: "result", status: "error", error: { type: "unknown" } });
    expect(casesOf(f.payloads)).toEqual(["userMessage", "costUpdate", "error"]);
    expect(turnEndFlags(f)).toEqual(onlyLastEnds(f));
    expect(f.perLine.at(-1)!.providerSessionId).toBe(json(f.lines[0]!).session_id);
    const error = single(f.payloads, "error").error!;
    expect(error.kind).toBe(kind);
    expect(error.retryable).toBe(retryable);
    expect(error.provider).toBe("gemini");
    expect(error.reasonCode).toBe(reasonCode);
    expect(error.details).toMatchObject({ provider_code: "api_error", status: "error", error_type: "unknown", cli_message: recorded.error.message });
    expect(reduce(f.payloads).status).toBe(RunStatus.RUN_STATUS_FAILED);
    expect(notes(scenario).some((n) => /^exit code=[1-9]\d* signal=null$/.test(n))).toBe(true);
  });

  it.each([
    [401, 401, "gemini API error 401 UNAUTHENTICATED: API key not valid. Please pass a valid API key."],
    // The CLI flattened the 429 to text (no status code left), with its quota advice appended.
    [429, null, "[API Error: Resource has been exhausted (e.g. check quota).\nSuggested retry after 1s.]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method"],
    [500, 500, "gemini API error 500 INTERNAL: An internal error has occurred."],
  ] as const)("p-error-%i: http status %s and the message", (status, http, message) => {
    const error = single(pOnly(`p-error-${status}` as PScenario).payloads, "error").error!;
    expect(error.details?.http_status).toBe(http);
    expect(error.message).toBe(message);
  });
});

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: -p recordings", () => {
  it.each(P_SCENARIOS)("%s: buildCommand with the equivalent settings gives exactly the recorded argv of every process, and the recorded prompt as stdin text", (scenario) => {
    const runs = replayP(scenario);
    expect(runs).toHaveLength(scenario === "p-resume" ? 2 : 1);
    for (const { spec: s, args, prompt } of runs) {
      const mode = scenario === "p-tool-yolo" ? "yolo" : "default";
      const resume = s.resumeProviderSessionId ? ["--resume", s.resumeProviderSessionId] : [];
      expect(args).toEqual(["--output-format", "stream-json", "--skip-trust", "--approval-mode", mode, "-m", MODEL, ...resume]);
      expect(args.filter((a) => a.includes(prompt))).toEqual([]);
      const cmd = geminiAdapter.buildCommand(s, CLI);
      expect(cmd.args).toEqual(args);
      expect(cmd.keepStdinOpen).toBe(false);
      expect(cmd.initialInput).toEqual([]);
      expect(cmd.stdinText).toBe(prompt);
    }
    expect(stdin(scenario)).toEqual(runs.map((r) => r.prompt));
  });

  it("p-text: init reveals the session; user message, delta, cost and result follow", () => {
    const f = pOnly("p-text");
    const session = json(f.lines[0]!).session_id as string;
    expect(f.perLine[0]).toEqual({ events: [], providerSessionId: session });
    expect(casesOf(f.payloads)).toEqual(["userMessage", "assistantDelta", "costUpdate", "result"]);
    const prompt = recordedStdinPrompt(processesOf("p-text")[0]!);
    expect(f.prompt).toBe(prompt);
    expect(single(f.payloads, "userMessage")).toEqual({ text: prompt, content: [prompt] });
    expect(single(f.payloads, "assistantDelta")).toEqual({ content: "Hello from the mock model", index: 0 });
    expect(single(f.payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(f.payloads, "result")).toEqual({
      status: "success",
      stopReason: "end_turn",
      text: "Hello from the mock model",
      object: undefined,
      output: {
        duration_ms: 100,
        tool_calls: 0,
        usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30, cached: 0 },
        models: { [MODEL]: { total_tokens: 30, input_tokens: 20, output_tokens: 10, cached: 0, input: 20 } },
      },
    });
    expect(f.perLine.map((p) => p.providerSessionId)).toEqual(f.lines.map(() => session));
    expect(turnEndFlags(f)).toEqual(onlyLastEnds(f));
    const result = reduce(f.payloads);
    expect(result.text).toBe("Hello from the mock model");
    expect(result.status).toBe(RunStatus.RUN_STATUS_COMPLETED);
  });

  const TOOL_ID = "run_shell_command__run_shell_command_1767225600001_0";

  it("p-tool-default: the risky tool is not offered headless, so its result is an error and no file is made", () => {
    const f = pOnly("p-tool-default");
    expect(casesOf(f.payloads)).toEqual(["userMessage", "toolUse", "toolResult", "assistantDelta", "costUpdate", "result"]);
    expect(single(f.payloads, "toolUse")).toEqual({ toolName: "run_shell_command", toolCallId: TOOL_ID, input: { command: "touch made.txt", description: "Run a command" } });
    const notOffered = 'Tool "run_shell_command" not found. Did you mean one of: "update_topic", "grep_search", "invoke_agent"?';
    expect(single(f.payloads, "toolResult")).toEqual({ toolCallId: TOOL_ID, content: notOffered, isError: true });
    expect(single(f.payloads, "result")).toMatchObject({ status: "success", text: `done: ${notOffered}`, output: { tool_calls: 1 } });
    expect(reduce(f.payloads).text).toBe(`done: ${notOffered}`);
    expect(notes("p-tool-default")).toContain("made.txt exists after the run: no");
  });

  it("p-tool-yolo: the tool runs unasked; tool use and successful tool result; the file is made", () => {
    const f = pOnly("p-tool-yolo");
    expect(flagValue(f.args, "--approval-mode")).toBe("yolo");
    expect(casesOf(f.payloads)).toEqual(["userMessage", "toolUse", "toolResult", "assistantDelta", "costUpdate", "result"]);
    expect(single(f.payloads, "toolUse")).toEqual({ toolName: "run_shell_command", toolCallId: TOOL_ID, input: { command: "touch yolo.txt", description: "Run a command" } });
    expect(single(f.payloads, "toolResult")).toEqual({ toolCallId: TOOL_ID, content: "", isError: false });
    expect(single(f.payloads, "costUpdate")).toEqual({ inputTokens: 40, outputTokens: 20, totalTokens: 60, costUsd: 0 });
    expect(single(f.payloads, "result").output).toMatchObject({ tool_calls: 1, duration_ms: 100 });
    expect(reduce(f.payloads).text).toBe("done: <untrusted_context>\nOutput: (empty)\nProcess Group PGID: 4242\n</untrusted_context>");
    expect(notes("p-tool-yolo")).toContain("yolo.txt exists after the run: yes");
  });

  it("p-sigint: the CLI stops after the first delta with no result line; the adapter ends no turn (the supervisor reports the signal)", () => {
    const f = pOnly("p-sigint");
    const entries = transcript("gemini", "p-sigint");
    const signalAt = entries.findIndex((e) => e.dir === "!" && e.text === "signal SIGINT");
    expect(signalAt).toBeGreaterThan(0);
    expect(entries.slice(signalAt).filter((e) => e.dir === "<")).toEqual([]);
    expect(notes("p-sigint")).toContain("exit code=0 signal=null");

    expect(casesOf(f.payloads)).toEqual(["userMessage", "assistantDelta"]);
    expect(single(f.payloads, "assistantDelta")).toEqual({ content: "Partial answer", index: 0 });
    expect(turnEndFlags(f)).toEqual(f.lines.map(() => false));
    expect(f.run.interrupt()).toBeUndefined();
    const result = reduce(f.payloads);
    expect(result.text).toBe("Partial answer");
    expect(result.status).toBe(RunStatus.RUN_STATUS_UNSPECIFIED);
  });

  it("p-resume: the second process resumes the session the first reported, and its model saw the first prompt", () => {
    const runs = replayP("p-resume");
    expect(runs).toHaveLength(2);
    const [first, second] = runs;
    const firstSession = first!.perLine.at(-1)!.providerSessionId!;
    expect(firstSession).toBe(json(first!.lines[0]!).session_id);
    expect(flagValue(first!.args, "--resume")).toBeUndefined();
    expect(flagValue(second!.args, "--resume")).toBe(firstSession);
    const [firstPrompt, secondPrompt] = processesOf("p-resume").map(recordedStdinPrompt);
    expect([first!.prompt, second!.prompt]).toEqual([firstPrompt, secondPrompt]);
    // asm's command for that resume is the recorded argv exactly, with the recorded prompt on stdin.
    const resumed = geminiAdapter.buildCommand(spec(pOptions("p-resume"), { prompt: secondPrompt!, resumeProviderSessionId: firstSession }), CLI);
    expect(resumed.args).toEqual(second!.args);
    expect(resumed).toMatchObject({ initialInput: [], stdinText: secondPrompt, keepStdinOpen: false });
    expect(second!.args).toEqual(["--output-format", "stream-json", "--skip-trust", "--approval-mode", "default", "-m", MODEL, "--resume", firstSession]);

    expect(reduce(first!.payloads).text).toBe("noted");
    expect(second!.perLine.at(-1)).toMatchObject({ turnEnded: true, providerSessionId: firstSession });
    expect(reduce(second!.payloads).text).toBe(`history: ${firstPrompt} | ${secondPrompt}`);
  });

  it("has no protocol interrupt and no approvals", () => {
    const run = geminiAdapter.startRun(spec(pOptions("p-text")));
    expect(run.interrupt()).toBeUndefined();
    expect(run.answerApproval("apr_x", true, "")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

/** An ACP run driven through the recorded handshake (acp-text) until its session/prompt (id 4) is in flight. */
function acpAtPrompt(options: RunOptionsInput = {}): { run: AdapterRun; session: string } {
  const run = geminiAdapter.startRun(spec(options));
  const replies = stdout("acp-text")
    .slice(0, 3)
    .flatMap((l) => run.parseLine(l).reply ?? []);
  expect(replies.map((r) => json(r).method)).toEqual(["authenticate", "session/new", "session/prompt"]);
  return { run, session: recordedSessionId("acp-text") };
}

/** The recorded initialize response (the first `<` line of every ACP recording). */
const initializeResponse = (): string => stdout("acp-text")[0]!;
describe("gemini adapter: ACP errors", () => {
  function terminalError(line: string, run: AdapterRun): NonNullable<PayloadOf<"error">["error"]> {
    const parsed = run.parseLine(line);
    expect(parsed.turnEnded).toBe(true);
    const payloads = parsed.events.map((e) => e.payload);
    expect(payloads.map((p) => p.$case)).toEqual(["error"]);
    return single(payloads, "error").error!;
  }

  it("a failed authenticate (-32000) is auth_error (provider_auth_failed)", () => {
    const run = geminiAdapter.startRun(spec());
    run.parseLine(initializeResponse());
    const error = terminalError('{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"Gemini API key is missing or not configured."}}', run);
    expect(error.kind).toBe("auth_error");
    expect(error.provider).toBe("gemini");
    expect(error.reasonCode).toBe("provider_auth_failed");
    expect(error.retryable).toBe(false);
    expect(error.message).toContain("Gemini API key is missing");
    expect(error.details).toMatchObject({ provider_code: "authenticate_failed", method: "authenticate", rpc_code: -32000 });
  });

  it("a failed initialize is a provider_error (provider_failed) naming the method", () => {
    const run = geminiAdapter.startRun(spec());
    const error = terminalError('{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error","data":{"details":"boom"}}}', run);
    expect(error.kind).toBe("provider_error");
    expect(error.reasonCode).toBe("provider_failed");
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ provider_code: "initialize_failed", method: "initialize", rpc_code: -32603 });
    expect(error.message).toBe('Internal error: {"details":"boom"}');
  });

  it("session/new refused for auth (-32000) is auth_error (provider_auth_failed)", () => {
    const run = geminiAdapter.startRun(spec());
    const handshake = stdout("acp-text").slice(0, 2);
    for (const l of handshake) run.parseLine(l);
    const error = terminalError('{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"Authentication required."}}', run);
    expect(error.kind).toBe("auth_error");
    expect(error.reasonCode).toBe("provider_auth_failed");
    expect(error.details).toMatchObject({ provider_code: "session_new_failed", method: "session/new", rpc_code: -32000 });
  });

  it("session/new refused otherwise is config_invalid (provider_request_refused): asm asked for something gemini does not accept", () => {
    const run = geminiAdapter.startRun(spec());
    for (const l of stdout("acp-text").slice(0, 2)) run.parseLine(l);
    const error = terminalError('{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params","data":{"details":"unknown model: nope"}}}', run);
    expect(error.kind).toBe("config_invalid");
    expect(error.reasonCode).toBe("provider_request_refused");
    expect(error.retryable).toBe(false);
    expect(error.details).toMatchObject({ provider_code: "session_new_failed", method: "session/new", rpc_code: -32602 });
  });

  it.each([
    ['{"code":429,"message":"Rate limit exceeded. Try again later."}', "rate_limit", "provider_rate_limited", true, 429],
    ['{"code":401,"message":"API key not valid. Please pass a valid API key."}', "auth_error", "provider_auth_failed", false, 401],
    ['{"code":403,"message":"The caller does not have permission"}', "auth_error", "provider_auth_failed", false, 403],
    ['{"code":400,"message":"mock 400"}', "provider_error", "provider_failed", false, 400],
    ['{"code":500,"message":"Unknown stream execution error."}', "provider_error", "provider_unavailable", true, 500],
    ['{"code":-32603,"message":"Internal error","data":{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}}', "rate_limit", "provider_rate_limited", true, 429],
    ['{"code":-32603,"message":"Internal error","data":{"details":"No previous sessions found for this project."}}', "provider_error", "provider_failed", false, null],
  ] as const)("session/prompt error %s → %s (%s)", (errorJson, kind, reasonCode, retryable, http) => {
    const { run } = acpAtPrompt();
    const error = terminalError(`{"jsonrpc":"2.0","id":4,"error":${errorJson}}`, run);
    expect(error.kind).toBe(kind);
    expect(error.reasonCode).toBe(reasonCode);
    expect(error.details).toMatchObject({ provider_code: "session_prompt_failed", method: "session/prompt", http_status: http });
    expect(error.retryable).toBe(retryable);
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
    for (const l of stdout("acp-text").slice(0, 2)) run.parseLine(l);
    const parsed = run.parseLine('{"jsonrpc":"2.0","id":3,"result":{}}');
    expect(parsed.turnEnded).toBe(true);
    expect(parsed.reply).toBeUndefined();
    expect(single(parsed.events.map((e) => e.payload), "error").error).toMatchObject({ kind: "provider_error", reasonCode: "provider_protocol_error", retryable: false, details: { method: "session/new" } });
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
    const reply = run.parseLine(initializeResponse()).reply!;
    expect(JSON.parse(reply[0]!)).toEqual({ jsonrpc: "2.0", id: 2, method: "authenticate", params: { methodId: "oauth-personal" } });
  });
});

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

describe("gemini adapter: -p error classification", () => {
  const apiError = (code: number, status: string): string =>
    `[API Error: ${JSON.stringify({ error: { code, message: `mock ${code}`, status } })}]`;
  const resultLine = (error: Record<string, unknown> | undefined): string => JSON.stringify({ type: "result", status: "error", ...(error ? { error } : {}) });

  it.each([
    [{ type: "unknown", message: apiError(401, "UNAUTHENTICATED") }, "auth_error", "provider_auth_failed", false, "api_error"],
    [{ type: "unknown", message: apiError(403, "PERMISSION_DENIED") }, "auth_error", "provider_auth_failed", false, "api_error"],
    [{ type: "unknown", message: apiError(429, "RESOURCE_EXHAUSTED") }, "rate_limit", "provider_rate_limited", true, "api_error"],
    [{ type: "unknown", message: apiError(500, "INTERNAL") }, "provider_error", "provider_unavailable", true, "api_error"],
    [{ type: "unknown", message: apiError(503, "UNAVAILABLE") }, "provider_error", "provider_unavailable", true, "api_error"],
    [{ type: "unknown", message: apiError(400, "INVALID_ARGUMENT") }, "provider_error", "provider_failed", false, "api_error"],
    [{ type: "unknown", message: "[API Error: mock 429]\nPlease wait and try again later. To increase your limits, request a quota increase through AI Studio, or switch to another /auth method" }, "rate_limit", "provider_rate_limited", true, "api_error"],
    [{ type: "unknown", message: "[API Error: Too many (Status: RESOURCE_EXHAUSTED)]" }, "rate_limit", "provider_rate_limited", true, "api_error"],
    [{ type: "FatalAuthenticationError", message: "Invalid auth method selected." }, "auth_error", "provider_auth_failed", false, "FatalAuthenticationError"],
    [{ type: "FatalCancellationError", message: "Operation cancelled." }, "user_cancelled", "turn_interrupted", false, "FatalCancellationError"],
    [{ type: "FatalTurnLimitedError", message: "Reached max session turns" }, "provider_error", "max_turns_reached", false, "FatalTurnLimitedError"],
    [{ type: "unknown", message: "[API Error: exception TypeError: fetch failed sending request]" }, "provider_error", "provider_unavailable", true, "api_error"],
  ] as const)("%j → %s (%s)", (error, kind, reasonCode, retryable, providerCode) => {
    const run = geminiAdapter.startRun(spec({ permissionMode: "auto" }));
    const parsed = run.parseLine(resultLine(error));
    expect(parsed.turnEnded).toBe(true);
    const e = single(parsed.events.map((ev) => ev.payload), "error").error!;
    expect(e.kind).toBe(kind);
    expect(e.reasonCode).toBe(reasonCode);
    expect(e.retryable).toBe(retryable);
    expect(e.details).toMatchObject({ provider_code: providerCode });
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
    expect(cmd.stdinText).toBeUndefined();
  });

  it("auto mode → one-shot: exact argv, the prompt as stdin text, then stdin closed, no input lines", () => {
    const cmd = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI);
    expect(cmd.args).toEqual(["--output-format", "stream-json", "--skip-trust", "--approval-mode", "auto_edit"]);
    expect(cmd.keepStdinOpen).toBe(false);
    expect(cmd.initialInput).toEqual([]);
    expect(cmd.stdinText).toBe("go");
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
    const { args, keepStdinOpen, initialInput, stdinText } = geminiAdapter.buildCommand(s, CLI);
    expect(flagValue(args, "--approval-mode")).toBe(flag);
    expect(args.filter((a) => a === "--approval-mode")).toHaveLength(1);
    expect(args).toContain("--skip-trust");
    expect(args.includes("--acp")).toBe(acp);
    // Neither mode puts the prompt on the command line: one-shot writes it to stdin, ACP sends session/prompt.
    expect(args.some((a) => a === "-p" || a.startsWith("--prompt"))).toBe(false);
    expect(args.includes("stream-json")).toBe(!acp);
    expect(keepStdinOpen).toBe(acp);
    expect(initialInput).toHaveLength(acp ? 1 : 0);
    expect(stdinText).toBe(acp ? undefined : "go");
    // startRun makes the same choice: only the ACP run answers an initialize response.
    const reply = geminiAdapter.startRun(s).parseLine(initializeResponse()).reply;
    expect(reply !== undefined).toBe(acp);
  });

  it("-m only when a model is set, in both modes", () => {
    expect(geminiAdapter.buildCommand(spec(), CLI).args).not.toContain("-m");
    expect(geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI).args).not.toContain("-m");
    expect(flagValue(geminiAdapter.buildCommand(spec({ model: "gemini-2.5-flash" }), CLI).args, "-m")).toBe("gemini-2.5-flash");
    expect(flagValue(geminiAdapter.buildCommand(spec({ model: "gemini-2.5-flash", permissionMode: "bypass" }), CLI).args, "-m")).toBe("gemini-2.5-flash");
  });

  it("--resume in one-shot mode only; ACP starts a new session (session/load is broken)", () => {
    const id = json(stdout("p-resume")[0]!).session_id as string;
    const oneShot = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }, { resumeProviderSessionId: id }), CLI);
    expect(flagValue(oneShot.args, "--resume")).toBe(id);
    expect(geminiAdapter.buildCommand(spec({ permissionMode: "auto" }), CLI).args).not.toContain("--resume");

    const acpResumed = spec({}, { resumeProviderSessionId: id });
    const acp = geminiAdapter.buildCommand(acpResumed, CLI);
    expect(acp.args).not.toContain("--resume");
    expect(acp.initialInput.map((l) => (JSON.parse(l) as { method: string }).method)).toEqual(["initialize"]);
    const run = geminiAdapter.startRun(acpResumed);
    const replies = stdout("acp-text")
      .slice(0, 2)
      .flatMap((l) => run.parseLine(l).reply ?? []);
    expect(replies.map((r) => (JSON.parse(r) as { method: string }).method)).toEqual(["authenticate", "session/new"]);
  });

  it("the one-shot prompt never goes on the command line, whether it starts with a dash, spans lines or reads like resume; it is stdinText exactly", () => {
    for (const prompt of ["-x hello", "--model foo", "-p", 'line one\nline "two"\n', "a=b --c", "resume", "--resume ses_other"]) {
      for (const resumeProviderSessionId of [undefined, "ses_prev"]) {
        const cmd = geminiAdapter.buildCommand(spec({ permissionMode: "auto" }, { prompt, resumeProviderSessionId }), CLI);
        const resume = resumeProviderSessionId ? ["--resume", resumeProviderSessionId] : [];
        expect(cmd.args).toEqual(["--output-format", "stream-json", "--skip-trust", "--approval-mode", "auto_edit", ...resume]);
        expect(cmd.args).not.toContain(prompt);
        if (resumeProviderSessionId) expect(cmd.args.filter((a) => a === "--resume"), "only asm's own --resume").toHaveLength(1);
        else expect(cmd.args.filter((a) => a.includes(prompt))).toEqual([]);
        expect(cmd.stdinText).toBe(prompt);
        expect(cmd.initialInput).toEqual([]);
        expect(cmd.keepStdinOpen).toBe(false);
      }
    }
  });

  it("the ACP prompt travels in session/prompt, not argv", () => {
    const s = spec({}, { prompt: 'multi\nline "quoted"' });
    expect(geminiAdapter.buildCommand(s, CLI).args.some((a) => a.includes("multi"))).toBe(false);
    const { run } = { run: geminiAdapter.startRun(s) };
    const replies = stdout("acp-text").slice(0, 3).flatMap((l) => run.parseLine(l).reply ?? []);
    const prompt = JSON.parse(replies[2]!) as { params: { prompt: unknown } };
    expect(prompt.params.prompt).toEqual([{ type: "text", text: 'multi\nline "quoted"' }]);
    expect(replies[2]).not.toContain("\n");
  });

  it("session/new uses the run's cwd (settings, else the default)", () => {
    const newSession = (s: RunSpec): unknown => {
      const run = geminiAdapter.startRun(s);
      const replies = stdout("acp-text").slice(0, 2).flatMap((l) => run.parseLine(l).reply ?? []);
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

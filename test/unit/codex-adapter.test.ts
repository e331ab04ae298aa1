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
import { isJson, notesOf, spawnArgs, stdinOf, stdoutOf, transcript, type LogLine, recordedScenarios } from "../helpers/transcripts.js";

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
// Recorded transcripts: test/fixtures/transcripts/codex/*.log, recorded from the pinned Codex CLI
// by `make transcripts` (scenarios: test/transcripts/codex-scenarios.ts).

const CLI = "/opt/codex/bin/codex";
/** The model every scenario asked for. */
const MODEL = "gpt-5.5";

const APP_SERVER_SCENARIOS = [
  "as-text",
  "as-approval-allow",
  "as-approval-deny",
  "as-interrupt-streaming",
  "as-interrupt-approval",
  "as-error-401",
  "as-error-429",
  "as-error-500",
  "as-resume",
] as const;
const EXEC_SCENARIOS = ["exec-text", "exec-tool-bypass", "exec-tool-workspace-write", "exec-sigint", "exec-error-401", "exec-error-429", "exec-error-500", "exec-resume"] as const;

/** The mock model's answers, as the scenarios' prompts asked for them. */
const HELLO = "Hello from the mock model";
const RAN = "done: Chunk ID: 000000\nWall time: 0.0000 seconds\nProcess exited with code 0\nOriginal token count: 0\nOutput:";
const REJECTED = 'done: exec_command failed: CreateProcess { message: "Rejected(\\"rejected by user\\")" }';
const HISTORY = "history: remember the word PAPAYA-7 [[reply:text:noted]] | what did I say? [[reply:echo-history]]";

/** Each CLI process of a transcript: its entries from its `! spawn` note up to the next one. */
function processesOf(scenario: string): LogLine[][] {
  const processes: LogLine[][] = [];
  for (const entry of transcript("codex", scenario)) {
    if (entry.dir === "!" && entry.text.startsWith("spawn ")) processes.push([]);
    processes[processes.length - 1]!.push(entry);
  }
  return processes;
}

const sent = (process: readonly LogLine[]): Record<string, any>[] => process.filter((e) => e.dir === ">").map((e) => json(e.text));

/** The one recorded `<` line of a process that `pick` selects, as it was recorded. */
function recordedLine(process: readonly LogLine[], pick: (line: Record<string, any>) => boolean): string {
  const found = process.filter((e) => e.dir === "<" && pick(json(e.text)));
  expect(found, "exactly one such recorded line").toHaveLength(1);
  return found[0]!.text;
}

/** The CLI's answer to the app-server request `id` in one process: the recorded line, and parsed. */
const answerLine = (process: readonly LogLine[], id: number): string => recordedLine(process, (l) => l.id === id && l.method === undefined);
const answerTo = (process: readonly LogLine[], id: number): Record<string, any> => json(answerLine(process, id));
const notification = (process: readonly LogLine[], method: string): Record<string, any> => json(recordedLine(process, (l) => l.method === method));
const promptOf = (turnStart: Record<string, any>): string => turnStart.params.input[0].text as string;

/**
 * asm's spec for each recorded app-server process: the model, cwd and first prompt the recorder
 * asked for; a later process resumes the thread the CLI gave the process before it.
 */
function appServerSpecs(scenario: string): RunSpec[] {
  return processesOf(scenario).map((process, i, all) => {
    const requests = sent(process);
    const thread = requests.find((r) => r.method === "thread/start" || r.method === "thread/resume")!;
    const turn = requests.find((r) => r.method === "turn/start")!;
    return spec(
      { model: MODEL, cwd: thread.params.cwd as string },
      { prompt: promptOf(turn), resumeProviderSessionId: i === 0 ? undefined : (answerTo(all[i - 1]!, 2).result.thread.id as string) },
    );
  });
}

/** The recorder introduced itself as asm-transcripts/1, asm as asm/0.1.0; nothing else may differ. */
function normalized(line: Record<string, any>): Record<string, any> {
  if (line.method !== "initialize") return line;
  return { ...line, params: { ...line.params, clientInfo: { ...line.params.clientInfo, name: "<client>", version: "<version>" } } };
}

type Source = "initial" | "reply" | "answer" | "interrupt" | "nextTurn";

interface Written {
  source: Source;
  line: string;
}

interface ProcessReplay {
  spec: RunSpec;
  run: AdapterRun;
  /** Every line asm wrote, in order; each was checked against the recorded `>` line at its place. */
  written: Written[];
  perLine: { line: string; parsed: ParsedLine }[];
  /** The payloads of each turn, up to and including the line that ended it. */
  turns: EventPayload[][];
  /** Payloads after the last turn ended (nothing may follow a terminal event). */
  after: EventPayload[];
}

/**
 * What asm writes on its own initiative where the recording wrote `recorded` and asm had nothing
 * queued: the answer to an open approval, an interrupt, the next turn.
 */
function initiative(run: AdapterRun, recorded: Record<string, any>, approvals: ReadonlyMap<string, string>): Written {
  const one = (source: Source, lines: string[] | undefined): Written => {
    expect(lines, `asm's ${source}`).toHaveLength(1);
    return { source, line: lines![0]! };
  };
  if (recorded.result?.decision !== undefined) {
    const approvalId = approvals.get(JSON.stringify(recorded.id));
    expect(approvalId, `an approval asked under request id ${recorded.id}`).toMatch(/^apr_/);
    return one("answer", run.answerApproval(approvalId!, recorded.result.decision === "accept", ""));
  }
  if (recorded.method === "turn/interrupt") return one("interrupt", run.interrupt());
  if (recorded.method === "turn/start") return one("nextTurn", run.nextTurn?.(promptOf(recorded)));
  throw new Error(`asm would not write ${JSON.stringify(recorded)}`);
}

/**
 * Replays one recorded app-server process through one run: every `<` line is parsed in order, and
 * every `>` line must equal what asm itself writes at that point (its initial input, the replies
 * parseLine returned, its approval answer, its interrupt, its next turn).
 */
function replayProcess(process: readonly LogLine[], s: RunSpec): ProcessReplay {
  const run = codexAdapter.startRun(s);
  const queue: Written[] = codexAdapter.buildCommand(s, CLI).initialInput.map((line) => ({ source: "initial", line }));
  const written: Written[] = [];
  const perLine: ProcessReplay["perLine"] = [];
  const approvals = new Map<string, string>();
  const turns: EventPayload[][] = [];
  let current: EventPayload[] = [];
  for (const entry of process) {
    if (entry.dir === "<") {
      const parsed = run.parseLine(entry.text);
      perLine.push({ line: entry.text, parsed });
      queue.push(...(parsed.reply ?? []).map((line): Written => ({ source: "reply", line })));
      for (const e of parsed.events) if (e.payload.$case === "approvalRequested") approvals.set(JSON.stringify(json(entry.text).id), e.payload.value.approvalId);
      current.push(...payloadsOf([parsed]));
      if (parsed.turnEnded) {
        turns.push(current);
        current = [];
      }
    } else if (entry.dir === ">") {
      const recorded = json(entry.text);
      const ours = queue.shift() ?? initiative(run, recorded, approvals);
      expect(normalized(json(ours.line)), `asm's ${ours.source} where the recording wrote ${entry.text.slice(0, 100)}`).toEqual(normalized(recorded));
      written.push(ours);
    }
  }
  expect(queue, "asm wrote nothing the recording lacks").toEqual([]);
  return { spec: s, run, written, perLine, turns, after: current };
}

/** Every process of a recorded app-server scenario, replayed. */
function replay(scenario: string): ProcessReplay[] {
  const specs = appServerSpecs(scenario);
  return processesOf(scenario).map((process, i) => replayProcess(process, specs[i]!));
}

/** `raw configWarning` for a raw line (named by its method or type), the payload case otherwise. */
function label(p: EventPayload): string {
  if (p.$case !== "raw") return p.$case;
  const line = json(p.value.content);
  return `raw ${line.method ?? line.type}`;
}

const writtenLabel = (w: Written): string => `${w.source} ${json(w.line).method ?? json(w.line).result.decision}`;

describe("codex adapter: the recordings", () => {
  it("the scenario lists name every recorded file", () => {
    expect(recordedScenarios("codex")).toEqual([...APP_SERVER_SCENARIOS, ...EXEC_SCENARIOS].sort());
  });

  it.each([...APP_SERVER_SCENARIOS, ...EXEC_SCENARIOS])("%s: every `<` line is complete JSON", (scenario) => {
    const lines = stdoutOf("codex", scenario);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.filter((l) => !isJson(l))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// app-server transcripts

interface TurnExpectation {
  events: string[];
  status: RunStatus;
  text: string;
}

interface ProcessExpectation {
  written: string[];
  turns: TurnExpectation[];
}

const COMPLETED = RunStatus.RUN_STATUS_COMPLETED;
const CANCELLED = RunStatus.RUN_STATUS_CANCELLED;
const FAILED = RunStatus.RUN_STATUS_FAILED;

const STARTED = ["initial initialize", "initial initialized", "initial thread/start", "reply turn/start"];
const RESUMED = ["initial initialize", "initial initialized", "initial thread/resume", "reply turn/start"];
const TEXT_TURN = ["raw configWarning", "assistantDelta", "assistantMessage", "costUpdate", "result"];
const APPROVED_TURN = ["raw configWarning", "toolUse", "approvalRequested", "toolResult", "costUpdate", "assistantDelta", "assistantMessage", "costUpdate", "result"];
const FAILED_TURN: TurnExpectation = { events: ["raw configWarning", "raw error", "error"], status: FAILED, text: "" };

const APP_SERVER_RUNS: [string, ProcessExpectation[]][] = [
  ["as-text", [{ written: STARTED, turns: [{ events: TEXT_TURN, status: COMPLETED, text: HELLO }] }]],
  ["as-approval-allow", [{ written: [...STARTED, "answer accept"], turns: [{ events: APPROVED_TURN, status: COMPLETED, text: RAN }] }]],
  ["as-approval-deny", [{ written: [...STARTED, "answer decline"], turns: [{ events: APPROVED_TURN, status: COMPLETED, text: REJECTED }] }]],
  [
    "as-interrupt-streaming",
    [
      {
        written: [...STARTED, "interrupt turn/interrupt", "nextTurn turn/start"],
        turns: [
          { events: ["raw configWarning", "assistantDelta", "error"], status: CANCELLED, text: "Partial answer" },
          { events: ["assistantDelta", "assistantMessage", "costUpdate", "result"], status: COMPLETED, text: "Second turn" },
        ],
      },
    ],
  ],
  [
    "as-interrupt-approval",
    [
      {
        written: [...STARTED, "interrupt turn/interrupt"],
        turns: [{ events: ["raw configWarning", "toolUse", "approvalRequested", "costUpdate", "approvalResolved", "error"], status: CANCELLED, text: "" }],
      },
    ],
  ],
  ["as-error-401", [{ written: STARTED, turns: [FAILED_TURN] }]],
  ["as-error-429", [{ written: STARTED, turns: [FAILED_TURN] }]],
  ["as-error-500", [{ written: STARTED, turns: [FAILED_TURN] }]],
  [
    "as-resume",
    [
      { written: STARTED, turns: [{ events: TEXT_TURN, status: COMPLETED, text: "noted" }] },
      { written: RESUMED, turns: [{ events: TEXT_TURN, status: COMPLETED, text: HISTORY }] },
    ],
  ],
];

describe("codex adapter: recorded app-server conversations, replayed", () => {
  it("the table covers every app-server recording", () => {
    expect(APP_SERVER_RUNS.map(([scenario]) => scenario)).toEqual([...APP_SERVER_SCENARIOS]);
  });

  it.each(APP_SERVER_RUNS)("%s: asm writes exactly the recorded lines; each turn yields exactly these events and reduces to its status and text", (scenario, expected) => {
    const replays = replay(scenario);
    expect(
      replays.map((r) => ({
        written: r.written.map(writtenLabel),
        turns: r.turns.map((t): TurnExpectation => {
          const result = reduceEvents(asEvents(t));
          return { events: t.map(label), status: result.status, text: result.text };
        }),
        after: r.after.map(label),
      })),
    ).toEqual(expected.map((e) => ({ ...e, after: [] })));
  });

  it.each(APP_SERVER_SCENARIOS)("%s: the thread answer reveals the provider session; every turn end carries it", (scenario) => {
    const replays = replay(scenario);
    processesOf(scenario).forEach((process, i) => {
      const threadId = answerTo(process, 2).result.thread.id as string;
      const { perLine } = replays[i]!;
      expect(perLine.find((l) => l.line === answerLine(process, 2))!.parsed.providerSessionId).toBe(threadId);
      const ends = perLine.filter((l) => l.parsed.turnEnded);
      expect(ends.map((l) => json(l.line).method)).toEqual(ends.map(() => "turn/completed"));
      expect(ends.map((l) => l.parsed.providerSessionId)).toEqual(ends.map(() => threadId));
    });
  });
});

describe("codex adapter: recorded text turn (as-text)", () => {
  it("delta, message, usage and one completed result with the turn's id, duration and usage", () => {
    const [process] = processesOf("as-text");
    const turn = replay("as-text")[0]!.turns[0]!;
    const recordedTurn = notification(process!, "turn/completed").params.turn;
    expect(recordedTurn.id).toBe(answerTo(process!, 3).result.turn.id);
    expect(single(turn, "assistantDelta")).toEqual({ content: HELLO, index: 0 });
    expect(single(turn, "assistantMessage")).toEqual({ text: HELLO, model: MODEL, content: [{ type: "text", text: HELLO }], aborted: false });
    expect(single(turn, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(turn, "result")).toEqual({
      status: "completed",
      stopReason: "end_turn",
      text: HELLO,
      object: undefined,
      output: { turn_id: recordedTurn.id, duration_ms: recordedTurn.durationMs, usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30 } },
    });
    expect(reduceEvents(asEvents(turn))).toMatchObject({ status: COMPLETED, text: HELLO, stopReason: "end_turn", cost: { inputTokens: 20, outputTokens: 10, costUsd: 0 } });
  });

  it("the configWarning notification is kept as raw, verbatim", () => {
    const [process] = processesOf("as-text");
    const warning = recordedLine(process!, (l) => l.method === "configWarning");
    expect(replay("as-text")[0]!.perLine.find((l) => l.line === warning)!.parsed).toEqual(rawOf(warning));
  });
});

describe("codex adapter: recorded approvals (as-approval-allow, as-approval-deny)", () => {
  it.each([
    ["as-approval-allow", "accept", "allowed.txt", "yes", { content: "", isError: false }, RAN],
    ["as-approval-deny", "decline", "denied.txt", "no", { content: "command declined", isError: true }, REJECTED],
  ] as const)("%s: asm answers %s; the recorder found %s … %s", (scenario, decision, file, exists, toolResult, reply) => {
    const [process] = processesOf(scenario);
    const [r] = replay(scenario);
    const turn = r!.turns[0]!;
    const request = notification(process!, "item/commandExecution/requestApproval");
    const { itemId, command, cwd, commandActions } = request.params;

    expect(single(turn, "toolUse")).toEqual({ toolName: "shell", toolCallId: itemId, input: { command, cwd } });
    expect(single(turn, "approvalRequested")).toEqual({
      approvalId: expect.stringMatching(/^apr_[0-9A-Z]{26}$/),
      subject: "command",
      toolCallId: itemId,
      details: { command, cwd, reason: "", kind: "command", command_actions: commandActions, tool_input: { command, cwd } },
    });
    // The answer goes under the CLI's own request id; its resolved notice afterwards adds nothing.
    expect(json(r!.written.find((w) => w.source === "answer")!.line)).toEqual({ id: request.id, result: { decision } });
    expect(r!.perLine.find((l) => json(l.line).method === "serverRequest/resolved")!.parsed).toEqual({ events: [] });
    expect(single(turn, "toolResult")).toEqual({ toolCallId: itemId, ...toolResult });

    // Two model calls (the tool call, then the reply), each counted once.
    expect(only(turn, "costUpdate")).toEqual([
      { inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 },
      { inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 },
    ]);
    expect(single(turn, "assistantDelta")).toEqual({ content: reply, index: 0 });
    const result = single(turn, "result");
    expect(result).toMatchObject({ status: "completed", stopReason: "end_turn", text: reply });
    expect(result.output).toMatchObject({ usage: { input_tokens: 40, output_tokens: 20, total_tokens: 60 } });
    expect(reduceEvents(asEvents(turn))).toMatchObject({ status: COMPLETED, text: reply, cost: { inputTokens: 40, outputTokens: 20, costUsd: 0 } });

    expect(notesOf("codex", scenario)).toContain(`${file} exists after the run: ${exists}`);
  });

  it("serverRequest/resolved after asm answered yields nothing; before, it withdraws the approval", () => {
    const [process] = processesOf("as-approval-allow");
    const request = recordedLine(process!, (l) => l.method === "item/commandExecution/requestApproval");
    const resolved = recordedLine(process!, (l) => l.method === "serverRequest/resolved");
    const [s] = appServerSpecs("as-approval-allow");

    const answered = codexAdapter.startRun(s!);
    const id = single(payloadsOf([answered.parseLine(request)]), "approvalRequested").approvalId;
    expect(answered.answerApproval(id, true, "")).toHaveLength(1);
    expect(answered.parseLine(resolved)).toEqual({ events: [] });

    const withdrawn = codexAdapter.startRun(s!);
    const id2 = single(payloadsOf([withdrawn.parseLine(request)]), "approvalRequested").approvalId;
    expect(withdrawn.parseLine(resolved).events.map((e) => e.payload)).toEqual([
      { $case: "approvalResolved", value: { approvalId: id2, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" } },
    ]);
    // Withdrawn: a late decision has nothing to answer.
    expect(withdrawn.answerApproval(id2, true, "")).toEqual([]);
    expect(withdrawn.parseLine(resolved)).toEqual({ events: [] });
  });
});

describe("codex adapter: recorded interrupt while streaming, then a second turn (as-interrupt-streaming)", () => {
  const SCENARIO = "as-interrupt-streaming";

  it("interrupt() writes the recorded turn/interrupt; its answer is quiet; the turn ends in one user_cancelled error", () => {
    const [process] = processesOf(SCENARIO);
    const [r] = replay(SCENARIO);
    const threadId = answerTo(process!, 2).result.thread.id;
    const turnId = answerTo(process!, 3).result.turn.id;
    expect(json(r!.written.find((w) => w.source === "interrupt")!.line)).toEqual({ method: "turn/interrupt", id: 4, params: { threadId, turnId } });
    expect(r!.perLine.find((l) => l.line === answerLine(process!, 4))!.parsed).toEqual({ events: [] });

    const first = r!.turns[0]!;
    expect(single(first, "assistantDelta")).toEqual({ content: "Partial answer", index: 0 });
    expect(single(first, "error").error).toMatchObject({
      kind: "user_cancelled",
      provider: "codex",
      message: "codex turn interrupted",
      reasonCode: "turn_interrupted",
      details: { turn_id: turnId },
    });
    expect(r!.perLine.filter((l) => l.parsed.turnEnded).map((l) => json(l.line).params.turn.status)).toEqual(["interrupted", "completed"]);
  });

  it("nextTurn starts the second turn on the same thread with the next request id; its deltas count from 0 again; its result is its own", () => {
    const [process] = processesOf(SCENARIO);
    const [r] = replay(SCENARIO);
    const threadId = answerTo(process!, 2).result.thread.id;
    const secondTurnId = answerTo(process!, 5).result.turn.id;
    expect(json(r!.written.find((w) => w.source === "nextTurn")!.line)).toEqual({
      method: "turn/start",
      id: 5,
      params: { threadId, input: [{ type: "text", text: "and now? [[reply:text:Second turn]]", text_elements: [] }] },
    });
    const second = r!.turns[1]!;
    expect(single(second, "assistantDelta")).toEqual({ content: "Second turn", index: 0 });
    expect(single(second, "result").output).toMatchObject({ turn_id: secondTurnId, usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30 } });
    expect(reduceEvents(asEvents(second))).toMatchObject({ status: COMPLETED, text: "Second turn", cost: { inputTokens: 20, outputTokens: 10, costUsd: 0 } });
  });

  it("interrupt() is undefined before a turn is active and after it ended; ids keep counting; nextTurn waits for the turn's end", () => {
    const [process] = processesOf(SCENARIO);
    const threadId = answerTo(process!, 2).result.thread.id;
    const turnId = answerTo(process!, 3).result.turn.id;
    const run = codexAdapter.startRun(appServerSpecs(SCENARIO)[0]!);
    expect(run.interrupt()).toBeUndefined();
    expect(run.nextTurn!("again")).toBeUndefined(); // no thread yet
    run.parseLine(answerLine(process!, 2));
    expect(run.interrupt()).toBeUndefined(); // turn/start sent, no turn id yet: signals
    run.parseLine(answerLine(process!, 3));
    expect(run.nextTurn!("again")).toBeUndefined(); // a turn is active
    expect(run.interrupt()!.map(json)).toEqual([{ method: "turn/interrupt", id: 4, params: { threadId, turnId } }]);
    expect(run.interrupt()!.map(json)).toEqual([{ method: "turn/interrupt", id: 5, params: { threadId, turnId } }]);
    run.parseLine(recordedLine(process!, (l) => l.method === "turn/completed" && l.params.turn.status === "interrupted"));
    expect(run.interrupt()).toBeUndefined();
    expect(run.nextTurn!("again")!.map(json)).toEqual([{ method: "turn/start", id: 6, params: { threadId, input: [{ type: "text", text: "again", text_elements: [] }] } }]);
  });
});

describe("codex adapter: recorded interrupt while an approval is pending (as-interrupt-approval)", () => {
  const SCENARIO = "as-interrupt-approval";

  it("the open approval is withdrawn before the cancelled end, once; the CLI's late resolved notice and a late decision do nothing", () => {
    const [process] = processesOf(SCENARIO);
    const [r] = replay(SCENARIO);
    const threadId = answerTo(process!, 2).result.thread.id;
    const turnId = answerTo(process!, 3).result.turn.id;
    const turn = r!.turns[0]!;
    expect(json(r!.written.find((w) => w.source === "interrupt")!.line)).toEqual({ method: "turn/interrupt", id: 4, params: { threadId, turnId } });

    const { approvalId } = single(turn, "approvalRequested");
    expect(single(turn, "approvalResolved")).toEqual({ approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" });
    expect(single(turn, "error").error).toMatchObject({ kind: "user_cancelled", reasonCode: "turn_interrupted", details: { turn_id: turnId } });
    expect(single(turn, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });

    // As the CLI sends it: turn/completed (interrupted) first, serverRequest/resolved after it.
    const methods = r!.perLine.map((l) => json(l.line).method as string | undefined);
    expect(methods.indexOf("serverRequest/resolved")).toBeGreaterThan(methods.indexOf("turn/completed"));
    expect(r!.perLine.find((l) => json(l.line).method === "serverRequest/resolved")!.parsed).toEqual({ events: [] });
    expect(r!.run.answerApproval(approvalId, true, "")).toEqual([]);
    expect(notesOf("codex", SCENARIO)).toContain("pending.txt exists after the run: no");
  });
});

describe("codex adapter: recorded model API errors (as-error-*)", () => {
  it.each([
    [401, "auth_error", "provider_auth_failed", false, 401],
    [429, "rate_limit", "provider_rate_limited", true, 429],
    [500, "provider_error", "provider_unavailable", true, null],
  ] as const)("as-error-%i: the failed turn is one %s (%s) error with the CLI's message; the error notification before it stays raw", (status, kind, reasonCode, retryable, httpStatus) => {
    const scenario = `as-error-${status}`;
    const [process] = processesOf(scenario);
    const turn = replay(scenario)[0]!.turns[0]!;
    const failed = notification(process!, "turn/completed").params.turn;
    expect(failed.status).toBe("failed");

    expect(only(turn, "raw").map((r) => r.content)).toEqual([recordedLine(process!, (l) => l.method === "configWarning"), recordedLine(process!, (l) => l.method === "error")]);
    const error = single(turn, "error").error!;
    expect(error).toMatchObject({ kind, provider: "codex", reasonCode, retryable, message: failed.error.message });
    expect(error.details).toEqual({
      provider_code: "turn_failed",
      turn_id: failed.id,
      turn_status: "failed",
      codex_error_info: failed.error.codexErrorInfo,
      http_status: httpStatus,
      error_type: "",
      error_code: "",
      cli_message: failed.error.message,
    });
    expect(reduceEvents(asEvents(turn))).toMatchObject({ status: FAILED, error: { kind } });
  });
});

describe("codex adapter: recorded resume (as-resume)", () => {
  it("the second process resumes the thread the first one reported: exactly the recorded thread/resume, then turn/start on it", () => {
    const [first, second] = replay("as-resume");
    const reported = first!.perLine.find((l) => l.parsed.turnEnded)!.parsed.providerSessionId;
    expect(reported).toBe(second!.spec.resumeProviderSessionId);
    const cwd = second!.spec.settings.cwd;
    expect(json(second!.written[2]!.line)).toEqual({
      method: "thread/resume",
      id: 2,
      params: { threadId: reported, model: MODEL, cwd, approvalPolicy: "untrusted", sandbox: "read-only", excludeTurns: true },
    });
    expect(json(second!.written[3]!.line).params.threadId).toBe(reported);
    expect(second!.perLine.find((l) => json(l.line).id === 2)!.parsed.providerSessionId).toBe(reported);
  });

  it("the thread's earlier usage, reported before the turn starts, is not this run's cost", () => {
    const [, second] = replay("as-resume");
    const usage = second!.perLine.filter((l) => json(l.line).method === "thread/tokenUsage/updated");
    expect(usage.map((l) => payloadsOf([l.parsed]).map((p) => p.$case))).toEqual([[], ["costUpdate"]]);
    const turn = second!.turns[0]!;
    expect(single(turn, "result").output).toMatchObject({ usage: { input_tokens: 20, output_tokens: 10, total_tokens: 30 } });
    expect(reduceEvents(asEvents(turn))).toMatchObject({ status: COMPLETED, text: HISTORY, cost: { inputTokens: 20, outputTokens: 10, costUsd: 0 } });
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

  const request = stdoutOf("codex", "as-approval-allow").find((l) => l.includes('"item/commandExecution/requestApproval"'))!;

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
    expect(single(payloadsOf([parsed]), "error").error).toMatchObject({ kind: "provider_error", reasonCode: "provider_protocol_error", retryable: false, details: { method: "thread/start" } });
  });

  it("a refused request of asm's own ends the run: auth wording → auth_error (provider_auth_failed), otherwise config_invalid (provider_request_refused)", () => {
    const refusedThread = codexAdapter.startRun(spec()).parseLine(JSON.stringify({ id: 2, error: { code: -32600, message: "invalid model: nope" } }));
    expect(refusedThread.turnEnded).toBe(true);
    expect(single(payloadsOf([refusedThread]), "error").error).toMatchObject({
      kind: "config_invalid",
      provider: "codex",
      reasonCode: "provider_request_refused",
      retryable: false,
      message: "codex refused thread/start: invalid model: nope",
      details: { provider_code: "thread_start_failed", method: "thread/start", rpc_code: -32600, data: null },
    });

    const refusedInit = codexAdapter.startRun(spec()).parseLine(JSON.stringify({ id: 1, error: { code: -32000, message: "Unauthorized: not logged in" } }));
    expect(single(payloadsOf([refusedInit]), "error").error).toMatchObject({
      kind: "auth_error",
      reasonCode: "provider_auth_failed",
      retryable: false,
      details: { provider_code: "initialize_failed", method: "initialize", rpc_code: -32000 },
    });
    expect(refusedInit.turnEnded).toBe(true);

    const resumed = codexAdapter.startRun(spec({}, { resumeProviderSessionId: "thr_gone" }));
    const refusedResume = resumed.parseLine(JSON.stringify({ id: 2, error: { code: -32600, message: "no rollout found for thread id thr_gone" } }));
    expect(single(payloadsOf([refusedResume]), "error").error).toMatchObject({ kind: "config_invalid", reasonCode: "provider_request_refused", details: { provider_code: "thread_resume_failed", method: "thread/resume" } });

    const threadOnly = codexAdapter.startRun(spec());
    threadOnly.parseLine(THREAD_ANSWER);
    const refusedTurn = threadOnly.parseLine(JSON.stringify({ id: 3, error: { code: -32600, message: "bad input" } }));
    expect(refusedTurn.turnEnded).toBe(true);
    expect(single(payloadsOf([refusedTurn]), "error").error).toMatchObject({ kind: "config_invalid", reasonCode: "provider_request_refused", details: { provider_code: "turn_start_failed", method: "turn/start" } });
  });

  it("a refused turn/interrupt is not terminal (signals follow)", () => {
    const run = started();
    run.interrupt();
    const line = JSON.stringify({ id: 4, error: { code: -32600, message: "no active turn" } });
    const parsed = run.parseLine(line);
    expect(parsed).toEqual(rawOf(line));
  });

  it.each([
    ["unauthorized info", { message: "unexpected status 401", codexErrorInfo: "unauthorized", additionalDetails: null }, "auth_error", "provider_auth_failed", false],
    ["HTTP 401 in info", { message: "stream failed", codexErrorInfo: { responseStreamConnectionFailed: { httpStatusCode: 401 } }, additionalDetails: null }, "auth_error", "provider_auth_failed", false],
    ["HTTP 429 in info", { message: "stream failed", codexErrorInfo: { httpConnectionFailed: { httpStatusCode: 429 } }, additionalDetails: null }, "rate_limit", "provider_rate_limited", true],
    ["usage limit", { message: "You've hit your usage limit.", codexErrorInfo: "usageLimitExceeded", additionalDetails: null }, "rate_limit", "provider_rate_limited", true],
    ["429 text", { message: "exceeded retry limit, last status: 429 Too Many Requests", codexErrorInfo: null, additionalDetails: null }, "rate_limit", "provider_rate_limited", true],
    ["HTTP 503 in info", { message: "stream failed", codexErrorInfo: { responseStreamConnectionFailed: { httpStatusCode: 503 } }, additionalDetails: null }, "provider_error", "provider_unavailable", true],
    ["internal server error info", { message: "The server had an error while processing your request.", codexErrorInfo: "internalServerError", additionalDetails: null }, "provider_error", "provider_unavailable", true],
    ["other", { message: "invalid input", codexErrorInfo: "badRequest", additionalDetails: null }, "provider_error", "provider_failed", false],
  ] as const)("a failed turn (%s) is one terminal error of kind %s (%s)", (_label, error, kind, reasonCode, retryable) => {
    const run = started();
    const parsed = run.parseLine(completed("failed", error));
    expect(parsed.turnEnded).toBe(true);
    const e = single(payloadsOf([parsed]), "error").error!;
    expect(e.kind).toBe(kind);
    expect(e.provider).toBe("codex");
    expect(e.reasonCode).toBe(reasonCode);
    expect(e.retryable).toBe(retryable);
    expect(e.message).toBe(error.message);
    expect(e.details).toMatchObject({ provider_code: "turn_failed", turn_id: "turn_1", turn_status: "failed" });
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
    expect(e.reasonCode).toBe("provider_auth_failed");
    expect(e.details).toMatchObject({ provider_code: "turn_failed" });
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

/** asm's settings equivalent to each exec recording's flags: default → none, bypass, auto → workspace-write. */
const EXEC_DEFAULT: RunOptionsInput = { permissionMode: "default", interactiveApprovals: false, model: MODEL };
const EXEC_SETTINGS: [string, RunOptionsInput][] = [
  ["exec-text", EXEC_DEFAULT],
  ["exec-tool-bypass", { permissionMode: "bypass", model: MODEL }],
  ["exec-tool-workspace-write", { permissionMode: "auto", model: MODEL }],
  ["exec-sigint", EXEC_DEFAULT],
  ["exec-error-401", EXEC_DEFAULT],
  ["exec-error-429", EXEC_DEFAULT],
  ["exec-error-500", EXEC_DEFAULT],
  ["exec-resume", EXEC_DEFAULT],
];
const execSettingsOf = (scenario: string): RunOptionsInput => EXEC_SETTINGS.find(([s]) => s === scenario)![1];

const threadStarted = (process: readonly LogLine[]): string => json(recordedLine(process, (l) => l.type === "thread.started")).thread_id as string;

/**
 * The prompt an exec process was given: the one `>` entry of the process (the text the recorder
 * wrote to its stdin), which stdin's close follows before the CLI printed anything.
 */
function execPrompt(process: readonly LogLine[]): string {
  const written = process.filter((e) => e.dir === ">");
  expect(written, "an exec process is written exactly one text, its prompt").toHaveLength(1);
  const at = process.indexOf(written[0]!);
  expect(process[at + 1], "stdin is closed right after the prompt").toEqual({ dir: "!", text: "stdin closed" });
  expect(process.slice(0, at).filter((e) => e.dir === "<"), "nothing read before the prompt was written").toEqual([]);
  return written[0]!.text;
}

/** asm's spec for each recorded exec run: the recorded prompt; a later run resumes the thread the run before it started. */
function execSpecs(scenario: string): RunSpec[] {
  return processesOf(scenario).map((process, i, all) =>
    spec(execSettingsOf(scenario), {
      prompt: execPrompt(process),
      resumeProviderSessionId: i === 0 ? undefined : threadStarted(all[i - 1]!),
    }),
  );
}

interface ExecRun {
  process: LogLine[];
  run: AdapterRun;
  perLine: ParsedLine[];
  payloads: EventPayload[];
}

/** Every run of a recorded exec scenario, its stdout parsed by a run of its own spec. */
function execRuns(scenario: string): ExecRun[] {
  const specs = execSpecs(scenario);
  return processesOf(scenario).map((process, i) => {
    const run = codexAdapter.startRun(specs[i]!);
    const perLine = process.filter((e) => e.dir === "<").map((e) => run.parseLine(e.text));
    return { process, run, perLine, payloads: payloadsOf(perLine) };
  });
}

const execUsage = (process: readonly LogLine[]): Record<string, number> => json(recordedLine(process, (l) => l.type === "turn.completed")).usage as Record<string, number>;

describe("codex adapter: recorded exec runs", () => {
  it("the table covers every exec recording", () => {
    expect(EXEC_SETTINGS.map(([scenario]) => scenario)).toEqual([...EXEC_SCENARIOS]);
  });

  it.each(EXEC_SETTINGS)("%s: buildCommand gives exactly the recorded argv for the equivalent settings; the recorded prompt goes to stdin as text, then stdin closes", (scenario) => {
    const processes = processesOf(scenario);
    const prompts = processes.map(execPrompt);
    const commands = execSpecs(scenario).map((s) => codexAdapter.buildCommand(s, CLI));
    expect(commands.map((c) => c.args)).toEqual(spawnArgs("codex", scenario));
    expect(commands.map((c) => ({ initialInput: c.initialInput, stdinText: c.stdinText, keepStdinOpen: c.keepStdinOpen }))).toEqual(
      prompts.map((prompt) => ({ initialInput: [], stdinText: prompt, keepStdinOpen: false })),
    );
    expect(stdinOf("codex", scenario)).toEqual(prompts);
    // The argv ends with `-` (read the prompt from stdin) and never carries the prompt.
    for (const [i, c] of commands.entries()) {
      expect(c.args.at(-1)).toBe("-");
      expect(c.args).not.toContain("--");
      expect(c.args.filter((a) => a.includes(prompts[i]!))).toEqual([]);
    }
  });

  it("exec-text: thread.started reveals the thread; message, cost and one completed result", () => {
    const { process, perLine, payloads } = execRuns("exec-text")[0]!;
    const threadId = threadStarted(process);
    expect(payloads.map((p) => p.$case)).toEqual(["assistantMessage", "costUpdate", "result"]);
    expect(perLine[0]).toEqual({ events: [], providerSessionId: threadId });
    expect(perLine[1]).toEqual({ events: [] });
    expect(single(payloads, "assistantMessage")).toEqual({ text: HELLO, model: MODEL, content: [{ type: "text", text: HELLO }], aborted: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 20, outputTokens: 10, totalTokens: 30, costUsd: 0 });
    expect(single(payloads, "result")).toEqual({ status: "completed", stopReason: "end_turn", text: HELLO, object: undefined, output: { usage: execUsage(process), usage_scope: "run" } });
    expect(perLine.map((p) => p.turnEnded ?? false)).toEqual([false, false, false, true]);
    expect(perLine[3]!.providerSessionId).toBe(threadId);
    expect(reduceEvents(asEvents(payloads))).toMatchObject({ status: COMPLETED, text: HELLO, cost: { inputTokens: 20, outputTokens: 10, costUsd: 0 } });
  });

  it.each([
    ["exec-tool-bypass", "bypassed.txt"],
    ["exec-tool-workspace-write", "sandboxed.txt"],
  ])("%s: the command's tool use and result, then the reply; the recorder found %s", (scenario, file) => {
    const { process, payloads } = execRuns(scenario)[0]!;
    const item = json(recordedLine(process, (l) => l.type === "item.started")).item;
    expect(payloads.map((p) => p.$case)).toEqual(["toolUse", "toolResult", "assistantMessage", "costUpdate", "result"]);
    expect(single(payloads, "toolUse")).toEqual({ toolName: "shell", toolCallId: item.id, input: { command: item.command } });
    expect(single(payloads, "toolResult")).toEqual({ toolCallId: item.id, content: "", isError: false });
    expect(single(payloads, "costUpdate")).toEqual({ inputTokens: 40, outputTokens: 20, totalTokens: 60, costUsd: 0 });
    expect(reduceEvents(asEvents(payloads))).toMatchObject({ status: COMPLETED, text: RAN, cost: { inputTokens: 40, outputTokens: 20, costUsd: 0 } });
    expect(notesOf("codex", scenario)).toContain(`${file} exists after the run: yes`);
  });

  it("exec-sigint: thread and turn start lines only, no events (the signal and the exit end the run)", () => {
    const { process, run, perLine } = execRuns("exec-sigint")[0]!;
    expect(perLine).toEqual([{ events: [], providerSessionId: threadStarted(process) }, { events: [] }]);
    expect(run.interrupt()).toBeUndefined();
    expect(notesOf("codex", "exec-sigint").filter((n) => n.startsWith("signal ") || n.startsWith("exit "))).toEqual(["signal SIGINT", "exit code=1 signal=null"]);
  });

  it.each([
    [401, "auth_error", "provider_auth_failed", false],
    [429, "rate_limit", "provider_rate_limited", true],
    [500, "provider_error", "provider_unavailable", true],
  ] as const)("exec-error-%i: the error line stays raw; turn.failed is the one terminal %s (%s) error", (status, kind, reasonCode, retryable) => {
    const { process, perLine, payloads } = execRuns(`exec-error-${status}`)[0]!;
    const message = json(recordedLine(process, (l) => l.type === "turn.failed")).error.message as string;
    expect(payloads.map((p) => p.$case)).toEqual(["raw", "error"]);
    expect(single(payloads, "raw").content).toBe(recordedLine(process, (l) => l.type === "error"));
    const error = single(payloads, "error").error!;
    expect(error).toMatchObject({ kind, provider: "codex", message, reasonCode, retryable });
    expect(error.details).toEqual({ provider_code: "turn_failed", codex_error_info: null, http_status: null, error_type: "", error_code: "", cli_message: message });
    expect(perLine.map((p) => p.turnEnded ?? false)).toEqual([false, false, false, true]);
    expect(perLine[3]!.providerSessionId).toBe(threadStarted(process));
    expect(reduceEvents(asEvents(payloads))).toMatchObject({ status: FAILED, error: { kind } });
  });

  it("exec-resume: the second run is `resume <first thread>`; its usage is the thread's running total, kept in the result but not counted", () => {
    const [first, second] = execRuns("exec-resume");
    const threadId = threadStarted(first!.process);
    const args = spawnArgs("codex", "exec-resume")[1]!;
    expect(args.slice(args.indexOf("resume"))).toEqual(["resume", threadId, "-"]);
    expect(second!.perLine[0]!.providerSessionId).toBe(threadId);

    expect(first!.payloads.map((p) => p.$case)).toEqual(["assistantMessage", "costUpdate", "result"]);
    expect(single(first!.payloads, "result").output).toEqual({ usage: execUsage(first!.process), usage_scope: "run" });

    expect(second!.payloads.map((p) => p.$case)).toEqual(["assistantMessage", "result"]);
    expect(single(second!.payloads, "result")).toMatchObject({ status: "completed", text: HISTORY, output: { usage: execUsage(second!.process), usage_scope: "thread" } });
    expect(execUsage(second!.process)).toMatchObject({ input_tokens: 40, output_tokens: 20 });
    // The resumed model saw both prompts, as each process read them from its stdin.
    expect(HISTORY).toBe(`history: ${execPrompt(first!.process)} | ${execPrompt(second!.process)}`);
    expect(reduceEvents(asEvents(second!.payloads))).toMatchObject({ status: COMPLETED, text: HISTORY, cost: undefined });
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
    ["unexpected status 401 Unauthorized: Incorrect API key provided: dummy., url: http://127.0.0.1:1/v1/responses", "auth_error", "provider_auth_failed"],
    ['{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}', "auth_error", "provider_auth_failed"],
    ["exceeded retry limit, last status: 429 Too Many Requests, request id: req_1", "rate_limit", "provider_rate_limited"],
    ['{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}', "rate_limit", "provider_rate_limited"],
    ["We’re currently experiencing high demand, which may cause temporary errors.", "provider_error", "provider_unavailable"],
    ['{"error":{"message":"bad request","type":"invalid_request_error","code":"invalid_value"}}', "provider_error", "provider_failed"],
  ])("turn.failed %j → %s (%s)", (message, kind, reasonCode) => {
    const e = failed(message);
    expect([e.kind, e.reasonCode, e.details?.provider_code]).toEqual([kind, reasonCode, "turn_failed"]);
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
    // exec reads the prompt from stdin as text; app-server gets it in turn/start, never as raw text.
    expect(cmd.stdinText).toBe(mode === "exec" ? "go" : undefined);
    // The run speaks the same protocol: only an exec run understands thread.started.
    const parsed = codexAdapter.startRun(s).parseLine('{"type":"thread.started","thread_id":"t1"}');
    expect(parsed.providerSessionId).toBe(mode === "exec" ? "t1" : undefined);
  });
});

describe("codex adapter: buildCommand (app-server)", () => {
  it.each(APP_SERVER_SCENARIOS)("%s: spawn args and handshake are the recorded ones (apart from asm's client name)", (scenario) => {
    const specs = appServerSpecs(scenario);
    const commands = specs.map((s) => codexAdapter.buildCommand(s, CLI));
    expect(commands.map((c) => c.args)).toEqual(spawnArgs("codex", scenario));
    processesOf(scenario).forEach((process, i) => {
      expect(commands[i]).toMatchObject({ command: CLI, cwd: specs[i]!.settings.cwd, keepStdinOpen: true });
      expect(commands[i]!.stdinText).toBeUndefined();
      expect(commands[i]!.initialInput.map((l) => normalized(json(l)))).toEqual(sent(process).slice(0, 3).map(normalized));
    });
  });

  it("asm introduces itself as asm 0.1.0 with the experimental API; each line is one JSON object without a jsonrpc field", () => {
    const cmd = codexAdapter.buildCommand(appServerSpecs("as-text")[0]!, CLI);
    const init = json(cmd.initialInput[0]!);
    expect(init.params.clientInfo).toEqual({ name: "asm", title: null, version: "0.1.0" });
    expect(init.params.capabilities).toEqual({ experimentalApi: true, requestAttestation: false });
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
  it.each([
    ["auto", ["--sandbox", "workspace-write"]],
    ["bypass", ["--dangerously-bypass-approvals-and-sandbox"]],
    ["plan", ["--sandbox", "read-only"]],
  ] as const)("permission mode %s → %j", (permissionMode, flags) => {
    const cmd = codexAdapter.buildCommand(spec({ permissionMode }), CLI);
    expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", ...flags, "-"]);
    expect(cmd).toMatchObject({ command: CLI, cwd: "/srv/work", initialInput: [], stdinText: "go", keepStdinOpen: false });
  });

  it("default mode without interactive approvals adds no sandbox flag", () => {
    const cmd = codexAdapter.buildCommand(spec({ interactiveApprovals: false }), CLI);
    expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", "-"]);
    expect(cmd).toMatchObject({ initialInput: [], stdinText: "go", keepStdinOpen: false });
  });

  it("resume: options first, then `resume <thread_id>`, then `-`; the prompt goes to stdin", () => {
    const cmd = codexAdapter.buildCommand(spec({ permissionMode: "auto", model: "gpt-5.5" }, { resumeProviderSessionId: "thr_prev", prompt: "second" }), CLI);
    expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", "-m", "gpt-5.5", "resume", "thr_prev", "-"]);
    expect(cmd).toMatchObject({ initialInput: [], stdinText: "second", keepStdinOpen: false });
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
      "-",
    ]);
    expect(cmd.stdinText).toBe("go");
  });

  it("the prompt never goes on the command line, whether it looks like a flag, a subcommand or spans lines; it is stdinText exactly", () => {
    for (const prompt of ["--help", "-x hello", "resume", "resume thr_other", 'line one\nline "two"\n', "a=b --c"]) {
      for (const resumeProviderSessionId of [undefined, "thr_prev"]) {
        const cmd = codexAdapter.buildCommand(spec({ permissionMode: "auto" }, { prompt, resumeProviderSessionId }), CLI);
        const resume = resumeProviderSessionId ? ["resume", resumeProviderSessionId] : [];
        expect(cmd.args).toEqual(["exec", "--json", "--skip-git-repo-check", "--sandbox", "workspace-write", ...resume, "-"]);
        if (resumeProviderSessionId) expect(cmd.args.filter((a) => a === "resume"), "only the subcommand reads resume").toHaveLength(1);
        else expect(cmd.args.filter((a) => a.includes(prompt))).toEqual([]);
        expect(cmd.stdinText).toBe(prompt);
        expect(cmd.initialInput).toEqual([]);
        expect(cmd.keepStdinOpen).toBe(false);
      }
    }
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
    expect(codexAdapter.promptOnArgv).toBe(false);
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

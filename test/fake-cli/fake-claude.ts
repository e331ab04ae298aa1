/**
 * Scripted fake of the Claude Code CLI (`claude`) for process-edge tests.
 *
 * Speaks the stream-json protocol recorded from the real CLI in
 * test/fixtures/transcripts/claude/sj-*.log:
 *
 *   claude --output-format stream-json --verbose --input-format stream-json \
 *          --permission-mode <mode> [--permission-prompt-tool stdio] [--resume <id>] [--model <m>]
 *
 * stdin:  JSONL `control_request` (initialize, interrupt, set_permission_mode, set_model),
 *         `control_response` (answers to can_use_tool) and `user` messages (one turn each).
 * stdout: JSONL `system`/`assistant`/`user`/`result`/`control_request`/`control_response` lines.
 *
 * The behaviour of a turn is chosen by markers in the prompt text:
 *   [[scenario:NAME]]  text (default) | tool | slow | hang | stubborn | crash | exit0 | flood |
 *                      garbage | longline | silent | error | history | firehose | approvals
 *                      (longline: [[n:BYTES]] one line of about that size; [[before:K]] K short
 *                      assistant lines "b0".."bK-1" first)
 *   [[n:N]] [[ms:M]] [[cmd:SHELL]] [[code:N]] [[echo]]
 *
 * Benchmark scenarios (test/bench/streaming.ts):
 *   firehose   [[n:N]] `--include-partial-messages` text deltas (`stream_event` content_block_delta
 *              text_delta lines), as fast as stdout takes them, or [[rate:R]] per second; with
 *              [[ts]] each delta's text is the wall-clock write time in ms
 *              (performance.timeOrigin + performance.now(), 3 decimals) followed by a space. The
 *              final text is `firehose:N cpu_us:C`, C the CPU µs the CLI spent writing them.
 *   approvals  [[n:N]] sequential can_use_tool requests; the result text is the JSON
 *              {"approvalMs":[...]}: for each, ms from writing the request to reading its answer.
 *
 * With FAKE_CLI_RECORD=<file>, JSONL records are appended synchronously:
 *   {"t":"start",pid,pgid,argv,cwd,env_keys} {"t":"stdin",line} {"t":"turn",scenario,prompt}
 *   {"t":"approval",request_id,behavior,message?} {"t":"signal",sig} {"t":"grandchild",pid}
 *   {"t":"exit",code[,signal]}
 *
 * Fixture only: imports nothing but Node built-ins.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";
import { resolve as resolvePath } from "node:path";

// ---------------------------------------------------------------------------
// Arguments and environment

interface Options {
  outputFormat: string;
  inputFormat: string;
  verbose: boolean;
  permissionMode: string;
  permissionPromptTool: string | null;
  resume: string | null;
  sessionId: string | null;
  model: string;
  print: boolean;
  positional: string[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    outputFormat: "text",
    inputFormat: "text",
    verbose: false,
    permissionMode: "default",
    permissionPromptTool: null,
    resume: null,
    sessionId: null,
    model: process.env["ANTHROPIC_MODEL"] || "claude-opus-5-5",
    print: false,
    positional: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? "";
    let flag = raw;
    let inline: string | undefined;
    const eq = raw.indexOf("=");
    if (raw.startsWith("--") && eq > 0) {
      flag = raw.slice(0, eq);
      inline = raw.slice(eq + 1);
    }
    const value = (): string => {
      if (inline !== undefined) return inline;
      i++;
      return argv[i] ?? "";
    };
    switch (flag) {
      case "--output-format":
        opts.outputFormat = value();
        break;
      case "--input-format":
        opts.inputFormat = value();
        break;
      case "--verbose":
        opts.verbose = true;
        break;
      case "--permission-mode":
        opts.permissionMode = value();
        break;
      case "--dangerously-skip-permissions":
        opts.permissionMode = "bypassPermissions";
        break;
      case "--permission-prompt-tool":
        opts.permissionPromptTool = value();
        break;
      case "--resume":
      case "-r":
        opts.resume = value();
        break;
      case "--session-id":
        opts.sessionId = value();
        break;
      case "--model":
        opts.model = value();
        break;
      case "-p":
      case "--print":
        opts.print = true;
        break;
      default:
        if (raw.startsWith("-")) {
          // Unknown flag: swallow a following non-flag value, like a lenient CLI.
          if (inline === undefined && argv[i + 1] !== undefined && !(argv[i + 1] ?? "").startsWith("-")) {
            if (!raw.startsWith("--no-")) i++;
          }
        } else {
          opts.positional.push(raw);
        }
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const cwd = process.cwd();
const sessionId = opts.resume || opts.sessionId || randomUUID();
const VERSION = "2.1.329";
const TOOLS = ["Task", "Bash", "Edit", "Glob", "Grep", "Read", "TodoWrite", "WebFetch", "WebSearch", "Write"];
const REJECT_MESSAGE =
  "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed.";

// ---------------------------------------------------------------------------
// Recording

const recordPath = process.env["FAKE_CLI_RECORD"];
function record(obj: Record<string, unknown>): void {
  if (!recordPath) return;
  try {
    appendFileSync(recordPath, JSON.stringify(obj) + "\n");
  } catch {
    // A fixture must never die because its log file vanished.
  }
}

function readPgid(): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgid = Number(rest[2]);
    return Number.isFinite(pgid) ? pgid : null;
  } catch {
    return null;
  }
}

record({
  t: "start",
  pid: process.pid,
  pgid: readPgid(),
  argv: process.argv.slice(2),
  cwd,
  env_keys: Object.keys(process.env).sort(),
});

let exitRecorded = false;
process.on("exit", (code) => {
  if (!exitRecorded) {
    exitRecorded = true;
    record({ t: "exit", code });
  }
});

// ---------------------------------------------------------------------------
// Output

function writeLine(line: string): boolean {
  return process.stdout.write(line + "\n");
}

/** Write one JSON line; resolves once stdout is ready for more (respects backpressure). */
async function emit(obj: unknown): Promise<void> {
  if (!writeLine(JSON.stringify(obj))) await drain();
}

function drain(): Promise<void> {
  return new Promise((res) => {
    const done = (): void => {
      process.stdout.off("drain", done);
      process.stdout.off("close", done);
      process.stdout.off("error", done);
      res();
    };
    process.stdout.on("drain", done);
    process.stdout.on("close", done);
    process.stdout.on("error", done);
  });
}

// EPIPE when the reader went away: exit quietly like a CLI whose parent died.
process.stdout.on("error", () => {
  process.exit(1);
});

let exiting = false;
async function exitProcess(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  const flush = (stream: NodeJS.WriteStream): Promise<void> =>
    new Promise<void>((res) => {
      const timer = setTimeout(res, 2000);
      stream.write("", () => {
        clearTimeout(timer);
        res();
      });
    });
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  process.exit(code);
}

let msgCounter = 0;
let toolCounter = 0;

function nowIso(): string {
  return new Date().toISOString();
}

function newMessageId(): string {
  msgCounter++;
  return `msg_fake_${Date.now()}_${msgCounter}`;
}

function assistantLine(
  state: TurnState,
  content: unknown[],
  messageId: string = newMessageId(),
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    type: "assistant",
    message: {
      id: messageId,
      type: "message",
      role: "assistant",
      model: state.model,
      content,
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      context_management: null,
    },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: randomUUID(),
    timestamp: nowIso(),
    request_id: "req_fake",
    ...extra,
  };
}

function userLine(content: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: "user",
    message: { role: "user", content },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: randomUUID(),
    timestamp: nowIso(),
    ...extra,
  };
}

function initLine(state: TurnState): Record<string, unknown> {
  return {
    type: "system",
    subtype: "init",
    cwd,
    session_id: sessionId,
    tools: TOOLS,
    mcp_servers: [],
    model: state.model,
    permissionMode: permissionMode,
    slash_commands: ["compact", "context", "init", "review"],
    apiKeySource: process.env["ANTHROPIC_API_KEY"] ? "ANTHROPIC_API_KEY" : "none",
    claude_code_version: VERSION,
    output_style: "default",
    agents: ["general-purpose"],
    skills: [],
    plugins: [],
    uuid: randomUUID(),
    original_cwd: cwd,
    additional_directories: [],
    fast_mode_state: "off",
  };
}

interface ResultInit {
  subtype: "success" | "error_during_execution";
  isError: boolean;
  result?: string;
  stopReason: string | null;
  terminalReason?: string;
  errors?: string[];
  apiErrorStatus?: number | null;
}

function resultLine(state: TurnState, r: ResultInit): Record<string, unknown> {
  const inputTokens = 10 * Math.max(1, state.numTurns);
  const outputTokens = r.isError && r.terminalReason ? 0 : 5 * Math.max(1, state.numTurns);
  const cost = 0.00014 * Math.max(1, state.numTurns);
  const duration = Date.now() - state.startedAt;
  const line: Record<string, unknown> = {
    type: "result",
    subtype: r.subtype,
    is_error: r.isError,
    duration_ms: duration,
    duration_api_ms: Math.max(0, duration - 1),
    num_turns: state.numTurns,
    stop_reason: r.stopReason,
    session_id: sessionId,
    total_cost_usd: cost,
    usage: {
      input_tokens: inputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: outputTokens,
      server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
      service_tier: "standard",
    },
    modelUsage: {
      [state.model]: {
        inputTokens,
        outputTokens,
        cacheReadInputTokens: 0,
        cacheCreationInputTokens: 0,
        webSearchRequests: 0,
        costUSD: cost,
        contextWindow: 1000000,
        maxOutputTokens: 128000,
      },
    },
    permission_denials: state.permissionDenials,
    uuid: randomUUID(),
  };
  if (r.result !== undefined) line["result"] = r.result;
  if (r.terminalReason !== undefined) line["terminal_reason"] = r.terminalReason;
  if (r.errors !== undefined) line["errors"] = r.errors;
  if (r.apiErrorStatus !== undefined) line["api_error_status"] = r.apiErrorStatus;
  return line;
}

// ---------------------------------------------------------------------------
// Markers

interface Markers {
  scenario: string;
  params: Map<string, string>;
  flags: Set<string>;
  plain: string;
}

function parseMarkers(prompt: string): Markers {
  const params = new Map<string, string>();
  const flags = new Set<string>();
  const re = /\[\[([A-Za-z_][\w-]*)(?::([\s\S]*?))?\]\]/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(prompt)) !== null) {
    const key = m[1] ?? "";
    if (m[2] === undefined) flags.add(key);
    else params.set(key, m[2]);
  }
  const plain = prompt.replace(re, " ").replace(/\s+/g, " ").trim();
  return { scenario: params.get("scenario") ?? "text", params, flags, plain };
}

function intParam(mk: Markers, key: string, dflt: number): number {
  const v = mk.params.get(key);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ""));
  return Number.isFinite(n) ? Math.trunc(n) : dflt;
}

// ---------------------------------------------------------------------------
// Turn state, abort handling

class AbortedError extends Error {
  constructor() {
    super("aborted");
  }
}

interface PendingPermission {
  requestId: string;
  toolUseId: string;
  resolve: (answer: PermissionAnswer) => void;
}

interface PermissionAnswer {
  behavior: "allow" | "deny";
  message?: string;
  updatedInput?: Record<string, unknown>;
  interrupt?: boolean;
}

type AbortReason = "interrupt" | "sigint" | "stdin_closed";

class TurnState {
  readonly ac = new AbortController();
  readonly startedAt = Date.now();
  readonly model = currentModel;
  numTurns = 0;
  partialText = "";
  lastText = "";
  pending: PendingPermission | null = null;
  /** A tool_use is outstanding (pending approval or running): an abort yields aborted_tools. */
  toolUseId: string | null = null;
  child: ChildProcess | null = null;
  stubborn = false;
  abortReason: AbortReason | null = null;
  permissionDenials: Array<{ tool_name: string; tool_use_id: string; tool_input: unknown }> = [];

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  check(): void {
    if (this.ac.signal.aborted) throw new AbortedError();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal.aborted) {
      rej(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      rej(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      res();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Never resolves; rejects on abort. Keeps the event loop alive meanwhile. */
function sleepForever(signal: AbortSignal | null): Promise<never> {
  return new Promise<never>((_res, rej) => {
    const keepAlive = setInterval(() => {}, 60_000);
    if (!signal) return;
    const onAbort = (): void => {
      clearInterval(keepAlive);
      rej(new AbortedError());
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

function spawnGrandchild(): void {
  const child = spawn("sleep", ["1000"], { detached: false, stdio: "ignore", env: { ...process.env, ASM_FAKE_CLI_CHILD: process.argv[1] ?? "1" } });
  child.on("error", () => {});
  if (child.pid !== undefined) record({ t: "grandchild", pid: child.pid });
}

// ---------------------------------------------------------------------------
// Global state

let permissionMode = opts.permissionMode;
let currentModel = opts.model;
let current: TurnState | null = null;
let turnIndex = 0;
const queue: string[] = [];
let stdinClosed = false;
let stubbornActive = false;
let exitAfterTurn = false;
let processing = false;

// ---------------------------------------------------------------------------
// Scenarios

type Scenario = (state: TurnState, mk: Markers) => Promise<void>;

async function sayText(state: TurnState, text: string): Promise<void> {
  state.check();
  state.numTurns = Math.max(state.numTurns, 1);
  await emit(assistantLine(state, [{ type: "text", text }]));
  state.lastText = text;
}

async function finishSuccess(state: TurnState): Promise<void> {
  state.check();
  await emit(
    resultLine(state, {
      subtype: "success",
      isError: false,
      result: state.lastText,
      stopReason: "end_turn",
      terminalReason: "completed",
      apiErrorStatus: null,
    }),
  );
}

const scenarioText: Scenario = async (state, mk) => {
  const text = mk.flags.has("echo") ? `echo:${mk.plain}` : "Hello from fake";
  await sayText(state, text);
  await finishSuccess(state);
};

const scenarioHistory: Scenario = async (state, mk) => {
  const marker = opts.resume ? `resumed:${opts.resume}` : `new:${sessionId}`;
  const text = `${marker} turn:${turnIndex}${mk.flags.has("echo") ? ` echo:${mk.plain}` : ""}`;
  await sayText(state, text);
  await finishSuccess(state);
};

const scenarioSlow: Scenario = async (state, mk) => {
  const n = intParam(mk, "n", 20);
  const ms = intParam(mk, "ms", 100);
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      state.partialText = `w${i}`;
      await sleep(ms, state.signal);
    }
    state.partialText = "";
    await sayText(state, `w${i}`);
  }
  await finishSuccess(state);
};

const scenarioHang: Scenario = async (state) => {
  spawnGrandchild();
  state.numTurns = 1;
  await sleepForever(state.signal);
};

const scenarioStubborn: Scenario = async (state) => {
  stubbornActive = true;
  state.stubborn = true;
  spawnGrandchild();
  state.numTurns = 1;
  await sleepForever(null);
};

const scenarioCrash: Scenario = async (_state, mk) => {
  const code = intParam(mk, "code", 3);
  process.stderr.write("fatal: fake crash\n");
  process.stderr.write("    at FakeClaude.run (fake-claude.ts:1:1)\n");
  process.stderr.write(`exiting with code ${code}\n`);
  await exitProcess(code);
  await sleepForever(null);
};

const scenarioExit0: Scenario = async (state) => {
  await sayText(state, "Hello from fake");
  await exitProcess(0);
  await sleepForever(null);
};

/**
 * n assistant lines "f0".."f{n-1}" (padded to [[pad:B]] bytes) as fast as stdout takes them. With a record file, each time
 * stdout stops taking lines (a write returned false: the pipe is full) the record gets
 * `{t:"blocked", line}` and, once it drains, `{t:"drained", line}`: a test sees backpressure reach
 * the CLI, and how far the CLI got while it was blocked.
 */
const scenarioFlood: Scenario = async (state, mk) => {
  const n = intParam(mk, "n", 1000);
  // [[pad:B]]: each text padded with "." to B bytes (a large output in many lines).
  const pad = intParam(mk, "pad", 0);
  state.numTurns = 1;
  for (let i = 0; i < n; i++) {
    state.check();
    const text = `f${i}`.padEnd(pad, ".");
    if (!writeLine(JSON.stringify(assistantLine(state, [{ type: "text", text }])))) {
      record({ t: "blocked", line: i });
      await drain();
      record({ t: "drained", line: i });
    }
    state.lastText = text;
  }
  await finishSuccess(state);
};

const scenarioGarbage: Scenario = async (state, mk) => {
  if (!writeLine("this is not json {{{")) await drain();
  await emit({ type: "mystery", x: 1 });
  await scenarioText(state, mk);
};

const scenarioLongline: Scenario = async (state, mk) => {
  const n = intParam(mk, "n", 2_000_000);
  // [[before:K]]: K short assistant lines ("b0".."bK-1") written right before the long one.
  for (let i = 0; i < intParam(mk, "before", 0); i++) await emit(assistantLine(state, [{ type: "text", text: `b${i}` }]));
  const id = newMessageId();
  state.numTurns = 1;
  const base = assistantLine(state, [{ type: "text", text: "" }], id);
  const baseLen = Buffer.byteLength(JSON.stringify(base));
  const pad = Math.max(0, n - baseLen);
  const text = "x".repeat(pad);
  const msg = base["message"] as { content: Array<{ type: string; text: string }> };
  msg.content = [{ type: "text", text }];
  state.check();
  await emit(base);
  state.lastText = `longline:${pad}`;
  await finishSuccess(state);
};

const scenarioSilent: Scenario = async (state, mk) => {
  await sleep(intParam(mk, "ms", 1000), state.signal);
  await sayText(state, "Hello from fake");
  await finishSuccess(state);
};

const scenarioError: Scenario = async (state) => {
  state.numTurns = 1;
  state.check();
  await emit(
    resultLine(state, {
      subtype: "error_during_execution",
      isError: true,
      result: "API Error: 500",
      stopReason: null,
      errors: ["API Error: 500"],
      apiErrorStatus: 500,
    }),
  );
};

/** One `stream_event` line as `claude --include-partial-messages` writes it. */
function streamEventLine(event: Record<string, unknown>): string {
  return JSON.stringify({ type: "stream_event", event, session_id: sessionId, parent_tool_use_id: null, uuid: randomUUID() });
}

async function emitLine(line: string): Promise<void> {
  if (!writeLine(line)) await drain();
}

const DELTA_HEAD = '{"type":"stream_event","event":{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":';

/** Same bytes as streamEventLine() of a text delta, built by concatenation (the firehose's hot loop). */
function textDeltaLine(text: string): string {
  return `${DELTA_HEAD}${JSON.stringify(text)}}},"session_id":${JSON.stringify(sessionId)},"parent_tool_use_id":null,"uuid":"${randomUUID()}"}`;
}

/** Benchmark: N text deltas, unthrottled (written in chunks, respecting backpressure) or at a rate. */
const scenarioFirehose: Scenario = async (state, mk) => {
  const n = Math.max(0, intParam(mk, "n", 100_000));
  const rate = Math.max(0, intParam(mk, "rate", 0));
  const stamp = mk.flags.has("ts");
  const messageId = newMessageId();
  state.numTurns = 1;
  state.check();
  await emitLine(streamEventLine({ type: "message_start", message: { id: messageId, type: "message", role: "assistant", model: state.model, content: [] } }));
  await emitLine(streamEventLine({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }));
  const text = (i: number): string => (stamp ? `${(performance.timeOrigin + performance.now()).toFixed(3)} ` : `t${i} `);
  const cpu0 = process.cpuUsage();
  if (rate === 0) {
    const CHUNK = 256;
    for (let i = 0; i < n; ) {
      state.check();
      const lines: string[] = [];
      for (const end = Math.min(n, i + CHUNK); i < end; i++) lines.push(textDeltaLine(text(i)));
      if (!process.stdout.write(lines.join("\n") + "\n")) await drain();
    }
  } else {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait, state.signal);
      state.check();
      await emitLine(textDeltaLine(text(i)));
    }
  }
  state.check();
  await emitLine(streamEventLine({ type: "content_block_stop", index: 0 }));
  await emitLine(streamEventLine({ type: "message_stop" }));
  const cpu = process.cpuUsage(cpu0);
  // The CPU this process spent writing the deltas, for the benchmark's CPU budget.
  await sayText(state, `firehose:${n} cpu_us:${cpu.user + cpu.system}`);
  await finishSuccess(state);
};

/** Benchmark: N approvals in a row, each timed from writing the request to reading its answer. */
const scenarioApprovals: Scenario = async (state, mk) => {
  const n = Math.max(0, intParam(mk, "n", 100));
  const approvalMs: number[] = [];
  state.numTurns = 1;
  for (let i = 0; i < n; i++) {
    toolCounter++;
    const toolUseId = `toolu_fake_${toolCounter}`;
    const requestId = randomUUID();
    const input = { command: `echo ${i}`, description: "Benchmark approval" };
    state.check();
    const pending = waitForPermission(state, requestId, toolUseId);
    const t0 = performance.now();
    writeLine(JSON.stringify({ type: "control_request", request_id: requestId, request: { subtype: "can_use_tool", tool_name: "Bash", display_name: "Bash", input, description: "Benchmark approval", permission_suggestions: [], tool_use_id: toolUseId } }));
    await pending;
    approvalMs.push(Number((performance.now() - t0).toFixed(3)));
  }
  await sayText(state, JSON.stringify({ approvalMs }));
  await finishSuccess(state);
};

function guessBlockedPath(command: string): string {
  const words = command.trim().split(/\s+/);
  const last = words.length > 1 ? words[words.length - 1] : undefined;
  return last ? resolvePath(cwd, last) : cwd;
}

function waitForPermission(state: TurnState, requestId: string, toolUseId: string): Promise<PermissionAnswer> {
  return new Promise((res, rej) => {
    const onAbort = (): void => {
      state.pending = null;
      rej(new AbortedError());
    };
    if (state.signal.aborted) {
      onAbort();
      return;
    }
    state.pending = {
      requestId,
      toolUseId,
      resolve: (answer) => {
        state.signal.removeEventListener("abort", onAbort);
        state.pending = null;
        res(answer);
      },
    };
    state.signal.addEventListener("abort", onAbort, { once: true });
  });
}

interface CommandOutcome {
  stdout: string;
  stderr: string;
  code: number | null;
}

function runCommand(state: TurnState, command: string): Promise<CommandOutcome> {
  return new Promise((res, rej) => {
    const child = spawn("/bin/sh", ["-c", command], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    state.child = child;
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const onAbort = (): void => {
      // Don't wait for 'close': a backgrounded grandchild may hold the pipes open.
      child.kill("SIGTERM");
      child.stdout?.destroy();
      child.stderr?.destroy();
      state.child = null;
      rej(new AbortedError());
    };
    state.signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", (err) => {
      stderr += String(err);
    });
    child.on("close", (code) => {
      state.signal.removeEventListener("abort", onAbort);
      state.child = null;
      if (state.signal.aborted) rej(new AbortedError());
      else res({ stdout, stderr, code });
    });
  });
}

async function denyTool(
  state: TurnState,
  toolUseId: string,
  input: Record<string, unknown>,
  message: string,
  meta: Record<string, unknown>,
): Promise<void> {
  state.permissionDenials.push({ tool_name: "Bash", tool_use_id: toolUseId, tool_input: input });
  state.check();
  await emit(
    userLine([{ type: "tool_result", content: message, is_error: true, tool_use_id: toolUseId }], {
      tool_use_result: `Error: ${message}`,
      tool_result_meta: [{ id: toolUseId, ...meta }],
    }),
  );
  state.toolUseId = null;
}

const scenarioTool: Scenario = async (state, mk) => {
  const command = mk.params.get("cmd") ?? "echo hello";
  const messageId = newMessageId();
  state.numTurns = 1;
  state.check();
  await emit(assistantLine(state, [{ type: "text", text: "I will run a command." }], messageId));
  toolCounter++;
  const toolUseId = `toolu_fake_${toolCounter}`;
  let input: Record<string, unknown> = { command, description: "Run a command" };
  state.check();
  await emit(assistantLine(state, [{ type: "tool_use", id: toolUseId, name: "Bash", input }], messageId));
  state.toolUseId = toolUseId;

  let decision: "accept" | "reject";
  let source: string;

  const askMode = permissionMode === "default";
  const runMode = permissionMode === "bypassPermissions" || permissionMode === "acceptEdits";
  if (runMode) {
    decision = "accept";
    source = "mode";
  } else if (askMode && opts.permissionPromptTool === "stdio") {
    const requestId = randomUUID();
    state.check();
    await emit({
      type: "control_request",
      request_id: requestId,
      request: {
        subtype: "can_use_tool",
        tool_name: "Bash",
        display_name: "Bash",
        input,
        description: "Run a command",
        permission_suggestions: [
          { type: "addRules", rules: [{ toolName: "Bash", ruleContent: command }], behavior: "allow", destination: "localSettings" },
          { type: "addDirectories", directories: [cwd], destination: "session" },
          { type: "setMode", mode: "acceptEdits", destination: "session" },
        ],
        blocked_path: guessBlockedPath(command),
        tool_use_id: toolUseId,
      },
    });
    const answer = await waitForPermission(state, requestId, toolUseId);
    if (answer.behavior === "allow") {
      decision = "accept";
      source = "user_temporary";
      if (answer.updatedInput && typeof answer.updatedInput === "object") input = answer.updatedInput;
    } else {
      const message = answer.message ?? "User denied";
      await denyTool(state, toolUseId, input, message, {
        non_execution_kind: "permission-rule",
        permission_decision: { decision: "reject", source: "user_reject" },
      });
      if (answer.interrupt) {
        state.check();
        await emit(userLine([{ type: "text", text: "[Request interrupted by user for tool use]" }]));
        state.check();
        await emit(
          resultLine(state, {
            subtype: "error_during_execution",
            isError: true,
            stopReason: null,
            terminalReason: "aborted_tools",
            errors: ["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null"],
          }),
        );
        return;
      }
      state.numTurns = 2;
      await sayText(state, `denied: ${message}`);
      await finishSuccess(state);
      return;
    }
  } else {
    // No prompt tool (or dontAsk/plan): auto-deny, as the real CLI does headless.
    const message = `Bash command '${command}' needs approval. The path is inside the working directories for this session ('${cwd}'), and Claude Code asks before a shell command creates, changes or removes files there.`;
    state.check();
    await emit({
      type: "system",
      subtype: "permission_denied",
      tool_name: "Bash",
      tool_use_id: toolUseId,
      message,
      uuid: randomUUID(),
      session_id: sessionId,
    });
    await denyTool(state, toolUseId, input, message, {
      non_execution_kind: "user-rejected",
      permission_decision: { decision: "reject", source: "config" },
    });
    state.numTurns = 2;
    await sayText(state, `denied: ${message}`);
    await finishSuccess(state);
    return;
  }

  const cmd = typeof input["command"] === "string" ? input["command"] : command;
  const out = await runCommand(state, cmd);
  const combined = (out.stdout + out.stderr).replace(/\n+$/, "");
  const failed = out.code !== 0;
  let content = combined === "" ? "(Bash completed with no output)" : combined;
  if (failed) content = `Exit code ${out.code ?? "null"}${combined === "" ? "" : "\n" + combined}`;
  state.check();
  await emit(
    userLine([{ tool_use_id: toolUseId, type: "tool_result", content, is_error: failed }], {
      tool_use_result: failed
        ? `Error: ${content}`
        : { stdout: out.stdout, stderr: out.stderr, interrupted: false, isImage: false, noOutputExpected: combined === "" },
      tool_result_meta: [{ id: toolUseId, permission_decision: { decision, source } }],
    }),
  );
  state.toolUseId = null;
  state.numTurns = 2;
  await sayText(state, `done: ${content}`);
  await finishSuccess(state);
};

const SCENARIOS: Record<string, Scenario> = {
  text: scenarioText,
  history: scenarioHistory,
  tool: scenarioTool,
  slow: scenarioSlow,
  hang: scenarioHang,
  stubborn: scenarioStubborn,
  crash: scenarioCrash,
  exit0: scenarioExit0,
  flood: scenarioFlood,
  garbage: scenarioGarbage,
  longline: scenarioLongline,
  silent: scenarioSilent,
  error: scenarioError,
  firehose: scenarioFirehose,
  approvals: scenarioApprovals,
};

// ---------------------------------------------------------------------------
// Turn runner

async function emitAborted(state: TurnState): Promise<void> {
  if (state.toolUseId !== null) {
    await emit(
      userLine([{ type: "tool_result", content: REJECT_MESSAGE, is_error: true, tool_use_id: state.toolUseId }], {
        tool_use_result: `Error: ${REJECT_MESSAGE}`,
        tool_result_meta: [
          { id: state.toolUseId, non_execution_kind: "user-rejected", permission_decision: { decision: "reject", source: "user_abort" } },
        ],
      }),
    );
    await emit(userLine([{ type: "text", text: "[Request interrupted by user for tool use]" }]));
    await emit(
      resultLine(state, {
        subtype: "error_during_execution",
        isError: true,
        stopReason: null,
        terminalReason: "aborted_tools",
        errors: ["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null"],
      }),
    );
    return;
  }
  const content = state.partialText === "" ? [] : [{ type: "text", text: state.partialText }];
  await emit(assistantLine(state, content, newMessageId(), { aborted: true }));
  await emit(userLine([{ type: "text", text: "[Request interrupted by user]" }]));
  state.numTurns = Math.max(state.numTurns, 1);
  await emit(
    resultLine(state, {
      subtype: "error_during_execution",
      isError: true,
      stopReason: null,
      terminalReason: "aborted_streaming",
      errors: ["[ede_diagnostic] result_type=user last_content_type=n/a stop_reason=null"],
    }),
  );
}

async function runTurn(prompt: string): Promise<void> {
  turnIndex++;
  const mk = parseMarkers(prompt);
  const state = new TurnState();
  current = state;
  record({ t: "turn", index: turnIndex, scenario: mk.scenario, prompt });
  try {
    await emit(initLine(state));
    const scenario = SCENARIOS[mk.scenario];
    if (!scenario) {
      process.stderr.write(`fake-claude: unknown scenario '${mk.scenario}', using 'text'\n`);
      await scenarioText(state, mk);
    } else {
      await scenario(state, mk);
    }
  } catch (err) {
    if (err instanceof AbortedError || state.signal.aborted) {
      await emitAborted(state);
    } else {
      process.stderr.write(`fake-claude: internal error: ${String(err)}\n`);
      await emit(
        resultLine(state, {
          subtype: "error_during_execution",
          isError: true,
          stopReason: null,
          errors: [String(err)],
        }),
      );
    }
  } finally {
    current = null;
  }
}

async function pump(): Promise<void> {
  if (processing) return;
  processing = true;
  try {
    while (queue.length > 0 && !exitAfterTurn) {
      const prompt = queue.shift() ?? "";
      await runTurn(prompt);
    }
  } finally {
    processing = false;
  }
  maybeExit();
}

function maybeExit(): void {
  if (processing || current || stubbornActive) return;
  if (exitAfterTurn || (stdinClosed && queue.length === 0)) void exitProcess(0);
}

function abortCurrent(reason: AbortReason): boolean {
  const state = current;
  if (!state || state.stubborn || state.signal.aborted) return false;
  state.abortReason = reason;
  if (state.pending) {
    writeLine(JSON.stringify({ type: "control_cancel_request", request_id: state.pending.requestId }));
  }
  state.ac.abort();
  return true;
}

// ---------------------------------------------------------------------------
// stdin handling

function promptFromUserMessage(msg: Record<string, unknown>): string {
  const message = msg["message"] as { content?: unknown } | undefined;
  const content = message?.content;
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((b): b is { type: string; text: string } => {
      const blk = b as { type?: unknown; text?: unknown } | null;
      return blk !== null && typeof blk === "object" && blk.type === "text" && typeof blk.text === "string";
    })
    .map((b) => b.text)
    .join("");
}

function controlSuccess(requestId: unknown, response: Record<string, unknown>, extra: Record<string, unknown> = {}): void {
  writeLine(
    JSON.stringify({ type: "control_response", response: { subtype: "success", request_id: requestId, response, ...extra } }),
  );
}

function handleControlRequest(msg: Record<string, unknown>): void {
  const requestId = msg["request_id"];
  const request = (msg["request"] ?? {}) as Record<string, unknown>;
  const subtype = request["subtype"];
  switch (subtype) {
    case "initialize":
      controlSuccess(
        requestId,
        {
          commands: [],
          agents: [],
          output_style: "default",
          available_output_styles: ["default"],
          models: [{ value: currentModel, displayName: currentModel, description: "fake model" }],
          account: { tokenSource: "none", apiKeySource: "none", apiProvider: "firstParty" },
          pid: process.pid,
          claude_code_version: VERSION,
          current_permission_mode: permissionMode,
          session_state: current ? "running" : "idle",
          capabilities: [],
        },
        { pending_permission_requests: [], pending_user_dialog_requests: [] },
      );
      return;
    case "interrupt":
      if (stubbornActive) {
        // Wedged: ignores the request entirely (recorded, so a test knows it arrived).
        record({ t: "ignored", request: "interrupt" });
        return;
      }
      controlSuccess(requestId, { still_queued: [] });
      abortCurrent("interrupt");
      return;
    case "set_permission_mode":
      if (typeof request["mode"] === "string") permissionMode = request["mode"];
      controlSuccess(requestId, {});
      return;
    case "set_model":
      if (typeof request["model"] === "string") currentModel = request["model"];
      controlSuccess(requestId, {});
      return;
    default:
      writeLine(
        JSON.stringify({
          type: "control_response",
          response: { subtype: "error", request_id: requestId, error: `Unsupported control request subtype: ${String(subtype)}` },
        }),
      );
  }
}

function handleControlResponse(msg: Record<string, unknown>): void {
  const response = (msg["response"] ?? {}) as Record<string, unknown>;
  const requestId = response["request_id"];
  let answer: PermissionAnswer;
  if (response["subtype"] === "error") {
    answer = { behavior: "deny", message: String(response["error"] ?? "error") };
  } else {
    const inner = (response["response"] ?? {}) as Record<string, unknown>;
    const behavior = inner["behavior"] === "allow" ? "allow" : "deny";
    answer = { behavior };
    if (typeof inner["message"] === "string") answer.message = inner["message"];
    if (inner["updatedInput"] && typeof inner["updatedInput"] === "object") {
      answer.updatedInput = inner["updatedInput"] as Record<string, unknown>;
    }
    if (inner["interrupt"] === true) answer.interrupt = true;
  }
  const rec: Record<string, unknown> = { t: "approval", request_id: requestId, behavior: answer.behavior };
  if (answer.message !== undefined) rec["message"] = answer.message;
  record(rec);
  const pending = current?.pending;
  if (pending && pending.requestId === requestId) pending.resolve(answer);
}

function handleLine(line: string): void {
  record({ t: "stdin", line });
  if (line.trim() === "") return;
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    process.stderr.write(`fake-claude: ignoring non-JSON stdin line\n`);
    return;
  }
  if (msg === null || typeof msg !== "object") return;
  const obj = msg as Record<string, unknown>;
  switch (obj["type"]) {
    case "control_request":
      handleControlRequest(obj);
      return;
    case "control_response":
      handleControlResponse(obj);
      return;
    case "user":
      queue.push(promptFromUserMessage(obj));
      void pump();
      return;
    default:
      // keep_alive, control_cancel_request, update_environment_variables, ...: ignored.
      return;
  }
}

function onStdinEnd(): void {
  if (stdinClosed) return;
  stdinClosed = true;
  const state = current;
  if (state?.pending) {
    // Nobody can answer the approval any more: abort the turn, then exit.
    abortCurrent("stdin_closed");
  }
  maybeExit();
  // Whether closing stdin set the exit going: a test of a wedged CLI waits for this, not for time.
  record({ t: "stdin_end", exiting });
}

// ---------------------------------------------------------------------------
// Signals

process.on("SIGINT", () => {
  record({ t: "signal", sig: "SIGINT", ignored: stubbornActive });
  if (stubbornActive) return;
  exitAfterTurn = true;
  queue.length = 0;
  if (!abortCurrent("sigint")) maybeExit();
});

process.on("SIGTERM", () => {
  record({ t: "signal", sig: "SIGTERM", ignored: stubbornActive });
  if (stubbornActive) return;
  exitRecorded = true;
  record({ t: "exit", code: null, signal: "SIGTERM" });
  process.removeAllListeners("SIGTERM");
  process.kill(process.pid, "SIGTERM");
});

// ---------------------------------------------------------------------------
// Main

function main(): void {
  if (opts.inputFormat !== "stream-json") {
    // One-shot `-p` mode: prompt from positional args, else all of stdin.
    const fromArgs = opts.positional.join(" ");
    const start = (prompt: string): void => {
      stdinClosed = true;
      queue.push(prompt);
      void pump();
    };
    if (fromArgs !== "") {
      process.stdin.resume();
      process.stdin.on("error", () => {});
      process.stdin.on("data", () => {});
      start(fromArgs);
      return;
    }
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d: string) => (text += d));
    process.stdin.on("end", () => start(text.trim()));
    process.stdin.on("error", () => start(text.trim()));
    return;
  }

  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      handleLine(line);
    }
  });
  const end = (): void => {
    if (buf !== "") {
      const line = buf;
      buf = "";
      handleLine(line);
    }
    onStdinEnd();
  };
  process.stdin.on("end", end);
  process.stdin.on("error", end);
}

main();

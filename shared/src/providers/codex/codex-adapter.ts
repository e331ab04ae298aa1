import { failureReason, type ProviderFailureReason } from "../failure-reason.js";
import { z } from "zod";
import { ApprovalDecision } from "../../../gen/asm/v1/common_pb.js";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { newId } from "../../ids/ulid.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { PermissionModeName, RunSettings } from "../../options/run-settings.js";
import type { AdapterRun, CommandSpec, EventDraft, ParsedLine, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import * as L from "./codex-lines.js";

// Codex CLI 0.169 in two modes (recorded in test/fixtures/transcripts/codex/: as-*.log, exec-*.log):
// - `codex app-server` (JSON-RPC without the "jsonrpc" field, one object per line) when tool
//   approvals go to asm: the only mode in which the CLI asks (`item/*/requestApproval`) and can be
//   interrupted through its protocol (`turn/interrupt`).
// - `codex exec --json … -` otherwise: the prompt on stdin, which is then closed; resumable with
//   `exec … resume <id> -`, interrupted by signals.

export type CodexMode = "app-server" | "exec";

/** The one rule both `buildCommand` and `startRun` follow: app-server exactly when approvals go to asm. */
export function codexMode(settings: RunSettings): CodexMode {
  const interactive = settings.interactiveApprovals ?? settings.permissionMode === "default";
  return interactive ? "app-server" : "exec";
}

/** `thread/start` / `thread/resume` sandbox per permission mode (app-server mode). */
const APP_SERVER_SANDBOX: Record<PermissionModeName, "read-only" | "workspace-write" | "danger-full-access"> = {
  default: "read-only",
  auto: "workspace-write",
  bypass: "danger-full-access",
  plan: "read-only",
};

/**
 * `codex exec` flags per permission mode. Codex 0.169 has no `--full-auto` any more (it is
 * rejected as an unknown argument); `--sandbox workspace-write` is what it used to mean for exec,
 * where nothing ever asks for approval.
 */
const EXEC_PERMISSION_FLAGS: Record<PermissionModeName, readonly string[]> = {
  default: [],
  auto: ["--sandbox", "workspace-write"],
  bypass: ["--dangerously-bypass-approvals-and-sandbox"],
  plan: ["--sandbox", "read-only"],
};

/** A dotted TOML path of bare keys, e.g. `model_providers.mock.base_url`. */
const CONFIG_KEY = /^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$/;

const CodexOptions = z.strictObject({
  /** `-c key=value` overrides; the value is rendered as a TOML string, number or boolean. */
  config: z
    .record(
      z.string().max(256).regex(CONFIG_KEY, "must be a dotted TOML key such as model_providers.mock.base_url"),
      z.union([z.string().max(65536), z.number(), z.boolean()]),
    )
    .optional(),
  /** `codex exec -p <name>`: layers `$CODEX_HOME/<name>.config.toml`; exec mode only (app-server has no profiles). */
  profile: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, "must be a profile name (letters, digits, _ . -)")
    .optional(),
  /** `codex exec --skip-git-repo-check` (exec refuses to run outside a git repository without it). */
  skip_git_repo_check: z.boolean().default(true),
});
type CodexOptions = z.infer<typeof CodexOptions>;

/** TOML value of one `-c` override. JSON string syntax is valid TOML basic-string syntax. */
function tomlValue(value: string | number | boolean): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function configArgs(opts: CodexOptions): string[] {
  return Object.entries(opts.config ?? {}).flatMap(([key, value]) => ["-c", `${key}=${tomlValue(value)}`]);
}

function cwdOf(spec: RunSpec): string {
  return spec.settings.cwd ?? spec.defaultCwd;
}

function raw(content: string): ParsedLine {
  return { events: [{ payload: payload("raw", { stream: "stdout", content }) }] };
}

function errorEvent(error: AsmError): EventDraft {
  return { payload: payload("error", { error: error.toMessage() }) };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function asInput(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { arguments: value ?? null };
}

function textOf(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Errors

/** The HTTP status inside a `codexErrorInfo` such as `{"httpConnectionFailed":{"httpStatusCode":401}}`. */
function httpStatusOf(info: unknown): number | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  for (const v of Object.values(info)) {
    if (typeof v === "object" && v !== null && "httpStatusCode" in v && typeof v.httpStatusCode === "number") return v.httpStatusCode;
  }
  return undefined;
}

/** What Codex said about a failure (its text and its `codexErrorInfo`) as an asm reason. */
function classify(text: string, info: unknown, http: number | undefined): ProviderFailureReason {
  const infoText = typeof info === "string" ? info : info === undefined || info === null ? "" : JSON.stringify(info);
  const code = /unauthorized/i.test(infoText)
    ? "unauthenticated"
    : /usageLimitExceeded|rateLimitExceeded/.test(infoText)
      ? "rate_limited"
      : // Without an HTTP status (which says more: a 429 after retries is a rate limit), these are outages.
        http === undefined && /internalServerError|serverOverloaded|responseStreamConnectionFailed|responseStreamDisconnected|responseTooManyFailedAttempts/.test(infoText)
        ? "unavailable"
        : undefined;
  return failureReason({ text, httpStatus: http, code });
}

interface ApiErrorBody {
  message: string;
  type: string;
  code: string;
}

/** The OpenAI error inside a Codex message, e.g. `{"error":{"message":"mock 400","type":"invalid_request_error",…}}`. */
function apiErrorBody(message: string): ApiErrorBody | undefined {
  const start = message.indexOf("{");
  if (start < 0) return undefined;
  const json = parseObject(message.slice(start));
  const inner = json && typeof json.error === "object" && json.error !== null ? (json.error as Record<string, unknown>) : json;
  if (!inner || typeof inner.message !== "string") return undefined;
  return { message: inner.message, type: typeof inner.type === "string" ? inner.type : "", code: typeof inner.code === "string" ? inner.code : "" };
}

/** A failed turn (app-server `turn/completed` failed, exec `turn.failed`). */
function turnError(message: string, info: unknown, extra: Record<string, unknown>): AsmError {
  const body = apiErrorBody(message);
  const http = httpStatusOf(info);
  const text = body ? `${body.message} ${body.type} ${body.code}` : message;
  return new AsmError({
    reasonCode: classify(text, info, http),
    provider: "codex",
    message: (body?.message ?? message).trim() || "codex reported a failed turn",
    details: {
      provider_code: "turn_failed",
      ...extra,
      codex_error_info: info ?? null,
      http_status: http ?? null,
      error_type: body?.type ?? "",
      error_code: body?.code ?? "",
      cli_message: message,
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Items shared by both protocols

/** `add a.txt`, `update b.txt`: the summary a file change's tool result carries. */
function changeSummary(changes: readonly { path: string; kind?: unknown }[]): string {
  return changes
    .map((c) => {
      const kind = typeof c.kind === "string" ? c.kind : typeof c.kind === "object" && c.kind !== null && "type" in c.kind && typeof c.kind.type === "string" ? c.kind.type : "change";
      return `${kind} ${c.path}`;
    })
    .join("\n");
}

const FAILED_STATUSES = new Set(["failed", "declined"]);

/** Tool names asm reports: Codex's own tool names; MCP tools as `mcp__<server>__<tool>` (Claude's spelling). */
const SHELL_TOOL = "shell";
const PATCH_TOOL = "apply_patch";
const mcpToolName = (server: string, tool: string): string => `mcp__${server}__${tool}`;

// ---------------------------------------------------------------------------------------------
// app-server mode

const INITIALIZE_ID = 1;
const THREAD_REQUEST_ID = 2;
const FIRST_TURN_REQUEST_ID = 3;
const CLIENT_VERSION = "0.1.0";

/** Notifications asm has no event for: thread/turn status, rate limits, streaming output already in final items. */
const QUIET_NOTIFICATIONS = new Set([
  "thread/status/changed",
  "thread/readState/changed",
  "thread/name/updated",
  "thread/settings/updated",
  "thread/goal/updated",
  "thread/goal/cleared",
  "remoteControl/status/changed",
  "account/rateLimits/updated",
  "account/updated",
  "item/commandExecution/outputDelta",
  "item/commandExecution/terminalInteraction",
  "item/fileChange/outputDelta",
  "item/fileChange/patchUpdated",
  "item/mcpToolCall/progress",
  "item/reasoning/summaryTextDelta",
  "item/reasoning/summaryPartAdded",
  "item/reasoning/textDelta",
  "item/plan/delta",
  "turn/diff/updated",
  "turn/plan/updated",
  "mcpServer/startupStatus/updated",
  "skills/changed",
]);

type OwnMethod = "initialize" | "thread/start" | "thread/resume" | "turn/start" | "turn/interrupt";
type ApprovalMethod = "item/commandExecution/requestApproval" | "item/fileChange/requestApproval" | "execCommandApproval" | "applyPatchApproval";

interface PendingApproval {
  rpcId: number | string;
  method: ApprovalMethod;
}

const rpcKey = (id: number | string): string => (typeof id === "number" ? `n:${id}` : `s:${id}`);
const rpc = (method: string, id: number | undefined, params: unknown): string => JSON.stringify(id === undefined ? { method, params } : { method, id, params });
const rpcErrorReply = (id: number | string, code: number, message: string): string => JSON.stringify({ id, error: { code, message } });

function threadParams(spec: RunSpec): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  if (spec.settings.model) params.model = spec.settings.model;
  params.cwd = cwdOf(spec);
  params.approvalPolicy = "untrusted";
  params.sandbox = APP_SERVER_SANDBOX[spec.settings.permissionMode];
  return params;
}

/** What asm writes right after spawning `codex app-server`: the handshake and the thread request. */
function appServerHandshake(spec: RunSpec): string[] {
  const thread = spec.resumeProviderSessionId
    ? // excludeTurns: the answer would otherwise carry the whole history on one line.
      rpc("thread/resume", THREAD_REQUEST_ID, { threadId: spec.resumeProviderSessionId, ...threadParams(spec), excludeTurns: true })
    : rpc("thread/start", THREAD_REQUEST_ID, threadParams(spec));
  return [
    rpc("initialize", INITIALIZE_ID, {
      clientInfo: { name: "asm", title: null, version: CLIENT_VERSION },
      capabilities: { experimentalApi: true, requestAttestation: false },
    }),
    JSON.stringify({ method: "initialized" }),
    thread,
  ];
}

interface TurnUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** Drives one turn of `codex app-server`: handshake, thread, one `turn/start`, approvals, interrupt. */
class CodexAppServerRun implements AdapterRun {
  private readonly pending = new Map<string, OwnMethod>();
  private readonly approvals = new Map<string, PendingApproval>();
  private readonly approvalByRpc = new Map<string, string>();
  private readonly announcedTools = new Set<string>();
  private readonly fileChanges = new Map<string, z.infer<typeof L.FileUpdateChange>[]>();
  private nextRpcId = FIRST_TURN_REQUEST_ID;
  private threadId: string | undefined;
  private turnId: string | undefined;
  private turnActive = false;
  private model: string;
  private deltaIndex = 0;
  private lastText = "";
  private lastError: z.infer<typeof L.ErrorNotification> | undefined;
  private lastTotalTokens: number | undefined;
  private usage: TurnUsage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };

  constructor(private readonly spec: RunSpec) {
    this.model = spec.settings.model ?? "";
    this.pending.set(rpcKey(INITIALIZE_ID), "initialize");
    this.pending.set(rpcKey(THREAD_REQUEST_ID), spec.resumeProviderSessionId ? "thread/resume" : "thread/start");
  }

  private request(method: OwnMethod, params: unknown): string {
    const id = this.nextRpcId++;
    this.pending.set(rpcKey(id), method);
    return rpc(method, id, params);
  }

  parseLine(text: string): ParsedLine {
    const json = parseObject(text);
    if (!json) return raw(text);
    const hasMethod = typeof json.method === "string";
    const hasId = json.id !== undefined && json.id !== null;
    if (hasMethod && hasId) return this.serverRequest(json, text);
    if (hasMethod) return this.notification(json, text);
    if (hasId) return this.response(json, text);
    return raw(text);
  }

  // --- responses to asm's own requests

  private response(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcResponse.safeParse(json);
    if (!parsed.success) return raw(text);
    const key = rpcKey(parsed.data.id);
    const method = this.pending.get(key);
    if (!method) return raw(text);
    this.pending.delete(key);
    if (parsed.data.error) return this.requestFailed(method, parsed.data.error, text);
    const result = parsed.data.result;
    switch (method) {
      case "initialize":
      case "turn/interrupt":
        return { events: [] };
      case "thread/start":
      case "thread/resume": {
        const thread = L.ThreadStartResult.safeParse(result);
        if (!thread.success) {
          const error = new AsmError({ provider: "codex", reasonCode: "provider_protocol_error", message: `codex answered ${method} without a thread id`, details: { method } });
          return { events: [...raw(text).events, errorEvent(error)], turnEnded: true };
        }
        this.threadId = thread.data.thread.id;
        if (thread.data.model) this.model = thread.data.model;
        const turnStart = this.request("turn/start", {
          threadId: this.threadId,
          input: [{ type: "text", text: this.spec.prompt, text_elements: [] }],
        });
        return { events: [], providerSessionId: this.threadId, reply: [turnStart] };
      }
      case "turn/start": {
        const turn = L.TurnStartResult.safeParse(result);
        if (turn.success) this.beginTurn(turn.data.turn.id);
        return { events: [] };
      }
    }
  }

  /** asm's own request was refused: the run cannot go on (except a refused interrupt, which signals cover). */
  private requestFailed(method: OwnMethod, error: z.infer<typeof L.RpcError>, text: string): ParsedLine {
    if (method === "turn/interrupt") return raw(text);
    const message = error.message ?? `codex refused ${method}`;
    const dataText = textOf(error.data);
    const reason = classify(`${message} ${dataText}`, undefined, undefined);
    const asmError = new AsmError({
      // A refusal that is not about credentials, limits or an outage is about what asm asked (a model, an option).
      reasonCode: reason === "provider_failed" ? "provider_request_refused" : reason,
      provider: "codex",
      message: `codex refused ${method}: ${message}`,
      details: { provider_code: `${method.replace("/", "_")}_failed`, method, rpc_code: error.code ?? null, data: error.data ?? null },
    });
    this.turnActive = false;
    return { events: [errorEvent(asmError)], providerSessionId: this.threadId, turnEnded: true };
  }

  private beginTurn(turnId: string): void {
    if (this.turnId !== turnId) {
      this.turnId = turnId;
      this.turnActive = true;
    }
  }

  // --- notifications

  private notification(json: unknown, text: string): ParsedLine {
    const parsed = L.Notification.safeParse(json);
    if (!parsed.success) return raw(text);
    const { method, params } = parsed.data;
    switch (method) {
      case "thread/started": {
        const p = L.ThreadStarted.safeParse(params);
        return p.success ? { events: [], providerSessionId: p.data.thread.id } : raw(text);
      }
      case "turn/started": {
        const p = L.TurnStarted.safeParse(params);
        if (!p.success) return raw(text);
        this.beginTurn(p.data.turn.id);
        return { events: [] };
      }
      case "item/started":
      case "item/completed": {
        const p = L.ItemNotification.safeParse(params);
        if (!p.success) return raw(text);
        return method === "item/started" ? this.itemStarted(p.data.item, text) : this.itemCompleted(p.data.item, text);
      }
      case "item/agentMessage/delta": {
        const p = L.AgentMessageDelta.safeParse(params);
        if (!p.success) return raw(text);
        return { events: [{ payload: payload("assistantDelta", { content: p.data.delta, index: this.deltaIndex++ }) }] };
      }
      case "thread/tokenUsage/updated":
        return this.tokenUsage(params, text);
      case "turn/completed":
        return this.turnCompleted(params, text);
      case "error": {
        // Kept for turn/completed (which carries the final word); shown as it comes.
        const p = L.ErrorNotification.safeParse(params);
        if (p.success && !p.data.willRetry) this.lastError = p.data;
        return raw(text);
      }
      case "serverRequest/resolved": {
        const p = L.ServerRequestResolved.safeParse(params);
        if (!p.success) return raw(text);
        const approvalId = this.approvalByRpc.get(rpcKey(p.data.requestId));
        if (approvalId === undefined) return { events: [] };
        // The CLI withdrew a question asm had not answered (e.g. the turn was interrupted).
        this.forgetApproval(approvalId);
        return { events: [{ payload: payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }) }] };
      }
      default:
        return QUIET_NOTIFICATIONS.has(method) ? { events: [] } : raw(text);
    }
  }

  private itemStarted(item: z.infer<typeof L.ThreadItem>, text: string): ParsedLine {
    switch (item.type) {
      case "agentMessage":
      case "reasoning":
      case "userMessage":
        return { events: [] };
      case "commandExecution": {
        const cmd = L.CommandExecutionItem.safeParse(item);
        if (!cmd.success) return raw(text);
        this.announcedTools.add(cmd.data.id);
        return { events: [this.commandUse(cmd.data)] };
      }
      case "fileChange": {
        const change = L.FileChangeItem.safeParse(item);
        if (!change.success) return raw(text);
        this.announcedTools.add(change.data.id);
        this.fileChanges.set(change.data.id, change.data.changes);
        return { events: [this.patchUse(change.data)] };
      }
      case "mcpToolCall": {
        const call = L.McpToolCallItem.safeParse(item);
        if (!call.success) return raw(text);
        this.announcedTools.add(call.data.id);
        return { events: [this.mcpUse(call.data)] };
      }
      default:
        return raw(text);
    }
  }

  private itemCompleted(item: z.infer<typeof L.ThreadItem>, text: string): ParsedLine {
    switch (item.type) {
      case "userMessage":
        return { events: [] };
      case "agentMessage": {
        const message = L.AgentMessageItem.safeParse(item);
        if (!message.success) return raw(text);
        this.lastText = message.data.text;
        return {
          events: [
            {
              payload: payload("assistantMessage", {
                text: message.data.text,
                model: this.model,
                content: [{ type: "text", text: message.data.text }],
                aborted: false,
              }),
            },
          ],
        };
      }
      case "reasoning": {
        const reasoning = L.ReasoningItem.safeParse(item);
        if (!reasoning.success) return raw(text);
        const content = [...(reasoning.data.summary ?? []), ...(reasoning.data.content ?? [])].join("\n");
        return { events: content ? [{ payload: payload("thinking", { content, signature: "" }) }] : [] };
      }
      case "commandExecution": {
        const cmd = L.CommandExecutionItem.safeParse(item);
        if (!cmd.success) return raw(text);
        const { id, status, exitCode, aggregatedOutput } = cmd.data;
        const failed = FAILED_STATUSES.has(status) || (exitCode !== null && exitCode !== undefined && exitCode !== 0);
        const content = aggregatedOutput ?? (FAILED_STATUSES.has(status) ? `command ${status}` : "");
        return { events: [...this.announce(id, () => this.commandUse(cmd.data)), { payload: payload("toolResult", { toolCallId: id, content, isError: failed }) }] };
      }
      case "fileChange": {
        const change = L.FileChangeItem.safeParse(item);
        if (!change.success) return raw(text);
        const { id, status, changes } = change.data;
        this.fileChanges.delete(id);
        const content = FAILED_STATUSES.has(status) ? `patch ${status}` : changeSummary(changes);
        return {
          events: [...this.announce(id, () => this.patchUse(change.data)), { payload: payload("toolResult", { toolCallId: id, content, isError: FAILED_STATUSES.has(status) }) }],
        };
      }
      case "mcpToolCall": {
        const call = L.McpToolCallItem.safeParse(item);
        if (!call.success) return raw(text);
        const failed = call.data.status === "failed" || (call.data.error !== undefined && call.data.error !== null);
        const content = failed ? textOf(call.data.error) : textOf(call.data.result);
        return { events: [...this.announce(call.data.id, () => this.mcpUse(call.data)), { payload: payload("toolResult", { toolCallId: call.data.id, content, isError: failed }) }] };
      }
      default:
        return raw(text);
    }
  }

  /** A tool_use for an item that completed without a start notification (so every result has its use). */
  private announce(id: string, use: () => EventDraft): EventDraft[] {
    if (this.announcedTools.delete(id)) return [];
    return [use()];
  }

  private commandUse(item: z.infer<typeof L.CommandExecutionItem>): EventDraft {
    return { payload: payload("toolUse", { toolName: SHELL_TOOL, toolCallId: item.id, input: { command: item.command, cwd: item.cwd ?? "" } }) };
  }

  private patchUse(item: z.infer<typeof L.FileChangeItem>): EventDraft {
    return { payload: payload("toolUse", { toolName: PATCH_TOOL, toolCallId: item.id, input: { changes: item.changes } }) };
  }

  private mcpUse(item: z.infer<typeof L.McpToolCallItem>): EventDraft {
    return { payload: payload("toolUse", { toolName: mcpToolName(item.server, item.tool), toolCallId: item.id, input: asInput(item.arguments) }) };
  }

  /**
   * Usage arrives per model request: `last` is that request, `total` the thread so far. Counting
   * `last` only when `total` moved (and only for this run's turn) never counts one request twice,
   * also when Codex repeats an update or reports a resumed thread's history.
   */
  private tokenUsage(params: unknown, text: string): ParsedLine {
    const p = L.TokenUsageUpdated.safeParse(params);
    if (!p.success) return raw(text);
    const { total, last } = p.data.tokenUsage;
    const moved = total.totalTokens !== this.lastTotalTokens;
    this.lastTotalTokens = total.totalTokens;
    const ours = this.turnActive && (p.data.turnId === undefined || p.data.turnId === null || p.data.turnId === this.turnId);
    if (!moved || !ours) return { events: [] };
    this.usage = {
      input_tokens: this.usage.input_tokens + last.inputTokens,
      output_tokens: this.usage.output_tokens + last.outputTokens,
      total_tokens: this.usage.total_tokens + last.totalTokens,
    };
    return { events: [{ payload: payload("costUpdate", { inputTokens: last.inputTokens, outputTokens: last.outputTokens, totalTokens: last.totalTokens, costUsd: 0 }) }] };
  }

  /** The next `turn/start` on the same thread (a warm app-server process). */
  nextTurn(prompt: string): string[] | undefined {
    if (this.threadId === undefined || this.turnActive) return undefined;
    this.deltaIndex = 0;
    this.announcedTools.clear();
    this.fileChanges.clear();
    return [this.request("turn/start", { threadId: this.threadId, input: [{ type: "text", text: prompt, text_elements: [] }] })];
  }

  private turnCompleted(params: unknown, text: string): ParsedLine {
    const p = L.TurnCompleted.safeParse(params);
    if (!p.success) return raw(text);
    const { turn } = p.data;
    const usage = this.usage;
    const lastText = this.lastText;
    const lastError = this.lastError;
    this.turnActive = false;
    this.usage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
    this.lastText = "";
    this.lastError = undefined;
    // Questions the turn leaves open are withdrawn now: Codex reports them resolved only after
    // turn/completed, and nothing may follow the terminal event.
    const withdrawn = [...this.approvals.keys()].map((approvalId): EventDraft => {
      this.forgetApproval(approvalId);
      return { payload: payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }) };
    });
    const done = (event: EventDraft): ParsedLine => ({ events: [...withdrawn, event], providerSessionId: this.threadId ?? p.data.threadId, turnEnded: true });
    if (turn.status === "completed") {
      return done({
        payload: payload("result", {
          status: "completed",
          stopReason: "end_turn",
          text: lastText,
          object: undefined,
          output: { turn_id: turn.id, duration_ms: turn.durationMs ?? 0, usage },
        }),
      });
    }
    if (turn.status === "interrupted") {
      return done(errorEvent(new AsmError({ provider: "codex", message: "codex turn interrupted", reasonCode: "turn_interrupted", details: { turn_id: turn.id } })));
    }
    const cause = turn.error ?? lastError?.error;
    const message = cause?.message ?? `codex turn ended with status ${turn.status}`;
    return done(
      errorEvent(turnError(cause?.additionalDetails ? `${message} (${cause.additionalDetails})` : message, cause?.codexErrorInfo, { turn_id: turn.id, turn_status: turn.status })),
    );
  }

  // --- requests from the CLI

  private serverRequest(json: unknown, text: string): ParsedLine {
    const parsed = L.ServerRequest.safeParse(json);
    if (!parsed.success) return raw(text);
    const { id, method, params } = parsed.data;
    switch (method) {
      case "item/commandExecution/requestApproval": {
        const p = L.CommandApprovalParams.safeParse(params);
        if (!p.success) break;
        const { itemId, command, cwd, reason, commandActions, kind } = p.data;
        return this.approval(id, method, "command", itemId, {
          command: command ?? "",
          cwd: cwd ?? "",
          reason: reason ?? "",
          kind: kind ?? "command",
          command_actions: commandActions ?? [],
          tool_input: { command: command ?? "", cwd: cwd ?? "" },
        });
      }
      case "item/fileChange/requestApproval": {
        const p = L.FileChangeApprovalParams.safeParse(params);
        if (!p.success) break;
        const changes = this.fileChanges.get(p.data.itemId) ?? [];
        return this.approval(id, method, "file_change", p.data.itemId, {
          changes,
          reason: p.data.reason ?? "",
          grant_root: p.data.grantRoot ?? "",
          tool_input: { changes },
        });
      }
      case "execCommandApproval": {
        const p = L.ExecCommandApprovalParams.safeParse(params);
        if (!p.success) break;
        const command = p.data.command.join(" ");
        return this.approval(id, method, "command", p.data.callId, {
          command,
          argv: p.data.command,
          cwd: p.data.cwd ?? "",
          reason: p.data.reason ?? "",
          tool_input: { command, cwd: p.data.cwd ?? "" },
        });
      }
      case "applyPatchApproval": {
        const p = L.ApplyPatchApprovalParams.safeParse(params);
        if (!p.success) break;
        return this.approval(id, method, "file_change", p.data.callId, {
          file_changes: p.data.fileChanges ?? {},
          reason: p.data.reason ?? "",
          grant_root: p.data.grantRoot ?? "",
          tool_input: { file_changes: p.data.fileChanges ?? {} },
        });
      }
      default:
        // User input, elicitations, dynamic tool calls, permission grants, auth refresh…: asm has
        // no one to ask. An error answer lets the CLI go on instead of waiting forever.
        return { ...raw(text), reply: [rpcErrorReply(id, -32601, `asm cannot answer ${method}`)] };
    }
    return { ...raw(text), reply: [rpcErrorReply(id, -32602, `asm could not read this ${method}`)] };
  }

  private approval(rpcId: number | string, method: ApprovalMethod, subject: string, toolCallId: string, details: Record<string, unknown>): ParsedLine {
    const approvalId = newId("apr");
    this.approvals.set(approvalId, { rpcId, method });
    this.approvalByRpc.set(rpcKey(rpcId), approvalId);
    return { events: [{ payload: payload("approvalRequested", { approvalId, subject, toolCallId, details }) }], providerSessionId: this.threadId };
  }

  private forgetApproval(approvalId: string): PendingApproval | undefined {
    const pending = this.approvals.get(approvalId);
    if (!pending) return undefined;
    this.approvals.delete(approvalId);
    this.approvalByRpc.delete(rpcKey(pending.rpcId));
    return pending;
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): string[] {
    const pending = this.forgetApproval(approvalId);
    if (!pending) return [];
    const legacy = pending.method === "execCommandApproval" || pending.method === "applyPatchApproval";
    // v2 decline lets the turn go on (the model sees the rejection); v1 has its own vocabulary.
    const decision = legacy ? (allow ? "approved" : { denied: { rejection: reason || "denied by user" } }) : allow ? "accept" : "decline";
    return [JSON.stringify({ id: pending.rpcId, result: { decision } })];
  }

  interrupt(): string[] | undefined {
    if (!this.turnActive || this.threadId === undefined || this.turnId === undefined) return undefined;
    return [this.request("turn/interrupt", { threadId: this.threadId, turnId: this.turnId })];
  }
}

// ---------------------------------------------------------------------------------------------
// exec mode

/** Parses `codex exec --json` output; the process ends by itself, so there is nothing to write. */
class CodexExecRun implements AdapterRun {
  private threadId: string | undefined;
  private readonly announcedTools = new Set<string>();
  private lastText = "";
  private lastErrorMessage: string | undefined;

  /**
   * @param resumed `turn.completed` usage is the thread's running total (restored from the rollout
   *   on `exec resume`), so only a fresh thread's usage is this run's own cost.
   */
  constructor(
    private readonly model: string,
    private readonly resumed: boolean,
  ) {}

  parseLine(text: string): ParsedLine {
    const json = parseObject(text);
    if (!json) return raw(text);
    switch (json.type) {
      case "thread.started": {
        const p = L.ExecThreadStarted.safeParse(json);
        if (!p.success) return raw(text);
        this.threadId = p.data.thread_id;
        return { events: [], providerSessionId: this.threadId };
      }
      case "turn.started":
        return { events: [] };
      case "item.started":
      case "item.updated":
      case "item.completed":
        return this.item(json, text);
      case "turn.completed":
        return this.turnCompleted(json, text);
      case "error": {
        // A turn.failed follows with the final word; keep the message in case it is shorter.
        const p = L.ExecError.safeParse(json);
        if (p.success) this.lastErrorMessage = p.data.message;
        return raw(text);
      }
      case "turn.failed": {
        const p = L.ExecTurnFailed.safeParse(json);
        if (!p.success) return raw(text);
        const message = p.data.error?.message ?? this.lastErrorMessage ?? "codex exec reported a failed turn";
        return { events: [errorEvent(turnError(message, undefined, {}))], providerSessionId: this.threadId, turnEnded: true };
      }
      default:
        return raw(text);
    }
  }

  private item(json: unknown, text: string): ParsedLine {
    const line = L.ExecItemLine.safeParse(json);
    if (!line.success) return raw(text);
    const { type: phase, item } = line.data;
    switch (item.type) {
      case "agent_message": {
        if (phase !== "item.completed") return { events: [] };
        const message = L.ExecAgentMessage.safeParse(item);
        if (!message.success) return raw(text);
        this.lastText = message.data.text;
        return {
          events: [{ payload: payload("assistantMessage", { text: message.data.text, model: this.model, content: [{ type: "text", text: message.data.text }], aborted: false }) }],
        };
      }
      case "reasoning": {
        if (phase !== "item.completed") return { events: [] };
        const reasoning = L.ExecReasoning.safeParse(item);
        if (!reasoning.success) return raw(text);
        return { events: reasoning.data.text ? [{ payload: payload("thinking", { content: reasoning.data.text, signature: "" }) }] : [] };
      }
      case "command_execution": {
        const cmd = L.ExecCommandExecution.safeParse(item);
        if (!cmd.success) return raw(text);
        const use: EventDraft = { payload: payload("toolUse", { toolName: SHELL_TOOL, toolCallId: cmd.data.id, input: { command: cmd.data.command } }) };
        if (phase !== "item.completed") return { events: this.announceOnce(cmd.data.id, use) };
        const status = cmd.data.status ?? "completed";
        const exitCode = cmd.data.exit_code;
        const failed = FAILED_STATUSES.has(status) || (exitCode !== null && exitCode !== undefined && exitCode !== 0);
        const content = cmd.data.aggregated_output ?? "";
        return { events: [...this.completeOnce(cmd.data.id, use), { payload: payload("toolResult", { toolCallId: cmd.data.id, content, isError: failed }) }] };
      }
      case "file_change": {
        const change = L.ExecFileChange.safeParse(item);
        if (!change.success) return raw(text);
        const use: EventDraft = { payload: payload("toolUse", { toolName: PATCH_TOOL, toolCallId: change.data.id, input: { changes: change.data.changes } }) };
        if (phase !== "item.completed") return { events: this.announceOnce(change.data.id, use) };
        const failed = FAILED_STATUSES.has(change.data.status ?? "completed");
        const content = failed ? `patch ${change.data.status ?? "failed"}` : changeSummary(change.data.changes);
        return { events: [...this.completeOnce(change.data.id, use), { payload: payload("toolResult", { toolCallId: change.data.id, content, isError: failed }) }] };
      }
      case "mcp_tool_call": {
        const call = L.ExecMcpToolCall.safeParse(item);
        if (!call.success) return raw(text);
        const use: EventDraft = { payload: payload("toolUse", { toolName: mcpToolName(call.data.server, call.data.tool), toolCallId: call.data.id, input: asInput(call.data.arguments) }) };
        if (phase !== "item.completed") return { events: this.announceOnce(call.data.id, use) };
        const failed = call.data.status === "failed" || (call.data.error !== undefined && call.data.error !== null);
        const content = failed ? textOf(call.data.error) : textOf(call.data.result);
        return { events: [...this.completeOnce(call.data.id, use), { payload: payload("toolResult", { toolCallId: call.data.id, content, isError: failed }) }] };
      }
      default:
        // error items (warnings such as unknown model metadata), web searches, todo lists…
        return raw(text);
    }
  }

  private announceOnce(id: string, use: EventDraft): EventDraft[] {
    if (this.announcedTools.has(id)) return [];
    this.announcedTools.add(id);
    return [use];
  }

  private completeOnce(id: string, use: EventDraft): EventDraft[] {
    return this.announcedTools.delete(id) ? [] : [use];
  }

  private turnCompleted(json: unknown, text: string): ParsedLine {
    const p = L.ExecTurnCompleted.safeParse(json);
    if (!p.success) return raw(text);
    const events: EventDraft[] = [];
    const usage = p.data.usage;
    if (usage && !this.resumed) {
      const input = usage.input_tokens ?? 0;
      const output = usage.output_tokens ?? 0;
      events.push({ payload: payload("costUpdate", { inputTokens: input, outputTokens: output, totalTokens: input + output, costUsd: 0 }) });
    }
    // The usage is kept either way, labelled: on a resumed thread it includes earlier runs.
    const output = { usage: usage ?? {}, usage_scope: this.resumed ? "thread" : "run" };
    events.push({ payload: payload("result", { status: "completed", stopReason: "end_turn", text: this.lastText, object: undefined, output }) });
    return { events, providerSessionId: this.threadId, turnEnded: true };
  }

  answerApproval(): string[] {
    // exec never asks.
    return [];
  }

  interrupt(): undefined {
    return undefined;
  }
}

function execArgs(spec: RunSpec, opts: CodexOptions): string[] {
  const { settings } = spec;
  const args = ["exec", "--json"];
  if (opts.skip_git_repo_check) args.push("--skip-git-repo-check");
  args.push(...EXEC_PERMISSION_FLAGS[settings.permissionMode]);
  if (settings.model) args.push("-m", settings.model);
  if (opts.profile !== undefined) args.push("-p", opts.profile);
  args.push(...configArgs(opts));
  if (spec.resumeProviderSessionId) args.push("resume", spec.resumeProviderSessionId);
  // `-`: the prompt comes on stdin (never on the command line, whatever it starts with).
  args.push("-");
  return args;
}

/** Codex CLI: `codex app-server` when approvals go to asm, `codex exec --json` otherwise. */
export const codexAdapter: ProviderAdapter = {
  provider: "codex",
  defaultBinary: "codex",
  cliPathEnv: "ASM_CODEX_CLI_PATH",
  supportsApprovals: true,
  promptOnArgv: false,
  providerOptionsSchema: CodexOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    const opts = parseOrThrow(CodexOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
    if (opts.profile !== undefined && codexMode(settings) === "app-server") {
      throw new AsmError({
        field: `${fieldPrefix}.provider_options.profile`,
        provider: "codex",
        reasonCode: "invalid_option",
        message:
          "codex profiles apply to `codex exec` only, and interactive approvals run `codex app-server`; " +
          "set interactive_approvals to false (or a non-default permission mode), or use provider_options.config instead",
      });
    }
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = CodexOptions.parse(settings.providerOptions);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env };
    const cwd = cwdOf(spec);
    if (codexMode(settings) === "app-server") {
      return { command: cliPath, args: ["app-server", ...configArgs(opts)], cwd, env, initialInput: appServerHandshake(spec), keepStdinOpen: true };
    }
    return { command: cliPath, args: execArgs(spec, opts), cwd, env, initialInput: [], stdinText: spec.prompt, keepStdinOpen: false };
  },

  /** An app-server process serves further turns on its thread; exec runs end with their process. */
  canStayWarm(settings: RunSettings): boolean {
    return codexMode(settings) === "app-server";
  },

  canResume(): boolean {
    return true;
  },

  startRun(spec: RunSpec): AdapterRun {
    return codexMode(spec.settings) === "app-server" ? new CodexAppServerRun(spec) : new CodexExecRun(spec.settings.model ?? "", Boolean(spec.resumeProviderSessionId));
  },
};

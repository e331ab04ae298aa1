import { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import type { ProviderFailureReason } from "../failure-reason.js";
import { payload } from "../../events/event-payload.js";
import { newId } from "../../ids/ulid.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { PermissionModeName, RunSettings } from "../../options/run-settings.js";
import type { AdapterRun, CommandSpec, EventDraft, ParsedLine, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import * as L from "./gemini-lines.js";

// Gemini CLI 0.61 in two modes (recorded in test/fixtures/transcripts/gemini/: acp-*.log, p-*.log):
// - ACP (`gemini --acp`, JSON-RPC 2.0 over stdio) when tool approvals go to asm: the only mode in
//   which the CLI asks (`session/request_permission`) and can be cancelled (`session/cancel`).
// - One-shot `gemini --output-format stream-json` otherwise: the prompt on stdin, which is then
//   closed; resumable with `--resume <id>`, interrupted by signals.

/** `--approval-mode` values (the CLI's spelling). */
const APPROVAL_MODE: Record<PermissionModeName, string> = {
  default: "default",
  auto: "auto_edit",
  bypass: "yolo",
  plan: "plan",
};

/** Every Gemini run gets this: the default relauncher (a 2nd node process) ignores SIGINT/SIGTERM. */
const NO_RELAUNCH = { GEMINI_CLI_NO_RELAUNCH: "true" } as const;

const ACP_PROTOCOL_VERSION = 1;
const ACP_AUTH_METHODS = ["gemini-api-key", "vertex-ai", "oauth-personal", "gateway"] as const;

/** List items the CLI receives comma-joined, so a comma would split one item in two. */
const listItem = z.string().trim().min(1).max(4096).refine((s) => !s.includes(","), "must not contain a comma");

const GeminiOptions = z.strictObject({
  /** Extensions to load (`--extensions a,b`); `[]` loads none (`--extensions none`); unset loads all. */
  extensions: z.array(listItem).max(100).optional(),
  /** Extra workspace directories (`--include-directories a,b`). */
  include_directories: z.array(listItem).max(100).optional(),
  /**
   * ACP only: the `authenticate` method id (default `gemini-api-key`). Gemini clears its cached
   * OAuth credentials when asked for a method other than the stored one, so an OAuth user says
   * `oauth-personal` here.
   */
  auth_method: z.enum(ACP_AUTH_METHODS).optional(),
});
type GeminiOptions = z.infer<typeof GeminiOptions>;

/** Whether tool permission prompts go to asm approvals, which needs ACP mode. */
function usesAcp(settings: RunSettings): boolean {
  return settings.interactiveApprovals ?? settings.permissionMode === "default";
}

function cwdOf(spec: RunSpec): string {
  return spec.settings.cwd ?? spec.defaultCwd;
}

function commonArgs(settings: RunSettings, opts: GeminiOptions): string[] {
  const args = ["--skip-trust", "--approval-mode", APPROVAL_MODE[settings.permissionMode]];
  if (settings.model) args.push("-m", settings.model);
  if (opts.extensions) args.push("--extensions", opts.extensions.length > 0 ? opts.extensions.join(",") : "none");
  if (opts.include_directories && opts.include_directories.length > 0) args.push("--include-directories", opts.include_directories.join(","));
  return args;
}

// ---------------------------------------------------------------------------------------------
// Errors

interface ApiError {
  httpStatus: number | undefined;
  status: string;
  message: string;
}

/** The Google API error inside CLI error text, e.g. `[API Error: {"error":{"code":400,…}}]`, or inside ACP error data. */
function findApiError(text: string, data: unknown): ApiError | undefined {
  const fromObject = (v: unknown): ApiError | undefined => {
    if (typeof v !== "object" || v === null) return undefined;
    const inner = "error" in v && typeof v.error === "object" && v.error !== null ? v.error : v;
    const code = "code" in inner && typeof inner.code === "number" ? inner.code : undefined;
    if (code === undefined || code < 100 || code > 599) return undefined;
    return {
      httpStatus: code,
      status: "status" in inner && typeof inner.status === "string" ? inner.status : "",
      message: "message" in inner && typeof inner.message === "string" ? inner.message : "",
    };
  };
  const fromData = fromObject(data) ?? (typeof data === "object" && data !== null && "details" in data && typeof data.details === "string" ? findApiError(data.details, undefined) : undefined);
  if (fromData) return fromData;
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start >= 0 && end > start) {
    try {
      const found = fromObject(JSON.parse(text.slice(start, end + 1)));
      if (found) return found;
    } catch {
      // not JSON: fall through to the pattern below
    }
  }
  const code = /"code"\s*:\s*(\d{3})\b/.exec(text)?.[1];
  return code === undefined ? undefined : { httpStatus: Number(code), status: "", message: "" };
}

const AUTH_ERROR_TYPES = new Set(["FatalAuthenticationError", "UnauthorizedError", "ForbiddenError", "AccountSuspendedError"]);
const CANCEL_ERROR_TYPES = new Set(["FatalCancellationError", "CanceledError"]);
/** Gemini appends "Please wait and try again later…" or "Possible quota limitations…" to a 429 that it flattened to text. */
const RATE_LIMIT_TEXT = /rate.?limit|too many requests|quota|please wait and try again later/i;
/** ACP's "authentication required" code; gemini also uses it for every failed `authenticate`. */
const ACP_AUTH_REQUIRED = -32000;

interface ErrorFacts {
  text: string;
  /** The CLI's error class (`-p` result lines). */
  errorType?: string;
  /** The JSON-RPC error code (ACP). Gemini puts the HTTP status here for API errors of a prompt. */
  rpcCode?: number;
  data?: unknown;
  /** Gemini's own name for the failure (its error type, or the ACP method that failed). */
  providerCode: string;
  /** The failure was of a request asm made (not of the turn): a plain failure then means asm asked wrongly. */
  ownRequest?: boolean;
  details: Record<string, unknown>;
}

/** The model API could not be reached (a retry may do better). */
const NETWORK_TEXT = /fetch failed|ECONNRE(?:FUSED|SET)|ETIMEDOUT|socket hang up/i;

/** One place that turns what the CLI said about a failure into an asm error kind. */
function geminiError(facts: ErrorFacts): AsmError {
  const api = findApiError(facts.text, facts.data);
  const rpcHttp = facts.rpcCode !== undefined && facts.rpcCode >= 400 && facts.rpcCode <= 599 ? facts.rpcCode : undefined;
  const http = api?.httpStatus ?? rpcHttp;
  const text = facts.text;
  // `[API Error: <message> (Status: RESOURCE_EXHAUSTED)]` when the CLI flattened the API error.
  const apiStatus = api?.status || (/\(Status: ([A-Z_]+)\)/.exec(text)?.[1] ?? "");
  let reason: ProviderFailureReason;
  if (facts.errorType !== undefined && CANCEL_ERROR_TYPES.has(facts.errorType)) reason = "turn_interrupted";
  else if (
    http === 401 ||
    http === 403 ||
    apiStatus === "UNAUTHENTICATED" ||
    apiStatus === "PERMISSION_DENIED" ||
    (facts.errorType !== undefined && AUTH_ERROR_TYPES.has(facts.errorType)) ||
    facts.rpcCode === ACP_AUTH_REQUIRED ||
    /api key|authenticat|unauthori[sz]ed|credentials|invalid auth method/i.test(text)
  )
    reason = "provider_auth_failed";
  else if (http === 429 || apiStatus === "RESOURCE_EXHAUSTED" || RATE_LIMIT_TEXT.test(text)) reason = "provider_rate_limited";
  else if ((http !== undefined && http >= 500) || apiStatus === "UNAVAILABLE" || apiStatus === "INTERNAL" || NETWORK_TEXT.test(text)) reason = "provider_unavailable";
  else reason = "provider_failed";
  const message = api?.message ? `gemini API error ${http ?? ""}${apiStatus ? ` ${apiStatus}` : ""}: ${api.message}` : text.trim() || "gemini reported an error";
  const reasonCode = facts.errorType === "FatalTurnLimitedError" ? "max_turns_reached" : reason === "provider_failed" && facts.ownRequest ? "provider_request_refused" : reason;
  return new AsmError({
    reasonCode,
    provider: "gemini",
    message,
    details: { ...facts.details, provider_code: facts.providerCode, http_status: http ?? null, api_status: apiStatus, cli_message: text },
  });
}

function raw(content: string): ParsedLine {
  return { events: [{ payload: payload("raw", { stream: "stdout", content }) }] };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// ACP mode

type AcpMethod = "initialize" | "authenticate" | "session/new" | "session/prompt";

interface PendingApproval {
  rpcId: number | string;
  options: L.PermissionOption[];
  toolCallId: string;
}

/** The text of ACP tool call content: text blocks joined; diffs and terminals as JSON. */
function toolCallText(content: readonly z.infer<typeof L.ToolCallContent>[] | null | undefined): string {
  if (!content || content.length === 0) return "";
  return content
    .map((c) => {
      const t = L.TextToolCallContent.safeParse(c);
      return t.success ? t.data.content.text : JSON.stringify(c);
    })
    .join("\n");
}

/** Tool input as asm shows it: ACP has no tool arguments beyond `rawInput`, so the title and locations stand in. */
function toolInput(call: L.ToolCallFields | z.infer<typeof L.RequestPermissionParams>["toolCall"]): Record<string, unknown> {
  const input: Record<string, unknown> = { title: call.title ?? "", kind: call.kind ?? "" };
  if (call.locations && call.locations.length > 0) input.locations = call.locations;
  if (call.rawInput !== undefined) input.raw_input = call.rawInput;
  return input;
}

/** Drives one turn of `gemini --acp`: handshake, one `session/prompt`, approvals, cancel. */
class GeminiAcpRun implements AdapterRun {
  private readonly pending = new Map<number | string, AcpMethod>();
  private readonly approvals = new Map<string, PendingApproval>();
  private readonly announcedToolCalls = new Set<string>();
  /** Tool calls that already have a tool_result event. */
  private readonly finishedToolCalls = new Set<string>();
  /**
   * Results for tools asm refused (deny, or cancel while asked). Gemini tells the model the tool
   * was cancelled but sends no tool_call_update, so the run reports it with the next line.
   */
  private notRun: EventDraft[] = [];
  private nextRpcId = 1;
  private sessionId: string | undefined;
  private promptInFlight = false;
  private interrupted = false;
  private done = false;
  private text = "";

  private readonly initialize: string;

  constructor(
    private readonly prompt: string,
    private readonly cwd: string,
    private readonly authMethod: string,
  ) {
    // Always JSON-RPC id 1, so the run that parses and the command that spawned agree.
    this.initialize = this.request("initialize", {
      protocolVersion: ACP_PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
    });
  }

  /**
   * The first line written after spawn. The rest of the handshake is written one step per
   * response: the CLI handles requests concurrently, so a pipelined `authenticate` or
   * `session/new` would race `initialize`.
   */
  initialInput(): string[] {
    return [this.initialize];
  }

  private request(method: AcpMethod, params: unknown): string {
    const id = this.nextRpcId++;
    this.pending.set(id, method);
    return JSON.stringify({ jsonrpc: "2.0", id, method, params });
  }

  parseLine(text: string): ParsedLine {
    const parsed = this.parse(text);
    if (this.notRun.length === 0) return parsed;
    const events = [...this.notRun, ...parsed.events];
    this.notRun = [];
    return { ...parsed, events };
  }

  private parse(text: string): ParsedLine {
    const json = parseObject(text);
    if (!json) return raw(text);
    const hasMethod = typeof json.method === "string";
    const hasId = json.id !== undefined && json.id !== null;
    if (hasMethod && hasId) return this.serverRequest(json, text);
    if (hasMethod) return this.notification(json, text);
    if ("error" in json) return this.errorResponse(json, text);
    if ("result" in json) return this.response(json, text);
    return raw(text);
  }

  private response(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcResult.safeParse(json);
    if (!parsed.success) return raw(text);
    const method = this.pending.get(parsed.data.id);
    if (!method) return raw(text);
    this.pending.delete(parsed.data.id);
    switch (method) {
      case "initialize":
        return { events: [], reply: [this.request("authenticate", { methodId: this.authMethod })] };
      case "authenticate":
        return { events: [], reply: [this.request("session/new", { cwd: this.cwd, mcpServers: [] })] };
      case "session/new": {
        const result = L.SessionNewResult.safeParse(parsed.data.result);
        if (!result.success) {
          this.done = true;
          const error = new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/new without a session id", details: { method: "session/new" } });
          return { events: [{ payload: payload("error", { error: error.toMessage() }) }, ...raw(text).events], turnEnded: true };
        }
        this.sessionId = result.data.sessionId;
        if (this.interrupted) {
          // interrupt() came before there was a prompt to cancel: never send it.
          this.done = true;
          const error = AsmError.cancelled("the run was interrupted before gemini received the prompt");
          return { events: [{ payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
        }
        this.promptInFlight = true;
        const prompt = this.request("session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text: this.prompt }] });
        return { events: [], providerSessionId: this.sessionId, reply: [prompt] };
      }
      case "session/prompt":
        return this.promptResult(parsed.data.result, text);
    }
  }

  private promptResult(result: unknown, text: string): ParsedLine {
    this.promptInFlight = false;
    this.done = true;
    const parsed = L.PromptResult.safeParse(result);
    if (!parsed.success) {
      const error = new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/prompt without a stop reason", details: { method: "session/prompt" } });
      return { events: [...raw(text).events, { payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
    }
    const { stopReason, _meta } = parsed.data;
    const events: EventDraft[] = [];
    const tokens = _meta?.quota?.token_count;
    if (tokens) {
      const input = tokens.input_tokens ?? 0;
      const output = tokens.output_tokens ?? 0;
      events.push({ payload: payload("costUpdate", { inputTokens: input, outputTokens: output, totalTokens: input + output, costUsd: 0 }) });
    }
    if (stopReason === "cancelled") {
      events.push({ payload: payload("error", { error: AsmError.cancelled("gemini cancelled the prompt", "turn_interrupted").toMessage() }) });
    } else {
      events.push({
        payload: payload("result", {
          status: "success",
          stopReason,
          text: this.text,
          object: undefined,
          output: { usage: tokens ?? {}, model_usage: _meta?.quota?.model_usage ?? [] },
        }),
      });
    }
    return { events, providerSessionId: this.sessionId, turnEnded: true };
  }

  private errorResponse(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcError.safeParse(json);
    if (!parsed.success) return raw(text);
    const id = parsed.data.id;
    const method = id === null ? undefined : this.pending.get(id);
    if (id === null || !method) return raw(text);
    this.pending.delete(id);
    this.promptInFlight = false;
    this.done = true;
    const { code, message, data } = parsed.data.error;
    const dataText = data === undefined ? "" : typeof data === "string" ? data : JSON.stringify(data);
    const error = geminiError({
      text: dataText && dataText !== "{}" ? `${message}: ${dataText}` : message,
      rpcCode: code,
      data,
      providerCode: `${method.replace("/", "_")}_failed`,
      // session/new is where gemini checks what asm asked (cwd, model); initialize and prompt failures are gemini's.
      ownRequest: method === "session/new",
      details: { method, rpc_code: code },
    });
    return { events: [{ payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
  }

  private serverRequest(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcRequest.safeParse(json);
    if (!parsed.success) return raw(text);
    const { id, method, params } = parsed.data;
    if (method !== "session/request_permission") {
      // asm offers no client capabilities (fs, terminal); never leave the CLI waiting.
      return { ...raw(text), reply: [rpcErrorReply(id, -32601, `asm does not implement ${method}`)] };
    }
    const request = L.RequestPermissionParams.safeParse(params);
    if (!request.success) return { ...raw(text), reply: [rpcErrorReply(id, -32602, "asm could not read this session/request_permission")] };
    const { toolCall, options } = request.data;
    const approvalId = newId("apr");
    this.approvals.set(approvalId, { rpcId: id, options, toolCallId: toolCall.toolCallId });
    const events: EventDraft[] = [];
    if (!this.announcedToolCalls.has(toolCall.toolCallId)) {
      // Gemini sends no tool_call update for a tool that needs permission; the request is the announcement.
      this.announcedToolCalls.add(toolCall.toolCallId);
      events.push({ payload: payload("toolUse", { toolName: toolCall.kind ?? "other", toolCallId: toolCall.toolCallId, input: toolInput(toolCall) }) });
    }
    events.push({
      payload: payload("approvalRequested", {
        approvalId,
        subject: toolCall.kind ?? toolCall.title ?? "tool",
        toolCallId: toolCall.toolCallId,
        details: { title: toolCall.title ?? "", options, content: toolCall.content ?? [], tool_input: toolInput(toolCall) },
      }),
    });
    return { events, providerSessionId: request.data.sessionId };
  }

  private notification(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcNotification.safeParse(json);
    if (!parsed.success || parsed.data.method !== "session/update") return raw(text);
    const params = L.SessionUpdateParams.safeParse(parsed.data.params);
    if (!params.success) return raw(text);
    const sessionId = params.data.sessionId;
    if (this.sessionId !== undefined && sessionId !== this.sessionId) return raw(text);
    const update = params.data.update;
    const events: EventDraft[] = [];
    switch (update.sessionUpdate) {
      case "agent_message_chunk":
      case "agent_thought_chunk":
      case "user_message_chunk": {
        const chunk = L.ContentChunk.safeParse(update);
        if (!chunk.success) break;
        const content = chunk.data.content.text;
        if (chunk.data.sessionUpdate === "agent_message_chunk") {
          this.text += content;
          // index is the content block (as for claude): ACP streams one text block.
          events.push({ payload: payload("assistantDelta", { content, index: 0 }) });
        } else if (chunk.data.sessionUpdate === "agent_thought_chunk") {
          events.push({ payload: payload("thinking", { content, signature: "" }) });
        } else {
          events.push({ payload: payload("userMessage", { text: content, content: [chunk.data.content] }) });
        }
        break;
      }
      case "tool_call": {
        const call = L.ToolCall.safeParse(update);
        if (!call.success) break;
        this.announcedToolCalls.add(call.data.toolCallId);
        events.push({ payload: payload("toolUse", { toolName: call.data.kind ?? "other", toolCallId: call.data.toolCallId, input: toolInput(call.data) }) });
        const result = this.toolResult(call.data);
        if (result) events.push(result);
        break;
      }
      case "tool_call_update": {
        const call = L.ToolCallUpdate.safeParse(update);
        if (!call.success) break;
        const result = this.toolResult(call.data);
        if (result) events.push(result);
        break;
      }
      default:
        break;
    }
    // available_commands_update, plan, current_mode_update, in-progress tool updates, …: kept verbatim.
    return events.length > 0 ? { events, providerSessionId: sessionId } : { ...raw(text), providerSessionId: sessionId };
  }

  /** A completed/failed tool update as a tool_result, once per tool call. */
  private toolResult(call: L.ToolCallFields | z.infer<typeof L.ToolCallUpdate>): EventDraft | undefined {
    if (call.status !== "completed" && call.status !== "failed") return undefined;
    if (this.finishedToolCalls.has(call.toolCallId)) return undefined;
    this.finishedToolCalls.add(call.toolCallId);
    let content = toolCallText(call.content);
    if (!content && call.rawOutput !== undefined) content = typeof call.rawOutput === "string" ? call.rawOutput : JSON.stringify(call.rawOutput);
    return { payload: payload("toolResult", { toolCallId: call.toolCallId, content, isError: call.status === "failed" }) };
  }

  private toolNotRun(toolCallId: string, content: string): void {
    if (this.finishedToolCalls.has(toolCallId)) return;
    this.finishedToolCalls.add(toolCallId);
    this.notRun.push({ payload: payload("toolResult", { toolCallId, content, isError: true }) });
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): string[] {
    const approval = this.approvals.get(approvalId);
    if (!approval) return [];
    this.approvals.delete(approvalId);
    // ACP carries no deny message: the model is told the user cancelled the tool.
    const option = pickOption(approval.options, allow);
    const outcome = option ? { outcome: "selected", optionId: option.optionId } : { outcome: "cancelled" };
    if (!allow || !option) this.toolNotRun(approval.toolCallId, reason ? `denied: ${reason}` : "denied");
    return [JSON.stringify({ jsonrpc: "2.0", id: approval.rpcId, result: { outcome } })];
  }

  /** The next `session/prompt` on the same ACP session (a warm process); per-turn state is reset. */
  nextTurn(prompt: string): string[] | undefined {
    if (this.sessionId === undefined || this.promptInFlight) return undefined;
    this.approvals.clear();
    this.announcedToolCalls.clear();
    this.finishedToolCalls.clear();
    this.notRun = [];
    this.interrupted = false;
    this.done = false;
    this.text = "";
    this.promptInFlight = true;
    return [this.request("session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text: prompt }] })];
  }

  /**
   * `session/cancel`, then a `cancelled` outcome for every permission still asked (ACP requires it,
   * and gemini's prompt cannot end while a permission request is unanswered).
   */
  interrupt(): string[] | undefined {
    if (this.done) return undefined;
    this.interrupted = true;
    if (!this.promptInFlight || this.sessionId === undefined) return undefined;
    const lines = [JSON.stringify({ jsonrpc: "2.0", method: "session/cancel", params: { sessionId: this.sessionId } })];
    for (const [approvalId, approval] of this.approvals) {
      this.approvals.delete(approvalId);
      this.toolNotRun(approval.toolCallId, "cancelled: the run was interrupted");
      lines.push(JSON.stringify({ jsonrpc: "2.0", id: approval.rpcId, result: { outcome: { outcome: "cancelled" } } }));
    }
    return lines;
  }
}

/** The option that means "this once": `allow_once` / `reject_once`, else any allow / reject option. */
function pickOption(options: readonly L.PermissionOption[], allow: boolean): L.PermissionOption | undefined {
  const once = allow ? "allow_once" : "reject_once";
  const prefix = allow ? "allow_" : "reject_";
  return options.find((o) => o.kind === once) ?? options.find((o) => o.kind.startsWith(prefix));
}

function rpcErrorReply(id: number | string, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id, error: { code, message } });
}

// ---------------------------------------------------------------------------------------------
// One-shot mode (`-p … --output-format stream-json`)

class GeminiPromptRun implements AdapterRun {
  private text = "";
  private sessionId: string | undefined;
  /** The last error-severity `error` line: a failed `result` line may carry no error of its own. */
  private lastError: string | undefined;

  parseLine(text: string): ParsedLine {
    const json = parseObject(text);
    if (!json) return raw(text);
    switch (json.type) {
      case "init": {
        const line = L.InitLine.safeParse(json);
        if (!line.success) return raw(text);
        this.sessionId = line.data.session_id;
        return { events: [], providerSessionId: this.sessionId };
      }
      case "message":
        return this.message(json, text);
      case "tool_use": {
        const line = L.ToolUseLine.safeParse(json);
        if (!line.success) return raw(text);
        return this.withSession([{ payload: payload("toolUse", { toolName: line.data.tool_name, toolCallId: line.data.tool_id, input: line.data.parameters ?? {} }) }]);
      }
      case "tool_result": {
        const line = L.ToolResultLine.safeParse(json);
        if (!line.success) return raw(text);
        const isError = line.data.status === "error";
        const content = line.data.output ?? line.data.error?.message ?? "";
        return this.withSession([{ payload: payload("toolResult", { toolCallId: line.data.tool_id, content, isError }) }]);
      }
      case "error": {
        // Warnings and recoverable errors: the turn goes on and ends with a result line.
        const line = L.ErrorLine.safeParse(json);
        if (line.success && line.data.severity !== "warning") this.lastError = line.data.message;
        return { ...raw(text), providerSessionId: this.sessionId };
      }
      case "result":
        return this.result(json, text);
      default:
        return raw(text);
    }
  }

  private withSession(events: EventDraft[]): ParsedLine {
    return this.sessionId === undefined ? { events } : { events, providerSessionId: this.sessionId };
  }

  private message(json: unknown, text: string): ParsedLine {
    const line = L.MessageLine.safeParse(json);
    if (!line.success) return raw(text);
    const { role, content, delta } = line.data;
    if (role === "user") return this.withSession([{ payload: payload("userMessage", { text: content, content: [content] }) }]);
    this.text += content;
    if (delta === true) return this.withSession([{ payload: payload("assistantDelta", { content, index: 0 }) }]);
    return this.withSession([{ payload: payload("assistantMessage", { text: content, model: "", content: [{ type: "text", text: content }], aborted: false }) }]);
  }

  private result(json: unknown, text: string): ParsedLine {
    const parsed = L.ResultLine.safeParse(json);
    if (!parsed.success) return raw(text);
    const { status, error, stats } = parsed.data;
    const events: EventDraft[] = [];
    if (stats) {
      const input = stats.input_tokens ?? 0;
      const output = stats.output_tokens ?? 0;
      events.push({ payload: payload("costUpdate", { inputTokens: input, outputTokens: output, totalTokens: stats.total_tokens ?? input + output, costUsd: 0 }) });
    }
    if (status === "success") {
      events.push({
        payload: payload("result", {
          status,
          stopReason: "end_turn",
          text: this.text,
          object: undefined,
          output: {
            duration_ms: stats?.duration_ms ?? 0,
            tool_calls: stats?.tool_calls ?? 0,
            usage: { input_tokens: stats?.input_tokens ?? 0, output_tokens: stats?.output_tokens ?? 0, total_tokens: stats?.total_tokens ?? 0, cached: stats?.cached ?? 0 },
            models: stats?.models ?? {},
          },
        }),
      });
    } else {
      const errorType = error?.type;
      const err = geminiError({
        text: error?.message ?? this.lastError ?? `gemini ended with status ${status}`,
        errorType,
        providerCode: errorType && errorType !== "unknown" ? errorType : "api_error",
        details: { status, error_type: errorType ?? "" },
      });
      events.push({ payload: payload("error", { error: err.toMessage() }) });
    }
    return { ...this.withSession(events), turnEnded: true };
  }

  answerApproval(): string[] {
    // One-shot mode never asks: risky tools are hidden (default) or run unasked (yolo).
    return [];
  }

  interrupt(): undefined {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/** Gemini CLI: ACP (`--acp`) when approvals go to asm, else one-shot stream-json. */
export const geminiAdapter: ProviderAdapter = {
  provider: "gemini",
  defaultBinary: "gemini",
  cliPathEnv: "ASM_GEMINI_CLI_PATH",
  supportsApprovals: true,
  promptOnArgv: false,
  providerOptionsSchema: GeminiOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    parseOrThrow(GeminiOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = GeminiOptions.parse(settings.providerOptions);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env, ...NO_RELAUNCH };
    const cwd = cwdOf(spec);
    if (usesAcp(settings)) {
      // ACP session/load is broken in 0.61 (it overwrites the stored session), so a resumed session
      // starts a new ACP session; continuation needs a warm process.
      const initialInput = acpRun(spec, opts).initialInput();
      return { command: cliPath, args: ["--acp", ...commonArgs(settings, opts)], cwd, env, initialInput, keepStdinOpen: true };
    }
    // No --prompt: with stdin not a terminal, gemini reads the prompt there (never on the command line).
    const args = ["--output-format", "stream-json", ...commonArgs(settings, opts)];
    if (spec.resumeProviderSessionId) args.push("--resume", spec.resumeProviderSessionId);
    return { command: cliPath, args, cwd, env, initialInput: [], stdinText: spec.prompt, keepStdinOpen: false };
  },

  /** An ACP process serves further prompts on its session; one-shot runs end with their process. */
  canStayWarm(settings: RunSettings): boolean {
    return usesAcp(settings);
  },

  /** ACP `session/load` is broken in 0.61: an ACP process cannot continue a stored session; a one-shot one can (`--resume`). */
  canResume(settings: RunSettings): boolean {
    return !usesAcp(settings);
  },

  startRun(spec: RunSpec): AdapterRun {
    if (usesAcp(spec.settings)) return acpRun(spec, GeminiOptions.parse(spec.settings.providerOptions));
    return new GeminiPromptRun();
  },
};

function acpRun(spec: RunSpec, opts: GeminiOptions): GeminiAcpRun {
  return new GeminiAcpRun(spec.prompt, cwdOf(spec), opts.auth_method ?? "gemini-api-key");
}

/** `gemini --acp`: JSON-RPC 2.0 over stdio, one session, one prompt per turn, permission requests, `session/cancel`. */
import { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { newId } from "../../ids/ulid.js";
import type { AdapterRun, EventDraft, ParsedLine } from "../provider-adapter.js";
import * as L from "./gemini-lines.js";
import { parseJsonObject, rawLine } from "../protocol/line-events.js";
import { JsonRpcPeer, rpcMessageKind, RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND } from "../protocol/json-rpc.js";
import { geminiError } from "./gemini-failures.js";


const ACP_PROTOCOL_VERSION = 1;

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
export class GeminiAcpRun implements AdapterRun {
  private readonly rpc = new JsonRpcPeer<AcpMethod>({ jsonrpc: true });
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
    return this.rpc.request(method, this.nextRpcId++, params);
  }

  parseLine(text: string): ParsedLine {
    const parsed = this.parse(text);
    if (this.notRun.length === 0) return parsed;
    const events = [...this.notRun, ...parsed.events];
    this.notRun = [];
    return { ...parsed, events };
  }

  private parse(text: string): ParsedLine {
    const json = parseJsonObject(text);
    if (!json) return rawLine(text);
    switch (rpcMessageKind(json)) {
      case "request":
        return this.serverRequest(json, text);
      case "notification":
        return this.notification(json, text);
      case "response":
        return "error" in json ? this.errorResponse(json, text) : this.response(json, text);
      default:
        return rawLine(text);
    }
  }

  private response(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcResult.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const method = this.rpc.settle(parsed.data.id);
    if (!method) return rawLine(text);
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
          return { events: [{ payload: payload("error", { error: error.toMessage() }) }, ...rawLine(text).events], turnEnded: true };
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
      return { events: [...rawLine(text).events, { payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
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
    if (!parsed.success) return rawLine(text);
    const id = parsed.data.id;
    const method = id === null ? undefined : this.rpc.settle(id);
    if (id === null || !method) return rawLine(text);
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
    if (!parsed.success) return rawLine(text);
    const { id, method, params } = parsed.data;
    if (method !== "session/request_permission") {
      // asm offers no client capabilities (fs, terminal); never leave the CLI waiting.
      return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_METHOD_NOT_FOUND, `asm does not implement ${method}`)] };
    }
    const request = L.RequestPermissionParams.safeParse(params);
    if (!request.success) return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_INVALID_PARAMS, "asm could not read this session/request_permission")] };
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
    if (!parsed.success || parsed.data.method !== "session/update") return rawLine(text);
    const params = L.SessionUpdateParams.safeParse(parsed.data.params);
    if (!params.success) return rawLine(text);
    const sessionId = params.data.sessionId;
    if (this.sessionId !== undefined && sessionId !== this.sessionId) return rawLine(text);
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
    return events.length > 0 ? { events, providerSessionId: sessionId } : { ...rawLine(text), providerSessionId: sessionId };
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
    return [this.rpc.result(approval.rpcId, { outcome })];
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
    const lines = [this.rpc.notification("session/cancel", { sessionId: this.sessionId })];
    for (const [approvalId, approval] of this.approvals) {
      this.approvals.delete(approvalId);
      this.toolNotRun(approval.toolCallId, "cancelled: the run was interrupted");
      lines.push(this.rpc.result(approval.rpcId, { outcome: { outcome: "cancelled" } }));
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



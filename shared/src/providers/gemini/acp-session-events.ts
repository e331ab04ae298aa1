/**
 * What an ACP session says, as asm events: `session/update` notifications, permission requests and
 * their decisions, and the end of a prompt. One mapping for both lanes: the core lane's
 * `GeminiAcpRun` (which speaks JSON-RPC itself) and the sdk lane (where `@agentclientprotocol/sdk`
 * speaks it) feed it the same protocol objects and get the same events.
 */
import type { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { newId } from "../../ids/ulid.js";
import type { EventDraft } from "../provider-adapter.js";
import * as L from "./gemini-lines.js";

/** The outcome of a `session/request_permission`, as ACP spells it. */
export type PermissionOutcome = { outcome: "selected"; optionId: string } | { outcome: "cancelled" };

interface PendingApproval<T> {
  token: T;
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

/** The option that means "this once": `allow_once` / `reject_once`, else any allow / reject option. */
function pickOption(options: readonly L.PermissionOption[], allow: boolean): L.PermissionOption | undefined {
  const once = allow ? "allow_once" : "reject_once";
  const prefix = allow ? "allow_" : "reject_";
  return options.find((o) => o.kind === once) ?? options.find((o) => o.kind.startsWith(prefix));
}

/**
 * Per-turn state of one ACP session. `T` is what the caller needs to answer a permission request
 * later (the JSON-RPC id for the core lane, a resolver for the sdk lane).
 */
export class AcpSessionEvents<T> {
  private readonly approvals = new Map<string, PendingApproval<T>>();
  private readonly announcedToolCalls = new Set<string>();
  /** Tool calls that already have a tool_result event. */
  private readonly finishedToolCalls = new Set<string>();
  /**
   * Results for tools asm refused (deny, or cancel while asked). Gemini tells the model the tool
   * was cancelled but sends no tool_call_update, so the run reports it with the next event.
   */
  private notRun: EventDraft[] = [];
  private text = "";

  /** Per-turn state back to empty (the next prompt on the same session). */
  reset(): void {
    this.approvals.clear();
    this.announcedToolCalls.clear();
    this.finishedToolCalls.clear();
    this.notRun = [];
    this.text = "";
  }

  /** The tool results of refused tools not reported yet (they go before the next events). */
  takeNotRun(): EventDraft[] {
    const events = this.notRun;
    this.notRun = [];
    return events;
  }

  /**
   * A `session/update` notification's params as events; undefined when they are not a session
   * update of `sessionId` (when known), and `[]` for updates asm keeps only verbatim.
   */
  update(params: unknown, sessionId: string | undefined): { events: EventDraft[]; sessionId: string } | undefined {
    const parsed = L.SessionUpdateParams.safeParse(params);
    if (!parsed.success) return undefined;
    if (sessionId !== undefined && parsed.data.sessionId !== sessionId) return undefined;
    const update = parsed.data.update;
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
    return { events, sessionId: parsed.data.sessionId };
  }

  /** A `session/request_permission`'s params as events (the tool, then the approval); undefined when unreadable. */
  permissionRequested(params: unknown, token: T): { approvalId: string; events: EventDraft[]; sessionId: string } | undefined {
    const request = L.RequestPermissionParams.safeParse(params);
    if (!request.success) return undefined;
    const { toolCall, options } = request.data;
    const approvalId = newId("apr");
    this.approvals.set(approvalId, { token, options, toolCallId: toolCall.toolCallId });
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
    return { approvalId, events, sessionId: request.data.sessionId };
  }

  /** The outcome for a decision on an approval still asked; undefined when it is not. */
  decide(approvalId: string, allow: boolean, reason: string): { token: T; outcome: PermissionOutcome } | undefined {
    const approval = this.approvals.get(approvalId);
    if (!approval) return undefined;
    this.approvals.delete(approvalId);
    // ACP carries no deny message: the model is told the user cancelled the tool.
    const option = pickOption(approval.options, allow);
    if (!allow || !option) this.toolNotRun(approval.toolCallId, reason ? `denied: ${reason}` : "denied");
    return { token: approval.token, outcome: option ? { outcome: "selected", optionId: option.optionId } : { outcome: "cancelled" } };
  }

  /** A `cancelled` outcome for every permission still asked (ACP requires it when a prompt is cancelled). */
  cancelAll(): T[] {
    const tokens: T[] = [];
    for (const [approvalId, approval] of this.approvals) {
      this.approvals.delete(approvalId);
      this.toolNotRun(approval.toolCallId, "cancelled: the run was interrupted");
      tokens.push(approval.token);
    }
    return tokens;
  }

  /** The events of a `session/prompt` result: cost, then the result or the cancellation; undefined when unreadable. */
  promptEnded(result: unknown): EventDraft[] | undefined {
    const parsed = L.PromptResult.safeParse(result);
    if (!parsed.success) return undefined;
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
    return events;
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
}

/** `codex exec --json`: the prompt on stdin, JSONL events out, the process ends with the turn. */
import { payload } from "../../events/event-payload.js";
import type { AdapterRun, EventDraft, ParsedLine } from "../provider-adapter.js";
import * as L from "./codex-lines.js";
import { errorDraft, parseJsonObject, rawLine } from "../protocol/line-events.js";
import { asInput, changeSummary, FAILED_STATUSES, mcpToolName, PATCH_TOOL, SHELL_TOOL, textOf } from "./codex-items.js";
import { turnError } from "./codex-failures.js";

/** Parses `codex exec --json` output; the process ends by itself, so there is nothing to write. */
export class CodexExecRun implements AdapterRun {
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
    const json = parseJsonObject(text);
    if (!json) return rawLine(text);
    switch (json.type) {
      case "thread.started": {
        const p = L.ExecThreadStarted.safeParse(json);
        if (!p.success) return rawLine(text);
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
        return rawLine(text);
      }
      case "turn.failed": {
        const p = L.ExecTurnFailed.safeParse(json);
        if (!p.success) return rawLine(text);
        const message = p.data.error?.message ?? this.lastErrorMessage ?? "codex exec reported a failed turn";
        return { events: [errorDraft(turnError(message, undefined, {}))], providerSessionId: this.threadId, turnEnded: true };
      }
      default:
        return rawLine(text);
    }
  }

  private item(json: unknown, text: string): ParsedLine {
    const line = L.ExecItemLine.safeParse(json);
    if (!line.success) return rawLine(text);
    const { type: phase, item } = line.data;
    switch (item.type) {
      case "agent_message": {
        if (phase !== "item.completed") return { events: [] };
        const message = L.ExecAgentMessage.safeParse(item);
        if (!message.success) return rawLine(text);
        this.lastText = message.data.text;
        return {
          events: [{ payload: payload("assistantMessage", { text: message.data.text, model: this.model, content: [{ type: "text", text: message.data.text }], aborted: false }) }],
        };
      }
      case "reasoning": {
        if (phase !== "item.completed") return { events: [] };
        const reasoning = L.ExecReasoning.safeParse(item);
        if (!reasoning.success) return rawLine(text);
        return { events: reasoning.data.text ? [{ payload: payload("thinking", { content: reasoning.data.text, signature: "" }) }] : [] };
      }
      case "command_execution": {
        const cmd = L.ExecCommandExecution.safeParse(item);
        if (!cmd.success) return rawLine(text);
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
        if (!change.success) return rawLine(text);
        const use: EventDraft = { payload: payload("toolUse", { toolName: PATCH_TOOL, toolCallId: change.data.id, input: { changes: change.data.changes } }) };
        if (phase !== "item.completed") return { events: this.announceOnce(change.data.id, use) };
        const failed = FAILED_STATUSES.has(change.data.status ?? "completed");
        const content = failed ? `patch ${change.data.status ?? "failed"}` : changeSummary(change.data.changes);
        return { events: [...this.completeOnce(change.data.id, use), { payload: payload("toolResult", { toolCallId: change.data.id, content, isError: failed }) }] };
      }
      case "mcp_tool_call": {
        const call = L.ExecMcpToolCall.safeParse(item);
        if (!call.success) return rawLine(text);
        const use: EventDraft = { payload: payload("toolUse", { toolName: mcpToolName(call.data.server, call.data.tool), toolCallId: call.data.id, input: asInput(call.data.arguments) }) };
        if (phase !== "item.completed") return { events: this.announceOnce(call.data.id, use) };
        const failed = call.data.status === "failed" || (call.data.error !== undefined && call.data.error !== null);
        const content = failed ? textOf(call.data.error) : textOf(call.data.result);
        return { events: [...this.completeOnce(call.data.id, use), { payload: payload("toolResult", { toolCallId: call.data.id, content, isError: failed }) }] };
      }
      default:
        // error items (warnings such as unknown model metadata), web searches, todo lists…
        return rawLine(text);
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
    if (!p.success) return rawLine(text);
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



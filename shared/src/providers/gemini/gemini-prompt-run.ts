/** `gemini --output-format stream-json`: the prompt on stdin, JSON lines out, the process ends with the turn. */
import { payload } from "../../events/event-payload.js";
import type { AdapterRun, EventDraft, ParsedLine } from "../provider-adapter.js";
import * as L from "./gemini-lines.js";
import { parseJsonObject, rawLine } from "../protocol/line-events.js";
import { geminiError } from "./gemini-failures.js";


export class GeminiPromptRun implements AdapterRun {
  private text = "";
  private sessionId: string | undefined;
  /** The last error-severity `error` line: a failed `result` line may carry no error of its own. */
  private lastError: string | undefined;

  parseLine(text: string): ParsedLine {
    const json = parseJsonObject(text);
    if (!json) return rawLine(text);
    switch (json.type) {
      case "init": {
        const line = L.InitLine.safeParse(json);
        if (!line.success) return rawLine(text);
        this.sessionId = line.data.session_id;
        return { events: [], providerSessionId: this.sessionId };
      }
      case "message":
        return this.message(json, text);
      case "tool_use": {
        const line = L.ToolUseLine.safeParse(json);
        if (!line.success) return rawLine(text);
        return this.withSession([{ payload: payload("toolUse", { toolName: line.data.tool_name, toolCallId: line.data.tool_id, input: line.data.parameters ?? {} }) }]);
      }
      case "tool_result": {
        const line = L.ToolResultLine.safeParse(json);
        if (!line.success) return rawLine(text);
        const isError = line.data.status === "error";
        const content = line.data.output ?? line.data.error?.message ?? "";
        return this.withSession([{ payload: payload("toolResult", { toolCallId: line.data.tool_id, content, isError }) }]);
      }
      case "error": {
        // Warnings and recoverable errors: the turn goes on and ends with a result line.
        const line = L.ErrorLine.safeParse(json);
        if (line.success && line.data.severity !== "warning") this.lastError = line.data.message;
        return { ...rawLine(text), providerSessionId: this.sessionId };
      }
      case "result":
        return this.result(json, text);
      default:
        return rawLine(text);
    }
  }

  private withSession(events: EventDraft[]): ParsedLine {
    return this.sessionId === undefined ? { events } : { events, providerSessionId: this.sessionId };
  }

  private message(json: unknown, text: string): ParsedLine {
    const line = L.MessageLine.safeParse(json);
    if (!line.success) return rawLine(text);
    const { role, content, delta } = line.data;
    if (role === "user") return this.withSession([{ payload: payload("userMessage", { text: content, content: [content] }) }]);
    this.text += content;
    if (delta === true) return this.withSession([{ payload: payload("assistantDelta", { content, index: 0 }) }]);
    return this.withSession([{ payload: payload("assistantMessage", { text: content, model: "", content: [{ type: "text", text: content }], aborted: false }) }]);
  }

  private result(json: unknown, text: string): ParsedLine {
    const parsed = L.ResultLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
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


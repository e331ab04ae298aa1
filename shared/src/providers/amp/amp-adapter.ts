import { contentText } from "../content-text.js";
import { failureReason, type ProviderFailureReason } from "../failure-reason.js";
import { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { RunSettings } from "../../options/run-settings.js";
import { userContentEvents } from "../claude/user-content-events.js";
import type { AdapterRun, CommandSpec, EventDraft, ParsedLine, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import * as L from "./amp-lines.js";
import { rawLine } from "../protocol/line-events.js";

const AmpOptions = z.strictObject({
  /** Amp's agent mode (`--mode`), e.g. "smart" or "rush"; Amp's own default when unset. */
  mode: z.string().trim().min(1).max(64).optional(),
});

type Tokens = { input: number; output: number };

function tokensOf(usage: z.infer<typeof L.Usage>): Tokens {
  return { input: usage.input_tokens ?? usage.inputTokens ?? 0, output: usage.output_tokens ?? usage.outputTokens ?? 0 };
}

function costUpdate(tokens: Tokens, costUsd: number): EventDraft {
  return { payload: payload("costUpdate", { inputTokens: tokens.input, outputTokens: tokens.output, totalTokens: tokens.input + tokens.output, costUsd }) };
}

/** Tool output as text: strings as they are, text blocks joined, anything else as JSON. */

/** The human-readable part of an error field (`"…"` or `{ message: "…" }`). */
function messageOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && "message" in value && typeof value.message === "string") return value.message;
  return contentText(value);
}


const CANCELLED = /cancel|interrupt|abort/i;

/** A failure amp reported; its own code (`providerCode`) goes to `details.provider_code`. */
function errorEvent(init: { reason: ProviderFailureReason | "max_turns_reached"; message: string; providerCode: string; details?: Record<string, unknown> }): EventDraft {
  const error = new AsmError({ reasonCode: init.reason, message: init.message, provider: "amp", details: { ...init.details, provider_code: init.providerCode } });
  return { payload: payload("error", { error: error.toMessage() }) };
}


/** A prompt Amp's option parser would read as a flag gets a leading space. */
function promptArg(prompt: string): string {
  return prompt.startsWith("-") ? ` ${prompt}` : prompt;
}

class AmpRun implements AdapterRun {
  /** A terminal event was emitted: later terminal lines are kept as raw, never a second terminal. */
  private ended = false;
  /** A cost_update went out already (token_usage_updated), so the terminal adds none. */
  private costReported = false;
  /** Usage summed over the assistant messages of this run (Amp's result line carries none). */
  private usage: Tokens | undefined;
  private stopReason = "";

  parseLine(text: string): ParsedLine {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return rawLine(text);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return rawLine(text);
    try {
      const parsed = this.dispatch(json as Record<string, unknown>, text);
      const ids = L.SessionIds.safeParse(json);
      const sessionId = ids.success ? (ids.data.session_id ?? ids.data.thread_id ?? ids.data.sessionId) : undefined;
      return sessionId ? { ...parsed, providerSessionId: sessionId } : parsed;
    } catch {
      return rawLine(text);
    }
  }

  private dispatch(json: Record<string, unknown>, text: string): ParsedLine {
    const type = json.type ?? json.event;
    switch (type) {
      case "system": {
        const parsed = L.SystemLine.safeParse(json);
        if (!parsed.success) return rawLine(text);
        return parsed.data.subtype === "init" ? { events: [] } : rawLine(text);
      }
      case "assistant":
      case "message_received":
        return this.assistant(json, text);
      case "user":
        return this.user(json, text);
      case "result":
        return this.result(json, text);
      case "message_streamed":
      case "assistant_delta": {
        const parsed = L.MessageStreamed.safeParse(json);
        const content = parsed.success ? (parsed.data.delta ?? parsed.data.text ?? parsed.data.content) : undefined;
        if (content === undefined) return rawLine(text);
        return { events: [{ payload: payload("assistantDelta", { content, index: 0 }) }] };
      }
      case "tool_call_started":
      case "tool_use": {
        const parsed = L.ToolCallStarted.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const d = parsed.data;
        const id = d.tool_call_id ?? d.tool_id ?? d.id;
        const name = d.tool_name ?? d.name;
        if (id === undefined || name === undefined) return rawLine(text);
        return { events: [{ payload: payload("toolUse", { toolName: name, toolCallId: id, input: d.input ?? d.arguments ?? d.args ?? {} }) }] };
      }
      case "tool_call_completed":
      case "tool_call_failed":
      case "tool_result": {
        const parsed = L.ToolCallFinished.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const d = parsed.data;
        const id = d.tool_call_id ?? d.tool_id ?? d.id;
        if (id === undefined) return rawLine(text);
        const isError = type === "tool_call_failed" || d.is_error === true;
        const content = d.result ?? d.output ?? d.content ?? (isError ? messageOf(d.error ?? d.message) : undefined);
        return { events: [{ payload: payload("toolResult", { toolCallId: id, content: contentText(content), isError }) }] };
      }
      case "token_usage_updated":
      case "cost_update": {
        const parsed = L.TokenUsageUpdated.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const usage = parsed.data.token_usage ?? parsed.data.usage ?? parsed.data.stats;
        if (usage === undefined && parsed.data.cost_usd === undefined) return rawLine(text);
        this.costReported = true;
        return { events: [costUpdate(usage ? tokensOf(usage) : { input: 0, output: 0 }, parsed.data.cost_usd ?? 0)] };
      }
      case "run_completed":
        return this.runCompleted(json, text);
      case "run_cancelled": {
        const parsed = L.ErrorEvent.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const message = messageOf(parsed.data.reason ?? parsed.data.message ?? parsed.data.error) || "amp run cancelled";
        return this.terminal(text, [errorEvent({ reason: "turn_interrupted", message, providerCode: "run_cancelled" })]);
      }
      case "error":
      case "error_occurred":
      case "run_failed": {
        const parsed = L.ErrorEvent.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const message = messageOf(parsed.data.message ?? parsed.data.error ?? parsed.data.reason) || `amp reported ${type}`;
        const reason = failureReason({ text: message, code: parsed.data.code ?? parsed.data.kind });
        return this.terminal(text, [errorEvent({ reason, message, providerCode: parsed.data.code ?? type, details: { event: type } })]);
      }
      default:
        return rawLine(text);
    }
  }

  /** The run's one terminal line: `turnEnded` so stdin closes; any later terminal line is raw. */
  private terminal(text: string, events: EventDraft[]): ParsedLine {
    if (this.ended) return rawLine(text);
    this.ended = true;
    return { events, turnEnded: true };
  }

  /** The cost of the run, once: from the result's usage, else the assistant messages' usage. */
  private finalCost(usage: z.infer<typeof L.Usage> | undefined, costUsd: number | undefined): EventDraft[] {
    if (this.costReported) return [];
    const tokens = usage ? tokensOf(usage) : this.usage;
    if (tokens === undefined && costUsd === undefined) return [];
    this.costReported = true;
    return [costUpdate(tokens ?? { input: 0, output: 0 }, costUsd ?? 0)];
  }

  private assistant(json: unknown, text: string): ParsedLine {
    const parsed = L.AssistantLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const { message } = parsed.data;
    if (message.usage) {
      const t = tokensOf(message.usage);
      this.usage = { input: (this.usage?.input ?? 0) + t.input, output: (this.usage?.output ?? 0) + t.output };
    }
    if (message.stop_reason) this.stopReason = message.stop_reason;
    const events: EventDraft[] = [];
    const textParts: string[] = [];
    for (const block of message.content) {
      const t = L.TextBlock.safeParse(block);
      if (t.success) {
        textParts.push(t.data.text);
        continue;
      }
      const th = L.ThinkingBlock.safeParse(block);
      if (th.success) {
        events.push({ payload: payload("thinking", { content: th.data.thinking, signature: th.data.signature ?? "" }) });
        continue;
      }
      const tu = L.ToolUseBlock.safeParse(block);
      if (tu.success) events.push({ payload: payload("toolUse", { toolName: tu.data.name, toolCallId: tu.data.id, input: tu.data.input ?? {} }) });
    }
    if (textParts.length > 0 || events.length === 0) {
      events.unshift({ payload: payload("assistantMessage", { text: textParts.join(""), model: message.model ?? "", content: message.content, aborted: false }) });
    }
    return { events };
  }

  private user(json: unknown, text: string): ParsedLine {
    const parsed = L.UserLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    return { events: userContentEvents(parsed.data.message.content) };
  }

  private result(json: unknown, text: string): ParsedLine {
    const parsed = L.ResultLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    if (this.ended) return rawLine(text);
    const events = this.finalCost(line.usage, line.total_cost_usd);
    const failed = line.is_error === true || (line.subtype !== undefined && line.subtype !== "success");
    if (failed) {
      const reasons = [line.error ?? "", ...(line.errors ?? [])].filter((r) => r.trim() !== "");
      const message = (reasons.length > 0 ? reasons.join(" ") : (line.result ?? "")).trim();
      const subtype = line.subtype ?? "error";
      const reason = CANCELLED.test(subtype) ? "turn_interrupted" : subtype === "error_max_turns" ? "max_turns_reached" : failureReason({ text: message });
      events.push(errorEvent({ reason, message: message || `amp reported ${subtype}`, providerCode: subtype, details: { num_turns: line.num_turns ?? 0, duration_ms: line.duration_ms ?? 0 } }));
    } else {
      const usage = line.usage ?? (this.usage ? { input_tokens: this.usage.input, output_tokens: this.usage.output } : {});
      const output: Record<string, unknown> = { duration_ms: line.duration_ms ?? 0, num_turns: line.num_turns ?? 0, usage };
      if (line.permission_denials !== undefined) output.permission_denials = line.permission_denials;
      events.push({ payload: payload("result", { status: line.subtype ?? "success", stopReason: this.stopReason, text: line.result ?? "", object: undefined, output }) });
    }
    return this.terminal(text, events);
  }

  private runCompleted(json: unknown, text: string): ParsedLine {
    const parsed = L.RunCompleted.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    if (this.ended) return rawLine(text);
    const status = line.status ?? line.subtype ?? "completed";
    const events = this.finalCost(line.usage, undefined);
    if (CANCELLED.test(status)) {
      events.push(errorEvent({ reason: "turn_interrupted", message: line.result || "amp run cancelled", providerCode: status }));
    } else if (/fail|error/i.test(status)) {
      const message = line.result || `amp run ${status}`;
      events.push(errorEvent({ reason: failureReason({ text: message }), message, providerCode: status }));
    } else {
      const output = { duration_ms: line.duration_ms ?? 0, num_turns: line.num_turns ?? 0, usage: line.usage ?? {} };
      events.push({ payload: payload("result", { status, stopReason: line.stop_reason ?? this.stopReason, text: line.result ?? "", object: undefined, output }) });
    }
    return this.terminal(text, events);
  }

  answerApproval(): string[] {
    // Amp in --execute mode never asks; there is nothing to answer.
    return [];
  }

  interrupt(): undefined {
    // No in-band interrupt in --execute mode: the supervisor signals the process group.
    return undefined;
  }
}

/**
 * Amp CLI, one process per run: `amp --execute <prompt> --stream-json`. It cannot ask for
 * approvals; permission mode `bypass` is `--dangerously-allow-all`, every other mode leaves Amp's
 * own tool policy in charge. Threads continue through `amp threads continue <id> --execute …`
 * (https://ampcode.com/news/streaming-json).
 */
export const ampAdapter: ProviderAdapter = {
  provider: "amp",
  defaultBinary: "amp",
  cliPathEnv: "ASM_AMP_CLI_PATH",
  supportsApprovals: false,
  promptOnArgv: true,
  providerOptionsSchema: AmpOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    parseOrThrow(AmpOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = AmpOptions.parse(settings.providerOptions);
    const args: string[] = [];
    if (spec.resumeProviderSessionId) args.push("threads", "continue", spec.resumeProviderSessionId);
    args.push("--execute", promptArg(spec.prompt), "--stream-json", "--no-ide", "--no-notifications");
    if (opts.mode !== undefined) args.push("--mode", opts.mode);
    if (settings.permissionMode === "bypass") args.push("--dangerously-allow-all");
    return {
      command: cliPath,
      args,
      cwd: settings.cwd ?? spec.defaultCwd,
      env: { ...spec.baseEnv, ...settings.env },
      initialInput: [],
      keepStdinOpen: false,
    };
  },

  /** One process per run: the prompt is in argv. */
  canStayWarm(): boolean {
    return false;
  },

  canResume(): boolean {
    return true;
  },

  startRun(): AdapterRun {
    return new AmpRun();
  },
};

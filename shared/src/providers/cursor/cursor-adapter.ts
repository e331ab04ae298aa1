import { failureReason, type ProviderFailureReason } from "../failure-reason.js";
import { z } from "zod";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { RunSettings } from "../../options/run-settings.js";
import type { AdapterRun, CommandSpec, EventDraft, ParsedLine, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import * as L from "./cursor-lines.js";
import { rawLine } from "../protocol/line-events.js";

const CursorOptions = z.strictObject({
  /** `--sandbox enabled|disabled`; Cursor's own setting when unset. */
  sandbox: z.enum(["enabled", "disabled"]).optional(),
  /** `--approve-mcps`: start the configured MCP servers without asking. */
  approve_mcps: z.boolean().optional(),
});

const CANCELLED = /cancel|interrupt|abort/i;

type Record_ = Record<string, unknown>;

function isRecord(value: unknown): value is Record_ {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messageOf(value: unknown): string {
  if (typeof value === "string") return value;
  if (isRecord(value) && typeof value.message === "string") return value.message;
  return value === undefined || value === null ? "" : JSON.stringify(value);
}

/** A failure cursor reported; its own code (`providerCode`) goes to `details.provider_code`. */
function errorEvent(init: { reason: ProviderFailureReason | "max_turns_reached"; message: string; providerCode: string; details?: Record_ }): EventDraft {
  const error = new AsmError({ reasonCode: init.reason, message: init.message, provider: "cursor", details: { ...init.details, provider_code: init.providerCode } });
  return { payload: payload("error", { error: error.toMessage() }) };
}


function delta(content: string): EventDraft {
  return { payload: payload("assistantDelta", { content, index: 0 }) };
}

function textOf(content: readonly unknown[]): string {
  return content.map((b) => (L.TextBlock.safeParse(b).success ? (b as { text: string }).text : "")).join("");
}

/** The first non-empty string among `keys` of `obj`. */
function firstText(obj: Record_, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = obj[k];
    if (typeof v === "string" && v !== "") return v;
  }
  return undefined;
}

/** `function.arguments` is a JSON string; anything that is not a JSON object is kept under `arguments`. */
function functionInput(args: string | Record_ | undefined): Record_ {
  if (args === undefined) return {};
  if (typeof args !== "string") return args;
  try {
    const parsed: unknown = JSON.parse(args);
    return isRecord(parsed) ? parsed : { arguments: args };
  } catch {
    return { arguments: args };
  }
}

interface ToolCall {
  name: string;
  input: Record_;
  result: Record_ | undefined;
}

/** `{ shellToolCall: { args } }` → shell; `{ function: { name, arguments } }` → name. */
function toolCallOf(toolCall: Record_): ToolCall | undefined {
  const entry = Object.entries(toolCall)[0];
  if (!entry) return undefined;
  const [key, body] = entry;
  if (key === "function") {
    const f = L.FunctionBody.safeParse(body);
    return f.success ? { name: f.data.name, input: functionInput(f.data.arguments), result: f.data.result } : undefined;
  }
  const t = L.ToolBody.safeParse(body);
  if (!t.success) return undefined;
  return { name: key.replace(/ToolCall$/, "") || key, input: t.data.args ?? {}, result: t.data.result };
}

/** `result.success` (an error when a shell exit code is non-zero) or any other outcome (`error`, `failure`, `rejected`, …). */
function toolOutcome(result: Record_ | undefined): { content: string; isError: boolean } {
  if (result === undefined) return { content: "", isError: false };
  const success = result.success;
  if (isRecord(success)) {
    const isError = typeof success.exitCode === "number" && success.exitCode !== 0;
    const keys = isError ? ["interleavedOutput", "stderr", "stdout"] : ["stdout", "interleavedOutput", "content", "output"];
    return { content: firstText(success, keys) ?? JSON.stringify(success), isError };
  }
  const [key, body] = Object.entries(result)[0] ?? ["error", undefined];
  const content = isRecord(body)
    ? (firstText(body, ["message", "error", "reason", "interleavedOutput", "stderr", "stdout"]) ?? JSON.stringify(body))
    : typeof body === "string" && body !== ""
      ? body
      : key;
  return { content, isError: true };
}

/** The prompt, last in argv: one Cursor's parser could read as a flag or a subcommand gets a leading space. */
function promptArg(prompt: string): string {
  return /^-|^[A-Za-z][\w-]*$/.test(prompt) ? ` ${prompt}` : prompt;
}

class CursorRun implements AdapterRun {
  private ended = false;
  private model = "";
  /** Text sent as deltas since the last complete assistant message. */
  private streamed = "";
  /** Text sent as deltas since the last complete message or tool call (one message's worth). */
  private sinceTool = "";
  /** Text sent as deltas since the last `model_call_id` line (which repeats it). */
  private segment = "";
  /** Tool calls started and not completed. */
  private readonly pending = new Set<string>();

  parseLine(text: string): ParsedLine {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return rawLine(text);
    }
    if (!isRecord(json)) return rawLine(text);
    try {
      const parsed = this.dispatch(json, text);
      const ids = L.SessionIds.safeParse(json);
      const sessionId = ids.success ? ids.data.session_id : undefined;
      return sessionId ? { ...parsed, providerSessionId: sessionId } : parsed;
    } catch {
      return rawLine(text);
    }
  }

  private dispatch(json: Record_, text: string): ParsedLine {
    switch (json.type) {
      case "system": {
        const parsed = L.SystemLine.safeParse(json);
        if (!parsed.success || parsed.data.subtype !== "init") return rawLine(text);
        this.model = parsed.data.model ?? "";
        return { events: [] };
      }
      case "user":
        return this.user(json, text);
      case "assistant":
        return this.assistant(json, text);
      case "thinking": {
        const parsed = L.ThinkingLine.safeParse(json);
        if (!parsed.success) return rawLine(text);
        if (parsed.data.subtype === "completed") return { events: [] };
        if (parsed.data.subtype !== "delta" || parsed.data.text === undefined) return rawLine(text);
        return { events: parsed.data.text === "" ? [] : [{ payload: payload("thinking", { content: parsed.data.text, signature: "" }) }] };
      }
      case "tool_call":
        return this.toolCall(json, text);
      case "connection": {
        const parsed = L.ConnectionLine.safeParse(json);
        if (!parsed.success || parsed.data.subtype !== "reconnecting") return rawLine(text);
        // The stream broke: calls in flight will not complete; close them as failed, keep the line.
        const events: EventDraft[] = [...this.pending].map((id) => ({
          payload: payload("toolResult", { toolCallId: id, content: "cursor lost its connection while the tool was running (reconnecting)", isError: true }),
        }));
        this.pending.clear();
        return { events: [...events, ...rawLine(text).events] };
      }
      case "result":
        return this.result(json, text);
      case "error": {
        const parsed = L.ErrorLine.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const message = messageOf(parsed.data.message ?? parsed.data.error) || "cursor reported an error";
        return this.terminal(text, [errorEvent({ reason: failureReason({ text: message, code: parsed.data.code }), message, providerCode: parsed.data.code ?? "error" })]);
      }
      default:
        // retry, connection/* other than reconnecting, and anything new.
        return rawLine(text);
    }
  }

  private terminal(text: string, events: EventDraft[]): ParsedLine {
    if (this.ended) return rawLine(text);
    this.ended = true;
    return { events, turnEnded: true };
  }

  private user(json: unknown, text: string): ParsedLine {
    const parsed = L.UserLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const content = parsed.data.message.content;
    if (typeof content === "string") return { events: [{ payload: payload("userMessage", { text: content, content: [content] }) }] };
    return { events: [{ payload: payload("userMessage", { text: textOf(content), content }) }] };
  }

  /**
   * Partial lines (`timestamp_ms`) become deltas; a partial with `model_call_id` repeats what its
   * model call streamed, so only text beyond that is sent. The complete line (no `timestamp_ms`)
   * repeats what was streamed before it: its unseen suffix goes out as one more delta, then the
   * assistant message (whose text the reducer skips after deltas, so nothing doubles).
   */
  private assistant(json: unknown, text: string): ParsedLine {
    const parsed = L.AssistantLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    const body = textOf(line.message.content);
    if (line.timestamp_ms !== undefined) {
      let piece = body;
      if (line.model_call_id !== undefined) {
        if (body.startsWith(this.segment)) piece = body.slice(this.segment.length);
        this.segment = "";
      } else {
        this.segment += body;
      }
      this.streamed += piece;
      this.sinceTool += piece;
      return { events: piece === "" ? [] : [delta(piece)] };
    }
    // The complete line repeats either the whole response so far or the message since the last
    // tool call; whichever it starts with was already sent.
    const events: EventDraft[] = [];
    const sent = [this.streamed, this.sinceTool].find((s) => s !== "" && body.startsWith(s));
    if (sent !== undefined && body.length > sent.length) events.push(delta(body.slice(sent.length)));
    events.push({ payload: payload("assistantMessage", { text: body, model: this.model, content: line.message.content, aborted: false }) });
    this.streamed = "";
    this.sinceTool = "";
    this.segment = "";
    return { events };
  }

  private toolCall(json: unknown, text: string): ParsedLine {
    const parsed = L.ToolCallLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const id = parsed.data.call_id ?? parsed.data.tool_call_id;
    const call = toolCallOf(parsed.data.tool_call);
    if (id === undefined || call === undefined) return rawLine(text);
    switch (parsed.data.subtype) {
      case "started":
        this.pending.add(id);
        this.sinceTool = "";
        this.segment = "";
        return { events: [{ payload: payload("toolUse", { toolName: call.name, toolCallId: id, input: call.input }) }] };
      case "completed": {
        this.pending.delete(id);
        const { content, isError } = toolOutcome(call.result);
        return { events: [{ payload: payload("toolResult", { toolCallId: id, content, isError }) }] };
      }
      default:
        return rawLine(text);
    }
  }

  private result(json: unknown, text: string): ParsedLine {
    const parsed = L.ResultLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    if (this.ended) return rawLine(text);
    const events: EventDraft[] = [];
    if (line.usage) {
      const input = line.usage.inputTokens ?? 0;
      const output = line.usage.outputTokens ?? 0;
      events.push({ payload: payload("costUpdate", { inputTokens: input, outputTokens: output, totalTokens: input + output, costUsd: 0 }) });
    }
    const failed = line.is_error === true || (line.subtype !== undefined && line.subtype !== "success");
    if (failed) {
      const subtype = line.subtype ?? "error";
      const message = (messageOf(line.error) || line.result || `cursor reported ${subtype}`).trim();
      const reason = CANCELLED.test(subtype) ? "turn_interrupted" : subtype === "error_max_turns" ? "max_turns_reached" : failureReason({ text: message });
      events.push(errorEvent({ reason, message, providerCode: subtype, details: { duration_ms: line.duration_ms ?? 0 } }));
    } else {
      const output: Record_ = { duration_ms: line.duration_ms ?? 0, duration_api_ms: line.duration_api_ms ?? 0, usage: line.usage ?? {} };
      if (line.request_id !== undefined) output.request_id = line.request_id;
      events.push({ payload: payload("result", { status: line.subtype ?? "success", stopReason: "", text: line.result ?? "", object: undefined, output }) });
    }
    return this.terminal(text, events);
  }

  answerApproval(): string[] {
    // Cursor in print mode never asks; there is nothing to answer.
    return [];
  }

  interrupt(): undefined {
    // No in-band interrupt in print mode: the supervisor signals the process group.
    return undefined;
  }
}

/**
 * Cursor Agent CLI, one process per run: `agent -p --trust --output-format stream-json
 * --stream-partial-output … <prompt>`. It cannot ask for approvals: `default` leaves Cursor's own
 * policy in charge (edits are proposed, not written), `bypass` is `--force`, `plan` is
 * `--mode plan`; `auto` has no Cursor equivalent and is rejected.
 */
export const cursorAdapter: ProviderAdapter = {
  provider: "cursor",
  defaultBinary: "agent",
  cliPathEnv: "ASM_CURSOR_CLI_PATH",
  supportsApprovals: false,
  promptOnArgv: true,
  providerOptionsSchema: CursorOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    parseOrThrow(CursorOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
    if (settings.permissionMode === "auto") {
      throw new AsmError({
        field: `${fieldPrefix}.permission_mode`,
        provider: "cursor",
        reasonCode: "permission_mode_unsupported",
        message: "cursor CLI has no auto permission mode (use default, bypass or plan)",
      });
    }
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = CursorOptions.parse(settings.providerOptions);
    const args = ["-p", "--trust", "--output-format", "stream-json", "--stream-partial-output"];
    if (settings.model) args.push("--model", settings.model);
    if (spec.resumeProviderSessionId) args.push("--resume", spec.resumeProviderSessionId);
    if (opts.sandbox !== undefined) args.push("--sandbox", opts.sandbox);
    if (opts.approve_mcps === true) args.push("--approve-mcps");
    if (settings.permissionMode === "bypass") args.push("--force");
    if (settings.permissionMode === "plan") args.push("--mode", "plan");
    args.push(promptArg(spec.prompt));
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
    return new CursorRun();
  },
};

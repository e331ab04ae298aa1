import { failureReason } from "../failure-reason.js";
import { z } from "zod";
import { ApprovalDecision } from "../../../gen/asm/v1/common_pb.js";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import { parseOrThrow } from "../../options/parse-options.js";
import type { PermissionModeName, RunSettings } from "../../options/run-settings.js";
import { userContentEvents } from "./user-content-events.js";
import type { AdapterRun, CommandSpec, EventDraft, ParsedLine, ProviderAdapter, RunSpec } from "../provider-adapter.js";
import * as L from "./claude-lines.js";
import { rawLine } from "../protocol/line-events.js";

/** Claude's name of each permission mode (`--permission-mode`, the SDK's `permissionMode`). */
export const PERMISSION_FLAG: Record<PermissionModeName, string> = {
  default: "default",
  auto: "acceptEdits",
  bypass: "bypassPermissions",
  plan: "plan",
};

export const ClaudeOptions = z.strictObject({
  max_turns: z.number().int().min(1).max(1000).optional(),
  system_prompt: z.string().max(200_000).optional(),
  append_system_prompt: z.string().max(200_000).optional(),
});

/** Whether tool permission prompts go to asm approvals (`--permission-prompt-tool stdio`). */
export function wantsInteractiveApprovals(settings: RunSettings): boolean {
  return settings.interactiveApprovals ?? settings.permissionMode === "default";
}


/** Classifies a failed result line (auth, rate limit, API failure, max turns); claude's own words go to `details.provider_code`. */
function resultError(line: z.infer<typeof L.ResultLine>): AsmError {
  const text = [line.result ?? "", ...(line.errors ?? [])].join(" ");
  const status = line.api_error_status ?? undefined;
  // A model API error comes as `subtype: "success"` with `is_error: true`: claude's code is then
  // its terminal reason (`api_error`), never "success".
  const providerCode = line.subtype !== undefined && line.subtype !== "success" ? line.subtype : line.terminal_reason || "error";
  return new AsmError({
    reasonCode:
      providerCode === "error_max_turns"
        ? "max_turns_reached"
        : // An interrupted turn: `error_during_execution` with terminal_reason aborted_streaming / aborted_tools.
          line.terminal_reason?.startsWith("aborted")
          ? "turn_interrupted"
          : failureReason({ text, httpStatus: status }),
    provider: "claude",
    message: text.trim() || `claude reported ${providerCode}`,
    details: { provider_code: providerCode, terminal_reason: line.terminal_reason ?? "", api_error_status: status ?? null },
  });
}

class ClaudeRun implements AdapterRun {
  private readonly pendingInputs = new Map<string, Record<string, unknown>>();
  private interrupts = 0;

  parseLine(text: string): ParsedLine {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return rawLine(text);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) return rawLine(text);
    const type = (json as { type?: unknown }).type;
    switch (type) {
      case "assistant":
        return this.assistant(json, text);
      case "user":
        return this.user(json, text);
      case "system":
        return this.system(json, text);
      case "result":
        return this.result(json, text);
      case "control_request":
        return this.controlRequest(json, text);
      case "control_cancel_request": {
        const parsed = L.ControlCancelRequest.safeParse(json);
        if (!parsed.success) return rawLine(text);
        const id = parsed.data.request_id;
        if (!this.pendingInputs.delete(id)) return { events: [] };
        return { events: [{ payload: payload("approvalResolved", { approvalId: id, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }) }] };
      }
      case "control_response":
        return { events: [] };
      case "stream_event":
        return this.streamEvent(json, text);
      default:
        return rawLine(text);
    }
  }

  private assistant(json: unknown, text: string): ParsedLine {
    const parsed = L.AssistantLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    const events: EventDraft[] = [];
    const textParts: string[] = [];
    for (const block of line.message.content) {
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
      if (tu.success) {
        events.push({ payload: payload("toolUse", { toolName: tu.data.name, toolCallId: tu.data.id, input: tu.data.input ?? {} }) });
      }
    }
    if (textParts.length > 0 || events.length === 0) {
      events.unshift({
        payload: payload("assistantMessage", {
          text: textParts.join(""),
          model: line.message.model ?? "",
          content: line.message.content,
          aborted: line.aborted ?? false,
        }),
      });
    }
    return { events, providerSessionId: line.session_id };
  }

  /**
   * Partial messages: text deltas become assistant_delta events; the complete message follows as
   * its own line (the reducer does not count its text twice). Other stream events repeat what the
   * complete message carries and produce no event.
   */
  private streamEvent(json: unknown, text: string): ParsedLine {
    // A streaming turn is mostly text deltas: those are checked by hand (same shape as
    // L.StreamEventLine, without zod's cost per line); anything else goes through the schema.
    const delta = L.textDeltaOf(json);
    if (delta) return { events: [{ payload: payload("assistantDelta", { content: delta.text, index: delta.index }) }], providerSessionId: delta.sessionId };
    const parsed = L.StreamEventLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const { event } = parsed.data;
    if (event.type === "content_block_delta" && event.delta?.type === "text_delta" && event.delta.text !== undefined) {
      return { events: [{ payload: payload("assistantDelta", { content: event.delta.text, index: event.index ?? 0 }) }], providerSessionId: parsed.data.session_id };
    }
    return { events: [], providerSessionId: parsed.data.session_id };
  }

  private user(json: unknown, text: string): ParsedLine {
    const parsed = L.UserLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    return { events: userContentEvents(parsed.data.message.content), providerSessionId: parsed.data.session_id };
  }

  private system(json: unknown, text: string): ParsedLine {
    const parsed = L.SystemLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    // init and status lines carry the session id; anything else is kept verbatim.
    if (parsed.data.subtype === "init" || parsed.data.subtype === "status") return { events: [], providerSessionId: parsed.data.session_id };
    return { ...rawLine(text), providerSessionId: parsed.data.session_id };
  }

  private result(json: unknown, text: string): ParsedLine {
    const parsed = L.ResultLine.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const line = parsed.data;
    const events: EventDraft[] = [];
    if (line.usage || line.total_cost_usd !== undefined) {
      const input = line.usage?.input_tokens ?? 0;
      const output = line.usage?.output_tokens ?? 0;
      events.push({ payload: payload("costUpdate", { inputTokens: input, outputTokens: output, totalTokens: input + output, costUsd: line.total_cost_usd ?? 0 }) });
    }
    const failed = line.is_error === true || (line.subtype !== undefined && line.subtype !== "success");
    if (failed) {
      events.push({ payload: payload("error", { error: resultError(line).toMessage() }) });
    } else {
      events.push({
        payload: payload("result", {
          status: line.subtype ?? "success",
          stopReason: line.stop_reason ?? "",
          text: line.result ?? "",
          object: line.structured_output,
          output: { duration_ms: line.duration_ms ?? 0, num_turns: line.num_turns ?? 0, usage: line.usage ?? {} },
        }),
      });
    }
    return { events, providerSessionId: line.session_id, turnEnded: true };
  }

  private controlRequest(json: unknown, text: string): ParsedLine {
    const parsed = L.CanUseToolRequest.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const { request_id: id, request } = parsed.data;
    this.pendingInputs.set(id, request.input);
    return { events: [claudeApprovalRequested(id, request.tool_name, request.tool_use_id ?? "", request.input, request.description ?? "")] };
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): string[] {
    const input = this.pendingInputs.get(approvalId) ?? {};
    this.pendingInputs.delete(approvalId);
    const response = allow ? { behavior: "allow", updatedInput: input } : { behavior: "deny", message: reason || "denied by user" };
    return [JSON.stringify({ type: "control_response", response: { subtype: "success", request_id: approvalId, response } })];
  }

  nextTurn(prompt: string): string[] {
    this.pendingInputs.clear();
    return [userMessage(prompt)];
  }

  interrupt(): string[] {
    this.interrupts += 1;
    return [JSON.stringify({ type: "control_request", request_id: `asm_interrupt_${this.interrupts}`, request: { subtype: "interrupt" } })];
  }
}

/**
 * The approval_requested of a claude tool permission request, in both lanes: a `can_use_tool`
 * control request (core) or a `canUseTool` call of the Agent SDK (sdk).
 */
export function claudeApprovalRequested(approvalId: string, toolName: string, toolUseId: string, input: Record<string, unknown>, description: string): EventDraft {
  return { payload: payload("approvalRequested", { approvalId, subject: toolName, toolCallId: toolUseId, details: { tool_input: input, description } }) };
}

/** One stream-json user message (starts a turn), as an object. */
export function claudeUserMessage(prompt: string): Record<string, unknown> {
  return { type: "user", session_id: "", message: { role: "user", content: [{ type: "text", text: prompt }] }, parent_tool_use_id: null };
}

/** One stream-json user message: starts a turn. */
function userMessage(prompt: string): string {
  return JSON.stringify(claudeUserMessage(prompt));
}


/** Claude Code driven through its stream-json protocol (the Agent SDK's own wire protocol). */
export const claudeAdapter: ProviderAdapter = {
  provider: "claude",
  defaultBinary: "claude",
  cliPathEnv: "ASM_CLAUDE_CLI_PATH",
  supportsApprovals: true,
  promptOnArgv: false,
  providerOptionsSchema: ClaudeOptions,

  validate(settings: RunSettings, fieldPrefix: string): void {
    parseOrThrow(ClaudeOptions, settings.providerOptions, `${fieldPrefix}.provider_options`);
  },

  buildCommand(spec: RunSpec, cliPath: string): CommandSpec {
    const { settings } = spec;
    const opts = ClaudeOptions.parse(settings.providerOptions);
    const args = ["--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--include-partial-messages", "--permission-mode", PERMISSION_FLAG[settings.permissionMode]];
    if (wantsInteractiveApprovals(settings)) args.push("--permission-prompt-tool", "stdio");
    if (spec.resumeProviderSessionId) args.push("--resume", spec.resumeProviderSessionId);
    if (settings.model) args.push("--model", settings.model);
    if (opts.max_turns !== undefined) args.push("--max-turns", String(opts.max_turns));
    if (opts.system_prompt !== undefined) args.push("--system-prompt", opts.system_prompt);
    if (opts.append_system_prompt !== undefined) args.push("--append-system-prompt", opts.append_system_prompt);
    const env: Record<string, string> = { ...spec.baseEnv, ...settings.env };
    // bypassPermissions refuses to run as root unless the CLI is told it is sandboxed.
    if (settings.permissionMode === "bypass" && process.getuid?.() === 0) env.IS_SANDBOX ??= "1";
    return { command: cliPath, args, cwd: settings.cwd ?? spec.defaultCwd, env, initialInput: [userMessage(spec.prompt)], keepStdinOpen: true };
  },

  /** stream-json input keeps the process alive between turns; the next user message starts the next one. */
  canStayWarm(): boolean {
    return true;
  },

  canResume(): boolean {
    return true;
  },

  startRun(): AdapterRun {
    return new ClaudeRun();
  },
};


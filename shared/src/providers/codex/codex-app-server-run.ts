/** `codex app-server`: JSON-RPC over stdio, one thread, turns, approvals asked of asm, interrupts. */
import { z } from "zod";
import { ApprovalDecision } from "../../../gen/asm/v1/common_pb.js";
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import type { PermissionModeName } from "../../options/run-settings.js";
import type { AdapterRun, EventDraft, ParsedLine, RunSpec } from "../provider-adapter.js";
import * as L from "./codex-lines.js";
import { errorDraft, parseJsonObject, rawLine } from "../protocol/line-events.js";
import { JsonRpcPeer, rpcMessageKind, RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND } from "../protocol/json-rpc.js";
import { asInput, changeSummary, cwdOf, FAILED_STATUSES, mcpToolName, PATCH_TOOL, SHELL_TOOL, textOf } from "./codex-items.js";
import { classify, turnError } from "./codex-failures.js";
import { approvalDecision, OpenApprovals, readApprovalRequest } from "./codex-approvals.js";

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

/** codex app-server's framing: no "jsonrpc" field, `method` first. */
const CODEX_FRAMING = { jsonrpc: false } as const;

const APP_SERVER_SANDBOX: Record<PermissionModeName, "read-only" | "workspace-write" | "danger-full-access"> = {
  default: "read-only",
  auto: "workspace-write",
  bypass: "danger-full-access",
  plan: "read-only",
};

function threadParams(spec: RunSpec): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  if (spec.settings.model) params.model = spec.settings.model;
  params.cwd = cwdOf(spec);
  params.approvalPolicy = "untrusted";
  params.sandbox = APP_SERVER_SANDBOX[spec.settings.permissionMode];
  return params;
}

/** What asm writes right after spawning `codex app-server`: the handshake and the thread request. */
export function appServerHandshake(spec: RunSpec): string[] {
  // Registered as pending by the run itself (its constructor), which reads the answers.
  const lines = new JsonRpcPeer<OwnMethod>(CODEX_FRAMING);
  const thread = spec.resumeProviderSessionId
    ? // excludeTurns: the answer would otherwise carry the whole history on one line.
      lines.request("thread/resume", THREAD_REQUEST_ID, { threadId: spec.resumeProviderSessionId, ...threadParams(spec), excludeTurns: true })
    : lines.request("thread/start", THREAD_REQUEST_ID, threadParams(spec));
  return [
    lines.request("initialize", INITIALIZE_ID, {
      clientInfo: { name: "asm", title: null, version: CLIENT_VERSION },
      capabilities: { experimentalApi: true, requestAttestation: false },
    }),
    lines.notification("initialized"),
    thread,
  ];
}

interface TurnUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** Drives one turn of `codex app-server`: handshake, thread, one `turn/start`, approvals, interrupt. */
export class CodexAppServerRun implements AdapterRun {
  private readonly rpc = new JsonRpcPeer<OwnMethod>(CODEX_FRAMING);
  private readonly approvals = new OpenApprovals();
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
    this.rpc.expect(INITIALIZE_ID, "initialize");
    this.rpc.expect(THREAD_REQUEST_ID, spec.resumeProviderSessionId ? "thread/resume" : "thread/start");
  }

  private request(method: OwnMethod, params: unknown): string {
    return this.rpc.request(method, this.nextRpcId++, params);
  }

  parseLine(text: string): ParsedLine {
    const json = parseJsonObject(text);
    if (!json) return rawLine(text);
    switch (rpcMessageKind(json)) {
      case "request":
        return this.serverRequest(json, text);
      case "notification":
        return this.notification(json, text);
      case "response":
        return this.response(json, text);
      default:
        return rawLine(text);
    }
  }

  // --- responses to asm's own requests

  private response(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcResponse.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const method = this.rpc.settle(parsed.data.id);
    if (!method) return rawLine(text);
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
          return { events: [...rawLine(text).events, errorDraft(error)], turnEnded: true };
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
    if (method === "turn/interrupt") return rawLine(text);
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
    return { events: [errorDraft(asmError)], providerSessionId: this.threadId, turnEnded: true };
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
    if (!parsed.success) return rawLine(text);
    const { method, params } = parsed.data;
    switch (method) {
      case "thread/started": {
        const p = L.ThreadStarted.safeParse(params);
        return p.success ? { events: [], providerSessionId: p.data.thread.id } : rawLine(text);
      }
      case "turn/started": {
        const p = L.TurnStarted.safeParse(params);
        if (!p.success) return rawLine(text);
        this.beginTurn(p.data.turn.id);
        return { events: [] };
      }
      case "item/started":
      case "item/completed": {
        const p = L.ItemNotification.safeParse(params);
        if (!p.success) return rawLine(text);
        return method === "item/started" ? this.itemStarted(p.data.item, text) : this.itemCompleted(p.data.item, text);
      }
      case "item/agentMessage/delta": {
        const p = L.AgentMessageDelta.safeParse(params);
        if (!p.success) return rawLine(text);
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
        return rawLine(text);
      }
      case "serverRequest/resolved": {
        const p = L.ServerRequestResolved.safeParse(params);
        if (!p.success) return rawLine(text);
        const approvalId = this.approvals.ofRequest(p.data.requestId);
        if (approvalId === undefined) return { events: [] };
        // The CLI withdrew a question asm had not answered (e.g. the turn was interrupted).
        this.approvals.close(approvalId);
        return { events: [{ payload: payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }) }] };
      }
      default:
        return QUIET_NOTIFICATIONS.has(method) ? { events: [] } : rawLine(text);
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
        if (!cmd.success) return rawLine(text);
        this.announcedTools.add(cmd.data.id);
        return { events: [this.commandUse(cmd.data)] };
      }
      case "fileChange": {
        const change = L.FileChangeItem.safeParse(item);
        if (!change.success) return rawLine(text);
        this.announcedTools.add(change.data.id);
        this.fileChanges.set(change.data.id, change.data.changes);
        return { events: [this.patchUse(change.data)] };
      }
      case "mcpToolCall": {
        const call = L.McpToolCallItem.safeParse(item);
        if (!call.success) return rawLine(text);
        this.announcedTools.add(call.data.id);
        return { events: [this.mcpUse(call.data)] };
      }
      default:
        return rawLine(text);
    }
  }

  private itemCompleted(item: z.infer<typeof L.ThreadItem>, text: string): ParsedLine {
    switch (item.type) {
      case "userMessage":
        return { events: [] };
      case "agentMessage": {
        const message = L.AgentMessageItem.safeParse(item);
        if (!message.success) return rawLine(text);
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
        if (!reasoning.success) return rawLine(text);
        const content = [...(reasoning.data.summary ?? []), ...(reasoning.data.content ?? [])].join("\n");
        return { events: content ? [{ payload: payload("thinking", { content, signature: "" }) }] : [] };
      }
      case "commandExecution": {
        const cmd = L.CommandExecutionItem.safeParse(item);
        if (!cmd.success) return rawLine(text);
        const { id, status, exitCode, aggregatedOutput } = cmd.data;
        const failed = FAILED_STATUSES.has(status) || (exitCode !== null && exitCode !== undefined && exitCode !== 0);
        const content = aggregatedOutput ?? (FAILED_STATUSES.has(status) ? `command ${status}` : "");
        return { events: [...this.announce(id, () => this.commandUse(cmd.data)), { payload: payload("toolResult", { toolCallId: id, content, isError: failed }) }] };
      }
      case "fileChange": {
        const change = L.FileChangeItem.safeParse(item);
        if (!change.success) return rawLine(text);
        const { id, status, changes } = change.data;
        this.fileChanges.delete(id);
        const content = FAILED_STATUSES.has(status) ? `patch ${status}` : changeSummary(changes);
        return {
          events: [...this.announce(id, () => this.patchUse(change.data)), { payload: payload("toolResult", { toolCallId: id, content, isError: FAILED_STATUSES.has(status) }) }],
        };
      }
      case "mcpToolCall": {
        const call = L.McpToolCallItem.safeParse(item);
        if (!call.success) return rawLine(text);
        const failed = call.data.status === "failed" || (call.data.error !== undefined && call.data.error !== null);
        const content = failed ? textOf(call.data.error) : textOf(call.data.result);
        return { events: [...this.announce(call.data.id, () => this.mcpUse(call.data)), { payload: payload("toolResult", { toolCallId: call.data.id, content, isError: failed }) }] };
      }
      default:
        return rawLine(text);
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
    if (!p.success) return rawLine(text);
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
    if (!p.success) return rawLine(text);
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
    const withdrawn = this.approvals.closeAll().map((approvalId): EventDraft => ({
      payload: payload("approvalResolved", { approvalId, decision: ApprovalDecision.APPROVAL_DECISION_DENY, reason: "cancelled_by_cli" }),
    }));
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
      return done(errorDraft(new AsmError({ provider: "codex", message: "codex turn interrupted", reasonCode: "turn_interrupted", details: { turn_id: turn.id } })));
    }
    const cause = turn.error ?? lastError?.error;
    const message = cause?.message ?? `codex turn ended with status ${turn.status}`;
    return done(
      errorDraft(turnError(cause?.additionalDetails ? `${message} (${cause.additionalDetails})` : message, cause?.codexErrorInfo, { turn_id: turn.id, turn_status: turn.status })),
    );
  }

  // --- requests from the CLI

  private serverRequest(json: unknown, text: string): ParsedLine {
    const parsed = L.ServerRequest.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const { id, method, params } = parsed.data;
    const asked = readApprovalRequest(method, params, this.fileChanges);
    if (asked === undefined) {
      // User input, elicitations, dynamic tool calls, permission grants, auth refresh…: asm has
      // no one to ask. An error answer lets the CLI go on instead of waiting forever.
      return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_METHOD_NOT_FOUND, `asm cannot answer ${method}`)] };
    }
    if (asked === "unreadable") return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_INVALID_PARAMS, `asm could not read this ${method}`)] };
    const approvalId = this.approvals.open(id, asked.method);
    return { events: [{ payload: payload("approvalRequested", { approvalId, subject: asked.subject, toolCallId: asked.toolCallId, details: asked.details }) }], providerSessionId: this.threadId };
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): string[] {
    const open = this.approvals.close(approvalId);
    return open ? [this.rpc.result(open.rpcId, approvalDecision(open.method, allow, reason))] : [];
  }

  interrupt(): string[] | undefined {
    if (!this.turnActive || this.threadId === undefined || this.turnId === undefined) return undefined;
    return [this.request("turn/interrupt", { threadId: this.threadId, turnId: this.turnId })];
  }
}


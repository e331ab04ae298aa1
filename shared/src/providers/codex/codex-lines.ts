import { z } from "zod";

// Schemas of the Codex lines asm reads, for both protocols. Only the fields asm relies on are
// named; everything else passes through untouched (the CLI adds fields between versions).

// ---------------------------------------------------------------------------------------------
// `codex app-server`: JSON-RPC 2.0 without the "jsonrpc" field, one object per line.
// ---------------------------------------------------------------------------------------------

export const RequestId = z.union([z.number(), z.string()]);

export const RpcError = z.looseObject({
  code: z.number().optional(),
  message: z.string().optional(),
  data: z.unknown().optional(),
});

/** A response to one of asm's own requests. */
export const RpcResponse = z.looseObject({
  id: RequestId,
  result: z.unknown().optional(),
  error: RpcError.optional(),
});

/** A request from the server that the client must answer (approvals, user input, tool calls). */
export const ServerRequest = z.looseObject({
  id: RequestId,
  method: z.string(),
  params: z.unknown().optional(),
});

export const Notification = z.looseObject({
  method: z.string(),
  params: z.unknown().optional(),
});

export const ThreadStartResult = z.looseObject({
  thread: z.looseObject({ id: z.string().min(1) }),
  model: z.string().nullish(),
});

export const ThreadStarted = z.looseObject({ thread: z.looseObject({ id: z.string().min(1) }) });

export const TurnRef = z.looseObject({ id: z.string().min(1) });
export const TurnStartResult = z.looseObject({ turn: TurnRef });
export const TurnStarted = z.looseObject({ threadId: z.string().optional(), turn: TurnRef });

export const TurnError = z.looseObject({
  message: z.string().nullish(),
  codexErrorInfo: z.unknown().optional(),
  additionalDetails: z.string().nullish(),
});

export const TurnCompleted = z.looseObject({
  threadId: z.string().optional(),
  turn: z.looseObject({
    id: z.string(),
    status: z.string(),
    error: TurnError.nullish(),
    durationMs: z.number().nullish(),
  }),
});

/** `error` notification: a mid-turn failure, possibly retried; `turn/completed` follows when it is final. */
export const ErrorNotification = z.looseObject({
  error: TurnError,
  willRetry: z.boolean().nullish(),
  threadId: z.string().optional(),
  turnId: z.string().optional(),
});

export const ThreadItem = z.looseObject({ type: z.string(), id: z.string() });
export const ItemNotification = z.looseObject({
  item: ThreadItem,
  threadId: z.string().optional(),
  turnId: z.string().optional(),
});

export const AgentMessageItem = z.looseObject({ type: z.literal("agentMessage"), id: z.string(), text: z.string() });
export const ReasoningItem = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string(),
  summary: z.array(z.string()).nullish(),
  content: z.array(z.string()).nullish(),
});
export const CommandExecutionItem = z.looseObject({
  type: z.literal("commandExecution"),
  id: z.string(),
  command: z.string(),
  cwd: z.string().nullish(),
  status: z.string(),
  aggregatedOutput: z.string().nullish(),
  exitCode: z.number().nullish(),
});
export const FileUpdateChange = z.looseObject({ path: z.string(), kind: z.unknown().optional(), diff: z.string().nullish() });
export const FileChangeItem = z.looseObject({
  type: z.literal("fileChange"),
  id: z.string(),
  changes: z.array(FileUpdateChange),
  status: z.string(),
});
export const McpToolCallItem = z.looseObject({
  type: z.literal("mcpToolCall"),
  id: z.string(),
  server: z.string(),
  tool: z.string(),
  status: z.string(),
  arguments: z.unknown().optional(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
});

export const AgentMessageDelta = z.looseObject({ itemId: z.string(), delta: z.string() });

export const TokenUsageBreakdown = z.looseObject({
  totalTokens: z.number(),
  inputTokens: z.number(),
  outputTokens: z.number(),
});
export const TokenUsageUpdated = z.looseObject({
  threadId: z.string().optional(),
  turnId: z.string().nullish(),
  tokenUsage: z.looseObject({ total: TokenUsageBreakdown, last: TokenUsageBreakdown }),
});

export const ServerRequestResolved = z.looseObject({ requestId: RequestId });

export const CommandApprovalParams = z.looseObject({
  itemId: z.string(),
  threadId: z.string().optional(),
  turnId: z.string().optional(),
  approvalId: z.string().nullish(),
  kind: z.string().optional(),
  command: z.string().nullish(),
  cwd: z.string().nullish(),
  reason: z.string().nullish(),
  commandActions: z.unknown().optional(),
});

export const FileChangeApprovalParams = z.looseObject({
  itemId: z.string(),
  threadId: z.string().optional(),
  turnId: z.string().optional(),
  reason: z.string().nullish(),
  grantRoot: z.string().nullish(),
});

/** Legacy (v1) `execCommandApproval`. */
export const ExecCommandApprovalParams = z.looseObject({
  callId: z.string(),
  command: z.array(z.string()),
  cwd: z.string().nullish(),
  reason: z.string().nullish(),
});

/** Legacy (v1) `applyPatchApproval`. */
export const ApplyPatchApprovalParams = z.looseObject({
  callId: z.string(),
  fileChanges: z.record(z.string(), z.unknown()).optional(),
  reason: z.string().nullish(),
  grantRoot: z.string().nullish(),
});

// ---------------------------------------------------------------------------------------------
// `codex exec --json`: one event object per line, keyed by `type`.
// ---------------------------------------------------------------------------------------------

export const ExecThreadStarted = z.looseObject({ type: z.literal("thread.started"), thread_id: z.string().min(1) });

export const ExecUsage = z.looseObject({
  input_tokens: z.number().optional(),
  cached_input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
  reasoning_output_tokens: z.number().optional(),
});
export const ExecTurnCompleted = z.looseObject({ type: z.literal("turn.completed"), usage: ExecUsage.nullish() });
export const ExecTurnFailed = z.looseObject({
  type: z.literal("turn.failed"),
  error: z.looseObject({ message: z.string().nullish() }).nullish(),
});
export const ExecError = z.looseObject({ type: z.literal("error"), message: z.string() });

export const ExecItemLine = z.looseObject({
  type: z.enum(["item.started", "item.updated", "item.completed"]),
  item: z.looseObject({ id: z.string(), type: z.string() }),
});

export const ExecAgentMessage = z.looseObject({ type: z.literal("agent_message"), id: z.string(), text: z.string() });
export const ExecReasoning = z.looseObject({ type: z.literal("reasoning"), id: z.string(), text: z.string() });
export const ExecCommandExecution = z.looseObject({
  type: z.literal("command_execution"),
  id: z.string(),
  command: z.string(),
  aggregated_output: z.string().nullish(),
  exit_code: z.number().nullish(),
  status: z.string().optional(),
});
export const ExecFileChange = z.looseObject({
  type: z.literal("file_change"),
  id: z.string(),
  changes: z.array(z.looseObject({ path: z.string(), kind: z.unknown().optional() })),
  status: z.string().optional(),
});
export const ExecMcpToolCall = z.looseObject({
  type: z.literal("mcp_tool_call"),
  id: z.string(),
  server: z.string(),
  tool: z.string(),
  arguments: z.unknown().optional(),
  result: z.unknown().optional(),
  error: z.unknown().optional(),
  status: z.string().optional(),
});

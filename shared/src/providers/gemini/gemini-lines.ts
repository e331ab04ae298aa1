import { z } from "zod";

// Schemas of the Gemini CLI lines asm reads, for both of its modes. Only the fields asm relies on
// are named; everything else passes through untouched (the CLI adds fields between versions).

// ---------------------------------------------------------------------------------------------
// `gemini --acp`: JSON-RPC 2.0, one object per line (Agent Client Protocol).

const RpcId = z.union([z.number(), z.string()]);

/** A response to one of asm's requests. */
export const RpcResult = z.looseObject({ id: RpcId, result: z.unknown() });

export const RpcErrorObject = z.looseObject({ code: z.number(), message: z.string(), data: z.unknown().optional() });
export type RpcErrorObject = z.infer<typeof RpcErrorObject>;

/** An error response to one of asm's requests. */
export const RpcError = z.looseObject({ id: RpcId.nullable(), error: RpcErrorObject });

/** A request from the CLI to asm (it expects a response with the same id). */
export const RpcRequest = z.looseObject({ id: RpcId, method: z.string(), params: z.unknown().optional() });

/** A notification from the CLI (no id). */
export const RpcNotification = z.looseObject({ method: z.string(), params: z.unknown().optional() });

export const SessionNewResult = z.looseObject({ sessionId: z.string().min(1) });

export const PromptResult = z.looseObject({
  stopReason: z.string(),
  _meta: z
    .looseObject({
      quota: z
        .looseObject({
          token_count: z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional() }).optional(),
          model_usage: z.array(z.unknown()).optional(),
        })
        .optional(),
    })
    .optional(),
});

export const SessionUpdateParams = z.looseObject({
  sessionId: z.string(),
  update: z.looseObject({ sessionUpdate: z.string() }),
});

/** `agent_message_chunk`, `agent_thought_chunk`, `user_message_chunk`: one ContentBlock. */
export const ContentChunk = z.looseObject({
  sessionUpdate: z.enum(["agent_message_chunk", "agent_thought_chunk", "user_message_chunk"]),
  content: z.looseObject({ type: z.literal("text"), text: z.string() }),
});

/** Tool call content: `{type:"content", content:{type:"text",text}}`, `{type:"diff",…}`, `{type:"terminal",…}`. */
export const ToolCallContent = z.looseObject({ type: z.string() });
export const TextToolCallContent = z.looseObject({
  type: z.literal("content"),
  content: z.looseObject({ type: z.literal("text"), text: z.string() }),
});

const ToolCallFields = {
  toolCallId: z.string(),
  title: z.string().nullish(),
  kind: z.string().nullish(),
  status: z.string().nullish(),
  content: z.array(ToolCallContent).nullish(),
  locations: z.array(z.unknown()).nullish(),
  rawInput: z.unknown().optional(),
  rawOutput: z.unknown().optional(),
};

export const ToolCall = z.looseObject({ sessionUpdate: z.literal("tool_call"), ...ToolCallFields });
export const ToolCallUpdate = z.looseObject({ sessionUpdate: z.literal("tool_call_update"), ...ToolCallFields });
export type ToolCallFields = z.infer<typeof ToolCall>;

export const PermissionOption = z.looseObject({ optionId: z.string(), name: z.string().optional(), kind: z.string() });
export type PermissionOption = z.infer<typeof PermissionOption>;

export const RequestPermissionParams = z.looseObject({
  sessionId: z.string(),
  options: z.array(PermissionOption),
  toolCall: z.looseObject(ToolCallFields),
});

// ---------------------------------------------------------------------------------------------
// `gemini -p … --output-format stream-json`: one JSON object per line with a `type`.

export const InitLine = z.looseObject({ type: z.literal("init"), session_id: z.string(), model: z.string().optional() });

export const MessageLine = z.looseObject({
  type: z.literal("message"),
  role: z.enum(["user", "assistant"]),
  content: z.string(),
  delta: z.boolean().optional(),
});

export const ToolUseLine = z.looseObject({
  type: z.literal("tool_use"),
  tool_name: z.string(),
  tool_id: z.string(),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

const LineError = z.looseObject({ type: z.string().optional(), message: z.string().optional() });

export const ToolResultLine = z.looseObject({
  type: z.literal("tool_result"),
  tool_id: z.string(),
  status: z.string(),
  output: z.string().optional(),
  error: LineError.optional(),
});

/** A warning or error the CLI reports mid-turn; the turn still ends with a `result` line. */
export const ErrorLine = z.looseObject({ type: z.literal("error"), severity: z.string().optional(), message: z.string() });

export const Stats = z.looseObject({
  total_tokens: z.number().optional(),
  input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
  cached: z.number().optional(),
  duration_ms: z.number().optional(),
  tool_calls: z.number().optional(),
  models: z.record(z.string(), z.unknown()).optional(),
});

export const ResultLine = z.looseObject({
  type: z.literal("result"),
  status: z.string(),
  error: LineError.optional(),
  stats: Stats.optional(),
});

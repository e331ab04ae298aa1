import { z } from "zod";

// Schemas of the Cursor Agent CLI lines asm reads from
// `agent -p --output-format stream-json --stream-partial-output`
// (https://cursor.com/docs/cli/reference/output-format). Only the fields asm relies on are named;
// everything else passes through untouched (the CLI adds fields between versions).

export const ContentBlock = z.looseObject({ type: z.string() });
export const TextBlock = z.looseObject({ type: z.literal("text"), text: z.string() });

export const SystemLine = z.looseObject({
  type: z.literal("system"),
  subtype: z.string().optional(),
  session_id: z.string().optional(),
  model: z.string().optional(),
});

export const UserLine = z.looseObject({
  type: z.literal("user"),
  session_id: z.string().optional(),
  message: z.looseObject({ content: z.union([z.string(), z.array(ContentBlock)]) }),
});

/**
 * With `--stream-partial-output`, lines with `timestamp_ms` are streamed pieces; a line that also
 * has `model_call_id` repeats the text streamed for that model call; a line without `timestamp_ms`
 * is the complete message (the snapshot of what was streamed).
 */
export const AssistantLine = z.looseObject({
  type: z.literal("assistant"),
  session_id: z.string().optional(),
  timestamp_ms: z.number().optional(),
  model_call_id: z.string().optional(),
  message: z.looseObject({ content: z.array(ContentBlock) }),
});

export const ThinkingLine = z.looseObject({
  type: z.literal("thinking"),
  subtype: z.string(),
  text: z.string().optional(),
  session_id: z.string().optional(),
});

/** One tool: `{ shellToolCall: { args, result? } }`, `{ readToolCall: … }`, or `{ function: { name, arguments } }`. */
export const ToolBody = z.looseObject({
  args: z.record(z.string(), z.unknown()).optional(),
  result: z.record(z.string(), z.unknown()).optional(),
});
export const FunctionBody = z.looseObject({
  name: z.string(),
  arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  result: z.record(z.string(), z.unknown()).optional(),
});

export const ToolCallLine = z.looseObject({
  type: z.literal("tool_call"),
  subtype: z.string(),
  call_id: z.string().optional(),
  tool_call_id: z.string().optional(),
  session_id: z.string().optional(),
  tool_call: z.record(z.string(), z.unknown()),
});

export const ResultLine = z.looseObject({
  type: z.literal("result"),
  subtype: z.string().optional(),
  is_error: z.boolean().optional(),
  result: z.string().nullable().optional(),
  error: z.unknown().optional(),
  session_id: z.string().optional(),
  request_id: z.string().optional(),
  duration_ms: z.number().optional(),
  duration_api_ms: z.number().optional(),
  usage: z
    .looseObject({
      inputTokens: z.number().optional(),
      outputTokens: z.number().optional(),
      cacheReadTokens: z.number().optional(),
      cacheWriteTokens: z.number().optional(),
    })
    .optional(),
});

export const ConnectionLine = z.looseObject({ type: z.literal("connection"), subtype: z.string().optional(), session_id: z.string().optional() });

export const ErrorLine = z.looseObject({
  type: z.literal("error"),
  message: z.unknown().optional(),
  error: z.unknown().optional(),
  code: z.string().optional(),
  session_id: z.string().optional(),
});

/** Every Cursor line may carry the chat id. */
export const SessionIds = z.looseObject({ session_id: z.string().optional() });

import { z } from "zod";

// Schemas of the Claude Code stream-json lines asm reads. Only the fields asm relies on are named;
// everything else passes through untouched (the CLI adds fields between versions).

export const ContentBlock = z.looseObject({ type: z.string() });

export const TextBlock = z.looseObject({ type: z.literal("text"), text: z.string() });
export const ThinkingBlock = z.looseObject({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().optional() });
export const ToolUseBlock = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string(),
  name: z.string(),
  input: z.record(z.string(), z.unknown()).optional(),
});
export const ToolResultBlock = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string(),
  content: z.unknown().optional(),
  is_error: z.boolean().optional(),
});

export const AssistantLine = z.looseObject({
  type: z.literal("assistant"),
  session_id: z.string().optional(),
  aborted: z.boolean().optional(),
  message: z.looseObject({
    model: z.string().optional(),
    content: z.array(ContentBlock),
  }),
});

export const UserLine = z.looseObject({
  type: z.literal("user"),
  session_id: z.string().optional(),
  message: z.looseObject({ content: z.union([z.string(), z.array(ContentBlock)]) }),
});

export const SystemLine = z.looseObject({
  type: z.literal("system"),
  subtype: z.string().optional(),
  session_id: z.string().optional(),
});

export const ResultLine = z.looseObject({
  type: z.literal("result"),
  subtype: z.string().optional(),
  is_error: z.boolean().optional(),
  result: z.string().optional(),
  stop_reason: z.string().nullable().optional(),
  session_id: z.string().optional(),
  total_cost_usd: z.number().optional(),
  usage: z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional() }).optional(),
  duration_ms: z.number().optional(),
  num_turns: z.number().optional(),
  structured_output: z.unknown().optional(),
  api_error_status: z.number().nullable().optional(),
  errors: z.array(z.string()).optional(),
  terminal_reason: z.string().optional(),
});

export const CanUseToolRequest = z.looseObject({
  type: z.literal("control_request"),
  request_id: z.string(),
  request: z.looseObject({
    subtype: z.literal("can_use_tool"),
    tool_name: z.string(),
    input: z.record(z.string(), z.unknown()).default({}),
    tool_use_id: z.string().optional(),
    description: z.string().optional(),
  }),
});

export const ControlCancelRequest = z.looseObject({ type: z.literal("control_cancel_request"), request_id: z.string() });
export const ControlResponse = z.looseObject({ type: z.literal("control_response") });

/**
 * `--include-partial-messages`: the raw Messages API stream events. A `message_delta`'s delta has
 * no `type` (`{stop_reason, stop_sequence}`), only a `content_block_delta`'s does.
 */
export const StreamEventLine = z.looseObject({
  type: z.literal("stream_event"),
  session_id: z.string().optional(),
  event: z.looseObject({
    type: z.string(),
    index: z.number().optional(),
    delta: z.looseObject({ type: z.string().optional(), text: z.string().optional() }).optional(),
  }),
});

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * The text of a `stream_event` line that is a `content_block_delta` with a `text_delta`, checked
 * by hand (the hot line of a streaming turn); undefined for anything else, which then goes through
 * `StreamEventLine`. Accepts exactly what that schema accepts for such a line.
 */
export function textDeltaOf(json: unknown): { text: string; index: number; sessionId: string | undefined } | undefined {
  if (!isRecord(json) || json.type !== "stream_event") return undefined;
  const { event, session_id: sessionId } = json;
  if (sessionId !== undefined && typeof sessionId !== "string") return undefined;
  if (!isRecord(event) || event.type !== "content_block_delta") return undefined;
  const { index, delta } = event;
  if (index !== undefined && typeof index !== "number") return undefined;
  if (!isRecord(delta) || delta.type !== "text_delta" || typeof delta.text !== "string") return undefined;
  return { text: delta.text, index: index ?? 0, sessionId };
}

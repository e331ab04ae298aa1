import { z } from "zod";
import { ContentBlock } from "../claude/claude-lines.js";

// Schemas of the Amp CLI `--stream-json` lines asm reads. Amp speaks Claude Code's stream-json
// (system/user/assistant/result, https://ampcode.com/news/streaming-json) and, in the runtimes ASM
// drove, event-style lines (message_streamed, tool_call_*, token_usage_updated, run_*). Only the
// fields asm relies on are named; everything else passes through untouched.

const OptionalText = z.string().nullable().optional();

// Content blocks are Claude's (Amp adds thinking blocks only with `--stream-json-thinking`).
export { ContentBlock, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock } from "../claude/claude-lines.js";

/** Token counts, in Anthropic's snake_case or camelCase. */
export const Usage = z.looseObject({
  input_tokens: z.number().optional(),
  output_tokens: z.number().optional(),
  inputTokens: z.number().optional(),
  outputTokens: z.number().optional(),
});

/** Where a line names its thread (`T-<uuid>`). */
export const SessionIds = z.looseObject({
  session_id: z.string().optional(),
  thread_id: z.string().optional(),
  sessionId: z.string().optional(),
});

export const SystemLine = z.looseObject({ type: z.literal("system"), subtype: z.string().optional(), session_id: z.string().optional() });

export const AssistantLine = z.looseObject({
  type: z.literal("assistant"),
  session_id: z.string().optional(),
  message: z.looseObject({
    model: z.string().optional(),
    content: z.array(ContentBlock),
    stop_reason: OptionalText,
    usage: Usage.optional(),
  }),
});

export const UserLine = z.looseObject({
  type: z.literal("user"),
  session_id: z.string().optional(),
  message: z.looseObject({ content: z.union([z.string(), z.array(ContentBlock)]) }),
});

export const ResultLine = z.looseObject({
  type: z.literal("result"),
  subtype: z.string().optional(),
  is_error: z.boolean().optional(),
  result: OptionalText,
  /** Failed results carry the reason here instead of `result`. */
  error: OptionalText,
  errors: z.array(z.string()).optional(),
  session_id: z.string().optional(),
  duration_ms: z.number().optional(),
  num_turns: z.number().optional(),
  usage: Usage.optional(),
  total_cost_usd: z.number().optional(),
  permission_denials: z.unknown().optional(),
});

/** `message_streamed` / `assistant_delta`: a piece of assistant text. */
export const MessageStreamed = z.looseObject({ delta: z.string().optional(), text: z.string().optional(), content: z.string().optional() });

const ToolCallId = { tool_call_id: z.string().optional(), tool_id: z.string().optional(), id: z.string().optional() };

export const ToolCallStarted = z.looseObject({
  ...ToolCallId,
  tool_name: z.string().optional(),
  name: z.string().optional(),
  input: z.record(z.string(), z.unknown()).optional(),
  arguments: z.record(z.string(), z.unknown()).optional(),
  args: z.record(z.string(), z.unknown()).optional(),
});

export const ToolCallFinished = z.looseObject({
  ...ToolCallId,
  result: z.unknown().optional(),
  output: z.unknown().optional(),
  content: z.unknown().optional(),
  error: z.unknown().optional(),
  message: z.unknown().optional(),
  is_error: z.boolean().optional(),
});

export const TokenUsageUpdated = z.looseObject({
  token_usage: Usage.optional(),
  usage: Usage.optional(),
  stats: Usage.optional(),
  cost_usd: z.number().optional(),
});

export const RunCompleted = z.looseObject({
  status: z.string().optional(),
  subtype: z.string().optional(),
  result: OptionalText,
  stop_reason: OptionalText,
  duration_ms: z.number().optional(),
  num_turns: z.number().optional(),
  usage: Usage.optional(),
});

/** `error` / `error_occurred` / `run_failed` / `run_cancelled`. */
export const ErrorEvent = z.looseObject({
  message: z.unknown().optional(),
  error: z.unknown().optional(),
  reason: z.unknown().optional(),
  code: z.string().optional(),
  kind: z.string().optional(),
});

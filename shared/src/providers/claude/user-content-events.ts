import type { z } from "zod";
import { payload } from "../../events/event-payload.js";
import { contentText } from "../content-text.js";
import type { EventDraft } from "../provider-adapter.js";
import { ContentBlock, TextBlock, ToolResultBlock } from "./claude-lines.js";

/**
 * The events of a stream-json `user` line's content (Claude Code's, which Amp speaks too): a plain
 * string is one user message; blocks give a tool result each, and their text one user message.
 */
export function userContentEvents(content: string | z.infer<typeof ContentBlock>[]): EventDraft[] {
  if (typeof content === "string") return [{ payload: payload("userMessage", { text: content, content: [content] }) }];
  const events: EventDraft[] = [];
  const texts: string[] = [];
  for (const block of content) {
    const tr = ToolResultBlock.safeParse(block);
    if (tr.success) {
      events.push({ payload: payload("toolResult", { toolCallId: tr.data.tool_use_id, content: contentText(tr.data.content), isError: tr.data.is_error ?? false }) });
      continue;
    }
    const t = TextBlock.safeParse(block);
    if (t.success) texts.push(t.data.text);
  }
  if (texts.length > 0) events.push({ payload: payload("userMessage", { text: texts.join(""), content }) });
  return events;
}

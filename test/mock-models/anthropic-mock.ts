/**
 * Mock of the Anthropic Messages API as Claude Code uses it (`ANTHROPIC_BASE_URL=<baseUrl>`):
 * `POST /v1/messages?beta=true` with `stream:true` answered in the Anthropic SSE format.
 */
import { sendJson, SseWriter, type RouteContext } from "./mock-server.js";
import {
  buildView,
  contentText,
  DEFAULT_TOOL_DESCRIPTION,
  ModelMock,
  replyText,
  type ChunkPosition,
  type ConversationView,
  type ResolvedReply,
  type StreamEmitter,
  type UserEvent,
} from "./scenario.js";

export const ANTHROPIC_SHELL_TOOL = "Bash";

const USAGE_IN = 20;
const USAGE_OUT = 10;

const ERROR_TYPES: Record<number, [string, string]> = {
  400: ["invalid_request_error", "mock 400: invalid request"],
  401: ["authentication_error", "invalid x-api-key"],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "Not found"],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: ["rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"],
  500: ["api_error", "Internal server error"],
  529: ["overloaded_error", "Overloaded"],
};

/** User-side events of an Anthropic `messages` array (`role:"system"` entries and assistant turns are skipped). */
export function anthropicUserEvents(body: any): UserEvent[] {
  const events: UserEvent[] = [];
  const messages: unknown[] = Array.isArray(body?.messages) ? body.messages : [];
  for (const msg of messages as any[]) {
    if (msg?.role !== "user") continue;
    const content: unknown[] = typeof msg.content === "string" ? [{ type: "text", text: msg.content }] : msg.content;
    if (!Array.isArray(content)) continue;
    for (const part of content as any[]) {
      if (part?.type === "text" && typeof part.text === "string") events.push({ kind: "text", text: part.text });
      else if (part?.type === "tool_result") {
        events.push({
          kind: "tool_result",
          output: contentText(part.content),
          isError: part.is_error === true,
          callId: part.tool_use_id,
        });
      }
    }
  }
  return events;
}

export class AnthropicMock extends ModelMock {
  constructor() {
    super("anthropic");
    this.route("turn", "POST", /^\/v1\/messages\/?$/, (ctx) => this.messages(ctx));
    this.route("count_tokens", "POST", /^\/v1\/messages\/count_tokens\/?$/, (ctx) =>
      sendJson(ctx.res, 200, { input_tokens: Math.max(1, Math.ceil(ctx.recorded.rawBody.length / 4)) }),
    );
    this.route("hello", "HEAD", /^\/(api\/hello)?$/, (ctx) => void ctx.res.writeHead(200).end());
    this.route("hello", "GET", /^\/(api\/hello)?$/, (ctx) => sendJson(ctx.res, 200, {}));
  }

  private async messages(ctx: RouteContext): Promise<void> {
    const body = ctx.recorded.body;
    const model = typeof body?.model === "string" ? body.model : "claude-mock";
    const view: ConversationView = buildView("anthropic", model, ctx.recorded, anthropicUserEvents(body));
    const requestId = this.nextId("req");
    const sendError = (r: Extract<ResolvedReply, { type: "error" }>): void => {
      const [type, message] = ERROR_TYPES[r.status] ?? ["api_error", `mock ${r.status}`];
      const headers: Record<string, string> = { "request-id": requestId };
      if (r.status === 429 || r.status === 529) headers["retry-after"] = String(r.retryAfterSeconds ?? 1);
      sendJson(
        ctx.res,
        r.status,
        { type: "error", error: { type, message: r.message ?? message }, request_id: requestId },
        headers,
      );
    };
    if (body?.stream !== true) {
      await this.nonStreaming(ctx, view, model, requestId, sendError);
      return;
    }
    await this.streamTurn(ctx, view, sendError, (sse) => this.emitter(sse, model, requestId));
  }

  /** A plain JSON Message (for non-streaming side calls; delays are ignored). */
  private async nonStreaming(
    ctx: RouteContext,
    view: ConversationView,
    model: string,
    requestId: string,
    sendError: (r: Extract<ResolvedReply, { type: "error" }>) => void,
  ): Promise<void> {
    const r = this.resolveTurn(ctx, view);
    if (r.type === "error") return sendError(r);
    if (r.type === "hang") return new SseWriter(ctx.res).untilClosed();
    const content: unknown[] = [];
    const text = replyText(r);
    if (text) content.push({ type: "text", text });
    if (r.type === "tool") {
      const input = { command: r.command, description: r.description ?? DEFAULT_TOOL_DESCRIPTION };
      content.push({ type: "tool_use", id: this.nextId("toolu"), name: ANTHROPIC_SHELL_TOOL, input });
    }
    sendJson(
      ctx.res,
      200,
      {
        id: this.nextId("msg"),
        type: "message",
        role: "assistant",
        model,
        content,
        stop_reason: r.type === "tool" ? "tool_use" : "end_turn",
        stop_sequence: null,
        usage: { input_tokens: USAGE_IN, output_tokens: USAGE_OUT },
      },
      { "request-id": requestId },
    );
  }

  private emitter(sse: SseWriter, model: string, requestId: string): StreamEmitter {
    let index = 0;
    const messageId = this.nextId("msg");
    const ev = (data: { type: string } & Record<string, unknown>): void => sse.send(data.type, data);
    return {
      open: () => {
        sse.open({ "request-id": requestId });
        ev({
          type: "message_start",
          message: {
            id: messageId,
            type: "message",
            role: "assistant",
            model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: {
              input_tokens: USAGE_IN,
              cache_creation_input_tokens: 0,
              cache_read_input_tokens: 0,
              output_tokens: 1,
            },
          },
        });
        ev({ type: "ping" });
      },
      text: (chunk: string, pos: ChunkPosition) => {
        if (pos.first) ev({ type: "content_block_start", index, content_block: { type: "text", text: "" } });
        ev({ type: "content_block_delta", index, delta: { type: "text_delta", text: chunk } });
        if (pos.last) ev({ type: "content_block_stop", index: index++ });
      },
      tool: (command: string, description: string) => {
        const id = this.nextId("toolu");
        ev({ type: "content_block_start", index, content_block: { type: "tool_use", id, name: ANTHROPIC_SHELL_TOOL, input: {} } });
        const json = JSON.stringify({ command, description });
        const cut = Math.floor(json.length / 2);
        for (const partial_json of [json.slice(0, cut), json.slice(cut)]) {
          ev({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json } });
        }
        ev({ type: "content_block_stop", index: index++ });
      },
      finish: (stop) => {
        ev({
          type: "message_delta",
          delta: { stop_reason: stop === "tool" ? "tool_use" : "end_turn", stop_sequence: null },
          usage: { output_tokens: USAGE_OUT },
        });
        ev({ type: "message_stop" });
      },
    };
  }
}

/**
 * Mock of the OpenAI Responses API as Codex uses it through a custom provider
 * (`base_url="<baseUrl>/v1"`, `wire_api="responses"`): `POST /v1/responses` answered as SSE.
 */
import { sendJson, SseWriter, type RouteContext } from "./mock-server.js";
import {
  buildView,
  contentText,
  ModelMock,
  type ChunkPosition,
  type ResolvedReply,
  type StreamEmitter,
  type UserEvent,
} from "./scenario.js";

export const OPENAI_SHELL_TOOL = "exec_command";

const USAGE = {
  input_tokens: 20,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 10,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 30,
};

const ERRORS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: "invalid_request_error", code: null, message: "mock 400: invalid request" },
  401: { type: "invalid_request_error", code: "invalid_api_key", message: "Incorrect API key provided: dummy." },
  403: { type: "invalid_request_error", code: "unsupported_country_region_territory", message: "mock 403: forbidden" },
  404: { type: "invalid_request_error", code: "model_not_found", message: "The requested model does not exist." },
  429: { type: "requests", code: "rate_limit_exceeded", message: "Rate limit reached for requests. Please try again in 1s." },
  500: { type: "server_error", code: null, message: "The server had an error while processing your request." },
  503: { type: "server_error", code: null, message: "The engine is currently overloaded, please try again later." },
};

/** User-side events of a Responses `input` (user messages, function_call_output items). */
export function openaiUserEvents(body: any): UserEvent[] {
  const input: unknown = body?.input;
  if (typeof input === "string") return [{ kind: "text", text: input }];
  if (!Array.isArray(input)) return [];
  const events: UserEvent[] = [];
  for (const item of input as any[]) {
    const type = item?.type ?? "message";
    if (type === "message" && item.role === "user") {
      const content: unknown[] = typeof item.content === "string" ? [{ text: item.content }] : item.content;
      if (!Array.isArray(content)) continue;
      for (const part of content as any[]) {
        if (typeof part?.text === "string") events.push({ kind: "text", text: part.text });
      }
    } else if (type === "function_call_output" || type === "custom_tool_call_output") {
      events.push({ kind: "tool_result", output: contentText(item.output), isError: false, callId: item.call_id });
    }
  }
  return events;
}

export class OpenAIResponsesMock extends ModelMock {
  constructor() {
    super("openai");
    this.route("turn", "POST", /^(\/v1)?\/responses\/?$/, (ctx) => this.responses(ctx));
  }

  private async responses(ctx: RouteContext): Promise<void> {
    const body = ctx.recorded.body;
    const model = typeof body?.model === "string" ? body.model : "gpt-mock";
    const view = buildView("openai", model, ctx.recorded, openaiUserEvents(body));
    const requestId = this.nextId("req");
    const sendError = (r: Extract<ResolvedReply, { type: "error" }>): void => {
      const e = ERRORS[r.status] ?? { type: "server_error", code: null, message: `mock ${r.status}` };
      const headers: Record<string, string> = { "x-request-id": requestId };
      if (r.status === 429) {
        headers["retry-after"] = String(r.retryAfterSeconds ?? 1);
        headers["x-ratelimit-reset-requests"] = `${r.retryAfterSeconds ?? 1}s`;
      }
      sendJson(ctx.res, r.status, { error: { message: r.message ?? e.message, type: e.type, param: null, code: e.code } }, headers);
    };
    await this.streamTurn(ctx, view, sendError, (sse) => this.emitter(sse, model, requestId));
  }

  private emitter(sse: SseWriter, model: string, requestId: string): StreamEmitter {
    let seq = 0;
    let outputIndex = 0;
    let messageId = "";
    let text = "";
    const output: unknown[] = [];
    const response = {
      id: this.nextId("resp"),
      object: "response",
      created_at: Math.floor(Date.now() / 1000),
      status: "in_progress",
      model,
      output,
      usage: null as typeof USAGE | null,
    };
    const ev = (type: string, data: Record<string, unknown>): void =>
      sse.send(type, { type, sequence_number: seq++, ...data });
    const itemDone = (item: Record<string, unknown>): void => {
      output.push(item);
      ev("response.output_item.done", { output_index: outputIndex++, item });
    };
    return {
      open: () => {
        sse.open({ "x-request-id": requestId });
        ev("response.created", { response: { ...response, output: [] } });
        ev("response.in_progress", { response: { ...response, output: [] } });
      },
      text: (chunk: string, pos: ChunkPosition) => {
        const at = { item_id: messageId, output_index: outputIndex, content_index: 0 };
        if (pos.first) {
          messageId = this.nextId("msg");
          text = "";
          at.item_id = messageId;
          const item = { id: messageId, type: "message", status: "in_progress", role: "assistant", content: [] };
          ev("response.output_item.added", { output_index: outputIndex, item });
          ev("response.content_part.added", { ...at, part: { type: "output_text", text: "", annotations: [] } });
        }
        text += chunk;
        ev("response.output_text.delta", { ...at, delta: chunk });
        if (pos.last) {
          const part = { type: "output_text", text, annotations: [] };
          ev("response.output_text.done", { ...at, text });
          ev("response.content_part.done", { ...at, part });
          itemDone({ id: messageId, type: "message", status: "completed", role: "assistant", content: [part] });
        }
      },
      tool: (command: string) => {
        const id = this.nextId("fc");
        const base = { id, type: "function_call", call_id: this.nextId("call"), name: OPENAI_SHELL_TOOL };
        const args = JSON.stringify({ cmd: command });
        ev("response.output_item.added", {
          output_index: outputIndex,
          item: { ...base, arguments: "", status: "in_progress" },
        });
        ev("response.function_call_arguments.delta", { item_id: id, output_index: outputIndex, delta: args });
        ev("response.function_call_arguments.done", { item_id: id, output_index: outputIndex, arguments: args });
        itemDone({ ...base, arguments: args, status: "completed" });
      },
      finish: () => {
        ev("response.completed", { response: { ...response, status: "completed", output, usage: USAGE } });
      },
    };
  }
}

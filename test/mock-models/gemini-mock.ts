/**
 * Mock of the Gemini API as Gemini CLI uses it (`GOOGLE_GEMINI_BASE_URL=<baseUrl>`):
 * `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` for model turns (scenario-driven),
 * `:generateContent` for the routing / summary side calls (answered from the request, not the scenario),
 * `:countTokens`.
 */
import { sendJson, SseWriter, type RecordedRequest, type RouteContext } from "./mock-server.js";
import { buildView, ModelMock, type ChunkPosition, type ResolvedReply, type StreamEmitter, type UserEvent } from "./scenario.js";

export const GEMINI_SHELL_TOOL = "run_shell_command";

export const GEMINI_SIDE_CALL_TEXT = "Mock session summary";

const USAGE = { promptTokenCount: 20, candidatesTokenCount: 10, totalTokenCount: 30 };

const STATUS: Record<number, [string, string]> = {
  400: ["INVALID_ARGUMENT", "mock 400: Request contains an invalid argument."],
  401: ["UNAUTHENTICATED", "API key not valid. Please pass a valid API key."],
  403: ["PERMISSION_DENIED", "The caller does not have permission"],
  404: ["NOT_FOUND", "models/mock is not found"],
  429: ["RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."],
  500: ["INTERNAL", "An internal error has occurred."],
  503: ["UNAVAILABLE", "The model is overloaded. Please try again later."],
  504: ["DEADLINE_EXCEEDED", "Deadline exceeded."],
};

const MODELS = /^\/(?:v1|v1beta|v1alpha)\/models\/([^:]+)/;

/** User-side events of Gemini `contents` (text parts and functionResponse parts of user contents). */
export function geminiUserEvents(body: any): UserEvent[] {
  const events: UserEvent[] = [];
  const contents: unknown[] = Array.isArray(body?.contents) ? body.contents : [];
  for (const content of contents as any[]) {
    if ((content?.role ?? "user") !== "user" || !Array.isArray(content.parts)) continue;
    for (const part of content.parts as any[]) {
      if (typeof part?.text === "string" && part.thought !== true) events.push({ kind: "text", text: part.text });
      else if (part?.functionResponse) {
        const r = part.functionResponse.response ?? {};
        const out: unknown = r.output ?? r.error ?? r;
        events.push({
          kind: "tool_result",
          output: typeof out === "string" ? out : JSON.stringify(out),
          isError: r.error !== undefined,
          callId: part.functionResponse.id,
        });
      }
    }
  }
  return events;
}

/** A value satisfying a (JSON or OpenAPI-style) response schema, for side calls such as model routing. */
export function sampleFromSchema(schema: any, key?: string): unknown {
  if (key === "next_speaker") return "user";
  if (!schema || typeof schema !== "object") return "mock";
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const alt = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alt) && alt.length > 0) return sampleFromSchema(alt[0], key);
  const rawType = Array.isArray(schema.type) ? schema.type.find((t: unknown) => t !== "null") : schema.type;
  const type = String(rawType ?? (schema.properties ? "object" : "string")).toLowerCase();
  switch (type) {
    case "object":
      return Object.fromEntries(
        Object.entries((schema.properties ?? {}) as Record<string, unknown>).map(([k, s]) => [k, sampleFromSchema(s, k)]),
      );
    case "array":
      return Array.from({ length: Number(schema.minItems ?? 0) }, () => sampleFromSchema(schema.items));
    case "integer":
    case "number": {
      const min = schema.minimum !== undefined ? Number(schema.minimum) : 1;
      return schema.maximum !== undefined ? Math.min(min, Number(schema.maximum)) : min;
    }
    case "boolean":
      return false;
    default:
      return "mock";
  }
}

export class GeminiMock extends ModelMock {
  constructor() {
    super("gemini");
    this.route("turn", "POST", new RegExp(`${MODELS.source}:streamGenerateContent$`), (ctx) => this.stream(ctx));
    this.route("generateContent", "POST", new RegExp(`${MODELS.source}:generateContent$`), (ctx) =>
      this.generate(ctx),
    );
    this.route("countTokens", "POST", new RegExp(`${MODELS.source}:countTokens$`), (ctx) =>
      sendJson(ctx.res, 200, { totalTokens: Math.max(1, Math.ceil(ctx.recorded.rawBody.length / 4)) }),
    );
  }

  /** Side calls (`:generateContent`) seen so far. */
  sideCalls(): RecordedRequest[] {
    return this.requests.filter((r) => r.route === "generateContent");
  }

  private async stream(ctx: RouteContext): Promise<void> {
    const model = ctx.match[1] ?? "gemini-mock";
    const view = buildView("gemini", model, ctx.recorded, geminiUserEvents(ctx.recorded.body));
    const sendError = (r: Extract<ResolvedReply, { type: "error" }>): void => {
      const [status, message] = STATUS[r.status] ?? ["UNKNOWN", `mock ${r.status}`];
      const error: Record<string, unknown> = { code: r.status, message: r.message ?? message, status };
      const headers: Record<string, string> = {};
      if (r.status === 429) {
        const delay = r.retryAfterSeconds ?? 1;
        headers["retry-after"] = String(delay);
        error.details = [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${delay}s` }];
      }
      sendJson(ctx.res, r.status, { error }, headers);
    };
    await this.streamTurn(ctx, view, sendError, (sse) => this.emitter(sse, model));
  }

  private generate(ctx: RouteContext): void {
    const model = ctx.match[1] ?? "gemini-mock";
    const config = ctx.recorded.body?.generationConfig ?? {};
    const schema = config.responseJsonSchema ?? config.responseSchema;
    const text = schema ? JSON.stringify(sampleFromSchema(schema)) : GEMINI_SIDE_CALL_TEXT;
    sendJson(ctx.res, 200, this.chunk(model, [{ text }], true));
  }

  private chunk(model: string, parts: unknown[], finished: boolean): Record<string, unknown> {
    const candidate: Record<string, unknown> = { content: { role: "model", parts }, index: 0 };
    if (finished) candidate.finishReason = "STOP";
    return { candidates: [candidate], usageMetadata: USAGE, modelVersion: model, responseId: this.nextId("resp") };
  }

  private emitter(sse: SseWriter, model: string): StreamEmitter {
    return {
      open: () => sse.open(),
      text: (chunk: string, pos: ChunkPosition) => sse.send(undefined, this.chunk(model, [{ text: chunk }], pos.final)),
      tool: (command: string, description: string) =>
        sse.send(undefined, this.chunk(model, [{ functionCall: { name: GEMINI_SHELL_TOOL, args: { command, description } } }], true)),
      finish: () => undefined,
    };
  }
}

/**
 * How a test scripts what a mock model answers. Order of precedence for each model turn:
 *   1. replies queued with `next(...)`,
 *   2. the function set with `script(fn)` (returning undefined falls through),
 *   3. the default: the last user-side event of the request's history decides:
 *      - a tool result → text `done: <tool output>`;
 *      - a user text with a marker → that reply (see `parseMarker`);
 *      - any other user text → text `Hello from mock`.
 */
import { MockServer, SseWriter, type RecordedRequest, type RouteContext } from "./mock-server.js";

export type Provider = "anthropic" | "openai" | "gemini";

export type Reply =
  /** Text streamed as `chunks`, with `delayMs` between chunks. */
  | { type: "text"; chunks: string[]; delayMs?: number }
  /** One shell tool call (Bash / exec_command / run_shell_command), optionally preceded by text. */
  | { type: "tool"; command: string; description?: string; text?: string }
  /** An HTTP error with the provider's error JSON body. */
  | { type: "error"; status: number; message?: string; retryAfterSeconds?: number }
  /** Opens the stream, sends `text` (if any), then never finishes until the client disconnects. */
  | { type: "hang"; text?: string }
  /** Text listing the user texts of the request's history (resolved by the scenario). */
  | { type: "echo-history" };

export type ResolvedReply = Exclude<Reply, { type: "echo-history" }>;

export const DEFAULT_TEXT = "Hello from mock";

export const reply = {
  text: (text: string): Reply => ({ type: "text", chunks: [text] }),
  chunks: (chunks: string[], delayMs?: number): Reply => ({ type: "text", chunks, delayMs }),
  slow: (count: number, delayMs: number): Reply => ({ type: "text", chunks: slowChunks(count), delayMs }),
  tool: (command: string, opts: { description?: string; text?: string } = {}): Reply => ({
    type: "tool",
    command,
    ...opts,
  }),
  error: (status: number, message?: string, retryAfterSeconds?: number): Reply => ({
    type: "error",
    status,
    message,
    retryAfterSeconds,
  }),
  hang: (text?: string): Reply => ({ type: "hang", text }),
  echoHistory: (): Reply => ({ type: "echo-history" }),
};

export function slowChunks(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `chunk${i + 1}${i + 1 < count ? " " : ""}`);
}

const MARKER = /\[\[reply:([a-z-]+)(?::([\s\S]*?))?\]\]/;

/**
 * Markers in a user text: `[[reply:text:Hello]]`, `[[reply:tool:touch x.txt]]`, `[[reply:error:429]]`
 * (optionally `[[reply:error:429:message]]`), `[[reply:slow:20:100]]` (20 chunks 100 ms apart),
 * `[[reply:hang]]` / `[[reply:hang:partial text]]`, `[[reply:echo-history]]`. The first marker wins.
 */
export function parseMarker(text: string): Reply | undefined {
  const m = MARKER.exec(text);
  if (!m) return undefined;
  const kind = m[1];
  const arg = m[2] ?? "";
  switch (kind) {
    case "text":
      return reply.text(arg);
    case "tool":
      return reply.tool(arg);
    case "error": {
      const [status, ...rest] = arg.split(":");
      return reply.error(Number(status) || 500, rest.length > 0 ? rest.join(":") : undefined);
    }
    case "slow": {
      const [count, delay] = arg.split(":");
      return reply.slow(Number(count) || 20, Number(delay) || 100);
    }
    case "hang":
      return reply.hang(arg || undefined);
    case "echo-history":
      return reply.echoHistory();
    default:
      return undefined;
  }
}

/** One user-side item of the conversation history, in order. */
export type UserEvent =
  | { kind: "text"; text: string }
  | { kind: "tool_result"; output: string; isError: boolean; callId?: string };

/** Provider-independent view of one model request. */
export interface ConversationView {
  provider: Provider;
  model: string;
  /** User-side events of the whole history, CLI boilerplate texts removed. */
  events: UserEvent[];
  /** The user texts of `events`, in order. */
  userTexts: string[];
  last: UserEvent | undefined;
  request: RecordedRequest;
}

/**
 * Texts the CLIs inject as user content (`<system-reminder>`, `<environment_context>`,
 * `<session_context>`, …) start with a tag; test prompts must not. `<turn_aborted>` (Codex's
 * interrupt marker) is kept so tests can see it.
 */
export function isBoilerplate(text: string): boolean {
  const t = text.trimStart();
  return /^<[A-Za-z_][\w -]*>/.test(t) && !t.startsWith("<turn_aborted>");
}

export function buildView(
  provider: Provider,
  model: string,
  request: RecordedRequest,
  events: UserEvent[],
): ConversationView {
  const kept = events.filter((e) => e.kind !== "text" || (e.text.trim() !== "" && !isBoilerplate(e.text)));
  return {
    provider,
    model,
    events: kept,
    userTexts: kept.flatMap((e) => (e.kind === "text" ? [e.text] : [])),
    last: kept[kept.length - 1],
    request,
  };
}

export type ScenarioFn = (view: ConversationView) => Reply | undefined;

export function defaultReply(view: ConversationView): Reply {
  const last = view.last;
  if (last?.kind === "tool_result") return reply.text(`done: ${last.output.trim()}`);
  if (last?.kind === "text") return parseMarker(last.text) ?? reply.text(DEFAULT_TEXT);
  return reply.text(DEFAULT_TEXT);
}

export class Scenario {
  private readonly queue: Reply[] = [];
  private fn: ScenarioFn | undefined;
  /** Every reply given, in order (after echo-history resolution). */
  readonly given: ResolvedReply[] = [];

  /** Queues replies for the next model turns; they take precedence over `script` and markers. */
  next(...replies: Reply[]): this {
    this.queue.push(...replies);
    return this;
  }

  /** Sets the reply function; returning undefined falls back to the marker default. */
  script(fn: ScenarioFn | undefined): this {
    this.fn = fn;
    return this;
  }

  reset(): void {
    this.queue.length = 0;
    this.fn = undefined;
    this.given.length = 0;
  }

  get pending(): number {
    return this.queue.length;
  }

  resolve(view: ConversationView): ResolvedReply {
    const chosen = this.queue.shift() ?? this.fn?.(view) ?? defaultReply(view);
    const resolved: ResolvedReply =
      chosen.type === "echo-history" ? { type: "text", chunks: [`history: ${view.userTexts.join(" | ")}`] } : chosen;
    this.given.push(resolved);
    return resolved;
  }
}

/** Text of a tool result whose content may be a string, a list of text parts, or anything else. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p: any) => (typeof p === "string" ? p : typeof p?.text === "string" ? p.text : ""))
      .join("");
  }
  return content === undefined ? "" : JSON.stringify(content);
}

/** The full text a resolved reply produces (used for usage counts and non-streaming answers). */
export function replyText(r: ResolvedReply): string {
  if (r.type === "text") return r.chunks.join("");
  if (r.type === "tool" || r.type === "hang") return r.text ?? "";
  return "";
}

/** Where a streamed text chunk sits: first/last of its text block, and whether the reply ends with it. */
export interface ChunkPosition {
  first: boolean;
  last: boolean;
  final: boolean;
}

/** Provider-specific SSE framing of one streamed reply (one instance per request). */
export interface StreamEmitter {
  open(): void;
  text(chunk: string, pos: ChunkPosition): void;
  tool(command: string, description: string): void;
  finish(stop: "end" | "tool"): void;
}

export const DEFAULT_TOOL_DESCRIPTION = "Run a command";

/** Streams a text / tool / hang reply; stops quietly once the client has gone away. */
export async function playReply(r: ResolvedReply, sse: SseWriter, e: StreamEmitter): Promise<void> {
  if (r.type === "error") throw new Error("playReply: errors are not streamed");
  e.open();
  if (r.type === "text") {
    const chunks = r.chunks.length > 0 ? r.chunks : [""];
    for (const [i, chunk] of chunks.entries()) {
      if (i > 0 && r.delayMs && !(await sse.sleep(r.delayMs))) return;
      const last = i === chunks.length - 1;
      e.text(chunk, { first: i === 0, last, final: last });
    }
    e.finish("end");
  } else if (r.type === "tool") {
    if (r.text) e.text(r.text, { first: true, last: true, final: false });
    e.tool(r.command, r.description ?? DEFAULT_TOOL_DESCRIPTION);
    e.finish("tool");
  } else {
    if (r.text) e.text(r.text, { first: true, last: false, final: false });
    await sse.untilClosed();
    return;
  }
  sse.end();
}

export interface Turn {
  request: RecordedRequest;
  view: ConversationView;
  reply: ResolvedReply;
}

/** Base of the provider mocks: a MockServer with a Scenario and a log of answered model turns. */
export abstract class ModelMock extends MockServer {
  readonly scenario = new Scenario();
  /** Model turns answered through the scenario (side calls such as Gemini routing are not turns). */
  readonly turns: Turn[] = [];
  private idCounter = 0;

  next(...replies: Reply[]): this {
    this.scenario.next(...replies);
    return this;
  }

  script(fn: ScenarioFn | undefined): this {
    this.scenario.script(fn);
    return this;
  }

  /** Recorded requests of model turns (route "turn"). */
  modelRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.route === "turn");
  }

  protected nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}_mock_${this.idCounter}`;
  }

  protected resolveTurn(ctx: RouteContext, view: ConversationView): ResolvedReply {
    const r = this.scenario.resolve(view);
    this.turns.push({ request: ctx.recorded, view, reply: r });
    return r;
  }

  /** Resolves the reply for a streamed turn and answers it: error JSON or SSE. */
  protected async streamTurn(
    ctx: RouteContext,
    view: ConversationView,
    sendError: (r: Extract<ResolvedReply, { type: "error" }>) => void,
    emitter: (sse: SseWriter) => StreamEmitter,
  ): Promise<void> {
    const r = this.resolveTurn(ctx, view);
    if (r.type === "error") {
      sendError(r);
      return;
    }
    const sse = new SseWriter(ctx.res);
    await playReply(r, sse, emitter(sse));
  }
}

import { afterEach, describe, expect, it } from "vitest";
import {
  AnthropicMock,
  GeminiMock,
  ModelMock,
  OpenAIResponsesMock,
  reply,
  slowChunks,
  startMockModel,
  type Provider,
} from "../mock-models/index.js";

type Json = Record<string, any>;

interface SseEvent {
  event: string | undefined;
  data: Json;
}

function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (block.trim() === "") continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    out.push({ event, data: JSON.parse(data.join("\n")) as Json });
  }
  return out;
}

interface Summary {
  text: string;
  tool?: { name: string; args: Json };
  stop: string;
}

/** What a test needs to talk to one provider mock like its CLI does. */
interface Driver {
  provider: Provider;
  create(): ModelMock;
  path: string;
  headers: Record<string, string>;
  /** A first request whose last user text is `prompt` (with CLI boilerplate around it). */
  first(prompt: string): Json;
  /** Appends the assistant tool call of `s` and its result. */
  withToolResult(body: Json, s: Summary, output: string): Json;
  /** Appends an assistant text and a new user prompt. */
  withTurn(body: Json, assistantText: string, prompt: string): Json;
  /** Checks the SSE sequence is well-formed and summarises it. */
  summarize(events: SseEvent[]): Summary;
  errorBody(status: number, json: Json): void;
}

const anthropic: Driver = {
  provider: "anthropic",
  create: () => new AnthropicMock(),
  path: "/v1/messages?beta=true",
  headers: { "x-api-key": "dummy", "anthropic-version": "2023-06-01" },
  first: (prompt) => ({
    model: "claude-opus-5-5",
    stream: true,
    max_tokens: 128000,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "<system-reminder>\nboilerplate\n</system-reminder>" },
          { type: "text", text: prompt },
        ],
      },
      { role: "system", content: [{ type: "text", text: "# Environment\n - Platform: linux" }] },
    ],
  }),
  withToolResult: (body, s, output) => ({
    ...body,
    messages: [
      ...body.messages,
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: s.tool?.name, input: s.tool?.args }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: output, is_error: false }] },
    ],
  }),
  withTurn: (body, text, prompt) => ({
    ...body,
    messages: [
      ...body.messages,
      { role: "assistant", content: [{ type: "text", text }] },
      { role: "user", content: prompt },
    ],
  }),
  summarize: (events) => {
    for (const e of events) expect(e.event).toBe(e.data.type);
    const types = events.map((e) => e.data.type as string);
    expect(types[0]).toBe("message_start");
    expect(types.at(-1)).toBe("message_stop");
    expect(types.at(-2)).toBe("message_delta");
    let text = "";
    let tool: Summary["tool"];
    let open: { index: number; type: string; json: string } | undefined;
    let next = 0;
    for (const { data } of events.slice(1, -2)) {
      if (data.type === "ping") continue;
      if (data.type === "content_block_start") {
        expect(open).toBeUndefined();
        expect(data.index).toBe(next++);
        open = { index: data.index, type: data.content_block.type, json: "" };
        if (open.type === "tool_use") {
          expect(data.content_block.id).toMatch(/^toolu_/);
          tool = { name: data.content_block.name, args: {} };
        }
      } else if (data.type === "content_block_delta") {
        expect(data.index).toBe(open?.index);
        if (open?.type === "text") {
          expect(data.delta.type).toBe("text_delta");
          text += data.delta.text;
        } else {
          expect(data.delta.type).toBe("input_json_delta");
          if (open) open.json += data.delta.partial_json;
        }
      } else {
        expect(data.type).toBe("content_block_stop");
        expect(data.index).toBe(open?.index);
        if (open?.type === "tool_use" && tool) tool.args = JSON.parse(open.json) as Json;
        open = undefined;
      }
    }
    expect(open).toBeUndefined();
    const last = events.at(-2)?.data;
    expect(last?.usage.output_tokens).toBeGreaterThan(0);
    return { text, tool, stop: last?.delta.stop_reason };
  },
  errorBody: (status, json) => {
    expect(json.type).toBe("error");
    expect(json.error.type).toBe({ 401: "authentication_error", 429: "rate_limit_error", 500: "api_error" }[status]);
    expect(typeof json.error.message).toBe("string");
  },
};

const openai: Driver = {
  provider: "openai",
  create: () => new OpenAIResponsesMock(),
  path: "/v1/responses",
  headers: { authorization: "Bearer dummy", accept: "text/event-stream" },
  first: (prompt) => ({
    model: "gpt-5.5",
    stream: true,
    store: false,
    input: [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "You are Codex." }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "<environment_context>x</environment_context>" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: prompt }] },
    ],
  }),
  withToolResult: (body, s, output) => ({
    ...body,
    input: [
      ...body.input,
      { type: "function_call", name: s.tool?.name, call_id: "call_1", arguments: JSON.stringify(s.tool?.args) },
      { type: "function_call_output", call_id: "call_1", output },
    ],
  }),
  withTurn: (body, text, prompt) => ({
    ...body,
    input: [
      ...body.input,
      { type: "message", role: "assistant", content: [{ type: "output_text", text }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: prompt }] },
    ],
  }),
  summarize: (events) => {
    events.forEach((e, i) => {
      expect(e.event).toBe(e.data.type);
      expect(e.data.sequence_number).toBe(i);
    });
    expect(events[0]?.data.type).toBe("response.created");
    const done = events.at(-1)?.data;
    expect(done?.type).toBe("response.completed");
    expect(done?.response.status).toBe("completed");
    expect(done?.response.usage.total_tokens).toBeGreaterThan(0);
    let text = "";
    let tool: Summary["tool"];
    const added = new Set<number>();
    for (const { data } of events) {
      if (data.type === "response.output_item.added") added.add(data.output_index);
      if (data.type === "response.output_text.delta") text += data.delta;
      if (data.type === "response.output_item.done") {
        expect(added.has(data.output_index)).toBe(true);
        if (data.item.type === "message") expect(data.item.content[0].text).toBe(text);
        if (data.item.type === "function_call") {
          expect(data.item.call_id).toMatch(/^call_/);
          tool = { name: data.item.name, args: JSON.parse(data.item.arguments) as Json };
        }
      }
    }
    expect(done?.response.output).toHaveLength(added.size);
    return { text, tool, stop: tool ? "tool" : "end" };
  },
  errorBody: (status, json) => {
    expect(typeof json.error.message).toBe("string");
    expect(json.error.type).toBe({ 401: "invalid_request_error", 429: "requests", 500: "server_error" }[status]);
  },
};

const gemini: Driver = {
  provider: "gemini",
  create: () => new GeminiMock(),
  path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
  headers: { "x-goog-api-key": "dummy" },
  first: (prompt) => ({
    contents: [{ role: "user", parts: [{ text: "<session_context>\nThis is the Gemini CLI.\n</session_context>" }, { text: prompt }] }],
    generationConfig: { temperature: 1 },
  }),
  withToolResult: (body, s, output) => ({
    ...body,
    contents: [
      ...body.contents,
      { role: "model", parts: [{ functionCall: { id: "fc1", name: s.tool?.name, args: s.tool?.args } }] },
      { role: "user", parts: [{ functionResponse: { id: "fc1", name: s.tool?.name, response: { output } } }] },
    ],
  }),
  withTurn: (body, text, prompt) => ({
    ...body,
    contents: [...body.contents, { role: "model", parts: [{ text }] }, { role: "user", parts: [{ text: prompt }] }],
  }),
  summarize: (events) => {
    let text = "";
    let tool: Summary["tool"];
    events.forEach((e, i) => {
      expect(e.event).toBeUndefined();
      const c = e.data.candidates[0];
      expect(c.content.role).toBe("model");
      expect(e.data.usageMetadata.totalTokenCount).toBeGreaterThan(0);
      expect(c.finishReason).toBe(i === events.length - 1 ? "STOP" : undefined);
      for (const p of c.content.parts) {
        if (typeof p.text === "string") text += p.text;
        if (p.functionCall) tool = { name: p.functionCall.name, args: p.functionCall.args };
      }
    });
    return { text, tool, stop: tool ? "tool" : "end" };
  },
  errorBody: (status, json) => {
    expect(json.error.code).toBe(status);
    expect(json.error.status).toBe({ 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL" }[status]);
    expect(typeof json.error.message).toBe("string");
  },
};

const SHELL_TOOL: Record<Provider, { name: string; args: (cmd: string) => Json }> = {
  anthropic: { name: "Bash", args: (cmd) => ({ command: cmd, description: "Run a command" }) },
  openai: { name: "exec_command", args: (cmd) => ({ cmd }) },
  gemini: { name: "run_shell_command", args: (cmd) => ({ command: cmd, description: "Run a command" }) },
};

const mocks: ModelMock[] = [];

afterEach(async () => {
  for (const m of mocks.splice(0)) {
    expect(m.nonLoopbackConnections()).toEqual([]);
    expect(m.errors).toEqual([]);
    await m.stop();
  }
});

async function started(d: Driver): Promise<ModelMock> {
  const m = d.create();
  mocks.push(m);
  await m.start();
  return m;
}

function post(m: ModelMock, d: Driver, body: Json, signal?: AbortSignal): Promise<Response> {
  return fetch(m.baseUrl + d.path, {
    method: "POST",
    headers: { "content-type": "application/json", ...d.headers },
    body: JSON.stringify(body),
    signal,
  });
}

async function turn(m: ModelMock, d: Driver, body: Json): Promise<Summary> {
  const res = await post(m, d, body);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  return d.summarize(parseSse(await res.text()));
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}

describe.each([anthropic, openai, gemini])("$provider mock", (d) => {
  it("streams a text reply chosen by a marker and records the request", async () => {
    const m = await started(d);
    expect(m.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const s = await turn(m, d, d.first("hi [[reply:text:Hello there]]"));
    expect(s).toEqual({ text: "Hello there", tool: undefined, stop: d.provider === "anthropic" ? "end_turn" : "end" });

    const [r] = m.modelRequests();
    expect(r?.method).toBe("POST");
    expect(r?.url).toBe(d.path);
    expect(r?.body).toEqual(d.first("hi [[reply:text:Hello there]]"));
    for (const [k, v] of Object.entries(d.headers)) expect(r?.headers[k]).toBe(v);
    expect(m.turns[0]?.view.userTexts).toEqual(["hi [[reply:text:Hello there]]"]);
    expect(m.connections.length).toBeGreaterThan(0);
    expect(m.nonLoopbackConnections()).toEqual([]);
  });

  it("answers without a marker with the default text", async () => {
    const m = await started(d);
    expect((await turn(m, d, d.first("just hi"))).text).toBe("Hello from mock");
  });

  it("makes a shell tool call, then answers the tool result with done: <output>", async () => {
    const m = await started(d);
    const body = d.first("go [[reply:tool:touch x.txt]]");
    const s = await turn(m, d, body);
    const shell = SHELL_TOOL[d.provider];
    expect(s.tool).toEqual({ name: shell.name, args: shell.args("touch x.txt") });
    expect(s.stop).toBe(d.provider === "anthropic" ? "tool_use" : "tool");

    const after = await turn(m, d, d.withToolResult(body, s, "ok\n"));
    expect(after.text).toBe("done: ok");
    expect(after.tool).toBeUndefined();
    expect(m.turns[1]?.view.last).toMatchObject({ kind: "tool_result", output: "ok\n" });
  });

  it.each([401, 429, 500])("answers [[reply:error:%i]] with the API's error JSON", async (status) => {
    const m = await started(d);
    const res = await post(m, d, d.first(`x [[reply:error:${status}]]`));
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/json");
    if (status === 429) expect(res.headers.get("retry-after")).toBe("1");
    d.errorBody(status, (await res.json()) as Json);
  });

  it("survives a slow stream the client abandons mid-way", async () => {
    const m = await started(d);
    const ac = new AbortController();
    const res = await post(m, d, d.first("[[reply:slow:20:50]]"), ac.signal);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    while (!seen.includes("chunk2")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
    }
    expect(seen).toContain("chunk1");
    ac.abort();
    await reader.read().catch(() => undefined);
    const recorded = m.modelRequests()[0]!;
    await until(() => recorded.clientClosedEarly);

    // The server still answers, and an uninterrupted slow stream delivers every chunk.
    expect((await turn(m, d, d.first("[[reply:slow:3:5]]"))).text).toBe(slowChunks(3).join(""));
    expect(m.modelRequests()[1]?.clientClosedEarly).toBe(false);
  });

  it("echoes the user texts of the history", async () => {
    const m = await started(d);
    const body = d.withTurn(d.first("first message"), "Hello from mock", "second [[reply:echo-history]]");
    expect((await turn(m, d, body)).text).toBe("history: first message | second [[reply:echo-history]]");
  });

  it("gives queued replies precedence over script(), and script() over markers", async () => {
    const m = await started(d);
    m.script((v) => (v.last?.kind === "text" && v.last.text.includes("scripted") ? reply.text("from script") : undefined));
    m.next(reply.text("queued"), reply.chunks(["a", "b", "c"]));
    expect((await turn(m, d, d.first("scripted [[reply:text:marker]]"))).text).toBe("queued");
    expect((await turn(m, d, d.first("scripted"))).text).toBe("abc");
    expect((await turn(m, d, d.first("scripted [[reply:text:marker]]"))).text).toBe("from script");
    expect((await turn(m, d, d.first("plain [[reply:text:marker]]"))).text).toBe("marker");
    expect(m.scenario.given).toHaveLength(4);
  });

  it("answers unknown paths 404 and lists them as unexpected", async () => {
    const m = await started(d);
    const res = await fetch(`${m.baseUrl}/v9/nowhere`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404);
    expect(m.unexpected.map((r) => r.path)).toEqual(["/v9/nowhere"]);
    expect(m.modelRequests()).toEqual([]);
  });

  it("ends a hanging stream on stop()", async () => {
    const m = await started(d);
    const res = await post(m, d, d.first("[[reply:hang:partial]]"));
    expect(res.status).toBe(200);
    const body = res.text().catch(() => "aborted");
    await m.waitForRequest((r) => r.route === "turn");
    await m.stop();
    await body;
    expect(m.modelRequests()[0]?.clientClosedEarly).toBe(true);
  });
});

describe("provider specifics", () => {
  it("anthropic: skips role:system entries, answers /api/hello and count_tokens", async () => {
    const m = await started(anthropic);
    expect((await fetch(`${m.baseUrl}/api/hello`, { method: "HEAD" })).status).toBe(200);
    expect((await fetch(`${m.baseUrl}/`, { method: "HEAD" })).status).toBe(200);
    const ct = await fetch(`${m.baseUrl}/v1/messages/count_tokens?beta=true`, { method: "POST", body: "{}" });
    expect(typeof ((await ct.json()) as Json).input_tokens).toBe("number");
    const body = anthropic.first("[[reply:text:ok]]");
    body.messages.push({ role: "system", content: "[[reply:text:not me]]" });
    expect((await turn(m, anthropic, body)).text).toBe("ok");
    expect(m.turns).toHaveLength(1);
  });

  it("anthropic: answers a non-streaming request with a JSON message", async () => {
    const m = await started(anthropic);
    const res = await post(m, anthropic, { ...anthropic.first("[[reply:tool:ls]]"), stream: false });
    const json = (await res.json()) as Json;
    expect(json).toMatchObject({ type: "message", role: "assistant", stop_reason: "tool_use" });
    expect(json.content[0]).toMatchObject({ type: "tool_use", name: "Bash", input: { command: "ls" } });
  });

  it("gemini: answers routing and summary side calls without consuming the scenario", async () => {
    const m = (await started(gemini)) as GeminiMock;
    m.next(reply.text("turn reply"));
    const side = async (generationConfig: Json): Promise<string> => {
      const res = await fetch(`${m.baseUrl}/v1beta/models/gemini-3.5-flash-lite:generateContent`, {
        method: "POST",
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "classify" }] }], generationConfig }),
      });
      expect(res.status).toBe(200);
      const json = (await res.json()) as Json;
      expect(json.candidates[0].finishReason).toBe("STOP");
      return json.candidates[0].content.parts[0].text as string;
    };
    const routed = await side({
      responseMimeType: "application/json",
      responseJsonSchema: {
        type: "object",
        properties: {
          reasoning: { type: "string" },
          complexity_score: { type: "integer", minimum: 1, maximum: 100 },
          model_choice: { type: "string", enum: ["flash", "pro"] },
        },
        required: ["reasoning", "complexity_score"],
      },
    });
    expect(JSON.parse(routed)).toEqual({ reasoning: "mock", complexity_score: 1, model_choice: "flash" });
    expect(await side({})).toBe("Mock session summary");
    expect(m.sideCalls()).toHaveLength(2);
    expect((await turn(m, gemini, gemini.first("hi"))).text).toBe("turn reply");
  });

  it("startMockModel starts each provider on loopback", async () => {
    for (const p of ["anthropic", "openai", "gemini"] as const) {
      const m = await startMockModel(p);
      mocks.push(m);
      expect(m.port).toBeGreaterThan(0);
      expect(m.name).toBe(p);
    }
  });
});

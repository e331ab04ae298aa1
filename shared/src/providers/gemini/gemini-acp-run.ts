/** `gemini --acp`: JSON-RPC 2.0 over stdio, one session, one prompt per turn, permission requests, `session/cancel`. */
import { AsmError } from "../../errors/asm-error.js";
import { payload } from "../../events/event-payload.js";
import type { AdapterRun, ParsedLine } from "../provider-adapter.js";
import * as L from "./gemini-lines.js";
import { parseJsonObject, rawLine } from "../protocol/line-events.js";
import { JsonRpcPeer, rpcMessageKind, RPC_INVALID_PARAMS, RPC_METHOD_NOT_FOUND } from "../protocol/json-rpc.js";
import { geminiError } from "./gemini-failures.js";
import { AcpSessionEvents } from "./acp-session-events.js";


const ACP_PROTOCOL_VERSION = 1;

type AcpMethod = "initialize" | "authenticate" | "session/new" | "session/prompt";

/** Drives one turn of `gemini --acp`: handshake, one `session/prompt`, approvals, cancel. */
export class GeminiAcpRun implements AdapterRun {
  private readonly rpc = new JsonRpcPeer<AcpMethod>({ jsonrpc: true });
  /** The session's events; a permission request is answered later by its JSON-RPC id. */
  private readonly session = new AcpSessionEvents<number | string>();
  private nextRpcId = 1;
  private sessionId: string | undefined;
  private promptInFlight = false;
  private interrupted = false;
  private done = false;

  private readonly initialize: string;

  constructor(
    private readonly prompt: string,
    private readonly cwd: string,
    private readonly authMethod: string,
  ) {
    // Always JSON-RPC id 1, so the run that parses and the command that spawned agree.
    this.initialize = this.request("initialize", {
      protocolVersion: ACP_PROTOCOL_VERSION,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
    });
  }

  /**
   * The first line written after spawn. The rest of the handshake is written one step per
   * response: the CLI handles requests concurrently, so a pipelined `authenticate` or
   * `session/new` would race `initialize`.
   */
  initialInput(): string[] {
    return [this.initialize];
  }

  private request(method: AcpMethod, params: unknown): string {
    return this.rpc.request(method, this.nextRpcId++, params);
  }

  parseLine(text: string): ParsedLine {
    const parsed = this.parse(text);
    const notRun = this.session.takeNotRun();
    return notRun.length === 0 ? parsed : { ...parsed, events: [...notRun, ...parsed.events] };
  }

  private parse(text: string): ParsedLine {
    const json = parseJsonObject(text);
    if (!json) return rawLine(text);
    switch (rpcMessageKind(json)) {
      case "request":
        return this.serverRequest(json, text);
      case "notification":
        return this.notification(json, text);
      case "response":
        return "error" in json ? this.errorResponse(json, text) : this.response(json, text);
      default:
        return rawLine(text);
    }
  }

  private response(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcResult.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const method = this.rpc.settle(parsed.data.id);
    if (!method) return rawLine(text);
    switch (method) {
      case "initialize":
        return { events: [], reply: [this.request("authenticate", { methodId: this.authMethod })] };
      case "authenticate":
        return { events: [], reply: [this.request("session/new", { cwd: this.cwd, mcpServers: [] })] };
      case "session/new": {
        const result = L.SessionNewResult.safeParse(parsed.data.result);
        if (!result.success) {
          this.done = true;
          const error = new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/new without a session id", details: { method: "session/new" } });
          return { events: [{ payload: payload("error", { error: error.toMessage() }) }, ...rawLine(text).events], turnEnded: true };
        }
        this.sessionId = result.data.sessionId;
        if (this.interrupted) {
          // interrupt() came before there was a prompt to cancel: never send it.
          this.done = true;
          const error = AsmError.cancelled("the run was interrupted before gemini received the prompt");
          return { events: [{ payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
        }
        this.promptInFlight = true;
        const prompt = this.request("session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text: this.prompt }] });
        return { events: [], providerSessionId: this.sessionId, reply: [prompt] };
      }
      case "session/prompt":
        return this.promptResult(parsed.data.result, text);
    }
  }

  private promptResult(result: unknown, text: string): ParsedLine {
    this.promptInFlight = false;
    this.done = true;
    const events = this.session.promptEnded(result);
    if (!events) {
      const error = new AsmError({ provider: "gemini", reasonCode: "provider_protocol_error", message: "gemini answered session/prompt without a stop reason", details: { method: "session/prompt" } });
      return { events: [...rawLine(text).events, { payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
    }
    return { events, providerSessionId: this.sessionId, turnEnded: true };
  }

  private errorResponse(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcError.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const id = parsed.data.id;
    const method = id === null ? undefined : this.rpc.settle(id);
    if (id === null || !method) return rawLine(text);
    this.promptInFlight = false;
    this.done = true;
    const { code, message, data } = parsed.data.error;
    const dataText = data === undefined ? "" : typeof data === "string" ? data : JSON.stringify(data);
    const error = geminiError({
      text: dataText && dataText !== "{}" ? `${message}: ${dataText}` : message,
      rpcCode: code,
      data,
      providerCode: `${method.replace("/", "_")}_failed`,
      // session/new is where gemini checks what asm asked (cwd, model); initialize and prompt failures are gemini's.
      ownRequest: method === "session/new",
      details: { method, rpc_code: code },
    });
    return { events: [{ payload: payload("error", { error: error.toMessage() }) }], providerSessionId: this.sessionId, turnEnded: true };
  }

  private serverRequest(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcRequest.safeParse(json);
    if (!parsed.success) return rawLine(text);
    const { id, method, params } = parsed.data;
    if (method !== "session/request_permission") {
      // asm offers no client capabilities (fs, terminal); never leave the CLI waiting.
      return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_METHOD_NOT_FOUND, `asm does not implement ${method}`)] };
    }
    const asked = this.session.permissionRequested(params, id);
    if (!asked) return { ...rawLine(text), reply: [this.rpc.errorReply(id, RPC_INVALID_PARAMS, "asm could not read this session/request_permission")] };
    return { events: asked.events, providerSessionId: asked.sessionId };
  }

  private notification(json: unknown, text: string): ParsedLine {
    const parsed = L.RpcNotification.safeParse(json);
    if (!parsed.success || parsed.data.method !== "session/update") return rawLine(text);
    const update = this.session.update(parsed.data.params, this.sessionId);
    if (!update) return rawLine(text);
    // available_commands_update, plan, current_mode_update, in-progress tool updates, …: kept verbatim.
    return update.events.length > 0 ? { events: update.events, providerSessionId: update.sessionId } : { ...rawLine(text), providerSessionId: update.sessionId };
  }

  answerApproval(approvalId: string, allow: boolean, reason: string): string[] {
    const decided = this.session.decide(approvalId, allow, reason);
    return decided ? [this.rpc.result(decided.token, { outcome: decided.outcome })] : [];
  }

  /** The next `session/prompt` on the same ACP session (a warm process); per-turn state is reset. */
  nextTurn(prompt: string): string[] | undefined {
    if (this.sessionId === undefined || this.promptInFlight) return undefined;
    this.session.reset();
    this.interrupted = false;
    this.done = false;
    this.promptInFlight = true;
    return [this.request("session/prompt", { sessionId: this.sessionId, prompt: [{ type: "text", text: prompt }] })];
  }

  /**
   * `session/cancel`, then a `cancelled` outcome for every permission still asked (ACP requires it,
   * and gemini's prompt cannot end while a permission request is unanswered).
   */
  interrupt(): string[] | undefined {
    if (this.done) return undefined;
    this.interrupted = true;
    if (!this.promptInFlight || this.sessionId === undefined) return undefined;
    const lines = [this.rpc.notification("session/cancel", { sessionId: this.sessionId })];
    for (const rpcId of this.session.cancelAll()) lines.push(this.rpc.result(rpcId, { outcome: { outcome: "cancelled" } }));
    return lines;
  }
}

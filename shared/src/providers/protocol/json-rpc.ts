/** A JSON-RPC id, as either side may send it. */
export type RpcId = number | string;

/**
 * The framing of one JSON-RPC peer. `jsonrpc`: every message carries `"jsonrpc": "2.0"` (ACP);
 * without it the message has no version field and a request puts `method` first (codex
 * app-server's own framing). The key order is each CLI's own, so a line asm writes is byte for
 * byte what the CLI's recorded transcripts show.
 */
export interface RpcFraming {
  jsonrpc: boolean;
}

/**
 * One side of a JSON-RPC conversation with a CLI: the lines asm writes (requests, notifications,
 * results, error replies) and the requests of its own that wait for an answer, by id. A string
 * id and a number id never collide (`"1"` is not `1`).
 */
export class JsonRpcPeer<Method extends string> {
  private readonly pending = new Map<string, Method>();

  constructor(private readonly framing: RpcFraming) {}

  /** A request line; its answer is expected (see `settle`). */
  request(method: Method, id: RpcId, params: unknown): string {
    this.expect(id, method);
    return JSON.stringify(this.framing.jsonrpc ? { jsonrpc: "2.0", id, method, params } : { method, id, params });
  }

  /** Registers a request written some other way (e.g. in a start-up batch) as waiting for its answer. */
  expect(id: RpcId, method: Method): void {
    this.pending.set(key(id), method);
  }

  /** The method of the request an answer with this id settles, forgotten from now on; undefined for an id asm never sent. */
  settle(id: RpcId): Method | undefined {
    const k = key(id);
    const method = this.pending.get(k);
    this.pending.delete(k);
    return method;
  }

  notification(method: string, params?: unknown): string {
    const body = params === undefined ? { method } : { method, params };
    return JSON.stringify(this.framing.jsonrpc ? { jsonrpc: "2.0", ...body } : body);
  }

  /** The answer to a request the CLI sent. */
  result(id: RpcId, result: unknown): string {
    return JSON.stringify(this.framing.jsonrpc ? { jsonrpc: "2.0", id, result } : { id, result });
  }

  /** An error answer to a request the CLI sent. */
  errorReply(id: RpcId, code: number, message: string): string {
    return JSON.stringify(this.framing.jsonrpc ? { jsonrpc: "2.0", id, error: { code, message } } : { id, error: { code, message } });
  }
}

export type RpcMessageKind = "request" | "notification" | "response";

/**
 * What a JSON-RPC message from the CLI is: a request of its own (method and id), a
 * notification (method, no id), or an answer to one of ours (result or error; an error answer
 * may carry a null id). Undefined for an object that is none of them.
 */
export function rpcMessageKind(json: Record<string, unknown>): RpcMessageKind | undefined {
  if (typeof json.method === "string") return json.id !== undefined && json.id !== null ? "request" : "notification";
  if ("result" in json || "error" in json) return "response";
  return undefined;
}

/** JSON-RPC error codes asm answers with. */
export const RPC_METHOD_NOT_FOUND = -32601;
export const RPC_INVALID_PARAMS = -32602;

function key(id: RpcId): string {
  return typeof id === "number" ? `n:${id}` : `s:${id}`;
}

/** The map key of an id (a number and its string never collide). */
export const rpcIdKey = key;

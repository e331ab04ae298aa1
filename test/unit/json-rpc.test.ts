import { describe, expect, it } from "vitest";
import { JsonRpcPeer, RPC_METHOD_NOT_FOUND, rpcMessageKind } from "../../shared/src/providers/protocol/json-rpc.js";
import { parseJsonObject, rawLine } from "../../shared/src/providers/protocol/line-events.js";

describe("JsonRpcPeer", () => {
  it("writes each CLI's own framing, key order included", () => {
    const acp = new JsonRpcPeer<"initialize">({ jsonrpc: true });
    expect(acp.request("initialize", 1, { a: 1 })).toBe('{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"a":1}}');
    expect(acp.notification("session/cancel", { sessionId: "s" })).toBe('{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"s"}}');
    expect(acp.result(7, { ok: true })).toBe('{"jsonrpc":"2.0","id":7,"result":{"ok":true}}');
    expect(acp.errorReply("x", RPC_METHOD_NOT_FOUND, "no")).toBe('{"jsonrpc":"2.0","id":"x","error":{"code":-32601,"message":"no"}}');
    const codex = new JsonRpcPeer<"initialize">({ jsonrpc: false });
    expect(codex.request("initialize", 1, {})).toBe('{"method":"initialize","id":1,"params":{}}');
    expect(codex.notification("initialized")).toBe('{"method":"initialized"}');
    expect(codex.result(3, { decision: "accept" })).toBe('{"id":3,"result":{"decision":"accept"}}');
  });

  it("settles each of its own requests once, and never confuses 1 with \"1\"", () => {
    const peer = new JsonRpcPeer<"a" | "b">({ jsonrpc: true });
    peer.request("a", 1, {});
    peer.expect("1", "b");
    expect(peer.settle(1)).toBe("a");
    expect(peer.settle(1)).toBeUndefined();
    expect(peer.settle("1")).toBe("b");
    expect(peer.settle(99)).toBeUndefined();
  });
});

describe("rpcMessageKind", () => {
  it("tells a request, a notification and an answer apart (an error answer may have a null id)", () => {
    expect(rpcMessageKind({ method: "m", id: 1 })).toBe("request");
    expect(rpcMessageKind({ method: "m", id: null })).toBe("notification");
    expect(rpcMessageKind({ method: "m" })).toBe("notification");
    expect(rpcMessageKind({ id: 1, result: {} })).toBe("response");
    expect(rpcMessageKind({ id: null, error: { code: -1 } })).toBe("response");
    expect(rpcMessageKind({ id: 1 })).toBeUndefined();
    expect(rpcMessageKind({ type: "x" })).toBeUndefined();
  });
});

describe("line helpers", () => {
  it("only a JSON object parses; anything else is undefined", () => {
    expect(parseJsonObject('{"a":1}')).toEqual({ a: 1 });
    for (const text of ["[1]", "1", "null", "not json", '"s"']) expect(parseJsonObject(text)).toBeUndefined();
    expect(rawLine("x").events[0]!.payload).toEqual({ $case: "raw", value: { stream: "stdout", content: "x" } });
  });
});

import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ASM_ERROR_TRAILER, AsmError, ERROR_KINDS, fromGrpcError, newId, toGrpcStatus, ulid, type ErrorKind } from "@asm/shared";

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function decodeTime(id: string): number {
  let ms = 0;
  for (const c of id.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(c);
  return ms;
}

describe("toGrpcStatus", () => {
  it.each([
    ["config_invalid", status.INVALID_ARGUMENT],
    ["not_found", status.NOT_FOUND],
    ["at_capacity", status.RESOURCE_EXHAUSTED],
    ["already_exists", status.ALREADY_EXISTS],
    ["failed_precondition", status.FAILED_PRECONDITION],
    ["timeout", status.DEADLINE_EXCEEDED],
    ["user_cancelled", status.CANCELLED],
    ["auth_error", status.UNAUTHENTICATED],
    ["unauthenticated", status.UNAUTHENTICATED],
    ["permission_denied", status.PERMISSION_DENIED],
    ["internal", status.INTERNAL],
    ["connection_failed", status.UNAVAILABLE],
    ["cli_not_found", status.FAILED_PRECONDITION],
  ] as const)("%s → status %i", (kind, code) => {
    const s = toGrpcStatus(new AsmError({ kind, message: `a ${kind} error` }));
    expect(s.code).toBe(code);
    expect(s.details).toBe(`${kind}: a ${kind} error`);
  });

  it("every kind maps to a real non-OK status", () => {
    const codes = new Set<number>(Object.values(status).filter((v): v is number => typeof v === "number"));
    for (const kind of ERROR_KINDS) {
      const code = toGrpcStatus(new AsmError({ kind, message: "x" })).code;
      expect(codes.has(code), kind).toBe(true);
      expect(code, kind).not.toBe(status.OK);
    }
  });

  it("names the field of a config error in the details", () => {
    const s = toGrpcStatus(AsmError.configInvalid("options.stream_timeout_ms", "must be positive"));
    expect(s.code).toBe(status.INVALID_ARGUMENT);
    expect(s.details).toBe("config_invalid: options.stream_timeout_ms: must be positive");
  });

  it("an unknown thrown Error is INTERNAL and does not leak its message", () => {
    const secret = "password=hunter2 at /etc/secret";
    for (const thrown of [new Error(secret), new TypeError(secret), secret, { message: secret }]) {
      const s = toGrpcStatus(thrown);
      expect(s.code).toBe(status.INTERNAL);
      expect(s.details).not.toContain("hunter2");
      expect(s.details).toBe("internal: internal error");
      const back = fromGrpcError({ code: s.code, details: s.details, metadata: s.metadata });
      expect(back.kind).toBe("internal");
      expect(back.message).not.toContain("hunter2");
      expect(JSON.stringify(back.toMessage())).not.toContain("hunter2");
    }
  });

  it("always carries the asm-error-bin trailer", () => {
    expect(ASM_ERROR_TRAILER).toBe("asm-error-bin");
    const s = toGrpcStatus(new Error("x"));
    const [value] = s.metadata.get(ASM_ERROR_TRAILER);
    expect(value).toBeInstanceOf(Buffer);
    expect((value as Buffer).length).toBeGreaterThan(0);
  });
});

describe("fromGrpcError", () => {
  it("round-trips the typed error through the trailer", () => {
    const original = new AsmError({
      kind: "cli_not_found",
      message: "claude not found on PATH",
      reasonCode: "binary_missing",
      field: "options.cli_path",
      exitCode: 127,
      signal: "SIGTERM",
      stderrTail: "sh: claude: not found\n",
      provider: "claude",
      retryable: true,
      details: { searched: ["/usr/bin", "/bin"], count: 2 },
    });
    const s = toGrpcStatus(original);
    const back = fromGrpcError({ code: s.code, details: s.details, metadata: s.metadata });
    expect(back).toBeInstanceOf(AsmError);
    expect(back.kind).toBe("cli_not_found");
    expect(back.domain).toBe("provider");
    expect(back.message).toBe("claude not found on PATH");
    expect(back.reasonCode).toBe("binary_missing");
    expect(back.field).toBe("options.cli_path");
    expect(back.exitCode).toBe(127);
    expect(back.signal).toBe("SIGTERM");
    expect(back.stderrTail).toBe("sh: claude: not found\n");
    expect(back.provider).toBe("claude");
    expect(back.retryable).toBe(true);
    expect(back.details).toEqual({ searched: ["/usr/bin", "/bin"], count: 2 });
    expect(back.toMessage()).toEqual(original.toMessage());
  });

  it("keeps an absent exit code absent and exit code 0 as 0", () => {
    const none = toGrpcStatus(new AsmError({ kind: "timeout", message: "slow" }));
    expect(fromGrpcError(none).exitCode).toBeUndefined();
    const zero = toGrpcStatus(new AsmError({ kind: "provider_error", message: "odd", exitCode: 0 }));
    expect(fromGrpcError(zero).exitCode).toBe(0);
  });

  it.each(ERROR_KINDS.map((k) => [k]))("kind %s survives the trailer", (kind: ErrorKind) => {
    const back = fromGrpcError(toGrpcStatus(new AsmError({ kind, message: "m" })));
    expect(back.kind).toBe(kind);
    expect(back.reasonCode).toBe(kind);
  });

  it("falls back to the status code when there is no trailer", () => {
    expect(fromGrpcError({ code: status.DEADLINE_EXCEEDED, details: "deadline" }).kind).toBe("timeout");
    expect(fromGrpcError({ code: status.UNAVAILABLE, details: "down" }).kind).toBe("connection_failed");
    expect(fromGrpcError({ code: status.CANCELLED, details: "cancelled" }).kind).toBe("user_cancelled");
    const other = fromGrpcError({ code: status.UNIMPLEMENTED, details: "no such method", metadata: new Metadata() });
    expect(other.kind).toBe("transport_error");
    expect(other.message).toBe("no such method");
    expect(other.reasonCode).toBe(`grpc_${status.UNIMPLEMENTED}`);
    expect(fromGrpcError({}).reasonCode).toBe("grpc_unknown");
  });
});

describe("ulid / newId", () => {
  it("is 26 Crockford base32 characters", () => {
    for (let i = 0; i < 200; i++) expect(ulid()).toMatch(CROCKFORD);
  });

  it("encodes the current time in its first 10 characters", () => {
    const before = Date.now();
    const id = ulid();
    const after = Date.now();
    const at = decodeTime(id);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
  });

  it("ids made in a tight loop are unique and sort in creation order", () => {
    const ids = Array.from({ length: 5000 }, () => ulid());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it("newId is the prefix, an underscore and a ulid, in creation order", () => {
    const ids = Array.from({ length: 1000 }, () => newId("run"));
    for (const id of ids) expect(id).toMatch(/^run_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("stays monotonic when the clock goes backwards", () => {
    const a = ulid();
    const b = ulid(0);
    const c = ulid(1);
    expect([a, b, c].sort()).toEqual([a, b, c]);
    expect(new Set([a, b, c]).size).toBe(3);
  });
});

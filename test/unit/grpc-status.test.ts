import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ASM_ERROR_TRAILER, AsmError, fromGrpcError, isBareStatus, newId, REASON_CODES, toGrpcStatus, ulid, type ErrorKind, type ReasonCode } from "@asm/shared";

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function decodeTime(id: string): number {
  let ms = 0;
  for (const c of id.slice(0, 10)) ms = ms * 32 + ALPHABET.indexOf(c);
  return ms;
}

/** The status each kind travels as; every kind a reason code carries must be here. */
const STATUS_BY_KIND: Partial<Record<ErrorKind, number>> = {
  config_invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  at_capacity: status.RESOURCE_EXHAUSTED,
  buffer_overflow: status.RESOURCE_EXHAUSTED,
  rate_limit: status.RESOURCE_EXHAUSTED,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  cli_not_found: status.FAILED_PRECONDITION,
  timeout: status.DEADLINE_EXCEEDED,
  user_cancelled: status.CANCELLED,
  auth_error: status.UNAUTHENTICATED,
  unauthenticated: status.UNAUTHENTICATED,
  permission_denied: status.PERMISSION_DENIED,
  internal: status.INTERNAL,
  connection_failed: status.UNAVAILABLE,
  transport_error: status.UNAVAILABLE,
  provider_error: status.UNAVAILABLE,
};
const CODES = Object.keys(REASON_CODES) as ReasonCode[];

describe("toGrpcStatus", () => {
  it.each(CODES.map((c) => [c]))("%s → the status of its kind, with kind and message in the details", (reasonCode: ReasonCode) => {
    const { kind } = REASON_CODES[reasonCode];
    const s = toGrpcStatus(new AsmError({ reasonCode, message: `a ${reasonCode} error` }));
    expect(STATUS_BY_KIND[kind], kind).toBeDefined();
    expect(s.code).toBe(STATUS_BY_KIND[kind]);
    expect(s.details).toBe(`${kind}: a ${reasonCode} error`);
  });

  it("an error's kind and retryable flag are its reason code's, whatever raised it", () => {
    for (const reasonCode of CODES) {
      const e = new AsmError({ reasonCode, message: "x" });
      expect({ kind: e.kind, retryable: e.retryable }, reasonCode).toEqual({ kind: REASON_CODES[reasonCode].kind, retryable: REASON_CODES[reasonCode].retryable });
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
      message: "claude not found on PATH",
      reasonCode: "cli_not_found",
      field: "options.cli_path",
      exitCode: 127,
      signal: "SIGTERM",
      stderrTail: "sh: claude: not found\n",
      provider: "claude",
      details: { searched: ["/usr/bin", "/bin"], count: 2 },
    });
    const s = toGrpcStatus(original);
    const back = fromGrpcError({ code: s.code, details: s.details, metadata: s.metadata });
    expect(back).toBeInstanceOf(AsmError);
    expect(back.kind).toBe("cli_not_found");
    expect(back.domain).toBe("provider");
    expect(back.message).toBe("claude not found on PATH");
    expect(back.reasonCode).toBe("cli_not_found");
    expect(back.field).toBe("options.cli_path");
    expect(back.exitCode).toBe(127);
    expect(back.signal).toBe("SIGTERM");
    expect(back.stderrTail).toBe("sh: claude: not found\n");
    expect(back.provider).toBe("claude");
    expect(back.retryable).toBe(false);
    expect(back.details).toEqual({ searched: ["/usr/bin", "/bin"], count: 2 });
    expect(back.toMessage()).toEqual(original.toMessage());
  });

  it("keeps an absent exit code absent and exit code 0 as 0", () => {
    const none = toGrpcStatus(new AsmError({ reasonCode: "stream_timeout", message: "slow" }));
    expect(fromGrpcError(none).exitCode).toBeUndefined();
    const zero = toGrpcStatus(new AsmError({ reasonCode: "provider_failed", message: "odd", exitCode: 0 }));
    expect(fromGrpcError(zero).exitCode).toBe(0);
  });

  it.each(CODES.map((c) => [c]))("reason %s survives the trailer with its kind and retryable flag", (reasonCode: ReasonCode) => {
    const back = fromGrpcError(toGrpcStatus(new AsmError({ reasonCode, message: "m" })));
    expect({ reasonCode: back.reasonCode, kind: back.kind, retryable: back.retryable }).toEqual({ reasonCode, ...pick(REASON_CODES[reasonCode]) });
  });

  it("a reason this version does not know (a peer of another version) is unrecognized_reason, with what was sent in details", () => {
    const sent = { ...new AsmError({ reasonCode: "executor_lost", message: "gone" }).toMessage(), reasonCode: "brand_new_reason", kind: "rate_limit", retryable: true };
    const back = AsmError.fromMessage(sent);
    expect(back.reasonCode).toBe("unrecognized_reason");
    expect(back.kind).toBe("internal");
    expect(back.retryable).toBe(false);
    expect(back.message).toBe("gone");
    expect(back.details).toMatchObject({ sent_reason_code: "brand_new_reason", sent_kind: "rate_limit", sent_retryable: true });
  });

  it("falls back to the status code when there is no trailer", () => {
    const deadline = fromGrpcError({ code: status.DEADLINE_EXCEEDED, details: "deadline" });
    expect([deadline.kind, deadline.reasonCode]).toEqual(["timeout", "call_deadline_exceeded"]);
    const down = fromGrpcError({ code: status.UNAVAILABLE, details: "down" });
    expect([down.kind, down.reasonCode]).toEqual(["connection_failed", "call_unavailable"]);
    const cancelled = fromGrpcError({ code: status.CANCELLED, details: "cancelled" });
    expect([cancelled.kind, cancelled.reasonCode]).toEqual(["user_cancelled", "call_cancelled"]);
    const other = fromGrpcError({ code: status.UNIMPLEMENTED, details: "no such method", metadata: new Metadata() });
    expect([other.kind, other.reasonCode]).toEqual(["transport_error", "call_failed"]);
    expect(other.message).toBe("no such method");
    expect(other.details).toEqual({ grpc_code: status.UNIMPLEMENTED });
    for (const bare of [deadline, down, cancelled, other, fromGrpcError({})]) expect(isBareStatus(bare)).toBe(true);
    expect(isBareStatus(new AsmError({ reasonCode: "executor_lost", message: "x" }))).toBe(false);
  });
});

function pick(spec: { kind: ErrorKind; retryable: boolean }): { kind: ErrorKind; retryable: boolean } {
  return { kind: spec.kind, retryable: spec.retryable };
}

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

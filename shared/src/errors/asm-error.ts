import type { AsmError as AsmErrorMessage } from "../../gen/asm/v1/common_pb.js";
import { isReasonCode, REASON_CODES, type ReasonCode } from "./reason-codes.js";

/** Stable error kinds, shared by the controller and the executor (ASM's vocabulary plus a few). */
export const ERROR_KINDS = [
  "cli_not_found",
  "connection_failed",
  "timeout",
  "parse_error",
  "auth_error",
  "rate_limit",
  "buffer_overflow",
  "transport_error",
  "at_capacity",
  "user_cancelled",
  "approval_denied",
  "tool_failed",
  "config_invalid",
  "not_found",
  "already_exists",
  "failed_precondition",
  "provider_error",
  "unauthenticated",
  "permission_denied",
  "internal",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ERROR_DOMAINS = ["config", "runtime", "transport", "provider", "parser", "approval", "tool"] as const;
export type ErrorDomain = (typeof ERROR_DOMAINS)[number];

export interface AsmErrorInit {
  /** Says what happened; the error's kind and retryable flag come with it from the catalogue. */
  reasonCode: ReasonCode;
  message: string;
  domain?: ErrorDomain;
  provider?: string;
  exitCode?: number;
  signal?: string;
  stderrTail?: string;
  field?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

/** What a copy of an error may change: never its reason, kind or retryable flag. */
export type AsmErrorChanges = Partial<Pick<AsmErrorInit, "message" | "domain" | "provider" | "field" | "details">>;

const DEFAULT_DOMAIN: Record<ErrorKind, ErrorDomain> = {
  cli_not_found: "provider",
  connection_failed: "transport",
  timeout: "runtime",
  parse_error: "parser",
  auth_error: "provider",
  rate_limit: "provider",
  buffer_overflow: "transport",
  transport_error: "transport",
  at_capacity: "runtime",
  user_cancelled: "runtime",
  approval_denied: "approval",
  tool_failed: "tool",
  config_invalid: "config",
  not_found: "runtime",
  already_exists: "runtime",
  failed_precondition: "runtime",
  provider_error: "provider",
  unauthenticated: "runtime",
  permission_denied: "runtime",
  internal: "runtime",
};

/**
 * The one error type of asm. It travels as an RPC status (see `toGrpcStatus`) and inside ERROR
 * events (see `toMessage`). `message` never carries secrets; `cause` is for logs only.
 */
export class AsmError extends Error {
  override readonly name = "AsmError";
  readonly kind: ErrorKind;
  readonly domain: ErrorDomain;
  readonly reasonCode: ReasonCode;
  readonly retryable: boolean;
  readonly provider: string;
  readonly exitCode: number | undefined;
  readonly signal: string;
  readonly stderrTail: string;
  readonly field: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: AsmErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    const spec = REASON_CODES[init.reasonCode];
    this.kind = spec.kind;
    this.domain = init.domain ?? DEFAULT_DOMAIN[spec.kind];
    this.reasonCode = init.reasonCode;
    this.retryable = spec.retryable;
    this.provider = init.provider ?? "";
    this.exitCode = init.exitCode;
    this.signal = init.signal ?? "";
    this.stderrTail = init.stderrTail ?? "";
    this.field = init.field ?? "";
    this.details = init.details;
  }

  static is(value: unknown): value is AsmError {
    return value instanceof AsmError;
  }

  /** Wraps anything thrown into an AsmError; unknown errors become `internal` (message kept generic). */
  static from(value: unknown): AsmError {
    if (value instanceof AsmError) return value;
    return new AsmError({ reasonCode: "internal", message: "internal error", cause: value });
  }

  static configInvalid(field: string, message: string, reasonCode: ReasonCode = "invalid_argument"): AsmError {
    return new AsmError({ field, message, reasonCode });
  }

  static notFound(what: "session" | "run" | "approval", id: string): AsmError {
    return new AsmError({ message: `unknown ${what}: ${id}`, reasonCode: `${what}_not_found`, details: { id } });
  }

  static timeout(reasonCode: ReasonCode, message: string): AsmError {
    return new AsmError({ reasonCode, message });
  }

  static cancelled(message = "run interrupted", reasonCode: ReasonCode = "user_cancelled"): AsmError {
    return new AsmError({ message, reasonCode });
  }

  /** The same error (reason, kind, retryable, exit facts) with some fields changed. */
  with(changes: AsmErrorChanges): AsmError {
    return new AsmError({
      reasonCode: this.reasonCode,
      message: changes.message ?? this.message,
      domain: changes.domain ?? this.domain,
      provider: changes.provider ?? this.provider,
      exitCode: this.exitCode,
      signal: this.signal,
      stderrTail: this.stderrTail,
      field: changes.field ?? this.field,
      details: changes.details ?? this.details,
      cause: this.cause,
    });
  }

  /** The wire form carried in ERROR events and the `asm-error-bin` trailer. */
  toMessage(): AsmErrorMessage {
    return {
      kind: this.kind,
      domain: this.domain,
      message: this.message,
      reasonCode: this.reasonCode,
      retryable: this.retryable,
      provider: this.provider,
      exitCode: this.exitCode,
      signal: this.signal,
      stderrTail: this.stderrTail,
      field: this.field,
      details: this.details,
    };
  }

  /**
   * Reads an error off the wire. A reason this version does not know (a peer of another patch
   * version) becomes `unrecognized_reason`, with what the peer sent kept in `details`.
   */
  static fromMessage(message: AsmErrorMessage): AsmError {
    const domain = (ERROR_DOMAINS as readonly string[]).includes(message.domain) ? (message.domain as ErrorDomain) : undefined;
    const known = isReasonCode(message.reasonCode);
    return new AsmError({
      reasonCode: known ? message.reasonCode as ReasonCode : "unrecognized_reason",
      domain,
      message: message.message,
      provider: message.provider,
      exitCode: message.exitCode,
      signal: message.signal,
      stderrTail: message.stderrTail,
      field: message.field,
      details: known ? message.details : { ...message.details, sent_reason_code: message.reasonCode, sent_kind: message.kind, sent_retryable: message.retryable },
    });
  }
}

import type { AsmError as AsmErrorMessage } from "../../gen/asm/v1/common_pb.js";

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
  kind: ErrorKind;
  domain?: ErrorDomain;
  message: string;
  reasonCode?: string;
  retryable?: boolean;
  provider?: string;
  exitCode?: number;
  signal?: string;
  stderrTail?: string;
  field?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

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

const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorKind> = new Set(["rate_limit", "connection_failed", "transport_error", "at_capacity"]);

/**
 * The one error type of asm. It travels as an RPC status (see `toGrpcStatus`) and inside ERROR
 * events (see `toMessage`). `message` never carries secrets; `cause` is for logs only.
 */
export class AsmError extends Error {
  override readonly name = "AsmError";
  readonly kind: ErrorKind;
  readonly domain: ErrorDomain;
  readonly reasonCode: string;
  readonly retryable: boolean;
  readonly provider: string;
  readonly exitCode: number | undefined;
  readonly signal: string;
  readonly stderrTail: string;
  readonly field: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(init: AsmErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.domain = init.domain ?? DEFAULT_DOMAIN[init.kind];
    this.reasonCode = init.reasonCode ?? init.kind;
    this.retryable = init.retryable ?? RETRYABLE_BY_DEFAULT.has(init.kind);
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
    return new AsmError({ kind: "internal", message: "internal error", cause: value });
  }

  static configInvalid(field: string, message: string, reasonCode = "config_invalid"): AsmError {
    return new AsmError({ kind: "config_invalid", field, message, reasonCode });
  }

  static notFound(what: string, id: string): AsmError {
    return new AsmError({ kind: "not_found", message: `unknown ${what}: ${id}`, reasonCode: `${what.replace(/ /g, "_")}_not_found`, details: { id } });
  }

  static timeout(reasonCode: string, message: string): AsmError {
    return new AsmError({ kind: "timeout", reasonCode, message, retryable: true });
  }

  static cancelled(message = "run interrupted", reasonCode = "user_cancelled"): AsmError {
    return new AsmError({ kind: "user_cancelled", message, reasonCode });
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

  static fromMessage(message: AsmErrorMessage): AsmError {
    const kind = (ERROR_KINDS as readonly string[]).includes(message.kind) ? (message.kind as ErrorKind) : "internal";
    const domain = (ERROR_DOMAINS as readonly string[]).includes(message.domain) ? (message.domain as ErrorDomain) : undefined;
    return new AsmError({
      kind,
      domain,
      message: message.message,
      reasonCode: message.reasonCode || kind,
      retryable: message.retryable,
      provider: message.provider,
      exitCode: message.exitCode,
      signal: message.signal,
      stderrTail: message.stderrTail,
      field: message.field,
      details: message.details,
    });
  }
}

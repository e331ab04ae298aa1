import { Metadata, status as Status, type StatusObject } from "@grpc/grpc-js";
import { AsmError as AsmErrorMessage } from "../../gen/asm/v1/common_pb.js";
import { AsmError, type ErrorKind } from "./asm-error.js";
import type { ReasonCode } from "./reason-codes.js";

/** Trailer key that carries the encoded `asm.v1.AsmError` of a failed call. */
export const ASM_ERROR_TRAILER = "asm-error-bin";

const CODE_BY_KIND: Record<ErrorKind, Status> = {
  cli_not_found: Status.FAILED_PRECONDITION,
  connection_failed: Status.UNAVAILABLE,
  timeout: Status.DEADLINE_EXCEEDED,
  parse_error: Status.INTERNAL,
  auth_error: Status.UNAUTHENTICATED,
  rate_limit: Status.RESOURCE_EXHAUSTED,
  buffer_overflow: Status.RESOURCE_EXHAUSTED,
  transport_error: Status.UNAVAILABLE,
  at_capacity: Status.RESOURCE_EXHAUSTED,
  user_cancelled: Status.CANCELLED,
  approval_denied: Status.PERMISSION_DENIED,
  tool_failed: Status.ABORTED,
  config_invalid: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  already_exists: Status.ALREADY_EXISTS,
  failed_precondition: Status.FAILED_PRECONDITION,
  provider_error: Status.UNAVAILABLE,
  unauthenticated: Status.UNAUTHENTICATED,
  permission_denied: Status.PERMISSION_DENIED,
  internal: Status.INTERNAL,
};

/** The single translation from any thrown value to a gRPC status. Unknown errors never leak their text. */
export function toGrpcStatus(err: unknown): StatusObject {
  const error = AsmError.from(err);
  const metadata = new Metadata();
  metadata.set(ASM_ERROR_TRAILER, Buffer.from(AsmErrorMessage.encode(error.toMessage()).finish()));
  const prefix = error.field ? `${error.field}: ` : "";
  return { code: CODE_BY_KIND[error.kind], details: `${error.kind}: ${prefix}${error.message}`, metadata };
}

/** Reads the typed error a failed call carried; falls back to the status alone. */
export function fromGrpcError(err: { code?: number; details?: string; metadata?: Metadata }): AsmError {
  const raw = err.metadata?.get(ASM_ERROR_TRAILER)[0];
  if (raw instanceof Buffer) return AsmError.fromMessage(AsmErrorMessage.decode(raw));
  return new AsmError({ message: err.details ?? "call failed", reasonCode: bareStatusReason(err.code), details: { grpc_code: err.code ?? null } });
}

/** The reasons of a call that failed with a bare gRPC status (no asm error attached). */
const BARE_STATUS_REASONS: ReadonlySet<ReasonCode> = new Set(["call_deadline_exceeded", "call_unavailable", "call_cancelled", "call_failed"]);

function bareStatusReason(code: number | undefined): ReasonCode {
  if (code === Status.DEADLINE_EXCEEDED) return "call_deadline_exceeded";
  if (code === Status.UNAVAILABLE) return "call_unavailable";
  if (code === Status.CANCELLED) return "call_cancelled";
  return "call_failed";
}

/** Whether the error is only a gRPC status: the peer (or the transport) attached no asm error. */
export function isBareStatus(error: AsmError): boolean {
  return BARE_STATUS_REASONS.has(error.reasonCode);
}

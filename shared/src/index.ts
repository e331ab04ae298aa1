// Public surface of @asm/shared: generated protocol code, the event model and reducer, the error
// taxonomy, option schemas, lane resolution, provider adapters, the CLI process supervisor, logging.

export * from "../gen/asm/v1/common_pb.js";
export * from "../gen/asm/v1/events_pb.js";
export * from "../gen/asm/v1/controller_pb.js";
export * from "../gen/asm/v1/executor_pb.js";

export { AsmError, ERROR_DOMAINS, ERROR_KINDS, type AsmErrorChanges, type AsmErrorInit, type ErrorDomain, type ErrorKind } from "./errors/asm-error.js";
export { REASON_CODES, isReasonCode, type ReasonCode, type ReasonSpec } from "./errors/reason-codes.js";
export { readReasonCodesBlock, renderReasonCodesTable, writeReasonCodesBlock } from "./errors/reason-codes-doc.js";
export { AsmError as AsmErrorMessage } from "../gen/asm/v1/common_pb.js";
export * from "./errors/grpc-status.js";
export * from "./events/event-payload.js";
export * from "./events/reducer.js";
export * from "./events/event-wire.js";
export * from "./events/payload-chunks.js";
export * from "./ids/ulid.js";
export * from "./lanes/index.js";
export * from "./logging/logger.js";
export * from "./options/parse-options.js";
export * from "./options/run-settings.js";
export * from "./process/index.js";
export * from "./clock/clock.js";
export * from "./providers/provider-adapter.js";
export * from "./providers/provider-registry.js";
export * from "./providers/check-run-settings.js";
export * from "./providers/sdk-lane-protocols.js";
export * from "./execution/backend.js";
export * from "./execution/local-core-backend.js";
export * from "./execution/cwd-guard.js";
export * from "./execution/run-admission.js";
export { WarmPool, type WarmProcess } from "./execution/warm-pool.js";
export { ASM_VERSION, EXECUTOR_PROTOCOL_VERSION } from "./version.js";
export * from "./options/run-options-proto.js";
export * from "./tls/index.js";
export * from "./auth/index.js";
export * from "./policy/index.js";
export * from "./surfaces/execution-surface.js";
export * from "./surfaces/surface-registry.js";
export { sshExecSurface, SshExecOptionsSchema, type SshExecOptions } from "./surfaces/ssh-exec-surface.js";

export { AsmClient, runOptions, type ConnectOptions } from "./asm-client.js";
export { RunStream, type RunSource, type RunStreamOptions } from "./run-stream.js";
export { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
export {
  AsmError,
  ApprovalDecision,
  ExecutionMode,
  Lane,
  PermissionMode,
  Provider,
  RunStatus,
  isTerminal,
  type Event,
  type Result,
  type Run,
  type RunOptions,
  type Session,
  type SessionOptions,
} from "@asm/shared";

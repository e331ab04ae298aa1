import type { ErrorKind } from "./asm-error.js";

/** What a reason code means: the kind it always carries, whether a retry may succeed, one line for the README. */
export interface ReasonSpec {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly summary: string;
}

/**
 * Every reason code asm sends, with its kind and retryable flag. An error's kind and retryable
 * flag come from here, never from the site that raises it; the README's table and the proto's
 * lists are checked against this catalogue by a test (`test/unit/reason-codes.test.ts`).
 * What a CLI said in its own words (a result subtype, an API error type) travels in
 * `details.provider_code`, not as a reason code.
 */
export const REASON_CODES = {
  // --- Requests: a field the client sent is not acceptable (INVALID_ARGUMENT, with `field`).
  request_undecodable: { kind: "config_invalid", retryable: false, summary: "the request could not be decoded (bad protobuf, nesting too deep, a number out of range)" },
  invalid_argument: { kind: "config_invalid", retryable: false, summary: "a request field has a value the call does not accept" },
  invalid_id: { kind: "config_invalid", retryable: false, summary: "a session, run or approval id outside the id charset or length" },
  invalid_option: { kind: "config_invalid", retryable: false, summary: "a run option (or provider option) fails its schema" },
  prompt_empty: { kind: "config_invalid", retryable: false, summary: "the prompt is empty" },
  prompt_invalid: { kind: "config_invalid", retryable: false, summary: "the prompt contains a NUL character" },
  prompt_too_long: { kind: "config_invalid", retryable: false, summary: "the prompt is larger than 1 MiB" },
  prompt_too_long_for_argv: { kind: "config_invalid", retryable: false, summary: "the prompt is larger than the CLI can take on its command line" },
  unknown_provider: { kind: "config_invalid", retryable: false, summary: "the provider is not one asm knows" },
  invalid_lane: { kind: "config_invalid", retryable: false, summary: "the requested lane is not one asm knows" },
  invalid_execution_mode: { kind: "config_invalid", retryable: false, summary: "the execution mode is not one asm knows" },
  remote_node_required: { kind: "config_invalid", retryable: false, summary: "a remote run without driver_opts.remote_node" },
  unknown_executor: { kind: "config_invalid", retryable: false, summary: "remote_node names no executor of the controller's directory" },
  approvals_unsupported: { kind: "config_invalid", retryable: false, summary: "interactive approvals asked of a provider whose CLI cannot ask" },
  permission_mode_unsupported: { kind: "config_invalid", retryable: false, summary: "the provider's CLI has no such permission mode" },
  sdk_unavailable: { kind: "config_invalid", retryable: false, summary: "the SDK lane was required but the provider has none or its package is not installed" },
  sdk_remote_unsupported: { kind: "config_invalid", retryable: false, summary: "the SDK lane was required for a remote run" },
  sdk_backend_unavailable: { kind: "failed_precondition", retryable: false, summary: "the SDK package was found but could not be loaded (its import failed)" },
  sdk_capability_missing: { kind: "config_invalid", retryable: false, summary: "the SDK lane was required but lacks a capability the run needs (`details.capability`)" },
  cwd_not_found: { kind: "config_invalid", retryable: false, summary: "the working directory does not exist or is not a directory" },
  remote_cwd_outside_workspace: { kind: "permission_denied", retryable: false, summary: "remote_cwd resolves outside the executor's workspace, symlinks included (`details.rule` workspace_root)" },
  remote_cwd_not_found: { kind: "config_invalid", retryable: false, summary: "remote_cwd does not exist on the executor" },
  cookie_conflict: { kind: "config_invalid", retryable: false, summary: "another cookie than the one pinned for this executor" },

  // --- Names: what the request names does not exist, or exists already.
  session_not_found: { kind: "not_found", retryable: false, summary: "no session with this id for this principal" },
  run_not_found: { kind: "not_found", retryable: false, summary: "no run with this id for this principal" },
  approval_not_found: { kind: "not_found", retryable: false, summary: "no pending approval with this id (answered, timed out, or never asked)" },
  session_exists: { kind: "already_exists", retryable: false, summary: "a session with this id exists" },
  run_exists: { kind: "already_exists", retryable: false, summary: "a run with this id exists" },
  session_not_open: { kind: "failed_precondition", retryable: false, summary: "the session is closed: it takes no new runs" },
  run_not_executing: { kind: "failed_precondition", retryable: false, summary: "a control message for a run whose CLI is not running" },

  // --- Capacity: refused now, may be accepted later.
  session_at_capacity: { kind: "at_capacity", retryable: true, summary: "the session runs max_concurrent_runs and queues max_queued_runs already" },
  controller_at_capacity: { kind: "at_capacity", retryable: true, summary: "the controller is at ASM_MAX_ACTIVE_RUNS with ASM_MAX_WAITING_RUNS waiting" },
  executor_at_capacity: { kind: "at_capacity", retryable: true, summary: "the executor is at --max-runs with --max-waiting waiting" },
  too_many_sessions: { kind: "at_capacity", retryable: true, summary: "the controller holds ASM_MAX_SESSIONS open sessions" },
  run_log_full: { kind: "buffer_overflow", retryable: false, summary: "the run produced more than ASM_MAX_EVENTS_PER_RUN events" },

  // --- How a run ended, when not by its CLI's own result.
  user_cancelled: { kind: "user_cancelled", retryable: false, summary: "Interrupt was called for the run" },
  client_cancelled: { kind: "user_cancelled", retryable: false, summary: "the client cancelled the call that started the run" },
  session_closed: { kind: "user_cancelled", retryable: false, summary: "CloseSession ended the run" },
  queue_timeout: { kind: "timeout", retryable: true, summary: "the run waited longer than queue_timeout_ms for a slot" },
  run_deadline: { kind: "timeout", retryable: true, summary: "the run exceeded run_deadline_ms" },
  stream_timeout: { kind: "timeout", retryable: true, summary: "the CLI produced nothing for stream_timeout_ms (time blocked on a reader excluded)" },
  start_timeout: { kind: "timeout", retryable: false, summary: "an executor got no start message on a new Execute stream in time" },
  approval_timeout: { kind: "timeout", retryable: true, summary: "an approval got no decision within approval_timeout_ms" },
  controller_shutdown: { kind: "transport_error", retryable: true, summary: "the controller was stopped while the run was active" },
  controller_restarted: { kind: "transport_error", retryable: true, summary: "the controller stopped (crash or restart) while the run was queued or running on its host; recorded when it came back" },
  controller_shutting_down: { kind: "transport_error", retryable: true, summary: "the controller is draining: it takes no new calls" },
  stream_ended_without_terminal: { kind: "internal", retryable: false, summary: "the backend ended without a terminal event (a defect, reported rather than hidden)" },
  event_order_violation: { kind: "internal", retryable: false, summary: "an event arrived out of order or after the terminal event (a defect)" },
  internal: { kind: "internal", retryable: false, summary: "an unexpected failure; its text is in the controller's log, not in the error" },
  unrecognized_reason: { kind: "internal", retryable: false, summary: "a peer sent a reason code this version does not know (kept in details)" },

  // --- The CLI process.
  cli_not_found: { kind: "cli_not_found", retryable: false, summary: "the CLI is not on PATH, or cli_path is not executable" },
  spawn_failed: { kind: "transport_error", retryable: false, summary: "the CLI could not be started (E2BIG, EACCES, ...): the same command fails again" },
  spawn_resources_exhausted: { kind: "at_capacity", retryable: true, summary: "the host was short of processes, memory or files when the CLI was started" },
  cli_exit_nonzero: { kind: "transport_error", retryable: true, summary: "the CLI exited non-zero without a result" },
  cli_signalled: { kind: "transport_error", retryable: true, summary: "the CLI was killed by a signal without a result" },
  cli_failed: { kind: "transport_error", retryable: true, summary: "the CLI ended without a result and without a clear exit status" },
  stdin_closed: { kind: "transport_error", retryable: true, summary: "the CLI closed its stdin while asm was writing to it" },
  stdin_write_failed: { kind: "transport_error", retryable: true, summary: "a write to the CLI's stdin failed" },
  line_too_long: { kind: "buffer_overflow", retryable: false, summary: "a CLI output line longer than ASM_MAX_LINE_BYTES" },
  output_already_consumed: { kind: "internal", retryable: false, summary: "a CLI's output was read twice (a defect)" },

  // --- What the provider's CLI reported about the model or its own state.
  provider_auth_failed: { kind: "auth_error", retryable: false, summary: "the model API refused the credentials (401, 403, 'Not logged in')" },
  provider_rate_limited: { kind: "rate_limit", retryable: true, summary: "the model API rate-limited the request (429, quota)" },
  provider_unavailable: { kind: "provider_error", retryable: true, summary: "the model API failed on its side (5xx, overloaded)" },
  provider_failed: { kind: "provider_error", retryable: false, summary: "the CLI reported a failed turn (a 4xx, a refused request, an error during execution)" },
  provider_request_refused: { kind: "config_invalid", retryable: false, summary: "the CLI refused a request asm made of it (a bad model name, an unknown option)" },
  provider_protocol_error: { kind: "provider_error", retryable: false, summary: "the CLI answered outside its protocol (a missing session or thread id)" },
  max_turns_reached: { kind: "provider_error", retryable: false, summary: "the CLI stopped at its max_turns" },
  turn_interrupted: { kind: "user_cancelled", retryable: false, summary: "the CLI reported its turn as interrupted" },

  // --- Callers: who is calling (UNAUTHENTICATED) and what they may do (PERMISSION_DENIED, with `field` and `details.rule`).
  credentials_missing: { kind: "unauthenticated", retryable: false, summary: "the call carries neither a client certificate nor a bearer token" },
  credentials_malformed: { kind: "unauthenticated", retryable: false, summary: "the authorization metadata is not `Bearer <token>`, or the token is not a JWT" },
  token_unknown: { kind: "unauthenticated", retryable: false, summary: "a bearer token that is not in the token file (and no JWT verifier takes it)" },
  token_expired: { kind: "unauthenticated", retryable: false, summary: "the JWT's exp has passed (beyond the allowed clock skew)" },
  token_issuer_mismatch: { kind: "unauthenticated", retryable: false, summary: "the JWT's iss is not the configured issuer" },
  token_audience_mismatch: { kind: "unauthenticated", retryable: false, summary: "the JWT's aud does not include the configured audience" },
  token_signature_invalid: { kind: "unauthenticated", retryable: false, summary: "the JWT is not signed by a configured key" },
  token_invalid: { kind: "unauthenticated", retryable: false, summary: "the JWT fails another check (no sub, not yet valid, bad claims, disallowed algorithm)" },
  client_identity_not_allowed: { kind: "unauthenticated", retryable: false, summary: "the client certificate's identity is not on the controller's allow-list" },
  admin_required: { kind: "permission_denied", retryable: false, summary: "the call is for principals with the admin role" },
  policy_denied: { kind: "permission_denied", retryable: false, summary: "an option the operator's policy does not allow (`field`, `details.rule`)" },
  quota_exceeded: { kind: "permission_denied", retryable: false, summary: "the principal is at its policy quota of live sessions or concurrent runs" },

  // --- Remote runs: reaching the executor.
  distribution_disabled: { kind: "connection_failed", retryable: false, summary: "the controller has no client TLS identity for executors" },
  connect_timeout: { kind: "timeout", retryable: true, summary: "no TLS connection within remote_connect_timeout_ms" },
  connect_refused: { kind: "connection_failed", retryable: true, summary: "nothing listens at the executor's address (is it running?)" },
  connect_failed: { kind: "connection_failed", retryable: true, summary: "the connection failed otherwise (reset, unreachable)" },
  tls_rejected: { kind: "connection_failed", retryable: false, summary: "the executor's certificate is not trusted, or it refused ours" },
  cert_name_mismatch: { kind: "connection_failed", retryable: false, summary: "the executor's certificate does not name the expected executor" },
  cookie_rejected: { kind: "permission_denied", retryable: false, summary: "the executor refused the cookie" },
  identity_not_allowed: { kind: "permission_denied", retryable: false, summary: "the executor does not allow this controller's certificate identity" },
  version_mismatch: { kind: "failed_precondition", retryable: false, summary: "protocol, asm major.minor or Node major differ" },
  capability_mismatch: { kind: "failed_precondition", retryable: false, summary: "the executor lacks a capability the run needs" },
  rpc_timeout: { kind: "timeout", retryable: true, summary: "handshake, bootstrap or run start unanswered within remote_rpc_timeout_ms" },
  rpc_failed: { kind: "connection_failed", retryable: true, summary: "a call to the executor failed at the transport" },
  bootstrap_failed: { kind: "failed_precondition", retryable: false, summary: "ensure_started could not make the executor's runtime ready" },
  remote_not_started: { kind: "failed_precondition", retryable: false, summary: "require_prestarted on an executor that is not started" },
  executor_not_ready: { kind: "failed_precondition", retryable: false, summary: "a run reached an executor whose runtime is not ready" },
  backend_start_failed: { kind: "cli_not_found", retryable: false, summary: "the executor cannot start the provider's CLI (details.cause)" },
  executor_lost: { kind: "transport_error", retryable: true, summary: "the executor was killed, the link cut, or silent past the heartbeat bound" },
  remote_run_lost: { kind: "transport_error", retryable: true, summary: "after a controller restart, the executor no longer had the run (its lease ran out, the executor restarted, or it never got the start)" },
  controller_fenced: { kind: "transport_error", retryable: true, summary: "several controllers on PostgreSQL: this controller was declared dead (silent past ASM_LEASE_TTL_MS) and its sessions taken over; it stops and writes nothing more" },
  owner_unreachable: { kind: "connection_failed", retryable: true, summary: "several controllers on PostgreSQL: the controller that drives the session did not answer a forwarded call within ASM_FORWARD_TIMEOUT_MS" },
  ssh_host_unreachable: { kind: "connection_failed", retryable: true, summary: "execution_surface ssh_exec: the SSH host could not be reached (refused, timed out, no route, unknown name)" },
  ssh_auth_refused: { kind: "auth_error", retryable: false, summary: "execution_surface ssh_exec: the SSH host refused the operator's identity" },
  ssh_host_key_mismatch: { kind: "connection_failed", retryable: false, summary: "execution_surface ssh_exec: the host's key is not the one in known_hosts (changed); refused" },
  ssh_host_key_unknown: { kind: "connection_failed", retryable: false, summary: "execution_surface ssh_exec: the host has no key in known_hosts; refused (checking is never off)" },
  ssh_cli_missing: { kind: "cli_not_found", retryable: false, summary: "execution_surface ssh_exec: the provider CLI is not on the SSH host" },
  ssh_connection_lost: { kind: "transport_error", retryable: true, summary: "execution_surface ssh_exec: the SSH connection was lost while the CLI ran (its process group on the host is killed)" },
  transport_call_timeout: { kind: "timeout", retryable: false, summary: "an approval decision or interrupt not delivered within remote_transport_call_timeout_ms" },

  // --- A call that failed with a bare gRPC status (no asm error attached).
  call_deadline_exceeded: { kind: "timeout", retryable: true, summary: "the call's deadline passed" },
  call_unavailable: { kind: "connection_failed", retryable: true, summary: "the server could not be reached" },
  call_cancelled: { kind: "user_cancelled", retryable: false, summary: "the call was cancelled" },
  call_failed: { kind: "transport_error", retryable: false, summary: "the call failed with another status" },

  // --- Process start-up (controller, executor, `asm` CLI): configuration and certificates.
  controller_config_invalid: { kind: "config_invalid", retryable: false, summary: "an ASM_* variable of the controller is invalid" },
  store_unavailable: { kind: "config_invalid", retryable: false, summary: "the store (ASM_STORE, ASM_DATA_DIR) cannot be opened: unwritable, locked by another controller, or written by a newer asm" },
  executor_config_invalid: { kind: "config_invalid", retryable: false, summary: "an executor flag or variable is invalid" },
  tls_file_invalid: { kind: "config_invalid", retryable: false, summary: "a certificate, key or CA file is missing or unreadable" },
  policy_invalid: { kind: "config_invalid", retryable: false, summary: "the operator's policy file or token file is missing or fails its schema" },
  tls_certificate_unnamed: { kind: "config_invalid", retryable: false, summary: "a certificate names no identity (no SAN, no CN)" },
  certificate_exists: { kind: "already_exists", retryable: false, summary: "a certificate file to write exists already" },
  dev_pki_exists: { kind: "already_exists", retryable: false, summary: "the development PKI directory exists already" },
  dev_pki_invalid: { kind: "config_invalid", retryable: false, summary: "the development PKI directory is incomplete" },
  openssl_not_found: { kind: "cli_not_found", retryable: false, summary: "openssl is not on PATH" },
  openssl_failed: { kind: "internal", retryable: false, summary: "openssl failed while generating certificates" },
} as const satisfies Record<string, ReasonSpec>;

export type ReasonCode = keyof typeof REASON_CODES;

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASON_CODES, value);
}

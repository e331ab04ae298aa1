import { REDACTED, providerToProto, runOptionsToProto, SessionStatus, type Run as RunMessage, type RunOptionsInput, type Session as SessionMessage } from "@asm/shared";
import type { RunView as Run, SessionView as Session } from "../cluster/session-router.js";

export {
  executionModeFromProto,
  laneFromProto,
  permissionModeFromProto,
  providerFromProto,
  providerToProto,
  runOptionsFromProto,
  runOptionsToProto,
  sessionOptionsFromProto,
} from "@asm/shared";

/** What a response may show of a session's options: env keys, never their values (runOptionsToProto hides the cookie). */
function redactedOptions(options: RunOptionsInput): RunOptionsInput {
  return options.env ? { ...options, env: Object.fromEntries(Object.keys(options.env).map((k) => [k, REDACTED])) } : options;
}

export function sessionToProto(s: Session): SessionMessage {
  return {
    sessionId: s.sessionId,
    provider: providerToProto(s.provider),
    status: s.state === "open" ? SessionStatus.SESSION_STATUS_OPEN : SessionStatus.SESSION_STATUS_CLOSED,
    options: {
      defaults: runOptionsToProto(redactedOptions(s.defaults)),
      maxConcurrentRuns: s.maxConcurrentRuns,
      maxQueuedRuns: s.maxQueuedRuns,
      keepCliWarm: s.keepCliWarm,
      warmIdleTimeoutMs: s.warmIdleTimeoutMs,
    },
    activeRunIds: s.activeRunIds,
    queuedRunIds: s.queuedRunIds,
    providerSessionId: s.providerSessionId,
    createdAt: s.createdAt,
    runCount: s.runCount,
    owner: s.owner,
  };
}

export function runToProto(r: Run): RunMessage {
  return {
    runId: r.runId,
    sessionId: r.sessionId,
    provider: providerToProto(r.provider),
    status: r.status,
    result: r.isEnded ? r.result : undefined,
    metadata: r.metadata,
    lastSequence: r.log.durableSequence,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    pendingApprovalIds: r.pendingApprovalIds,
    cliExit: r.cliExit ? { exitCode: r.cliExit.code ?? undefined, signal: r.cliExit.signal ?? "" } : undefined,
  };
}

import type { ReasonCode } from "../errors/reason-codes.js";

/** What a CLI said about a failure, as far as an adapter could tell. */
export interface FailureFacts {
  /** The CLI's own error text (may embed the model API's error). */
  text: string;
  /** HTTP status of the model API, when the CLI reported it. */
  httpStatus?: number;
  /** A machine code the CLI gave, e.g. "rate_limited", "authentication_failed". */
  code?: string;
}

/** The reasons a provider's failure is classified into; each carries its kind (see REASON_CODES). */
export type ProviderFailureReason = Extract<ReasonCode, "provider_auth_failed" | "provider_rate_limited" | "provider_unavailable" | "provider_failed" | "turn_interrupted">;

const AUTH_CODES = new Set(["auth_error", "authentication_failed", "authentication_error", "unauthenticated", "permission_error"]);
const RATE_CODES = new Set(["rate_limit", "rate_limited", "rate_limit_error"]);
const CANCEL_CODES = new Set(["cancelled", "canceled", "user_cancelled", "interrupted"]);
const UNAVAILABLE_CODES = new Set(["overloaded", "overloaded_error", "server_error", "internal_server_error", "unavailable"]);
const AUTH_TEXT = /\b40[13]\b|unauthori[sz]ed|forbidden|authenticat|api[_ ]key|not logged in|log ?in required|please log ?in|does not have access/i;
const RATE_TEXT = /\b429\b|rate.?limit|too many requests|usage.?limit|quota/i;
const UNAVAILABLE_TEXT = /overloaded|internal server error|service unavailable|bad gateway|gateway timeout|high demand|fetch failed|ECONNRE(?:FUSED|SET)|ETIMEDOUT|socket hang up|\(Status: (UNAVAILABLE|INTERNAL)\)/i;

/**
 * The one classification of provider failures, shared by every adapter: the CLI's own code
 * first, then the model API's HTTP status, then the text.
 */
export function failureReason(facts: FailureFacts): ProviderFailureReason {
  const code = facts.code?.toLowerCase();
  if (code && AUTH_CODES.has(code)) return "provider_auth_failed";
  if (code && RATE_CODES.has(code)) return "provider_rate_limited";
  if (code && CANCEL_CODES.has(code)) return "turn_interrupted";
  if (code && UNAVAILABLE_CODES.has(code)) return "provider_unavailable";
  const http = facts.httpStatus;
  if (http === 401 || http === 403) return "provider_auth_failed";
  if (http === 429) return "provider_rate_limited";
  if (http !== undefined && http >= 500 && http <= 599) return "provider_unavailable";
  if (AUTH_TEXT.test(facts.text)) return "provider_auth_failed";
  if (RATE_TEXT.test(facts.text)) return "provider_rate_limited";
  if (UNAVAILABLE_TEXT.test(facts.text)) return "provider_unavailable";
  return "provider_failed";
}

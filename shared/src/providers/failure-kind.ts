import type { ErrorKind } from "../errors/asm-error.js";

/** What a CLI said about a failure, as far as an adapter could tell. */
export interface FailureFacts {
  /** The CLI's own error text (may embed the model API's error). */
  text: string;
  /** HTTP status of the model API, when the CLI reported it. */
  httpStatus?: number;
  /** A machine code the CLI gave, e.g. "rate_limited", "authentication_failed". */
  code?: string;
}

const AUTH_CODES = new Set(["auth_error", "authentication_failed", "unauthenticated"]);
const RATE_CODES = new Set(["rate_limit", "rate_limited"]);
const CANCEL_CODES = new Set(["cancelled", "canceled", "user_cancelled"]);
const AUTH_TEXT = /\b40[13]\b|unauthori[sz]ed|forbidden|authenticat|api[_ ]key|not logged in|log ?in required|please log ?in|does not have access/i;
const RATE_TEXT = /\b429\b|rate.?limit|too many requests|usage.?limit|quota/i;

/** The one classification of provider failures into asm error kinds, shared by every adapter. */
export function failureKind(facts: FailureFacts): ErrorKind {
  const code = facts.code?.toLowerCase();
  if (code && AUTH_CODES.has(code)) return "auth_error";
  if (code && RATE_CODES.has(code)) return "rate_limit";
  if (code && CANCEL_CODES.has(code)) return "user_cancelled";
  if (facts.httpStatus === 401 || facts.httpStatus === 403) return "auth_error";
  if (facts.httpStatus === 429) return "rate_limit";
  if (AUTH_TEXT.test(facts.text)) return "auth_error";
  if (RATE_TEXT.test(facts.text)) return "rate_limit";
  return "provider_error";
}

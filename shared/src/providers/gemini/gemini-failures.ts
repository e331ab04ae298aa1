/** What gemini says about a failure (ACP errors, stream-json `error` lines, API error bodies) as typed asm errors. */
import { AsmError } from "../../errors/asm-error.js";
import type { ProviderFailureReason } from "../failure-reason.js";


export interface ApiError {
  httpStatus: number | undefined;
  status: string;
  message: string;
}

/** The Google API error inside CLI error text, e.g. `[API Error: {"error":{"code":400,…}}]`, or inside ACP error data. */
export function findApiError(text: string, data: unknown): ApiError | undefined {
  const fromObject = (v: unknown): ApiError | undefined => {
    if (typeof v !== "object" || v === null) return undefined;
    const inner = "error" in v && typeof v.error === "object" && v.error !== null ? v.error : v;
    const code = "code" in inner && typeof inner.code === "number" ? inner.code : undefined;
    if (code === undefined || code < 100 || code > 599) return undefined;
    return {
      httpStatus: code,
      status: "status" in inner && typeof inner.status === "string" ? inner.status : "",
      message: "message" in inner && typeof inner.message === "string" ? inner.message : "",
    };
  };
  const fromData = fromObject(data) ?? (typeof data === "object" && data !== null && "details" in data && typeof data.details === "string" ? findApiError(data.details, undefined) : undefined);
  if (fromData) return fromData;
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start >= 0 && end > start) {
    try {
      const found = fromObject(JSON.parse(text.slice(start, end + 1)));
      if (found) return found;
    } catch {
      // not JSON: fall through to the pattern below
    }
  }
  const code = /"code"\s*:\s*(\d{3})\b/.exec(text)?.[1];
  return code === undefined ? undefined : { httpStatus: Number(code), status: "", message: "" };
}

export const AUTH_ERROR_TYPES = new Set(["FatalAuthenticationError", "UnauthorizedError", "ForbiddenError", "AccountSuspendedError"]);
export const CANCEL_ERROR_TYPES = new Set(["FatalCancellationError", "CanceledError"]);
/** Gemini appends "Please wait and try again later…" or "Possible quota limitations…" to a 429 that it flattened to text. */
export const RATE_LIMIT_TEXT = /rate.?limit|too many requests|quota|please wait and try again later/i;
/** ACP's "authentication required" code; gemini also uses it for every failed `authenticate`. */
export const ACP_AUTH_REQUIRED = -32000;

export interface ErrorFacts {
  text: string;
  /** The CLI's error class (`-p` result lines). */
  errorType?: string;
  /** The JSON-RPC error code (ACP). Gemini puts the HTTP status here for API errors of a prompt. */
  rpcCode?: number;
  data?: unknown;
  /** Gemini's own name for the failure (its error type, or the ACP method that failed). */
  providerCode: string;
  /** The failure was of a request asm made (not of the turn): a plain failure then means asm asked wrongly. */
  ownRequest?: boolean;
  details: Record<string, unknown>;
}

/** The model API could not be reached (a retry may do better). */
export const NETWORK_TEXT = /fetch failed|ECONNRE(?:FUSED|SET)|ETIMEDOUT|socket hang up/i;

/** One place that turns what the CLI said about a failure into an asm error kind. */
export function geminiError(facts: ErrorFacts): AsmError {
  const api = findApiError(facts.text, facts.data);
  const rpcHttp = facts.rpcCode !== undefined && facts.rpcCode >= 400 && facts.rpcCode <= 599 ? facts.rpcCode : undefined;
  const http = api?.httpStatus ?? rpcHttp;
  const text = facts.text;
  // `[API Error: <message> (Status: RESOURCE_EXHAUSTED)]` when the CLI flattened the API error.
  const apiStatus = api?.status || (/\(Status: ([A-Z_]+)\)/.exec(text)?.[1] ?? "");
  let reason: ProviderFailureReason;
  if (facts.errorType !== undefined && CANCEL_ERROR_TYPES.has(facts.errorType)) reason = "turn_interrupted";
  else if (
    http === 401 ||
    http === 403 ||
    apiStatus === "UNAUTHENTICATED" ||
    apiStatus === "PERMISSION_DENIED" ||
    (facts.errorType !== undefined && AUTH_ERROR_TYPES.has(facts.errorType)) ||
    facts.rpcCode === ACP_AUTH_REQUIRED ||
    /api key|authenticat|unauthori[sz]ed|credentials|invalid auth method/i.test(text)
  )
    reason = "provider_auth_failed";
  else if (http === 429 || apiStatus === "RESOURCE_EXHAUSTED" || RATE_LIMIT_TEXT.test(text)) reason = "provider_rate_limited";
  else if ((http !== undefined && http >= 500) || apiStatus === "UNAVAILABLE" || apiStatus === "INTERNAL" || NETWORK_TEXT.test(text)) reason = "provider_unavailable";
  else reason = "provider_failed";
  const message = api?.message ? `gemini API error ${http ?? ""}${apiStatus ? ` ${apiStatus}` : ""}: ${api.message}` : text.trim() || "gemini reported an error";
  const reasonCode = facts.errorType === "FatalTurnLimitedError" ? "max_turns_reached" : reason === "provider_failed" && facts.ownRequest ? "provider_request_refused" : reason;
  return new AsmError({
    reasonCode,
    provider: "gemini",
    message,
    details: { ...facts.details, provider_code: facts.providerCode, http_status: http ?? null, api_status: apiStatus, cli_message: text },
  });
}


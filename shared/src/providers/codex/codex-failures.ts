/** Codex's failures (a failed turn's message and `codexErrorInfo`) as typed asm errors. */
import { failureReason, type ProviderFailureReason } from "../failure-reason.js";
import { AsmError } from "../../errors/asm-error.js";
import { parseJsonObject } from "../protocol/line-events.js";

/** The HTTP status inside a `codexErrorInfo` such as `{"httpConnectionFailed":{"httpStatusCode":401}}`. */
export function httpStatusOf(info: unknown): number | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  for (const v of Object.values(info)) {
    if (typeof v === "object" && v !== null && "httpStatusCode" in v && typeof v.httpStatusCode === "number") return v.httpStatusCode;
  }
  return undefined;
}

/** What Codex said about a failure (its text and its `codexErrorInfo`) as an asm reason. */
export function classify(text: string, info: unknown, http: number | undefined): ProviderFailureReason {
  const infoText = typeof info === "string" ? info : info === undefined || info === null ? "" : JSON.stringify(info);
  const code = /unauthorized/i.test(infoText)
    ? "unauthenticated"
    : /usageLimitExceeded|rateLimitExceeded/.test(infoText)
      ? "rate_limited"
      : // Without an HTTP status (which says more: a 429 after retries is a rate limit), these are outages.
        http === undefined && /internalServerError|serverOverloaded|responseStreamConnectionFailed|responseStreamDisconnected|responseTooManyFailedAttempts/.test(infoText)
        ? "unavailable"
        : undefined;
  return failureReason({ text, httpStatus: http, code });
}

interface ApiErrorBody {
  message: string;
  type: string;
  code: string;
}

/** The OpenAI error inside a Codex message, e.g. `{"error":{"message":"mock 400","type":"invalid_request_error",…}}`. */
export function apiErrorBody(message: string): ApiErrorBody | undefined {
  const start = message.indexOf("{");
  if (start < 0) return undefined;
  const json = parseJsonObject(message.slice(start));
  const inner = json && typeof json.error === "object" && json.error !== null ? (json.error as Record<string, unknown>) : json;
  if (!inner || typeof inner.message !== "string") return undefined;
  return { message: inner.message, type: typeof inner.type === "string" ? inner.type : "", code: typeof inner.code === "string" ? inner.code : "" };
}

/** A failed turn (app-server `turn/completed` failed, exec `turn.failed`). */
export function turnError(message: string, info: unknown, extra: Record<string, unknown>): AsmError {
  const body = apiErrorBody(message);
  const http = httpStatusOf(info);
  const text = body ? `${body.message} ${body.type} ${body.code}` : message;
  return new AsmError({
    reasonCode: classify(text, info, http),
    provider: "codex",
    message: (body?.message ?? message).trim() || "codex reported a failed turn",
    details: {
      provider_code: "turn_failed",
      ...extra,
      codex_error_info: info ?? null,
      http_status: http ?? null,
      error_type: body?.type ?? "",
      error_code: body?.code ?? "",
      cli_message: message,
    },
  });
}


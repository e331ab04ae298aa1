import { payload } from "../../events/event-payload.js";
import type { AsmError } from "../../errors/asm-error.js";
import type { EventDraft, ParsedLine } from "../provider-adapter.js";

/** A stdout line no protocol rule explains, kept as it came (`raw`). */
export function rawLine(content: string): ParsedLine {
  return { events: [{ payload: payload("raw", { stream: "stdout", content }) }] };
}

/** The terminal `error` event of a typed error. */
export function errorDraft(error: AsmError): EventDraft {
  return { payload: payload("error", { error: error.toMessage() }) };
}

/** A line's JSON when it is an object; undefined for anything else (not JSON, an array, a scalar). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

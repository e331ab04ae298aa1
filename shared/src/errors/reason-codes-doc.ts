import { REASON_CODES, type ReasonCode } from "./reason-codes.js";

export const REASON_CODES_BEGIN = "<!-- reason-codes:begin (generated from shared/src/errors/reason-codes.ts by `make docs`) -->";
export const REASON_CODES_END = "<!-- reason-codes:end -->";

/** The README's table of reason codes, one row per code in catalogue order. */
export function renderReasonCodesTable(): string {
  const rows = (Object.keys(REASON_CODES) as ReasonCode[]).map((code) => {
    const { kind, retryable, summary } = REASON_CODES[code];
    return `| \`${code}\` | \`${kind}\` | ${retryable ? "yes" : "no"} | ${summary.replace(/\|/g, "\\|")} |`;
  });
  return ["| reason_code | kind | retryable | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

/** The generated block as it stands in `markdown`, or undefined when its markers are missing. */
export function readReasonCodesBlock(markdown: string): string | undefined {
  const begin = markdown.indexOf(REASON_CODES_BEGIN);
  const end = markdown.indexOf(REASON_CODES_END);
  if (begin < 0 || end < begin) return undefined;
  return markdown.slice(begin + REASON_CODES_BEGIN.length, end).trim();
}

/** `markdown` with its generated block replaced by the current table. */
export function writeReasonCodesBlock(markdown: string): string {
  const begin = markdown.indexOf(REASON_CODES_BEGIN);
  const end = markdown.indexOf(REASON_CODES_END);
  if (begin < 0 || end < begin) throw new Error(`the markers ${REASON_CODES_BEGIN} … ${REASON_CODES_END} are missing`);
  return `${markdown.slice(0, begin + REASON_CODES_BEGIN.length)}\n${renderReasonCodesTable()}\n${markdown.slice(end)}`;
}

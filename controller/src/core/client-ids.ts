import { AsmError } from "@asm/shared";

/** What a client-chosen session or run id may be: 1 to 128 of letters, digits and `._:-`, not starting with `.`. */
const CLIENT_ID = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$/;

/** Throws invalid_id (naming `field`) unless `id` is a valid client-chosen id. */
export function checkClientId(id: string, field: string): void {
  if (!CLIENT_ID.test(id)) {
    throw new AsmError({
      field,
      reasonCode: "invalid_id",
      message: `must be 1 to 128 characters of letters, digits and . _ : - (not starting with "."); got ${JSON.stringify(id.slice(0, 40))}${id.length > 40 ? "…" : ""}`,
    });
  }
}

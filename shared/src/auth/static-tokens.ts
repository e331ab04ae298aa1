import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { AsmError } from "../errors/asm-error.js";
import type { Principal } from "./principal.js";

const ROLE = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "must be 1 to 64 of letters, digits and . _ : -");

/**
 * The static token file (`ASM_AUTH_TOKEN_FILE`): bearer tokens for small setups, stored as the
 * SHA-256 of the token (hex), never the token itself.
 */
export const TokenFileSchema = z.strictObject({
  tokens: z.array(
    z.strictObject({
      sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the hex SHA-256 of the token (64 lowercase hex digits)"),
      principal: z.string().min(1).max(256),
      roles: z.array(ROLE).default([]),
    }),
  ),
});

export { ROLE as RoleNameSchema };

/** SHA-256 of a token, hex: what the token file stores. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Tokens of the token file, looked up by digest. */
export class StaticTokens {
  private constructor(private readonly byDigest: ReadonlyMap<string, Principal>) {}

  /** Reads and validates the file; every issue is listed in one policy_invalid error. */
  static load(path: string): StaticTokens {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (err) {
      throw new AsmError({ reasonCode: "policy_invalid", message: `token file ${path}: ${err instanceof Error ? err.message : String(err)}` });
    }
    const parsed = TokenFileSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`);
      throw new AsmError({ reasonCode: "policy_invalid", message: `token file ${path}:\n  ${issues.join("\n  ")}`, details: { issues } });
    }
    const map = new Map<string, Principal>();
    for (const entry of parsed.data.tokens) {
      if (map.has(entry.sha256)) throw new AsmError({ reasonCode: "policy_invalid", message: `token file ${path}: the same token is listed twice` });
      map.set(entry.sha256, Object.freeze({ id: entry.principal, roles: Object.freeze([...entry.roles]), source: "token" as const }));
    }
    return new StaticTokens(map);
  }

  lookup(token: string): Principal | undefined {
    return this.byDigest.get(tokenDigest(token));
  }
}

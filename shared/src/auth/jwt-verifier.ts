import { createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { AsmError } from "../errors/asm-error.js";
import type { ReasonCode } from "../errors/reason-codes.js";
import type { Principal } from "./principal.js";

export interface JwtSettings {
  /** A JWKS file (`{"keys": [...]}`): a token's `kid` / `alg` pick its key. */
  jwksFile?: string | undefined;
  /** Or one public key in PEM (SPKI or an X.509 certificate). */
  publicKeyFile?: string | undefined;
  issuer: string;
  audience: string;
  /** Allowed clock difference for exp / nbf / iat, in seconds. */
  clockSkewSeconds: number;
  /** Claim holding the principal's roles (an array of strings, or one space-separated string). */
  rolesClaim: string;
  /** Signature algorithms accepted (never `none`, never HMAC with a public key). */
  algorithms: readonly string[];
}

/** Verifies bearer JWTs against the operator's keys; the token's `sub` is the principal. */
export class JwtVerifier {
  private constructor(
    private readonly key: KeyObject | JWTVerifyGetKey,
    private readonly settings: JwtSettings,
  ) {}

  static load(settings: JwtSettings): JwtVerifier {
    const file = settings.jwksFile ?? settings.publicKeyFile;
    if (!file) throw new AsmError({ reasonCode: "policy_invalid", message: "JWT verification needs a JWKS file or a public key file" });
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new AsmError({ reasonCode: "policy_invalid", message: `JWT key file ${file}: ${err instanceof Error ? err.message : String(err)}` });
    }
    try {
      if (settings.jwksFile) return new JwtVerifier(createLocalJWKSet(JSON.parse(text) as JSONWebKeySet), settings);
      return new JwtVerifier(createPublicKey(text), settings);
    } catch (err) {
      throw new AsmError({ reasonCode: "policy_invalid", message: `JWT key file ${file} is not a valid ${settings.jwksFile ? "JWKS" : "PEM public key"}: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  /** The token's principal, or an unauthenticated AsmError saying which check failed. */
  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token, this.key as KeyObject, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: this.settings.clockSkewSeconds,
        algorithms: [...this.settings.algorithms],
      });
      payload = verified.payload;
    } catch (err) {
      throw jwtFailure(err);
    }
    if (typeof payload.sub !== "string" || payload.sub === "" || payload.sub.length > 256) {
      throw new AsmError({ reasonCode: "token_invalid", message: "the token has no subject (sub) to act as" });
    }
    return Object.freeze({ id: payload.sub, roles: Object.freeze(rolesOf(payload[this.settings.rolesClaim])), source: "jwt" as const });
  }
}

function rolesOf(claim: unknown): string[] {
  if (typeof claim === "string") return claim.split(" ").filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((r): r is string => typeof r === "string" && r !== "");
  return [];
}

/** What jose said, as one of our reason codes (its message never holds the token). */
function jwtFailure(err: unknown): AsmError {
  const reason = ((): { code: ReasonCode; message: string } => {
    if (err instanceof joseErrors.JWTExpired) return { code: "token_expired", message: "the token has expired" };
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === "iss") return { code: "token_issuer_mismatch", message: "the token's issuer (iss) is not the one this controller trusts" };
      if (err.claim === "aud") return { code: "token_audience_mismatch", message: "the token's audience (aud) does not name this controller" };
      return { code: "token_invalid", message: `the token's ${err.claim} claim is not acceptable (${err.reason})` };
    }
    if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
      return { code: "token_signature_invalid", message: "the token is not signed by a key this controller trusts" };
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return { code: "token_invalid", message: "the token's signature algorithm is not allowed" };
    if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return { code: "credentials_malformed", message: "the bearer token is not a well-formed JWT" };
    return { code: "token_invalid", message: `the token cannot be verified (${err instanceof Error ? err.name : "error"})` };
  })();
  return new AsmError({ reasonCode: reason.code, message: reason.message });
}

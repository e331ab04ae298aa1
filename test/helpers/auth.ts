import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { InterceptingCall, type Interceptor } from "@grpc/grpc-js";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { createRootLogger, tokenDigest, type Logger } from "@asm/shared";

/** A client interceptor that sends `authorization: Bearer <token>` (or any raw value) on every call. */
export function bearer(token: string, raw = false): Interceptor {
  return (options, next) =>
    new InterceptingCall(next(options), {
      start(metadata, listener, nextStart) {
        metadata.set("authorization", raw ? token : `Bearer ${token}`);
        nextStart(metadata, listener);
      },
    });
}

/** Writes a token file holding the digests of `tokens` (token → principal and roles). */
export function writeTokenFile(dir: string, tokens: Record<string, { principal: string; roles?: string[] }>): string {
  const path = join(dir, "tokens.json");
  writeFileSync(path, JSON.stringify({ tokens: Object.entries(tokens).map(([token, p]) => ({ sha256: tokenDigest(token), principal: p.principal, roles: p.roles ?? [] })) }));
  return path;
}

export interface JwtIssuer {
  issuer: string;
  audience: string;
  jwksFile: string;
  /** A token signed with the configured key (claims override the defaults: sub, iss, aud, 1 h). */
  sign(claims?: JWTPayload & { expSecondsFromNow?: number }): Promise<string>;
  /** A token with the same kid, signed by a key nobody configured. */
  signWithOtherKey(claims?: JWTPayload): Promise<string>;
}

/** A real ES256 key pair, its JWKS file, and token signing. */
export async function createJwtIssuer(dir: string, issuer = "https://issuer.asm.test", audience = "asm-controller"): Promise<JwtIssuer> {
  const mine = await generateKeyPair("ES256", { extractable: true });
  const other = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(mine.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const jwksFile = join(dir, "jwks.json");
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const signWith = async (key: CryptoKey, claims: JWTPayload & { expSecondsFromNow?: number } = {}): Promise<string> => {
    const { expSecondsFromNow = 3600, ...rest } = claims;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, aud: audience, sub: "alice", iat: now, exp: now + expSecondsFromNow, ...rest }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(key);
  };
  return { issuer, audience, jwksFile, sign: (c) => signWith(mine.privateKey, c), signWithOtherKey: (c) => signWith(other.privateKey, c) };
}

/** A real pino logger (the production one, redaction included) whose lines are kept in memory. */
export function capturingLogger(level = "debug"): { logger: Logger; text(): string } {
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString("utf8");
      done();
    },
  });
  return { logger: createRootLogger({ name: "asm-test", level, destination: sink }), text: () => text };
}

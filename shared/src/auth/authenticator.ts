import type { Metadata, ServerUnaryCall } from "@grpc/grpc-js";

type AuthContext = ReturnType<ServerUnaryCall<unknown, unknown>["getAuthContext"]>;
import { AsmError } from "../errors/asm-error.js";
import type { Logger } from "../logging/logger.js";
import { identitiesOf, isIdentityAllowed, principalNameOf } from "../tls/peer-identity.js";
import type { JwtVerifier } from "./jwt-verifier.js";
import { ADMIN_ROLE, type Principal } from "./principal.js";
import type { StaticTokens } from "./static-tokens.js";

/** What authentication looks at of a call: its TLS peer, its metadata, its address. */
export interface CallCredentials {
  getAuthContext(): AuthContext | null;
  metadata: Metadata;
  getPeer(): string;
}

export interface AuthenticatorOptions {
  /**
   * Client certificates: a certificate the TLS handshake verified against the CA names the
   * principal (URI SAN, else DNS SAN, else CN) when one of its identities is on `allow` (`*`: any).
   * Undefined: certificates authenticate nobody (the connection may still require one).
   */
  certificates?: { allow: readonly string[] } | undefined;
  /** Static bearer tokens (stored hashed). */
  tokens?: StaticTokens | undefined;
  /** Bearer JWTs. */
  jwt?: JwtVerifier | undefined;
  /**
   * A plaintext loopback listener with no token method: every caller is this principal (the
   * single-user development setup). Never set with TLS.
   */
  loopbackPrincipal?: Principal | undefined;
  logger: Logger;
}

/** The principal of a plaintext loopback listener that has no token method configured. */
export const LOOPBACK_PRINCIPAL: Principal = Object.freeze({ id: "local", roles: Object.freeze([ADMIN_ROLE]), source: "loopback" });

/**
 * Authenticates calls: a bearer token when the call carries one (a static token, else a JWT),
 * else the client certificate, else the loopback principal; anything else is UNAUTHENTICATED.
 * A token that fails is never passed over for the certificate. Refusals are logged with the
 * peer address and the reason, never the token.
 */
export class Authenticator {
  constructor(private readonly opts: AuthenticatorOptions) {}

  async authenticate(call: CallCredentials, method: string): Promise<Principal> {
    try {
      return await this.identify(call);
    } catch (err) {
      const error = AsmError.from(err);
      this.opts.logger.warn({ peer: call.getPeer(), method, reasonCode: error.reasonCode }, `call refused: ${error.message}`);
      throw error;
    }
  }

  private async identify(call: CallCredentials): Promise<Principal> {
    const header = call.metadata.get("authorization");
    if (header.length > 0) return this.fromToken(header);
    const cert = call.getAuthContext()?.sslPeerCertificate;
    if (cert && this.opts.certificates) {
      const identities = identitiesOf(cert);
      const name = principalNameOf(cert);
      if (!name || !isIdentityAllowed(identities, this.opts.certificates.allow)) {
        throw new AsmError({ reasonCode: "client_identity_not_allowed", message: `client certificate ${identities.join(", ") || "(unnamed)"} is not allowed on this controller` });
      }
      return Object.freeze({ id: name, roles: Object.freeze([]), source: "certificate" as const });
    }
    if (this.opts.loopbackPrincipal) return this.opts.loopbackPrincipal;
    throw new AsmError({
      reasonCode: "credentials_missing",
      message: this.opts.tokens || this.opts.jwt ? "no credentials: send `authorization: Bearer <token>`" + (this.opts.certificates ? " or a client certificate" : "") : "no credentials: connect with a client certificate",
    });
  }

  private async fromToken(header: (string | Buffer)[]): Promise<Principal> {
    const value = header.length === 1 && typeof header[0] === "string" ? header[0] : "";
    const match = /^Bearer ([\x21-\x7e]{1,8192})$/.exec(value);
    if (!match) throw new AsmError({ reasonCode: "credentials_malformed", message: "the authorization metadata must be one `Bearer <token>` value" });
    const token = match[1]!;
    const known = this.opts.tokens?.lookup(token);
    if (known) return known;
    if (this.opts.jwt && token.split(".").length === 3) return this.opts.jwt.verify(token);
    if (this.opts.jwt && !this.opts.tokens) throw new AsmError({ reasonCode: "credentials_malformed", message: "the bearer token is not a well-formed JWT" });
    if (!this.opts.tokens && !this.opts.jwt) throw new AsmError({ reasonCode: "token_unknown", message: "this controller takes no bearer tokens" });
    throw new AsmError({ reasonCode: "token_unknown", message: "the bearer token is not one this controller knows" });
  }
}

import { Authenticator, JwtVerifier, LOOPBACK_PRINCIPAL, StaticTokens, type Logger } from "@asm/shared";
import { clientTlsFiles, list, type ControllerConfig } from "../config/controller-config.js";

/**
 * The controller's authenticator, from its configuration: client certificates when TLS is on,
 * the static token file and JWTs when configured; on a plaintext loopback listener with no token
 * method, every caller is the `local` principal (admin), as the single-user development setup.
 */
export function clientAuthenticator(config: Readonly<ControllerConfig>, logger: Logger): Authenticator {
  const tls = clientTlsFiles(config) !== undefined;
  const tokens = config.ASM_AUTH_TOKEN_FILE ? StaticTokens.load(config.ASM_AUTH_TOKEN_FILE) : undefined;
  const jwtKeys = config.ASM_AUTH_JWT_JWKS_FILE || config.ASM_AUTH_JWT_PUBLIC_KEY_FILE;
  const jwt = jwtKeys
    ? JwtVerifier.load({
        jwksFile: config.ASM_AUTH_JWT_JWKS_FILE,
        publicKeyFile: config.ASM_AUTH_JWT_PUBLIC_KEY_FILE,
        issuer: config.ASM_AUTH_JWT_ISSUER!,
        audience: config.ASM_AUTH_JWT_AUDIENCE!,
        clockSkewSeconds: config.ASM_AUTH_JWT_CLOCK_SKEW_S,
        rolesClaim: config.ASM_AUTH_JWT_ROLES_CLAIM,
        algorithms: list(config.ASM_AUTH_JWT_ALGORITHMS),
      })
    : undefined;
  const loopback = !tls && !tokens && !jwt;
  if (loopback) logger.warn("plaintext loopback listener without tokens: every caller is the principal `local` with the admin role");
  return new Authenticator({
    certificates: tls ? { allow: list(config.ASM_AUTH_CLIENT_IDENTITIES) } : undefined,
    tokens,
    jwt,
    loopbackPrincipal: loopback ? LOOPBACK_PRINCIPAL : undefined,
    logger: logger.child({ component: "auth" }),
  });
}

export { ADMIN_ROLE, SYSTEM_PRINCIPAL, isAdmin, mayAccess, type Principal, type PrincipalSource } from "./principal.js";
export { Authenticator, LOOPBACK_PRINCIPAL, type AuthenticatorOptions, type CallCredentials } from "./authenticator.js";
export { JwtVerifier, type JwtSettings } from "./jwt-verifier.js";
export { StaticTokens, TokenFileSchema, RoleNameSchema, tokenDigest } from "./static-tokens.js";
export { guardService, principalOf, type CallGuard } from "./call-guard.js";

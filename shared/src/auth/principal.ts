/** The role that sees and acts on every session, and alone may call operator RPCs (ListExecutors). */
export const ADMIN_ROLE = "admin";

/** How a principal proved who it is. */
export type PrincipalSource = "certificate" | "token" | "jwt" | "loopback" | "internal";

/**
 * Who a call is from: the id sessions are owned by, and the roles the operator's policy gives
 * rules to. Made only by an Authenticator (or the controller itself, `SYSTEM_PRINCIPAL`).
 */
export interface Principal {
  readonly id: string;
  readonly roles: readonly string[];
  readonly source: PrincipalSource;
}

/** The controller acting on its own behalf (shutdown, one-shot sessions it closes itself). */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({ id: "asm:system", roles: Object.freeze([ADMIN_ROLE]), source: "internal" });

export function isAdmin(principal: Principal): boolean {
  return principal.roles.includes(ADMIN_ROLE);
}

/** Whether `principal` may see and act on something `owner` owns: its own, or any for an admin. */
export function mayAccess(principal: Principal, owner: string): boolean {
  return principal.id === owner || isAdmin(principal);
}

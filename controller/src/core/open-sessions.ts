import type { Session } from "../sessions/session.js";

const NONE: ReadonlySet<Session> = new Set();

/** The controller's open sessions, counted in all (ASM_MAX_SESSIONS) and by owner (the per-principal quotas). */
export class OpenSessions {
  private readonly byOwner = new Map<string, Set<Session>>();
  private total = 0;

  get count(): number {
    return this.total;
  }

  add(session: Session): void {
    this.total += 1;
    const owned = this.byOwner.get(session.owner);
    if (owned) owned.add(session);
    else this.byOwner.set(session.owner, new Set([session]));
  }

  remove(session: Session): void {
    const owned = this.byOwner.get(session.owner);
    if (!owned?.delete(session)) return;
    this.total -= 1;
    if (owned.size === 0) this.byOwner.delete(session.owner);
  }

  /** The open sessions `owner` (a principal id) has. */
  of(owner: string): ReadonlySet<Session> {
    return this.byOwner.get(owner) ?? NONE;
  }
}

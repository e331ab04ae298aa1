import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { AsmError } from "../errors/asm-error.js";
import { toGrpcStatus } from "../errors/grpc-status.js";
import type { CallCredentials } from "./authenticator.js";
import type { Principal } from "./principal.js";

/** Any grpc-js server call: what the guard reads, and how it refuses. */
type GuardedCall = CallCredentials & { emit(event: string, value: unknown): boolean };
type AnyHandler = (call: GuardedCall, callback?: (err: unknown) => void) => void;

/**
 * Decides whether a call may reach its handler: the caller's principal, or a typed refusal
 * (UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE while draining, INVALID_ARGUMENT for a
 * request that did not decode).
 */
export type CallGuard = (call: CallCredentials & { request?: unknown }, method: string) => Promise<Principal>;

const principals = new WeakMap<object, Principal>();

/**
 * The one door of a gRPC service: every method of `service` runs only after `guard` has named
 * its caller, so a method added to the service cannot skip authentication. Handlers read the
 * caller with `principalOf(call)`.
 */
export function guardService<S extends object>(service: S, guard: CallGuard): S {
  const out: Record<string, AnyHandler> = {};
  for (const [method, handler] of Object.entries(service as UntypedServiceImplementation) as [string, AnyHandler][]) {
    out[method] = (call, callback) => {
      guard(call, method).then(
        (principal) => {
          principals.set(call, principal);
          handler(call, callback);
        },
        (err: unknown) => {
          const status = toGrpcStatus(err);
          if (callback) callback(status);
          else call.emit("error", status);
        },
      );
    };
  }
  return out as S;
}

/** The caller of a call that came through `guardService`. */
export function principalOf(call: object): Principal {
  const principal = principals.get(call);
  if (!principal) throw new AsmError({ reasonCode: "internal", message: "a handler ran without passing the service's guard" });
  return principal;
}

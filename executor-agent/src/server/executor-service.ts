import { type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall } from "@grpc/grpc-js";
import {
  ASM_VERSION,
  AsmError,
  EXECUTOR_PROTOCOL_VERSION,
  guardService,
  principalOf,
  type CallGuard,
  type RunPolicy,
  identitiesOf,
  isIdentityAllowed,
  toGrpcStatus,
  type Backend,
  type BootstrapRequest,
  type BootstrapResponse,
  type ExecuteRequest,
  type ExecuteResponse,
  type ExecutorServiceServer,
  type HandshakeRequest,
  type HandshakeResponse,
  type Logger,
  type RunAdmission,
} from "@asm/shared";
import { ExecuteStream, type ExecuteStreamLimits } from "../run/execute-stream.js";
import type { ExecutorRuntime } from "../runtime/executor-runtime.js";

export interface ExecutorServiceDeps {
  name: string;
  runtime: ExecutorRuntime;
  backend: Backend;
  logger: Logger;
  /** Controller identities (certificate CN / SAN) allowed to call. */
  allowClients: readonly string[];
  limits: ExecuteStreamLimits;
  /** The executor's caps on live and starting CLIs (runs over them wait, RunQueued). */
  admission: RunAdmission;
  /** Tracks open streams so shutdown can wait for their CLIs. */
  streams: Set<ExecuteStream>;
  /** The executor's own policy (roles of controller identities, what they may run). */
  policy: RunPolicy;
  /** Every run the executor holds, by run id, for re-attach. */
  held: Map<string, ExecuteStream>;
}

/**
 * The executor's door (every method passes it): the caller's certificate identity must be on the
 * allow-list; the principal is that identity. A refusal is PERMISSION_DENIED / identity_not_allowed.
 */
function certificateGuard(deps: ExecutorServiceDeps): CallGuard {
  return async (call, method) => {
    const cert = call.getAuthContext()?.sslPeerCertificate;
    const identities = cert ? identitiesOf(cert) : [];
    if (identities.length > 0 && isIdentityAllowed(identities, deps.allowClients)) {
      deps.logger.debug({ method, peer: identities[0] }, "call");
      return deps.policy.withRoles({ id: identities[0]!, roles: [], source: "certificate" });
    }
    const error = new AsmError({
      domain: "transport",
      reasonCode: "identity_not_allowed",
      message: `client identity ${identities.length ? identities.join(", ") : "(none)"} is not allowed on this executor`,
    });
    deps.logger.warn({ method, reasonCode: error.reasonCode, peer: call.getPeer() }, error.message);
    throw error;
  };
}

function unary<Req, Res>(deps: ExecutorServiceDeps, method: string, handle: (request: Req) => Promise<Res> | Res) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    void (async () => {
      try {
        callback(null, await handle(call.request));
      } catch (err) {
        const asm = AsmError.from(err);
        deps.logger.warn({ method, reasonCode: asm.reasonCode, peer: call.getPeer() }, asm.message);
        callback(toGrpcStatus(asm));
      }
    })();
  };
}

/** The ExecutorService: handshake, bootstrap, and one Execute stream per run. */
export function executorService(deps: ExecutorServiceDeps): ExecutorServiceServer {
  const { runtime } = deps;
  return guardService<ExecutorServiceServer>({
    handshake: unary<HandshakeRequest, HandshakeResponse>(deps, "Handshake", async (request) => {
      runtime.checkCookie(request.cookie);
      return {
        protocolVersion: EXECUTOR_PROTOCOL_VERSION,
        asmVersion: ASM_VERSION,
        nodeVersion: process.versions.node,
        capabilities: runtime.capabilities,
        providers: runtime.providers,
        workspaceRoot: runtime.workspaceRoot,
        workspaceWritable: runtime.ready,
        ready: runtime.ready,
        executorName: deps.name,
      };
    }),
    bootstrap: unary<BootstrapRequest, BootstrapResponse>(deps, "Bootstrap", async (request) => {
      runtime.checkCookie(request.cookie);
      await runtime.initialize();
      const error = runtime.ready
        ? undefined
        : new AsmError({ domain: "transport", reasonCode: "bootstrap_failed", message: runtime.lastError }).toMessage();
      return { ready: runtime.ready, workspaceRoot: runtime.workspaceRoot, error };
    }),
    execute: (call: ServerDuplexStream<ExecuteRequest, ExecuteResponse>) => {
      const stream = new ExecuteStream(call, { runtime, backend: deps.backend, logger: deps.logger, limits: deps.limits, admission: deps.admission, policy: deps.policy, caller: principalOf(call), held: deps.held });
      deps.streams.add(stream);
      void stream.finished.then(() => deps.streams.delete(stream));
    },
  }, certificateGuard(deps));
}

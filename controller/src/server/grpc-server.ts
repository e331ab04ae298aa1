import { Server, ServerCredentials, type ServerOptions } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { addReflectionService } from "./reflection.js";
import { withPreEncodedEventStreams } from "../api/event-stream.js";
import { AsmError, ControllerServiceService, guardService, TlsServerCredentials, type CallCredentials, type ControllerServiceServer, type Principal, type Logger } from "@asm/shared";

export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Require and verify a client certificate from the CA (else one is optional, and tokens name callers). */
  requireClientCert: boolean;
}

export interface ListenOptions {
  /** host:port; port 0 picks a free port. */
  address: string;
  /** TLS for clients; undefined only with `insecure`. */
  tls: TlsFiles | undefined;
  /** Plaintext listener; only allowed on a loopback address. */
  insecure: boolean;
}

const SERVICE_NAME = "asm.v1.ControllerService";
/** How often the client port's certificate files are checked for a rotation (as on the executor). */
const CERTIFICATE_POLL_MS = 2000;

export function isLoopbackAddress(address: string): boolean {
  const host = address.startsWith("[") ? address.slice(1, address.indexOf("]")) : address.slice(0, address.lastIndexOf(":"));
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A request that did not decode; the gate refuses its call with `error` (INVALID_ARGUMENT). */
class UndecodableRequest {
  constructor(readonly error: AsmError) {}
}

/** Which request field a decoder failure of each method is about (the decoder does not say). */
const DECODE_FIELD: Record<string, { recursion?: string; range?: string }> = {
  createSession: { recursion: "options" },
  streamRun: { recursion: "overrides" },
  query: { recursion: "overrides" },
  watchRun: { range: "after_sequence" },
};

/**
 * The service definition with request decoders that never throw: a request that cannot be
 * decoded (a 64-bit number past 2^53 - 1, values nested past the decoder's depth limit) becomes
 * an UndecodableRequest, refused by the gate as the client's mistake, not INTERNAL.
 */
function tolerantDecoders(definition: typeof ControllerServiceService): typeof ControllerServiceService {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          const hint = DECODE_FIELD[name] ?? {};
          const field = /recursion/i.test(reason) ? hint.recursion : /MAX_SAFE_INTEGER/.test(reason) ? hint.range : undefined;
          return new UndecodableRequest(
            new AsmError({
              reasonCode: "request_undecodable",
              field,
              message: /MAX_SAFE_INTEGER/.test(reason) ? "a 64-bit number over 2^53 - 1 (9007199254740991) is not accepted" : `the request cannot be decoded: ${reason}`,
            }),
          );
        }
      },
    };
  }
  return out as typeof ControllerServiceService;
}

/**
 * The controller's gRPC server: the public API, standard health checking, and reflection. Returns
 * the bound port and a two-stage shutdown.
 */
export class ControllerServer {
  private readonly server: Server;
  private readonly health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE_NAME]: "NOT_SERVING" });
  private drainError: AsmError | undefined;
  port = 0;

  private credentials: TlsServerCredentials | undefined;

  constructor(
    service: ControllerServiceServer,
    /** Names the caller of a call, or throws UNAUTHENTICATED (see client-auth.ts). */
    authenticate: (call: CallCredentials, method: string) => Promise<Principal>,
    private readonly logger: Logger,
    options: ServerOptions = {},
  ) {
    this.server = new Server({
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_send_message_length": 4 * 1024 * 1024 - 64 * 1024,
      ...options,
    });
    // The one door of every API call: the caller is authenticated first (UNAUTHENTICATED, before
    // anything else is said); once the server drains, each new call is refused with the drain's
    // error (UNAVAILABLE); a request that did not decode is the client's mistake (INVALID_ARGUMENT).
    const guarded = guardService(service, async (call, method) => {
      const principal = await authenticate(call, method);
      if (this.drainError) throw this.drainError;
      if (call.request instanceof UndecodableRequest) throw call.request.error;
      return principal;
    });
    this.server.addService(withPreEncodedEventStreams(tolerantDecoders(ControllerServiceService)), guarded);
    this.health.addToServer(this.server);
    // Reflection for exactly what this server serves (not the executor's service).
    addReflectionService(this.server, [SERVICE_NAME, "grpc.health.v1.Health"]);
  }

  async listen(opts: ListenOptions): Promise<number> {
    let credentials: ServerCredentials;
    if (opts.tls) {
      // TLS 1.3 only; certificate files are watched and reloaded without a restart.
      this.credentials = new TlsServerCredentials(opts.tls, this.logger, opts.tls.requireClientCert);
      this.credentials.watch(CERTIFICATE_POLL_MS);
      credentials = this.credentials;
    } else if (opts.insecure && isLoopbackAddress(opts.address)) {
      credentials = ServerCredentials.createInsecure();
    } else {
      throw new Error(`refusing a plaintext listener on ${opts.address}: plaintext is only allowed on loopback and only when explicitly enabled`);
    }
    this.port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(opts.address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.health.setStatus("", "SERVING");
    this.health.setStatus(SERVICE_NAME, "SERVING");
    this.logger.info({ port: this.port, tls: Boolean(opts.tls) }, "controller listening");
    return this.port;
  }

  /**
   * Stage one of the shutdown, at once: health answers NOT_SERVING and every new call is refused
   * with UNAVAILABLE / controller_shutting_down; calls already running go on.
   */
  beginDrain(): void {
    if (this.drainError) return;
    this.drainError = new AsmError({
      reasonCode: "controller_shutting_down",
      message: "the controller is shutting down and takes no new calls; retry on another controller or after its restart",
    });
    this.health.setStatus("", "NOT_SERVING");
    this.health.setStatus(SERVICE_NAME, "NOT_SERVING");
  }

  /** Stage two: the running calls end (their runs have been stopped); forced after `graceMs`. */
  async shutdown(graceMs: number): Promise<void> {
    this.beginDrain();
    this.credentials?.unwatch();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

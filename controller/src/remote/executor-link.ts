import { credentials, Metadata, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import { ASM_VERSION, AsmError, EXECUTOR_PROTOCOL_VERSION, ExecutorServiceClient, fromGrpcError, isBareStatus, type HandshakeResponse } from "@asm/shared";
import { dialExecutor, executorIdentityCheck, type ClientIdentity, type ExecutorTarget } from "./executor-dialer.js";

/** Capabilities every executor must have for this controller to use it. */
export const REQUIRED_CAPABILITIES = ["execute_v1", "heartbeat_v1"];

export interface LinkSettings {
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  maxMessageBytes: number;
  /**
   * HTTP/2 receive window of the link (per run stream and for the connection). grpc-js keeps the
   * 64 KiB protocol default and does not grow it; at that size a busy run waits on window updates.
   */
  flowControlWindowBytes: number;
}

export interface OpenOptions {
  connectTimeoutMs: number;
  rpcTimeoutMs: number;
  cookie: string;
}

function majorMinor(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/** Maps a failed unary call to the executor to its typed error. */
export function rpcFailure(target: ExecutorTarget, method: string, err: ServiceError, timeoutMs: number): AsmError {
  if (err.code === 4 /* DEADLINE_EXCEEDED */) {
    return new AsmError({
      domain: "transport",
      reasonCode: "rpc_timeout",
      message: `executor ${target.node}: ${method} got no answer within remote_rpc_timeout_ms (${timeoutMs} ms)`,
      details: { executor: target.node, method, timeout_ms: timeoutMs },
    });
  }
  const typed = fromGrpcError(err);
  if (!isBareStatus(typed)) {
    // The executor's own typed refusal (cookie, identity), with the executor named.
    return typed.with({ message: `executor ${target.node}: ${typed.message}`, details: { executor: target.node, method, ...typed.details } });
  }
  return new AsmError({
    domain: "transport",
    reasonCode: "rpc_failed",
    message: `executor ${target.node}: ${method} failed: ${err.details || err.message}`,
    details: { executor: target.node, method, grpc_code: err.code },
  });
}

/**
 * One mTLS connection to one executor, shared by every run that targets it. Opening it dials
 * (classifying network and certificate failures), connects gRPC, and handshakes (versions,
 * capabilities, CLIs, workspace); every step is bounded.
 */
export class ExecutorLink {
  broken = false;

  private constructor(
    readonly target: ExecutorTarget,
    readonly client: ExecutorServiceClient,
    public handshake: HandshakeResponse,
  ) {}

  static async open(target: ExecutorTarget, identity: ClientIdentity, settings: LinkSettings, opts: OpenOptions): Promise<ExecutorLink> {
    const deadline = Date.now() + opts.connectTimeoutMs;
    await dialExecutor(target, identity, opts.connectTimeoutMs);
    const options: ChannelOptions = {
      "grpc.ssl_target_name_override": target.serverName,
      "grpc.default_authority": target.serverName,
      "grpc.keepalive_time_ms": settings.keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": settings.keepaliveTimeoutMs,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_send_message_length": settings.maxMessageBytes,
      "grpc.max_receive_message_length": settings.maxMessageBytes,
      "grpc-node.flow_control_window": settings.flowControlWindowBytes,
      "grpc.enable_retries": 0,
    };
    const channelCredentials = credentials.createSsl(identity.ca, identity.key, identity.cert, { checkServerIdentity: executorIdentityCheck(target.serverName) });
    const client = new ExecutorServiceClient(`${target.host}:${target.port}`, channelCredentials, options);
    try {
      await new Promise<void>((resolve, reject) =>
        client.waitForReady(deadline, (err) =>
          err
            ? reject(new AsmError({ domain: "transport", reasonCode: "connect_timeout", message: `executor ${target.node}: gRPC channel not ready within remote_connect_timeout_ms (${opts.connectTimeoutMs} ms): ${err.message}`, details: { executor: target.node, timeout_ms: opts.connectTimeoutMs } }))
            : resolve(),
        ),
      );
      const handshake = await new Promise<HandshakeResponse>((resolve, reject) =>
        client.handshake(
          { protocolVersion: EXECUTOR_PROTOCOL_VERSION, asmVersion: ASM_VERSION, nodeVersion: process.versions.node, requiredCapabilities: REQUIRED_CAPABILITIES, cookie: opts.cookie },
          new Metadata(),
          { deadline: Date.now() + opts.rpcTimeoutMs },
          (err, response) => (err ? reject(rpcFailure(target, "Handshake", err, opts.rpcTimeoutMs)) : resolve(response)),
        ),
      );
      checkCompatible(target, handshake);
      return new ExecutorLink(target, client, handshake);
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Initializes the executor's runtime (remote_bootstrap_mode ensure_started). */
  async bootstrap(cookie: string, rpcTimeoutMs: number): Promise<void> {
    const response = await new Promise<{ ready: boolean; workspaceRoot: string; error?: import("@asm/shared").AsmErrorMessage }>((resolve, reject) =>
      this.client.bootstrap({ cookie }, new Metadata(), { deadline: Date.now() + rpcTimeoutMs }, (err, res) => (err ? reject(rpcFailure(this.target, "Bootstrap", err, rpcTimeoutMs)) : resolve(res))),
    ).catch((err: unknown) => {
      const asm = AsmError.from(err);
      // The link did not carry the call (timeout, dropped connection): a transport failure, not the executor's answer.
      if (asm.reasonCode === "rpc_timeout" || asm.reasonCode === "rpc_failed") throw asm;
      throw new AsmError({ domain: "transport", reasonCode: "bootstrap_failed", message: `executor ${this.target.node}: bootstrap failed: ${asm.message}`, details: { executor: this.target.node, cause: asm.reasonCode } });
    });
    if (!response.ready) {
      const cause = response.error ? AsmError.fromMessage(response.error).message : "the executor did not become ready";
      throw new AsmError({ domain: "transport", reasonCode: "bootstrap_failed", message: `executor ${this.target.node}: bootstrap failed: ${cause}`, details: { executor: this.target.node } });
    }
    this.handshake = { ...this.handshake, ready: true, workspaceRoot: response.workspaceRoot, workspaceWritable: true };
  }

  /** Whether the channel can still carry calls (a failed one is re-dialled for precise errors). */
  get usable(): boolean {
    if (this.broken) return false;
    const state = this.client.getChannel().getConnectivityState(false);
    return state !== 3 /* TRANSIENT_FAILURE */ && state !== 4 /* SHUTDOWN */;
  }

  close(): void {
    this.broken = true;
    this.client.close();
  }
}

function checkCompatible(target: ExecutorTarget, h: HandshakeResponse): void {
  const mismatch = (what: string, ours: string, theirs: string): AsmError =>
    new AsmError({
      domain: "transport",
      reasonCode: "version_mismatch",
      message: `executor ${target.node}: ${what} ${theirs} is not compatible with this controller's ${ours}`,
      details: { executor: target.node, what, controller: ours, executor_value: theirs },
    });
  if (h.protocolVersion !== EXECUTOR_PROTOCOL_VERSION) throw mismatch("protocol version", String(EXECUTOR_PROTOCOL_VERSION), String(h.protocolVersion));
  if (majorMinor(h.asmVersion) !== majorMinor(ASM_VERSION)) throw mismatch("asm version", ASM_VERSION, h.asmVersion || "(none)");
  const nodeMajor = process.versions.node.split(".")[0]!;
  if (h.nodeVersion.split(".")[0] !== nodeMajor) throw mismatch("Node.js version", process.versions.node, h.nodeVersion || "(none)");
  requireCapabilities(target, h, REQUIRED_CAPABILITIES);
}

/** Throws capability_mismatch naming what the executor lacks. */
export function requireCapabilities(target: ExecutorTarget, h: HandshakeResponse, needed: readonly string[]): void {
  const missing = needed.filter((c) => !h.capabilities.includes(c));
  if (missing.length === 0) return;
  throw new AsmError({
    domain: "transport",
    reasonCode: "capability_mismatch",
    message: `executor ${target.node} lacks ${missing.join(", ")} (it has ${h.capabilities.join(", ") || "none"})`,
    details: { executor: target.node, missing, capabilities: h.capabilities },
  });
}

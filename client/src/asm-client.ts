/**
 * The asm controller from TypeScript: typed calls over the generated stubs, errors as `AsmError`
 * (kind, reason code, field), and runs as re-attaching async iterables (`RunStream`).
 */
import { readFileSync } from "node:fs";
import { credentials, Metadata, type CallOptions, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import {
  ApprovalDecision,
  ControllerServiceClient,
  fromGrpcError,
  newId,
  reduceEvents,
  type CloseSessionResponse,
  type CreateSessionRequest,
  type Event,
  type GetLaneInfoRequest,
  type GetLaneInfoResponse,
  type GetProviderInfoResponse,
  type InterruptResponse,
  type ListExecutorsResponse,
  type ListSessionsRequest,
  type ListSessionsResponse,
  type Provider,
  type ResolveLaneRequest,
  type ResolveLaneResponse,
  type Result,
  type Run,
  type RunOptions,
  type Session,
  type SessionOptions,
} from "@asm/shared";
import { RunStream, type RunStreamOptions } from "./run-stream.js";

/** How to reach a controller. */
export interface ConnectOptions {
  /** `host:port`. */
  address: string;
  /** TLS: the CA that signed the controller's certificate (PEM file); unset = plaintext (loopback only). */
  caFile?: string;
  /** mTLS: the client's certificate and key (PEM files). */
  certFile?: string;
  keyFile?: string;
  /** A bearer token (static token or JWT), sent on every call (needs TLS). */
  token?: string;
  /** Name the controller's certificate must carry, when it differs from the address's host. */
  serverName?: string;
}

function channelCredentials(opts: ConnectOptions): ChannelCredentials {
  if (!opts.caFile) return credentials.createInsecure();
  const ssl = credentials.createSsl(readFileSync(opts.caFile), opts.keyFile ? readFileSync(opts.keyFile) : null, opts.certFile ? readFileSync(opts.certFile) : null);
  if (!opts.token) return ssl;
  const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${opts.token}`);
    callback(null, metadata);
  });
  return credentials.combineChannelCredentials(ssl, bearer);
}

type Unary<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: (err: ServiceError | null, res?: Res) => void) => unknown;

export class AsmClient {
  readonly stub: ControllerServiceClient;

  constructor(opts: ConnectOptions) {
    const options = opts.serverName ? { "grpc.ssl_target_name_override": opts.serverName } : {};
    this.stub = new ControllerServiceClient(opts.address, channelCredentials(opts), options);
  }

  /** Wraps an existing stub (its channel and credentials are the caller's). */
  static fromStub(stub: ControllerServiceClient): AsmClient {
    const client = Object.create(AsmClient.prototype) as AsmClient;
    (client as { stub: ControllerServiceClient }).stub = stub;
    return client;
  }

  close(): void {
    this.stub.close();
  }

  /** Waits until the channel is connected, or fails with a typed error after `timeoutMs`. */
  waitForReady(timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stub.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(fromGrpcError({ code: 14, details: `controller not reachable: ${err.message}` })) : resolve()));
    });
  }

  private unary<Req, Res>(method: Unary<Req, Res>, request: Req, deadlineMs?: number): Promise<Res> {
    return new Promise((resolve, reject) => {
      const options: Partial<CallOptions> = deadlineMs ? { deadline: Date.now() + deadlineMs } : {};
      method.call(this.stub, request, new Metadata(), options, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res as Res)));
    });
  }

  async createSession(provider: Provider, options: Omit<Partial<SessionOptions>, "defaults"> & { defaults?: Partial<RunOptions> } = {}, sessionId = ""): Promise<Session> {
    const request: CreateSessionRequest = { provider, sessionId, options: { ...options, defaults: runOptions(options.defaults) } };
    return (await this.unary(this.stub.createSession, request)).session!;
  }

  async getSession(sessionId: string): Promise<Session> {
    return (await this.unary(this.stub.getSession, { sessionId })).session!;
  }

  listSessions(request: Partial<ListSessionsRequest> = {}): Promise<ListSessionsResponse> {
    return this.unary(this.stub.listSessions, { includeClosed: false, pageSize: 0, pageToken: "", ...request });
  }

  closeSession(sessionId: string): Promise<CloseSessionResponse> {
    return this.unary(this.stub.closeSession, { sessionId });
  }

  async getRun(runId: string): Promise<Run> {
    return (await this.unary(this.stub.getRun, { runId })).run!;
  }

  interrupt(runId: string): Promise<InterruptResponse> {
    return this.unary(this.stub.interrupt, { runId });
  }

  async approve(sessionId: string, approvalId: string, allow: boolean, reason = ""): Promise<void> {
    await this.unary(this.stub.approve, { sessionId, approvalId, decision: allow ? ApprovalDecision.APPROVAL_DECISION_ALLOW : ApprovalDecision.APPROVAL_DECISION_DENY, reason });
  }

  providerInfo(provider: Provider): Promise<GetProviderInfoResponse> {
    return this.unary(this.stub.getProviderInfo, { provider });
  }

  laneInfo(request: Partial<GetLaneInfoRequest> & { provider: Provider }): Promise<GetLaneInfoResponse> {
    return this.unary(this.stub.getLaneInfo, { lane: 0, executionSurface: undefined, ...request });
  }

  resolveLane(request: Partial<ResolveLaneRequest> & { provider: Provider }): Promise<ResolveLaneResponse> {
    return this.unary(this.stub.resolveLane, { lane: 0, executionMode: 0, executionSurface: undefined, ...request });
  }

  listExecutors(): Promise<ListExecutorsResponse> {
    return this.unary(this.stub.listExecutors, {});
  }

  /**
   * Starts a run; iterate it for its events (every one exactly once, in order, across dropped
   * connections). Leaving the loop early interrupts the run (unless `interruptOnBreak: false`).
   */
  run(sessionId: string, prompt: string, opts: RunStreamOptions & { overrides?: Partial<RunOptions>; runId?: string } = {}): RunStream {
    const runId = opts.runId || newId("run");
    return new RunStream(this.stub, runId, { kind: "start", sessionId, prompt, overrides: opts.overrides ? runOptions(opts.overrides) : undefined }, opts);
  }

  /** Follows an existing run from after `fromSequence` (0: from its start). */
  watch(runId: string, fromSequence = 0, opts: RunStreamOptions = {}): RunStream {
    return new RunStream(this.stub, runId, { kind: "watch", fromSequence }, { interruptOnBreak: false, ...opts });
  }

  /** Runs to the end and returns the projected result (the same reducer as the controller's). */
  async query(sessionId: string, prompt: string, opts: RunStreamOptions & { overrides?: Partial<RunOptions> } = {}): Promise<Result> {
    const events: Event[] = [];
    for await (const event of this.run(sessionId, prompt, opts)) events.push(event);
    return reduceEvents(events);
  }
}

/** RunOptions with every field the caller left out unset. */
export function runOptions(partial: Partial<RunOptions> = {}): RunOptions {
  return { lane: 0, executionMode: 0, permissionMode: 0, env: {}, driverOpts: undefined, providerOptions: undefined, executionSurface: undefined, ...partial };
}

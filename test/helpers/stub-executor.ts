import { readFileSync } from "node:fs";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { Server, ServerCredentials, status as Status, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall } from "@grpc/grpc-js";
import {
  ASM_VERSION,
  ExecutorServiceService,
  type BootstrapRequest,
  type BootstrapResponse,
  type ExecuteRequest,
  type ExecuteResponse,
  type HandshakeRequest,
  type HandshakeResponse,
} from "@asm/shared";
import type { CertFiles, TestPki } from "./pki.js";

/** What the stub does when the controller handshakes. */
export type HandshakeScript = { handshake: "stall" } | { handshake: Partial<HandshakeResponse> };

export interface StubExecutor {
  port: number;
  address: string;
  /** Every HandshakeRequest received, in order. */
  handshakes: HandshakeRequest[];
  /** How many Bootstrap calls and Execute streams arrived (a stub never runs anything). */
  bootstraps: number;
  executes: number;
  stop(): Promise<void>;
}

/** The handshake of a current executor serving claude; a script overrides fields of it. */
export function currentHandshake(): HandshakeResponse {
  return {
    protocolVersion: 1,
    asmVersion: ASM_VERSION,
    nodeVersion: process.versions.node,
    capabilities: ["execute_v1", "heartbeat_v1", "bootstrap_v1", "approvals_v1", "interrupt_v1", "lease_v1", "provider.claude"],
    providers: [],
    workspaceRoot: "/stub-workspace",
    workspaceWritable: true,
    ready: true,
    executorName: "executor-a",
  };
}

/**
 * A real grpc-js server speaking ExecutorService over real mTLS (the test PKI's executor
 * certificate, client certificates from the test CA required) whose Handshake is scripted: it
 * stands, at the process edge, for an executor of another version or one that stalled. It never
 * runs anything: Bootstrap answers not ready, Execute ends UNIMPLEMENTED (both counted).
 */
export async function startStubExecutor(opts: { pki: TestPki; script: HandshakeScript; cert?: CertFiles }): Promise<StubExecutor> {
  const cert = opts.cert ?? opts.pki.executor;
  const server = new Server();
  const stalled: sendUnaryData<HandshakeResponse>[] = [];
  const stub: Omit<StubExecutor, "port" | "address" | "stop"> = { handshakes: [], bootstraps: 0, executes: 0 };
  server.addService(ExecutorServiceService, {
    handshake: (call: ServerUnaryCall<HandshakeRequest, HandshakeResponse>, callback: sendUnaryData<HandshakeResponse>) => {
      stub.handshakes.push(call.request);
      const script = opts.script.handshake;
      if (script === "stall") stalled.push(callback);
      else callback(null, { ...currentHandshake(), ...script });
    },
    bootstrap: (_call: ServerUnaryCall<BootstrapRequest, BootstrapResponse>, callback: sendUnaryData<BootstrapResponse>) => {
      stub.bootstraps += 1;
      callback(null, { ready: false, workspaceRoot: "", error: undefined });
    },
    execute: (call: ServerDuplexStream<ExecuteRequest, ExecuteResponse>) => {
      stub.executes += 1;
      call.on("error", () => undefined);
      call.emit("error", { code: Status.UNIMPLEMENTED, details: "stub executor runs nothing" });
    },
  });
  const credentials = ServerCredentials.createSsl(readFileSync(opts.pki.ca.cert), [{ cert_chain: readFileSync(cert.cert), private_key: readFileSync(cert.key) }], true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (err, p) => (err ? reject(err) : resolve(p))));
  return Object.assign(stub, {
    port,
    address: `127.0.0.1:${port}`,
    stop: async () => {
      server.forceShutdown();
    },
  });
}

export interface SilentTcpServer {
  port: number;
  address: string;
  /** Connections accepted so far. */
  accepted: number;
  stop(): Promise<void>;
}

/** Accepts TCP connections and never says anything: a connect whose TLS handshake never completes. */
export async function startSilentTcpServer(): Promise<SilentTcpServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0 };
  const server: NetServer = createServer((socket) => {
    state.accepted += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    port,
    address: `127.0.0.1:${port}`,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A loopback port that was bound and closed again: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

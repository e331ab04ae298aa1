import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type PeerCertificate, type TLSSocket } from "node:tls";
import { credentials, Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ASM_VERSION, ExecutorServiceClient, fromGrpcError, Provider, type ExecuteResponse, type HandshakeResponse } from "@asm/shared";
import { startExecutorProcess, type ExecutorProcess } from "../../helpers/executor-process.js";
import { createTestPki, type CertFiles, type TestPki } from "../../helpers/pki.js";
import { runOptions } from "../../helpers/sessions.js";
import { readRecord } from "../../helpers/test-controller.js";

// Acceptance 5: the executor accepts only TLS 1.3 connections whose client certificate comes from
// its CA, is valid, and names an allowed identity; anything else is refused before a run starts.

let pki: TestPki;
let executor: ExecutorProcess;
let callCounter = 0;

beforeAll(async () => {
  pki = createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
  executor = await startExecutorProcess({ pki });
});
afterAll(async () => {
  await executor?.stop();
});

/** A gRPC client of the executor presenting `identity` (none: no client certificate). */
function clientFor(address: string, identity: CertFiles | undefined, serverName = "executor-a"): ExecutorServiceClient {
  const ca = readFileSync(pki.ca.cert);
  const creds = identity ? credentials.createSsl(ca, readFileSync(identity.key), readFileSync(identity.cert)) : credentials.createSsl(ca);
  return new ExecutorServiceClient(address, creds, { "grpc.ssl_target_name_override": serverName, "grpc.default_authority": serverName });
}

function handshake(client: ExecutorServiceClient): Promise<HandshakeResponse> {
  return new Promise((resolve, reject) =>
    client.handshake(
      { protocolVersion: 1, asmVersion: ASM_VERSION, nodeVersion: process.versions.node, requiredCapabilities: ["execute_v1"], cookie: "" },
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
}

async function handshakeError(client: ExecutorServiceClient): Promise<ServiceError> {
  try {
    await handshake(client);
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error("the handshake succeeded but was expected to be refused");
}

/** Opens an Execute stream, sends a start running the fake CLI (recording into `record`), reads to the end. */
function execute(client: ExecutorServiceClient, record: string): Promise<{ replies: ExecuteResponse[]; error?: ServiceError }> {
  callCounter += 1;
  return new Promise((resolve) => {
    const replies: ExecuteResponse[] = [];
    const call = client.execute(new Metadata(), { deadline: Date.now() + 15_000 });
    call.on("data", (reply: ExecuteResponse) => {
      replies.push(reply);
      if (reply.reply?.$case === "exit") call.end();
    });
    call.on("error", (error: ServiceError) => resolve({ replies, error }));
    call.on("end", () => resolve({ replies }));
    call.write({
      command: {
        $case: "start",
        value: {
          runId: `mtls-run-${callCounter}`,
          sessionId: `mtls-session-${callCounter}`,
          provider: Provider.PROVIDER_CLAUDE,
          prompt: "hello",
          options: runOptions({ cliPath: inject("fakeClaudePath"), env: { FAKE_CLI_RECORD: record } }),
          resumeProviderSessionId: "",
          remoteCwd: "",
          leaseTimeoutMs: 1000,
          cookie: "",
          extra: undefined,
        },
      },
    });
  });
}

/**
 * A raw TLS connection presenting `identity`: whether the TLS handshake completed on the client's
 * side, whether the server then said anything at the HTTP/2 level (its SETTINGS frame, sent once it
 * accepted the connection), and the TLS error, if any. In TLS 1.3 the server judges the client
 * certificate after the client considers the handshake done, so a refusal shows as silence + close.
 */
function rawTls(identity: CertFiles | undefined, extra: { maxVersion?: "TLSv1.2" } = {}): Promise<{ serverSpoke: boolean; errorCode?: string }> {
  return new Promise((resolve) => {
    let serverSpoke = false;
    let errorCode: string | undefined;
    const socket = connect({
      host: "127.0.0.1",
      port: executor.port,
      ca: readFileSync(pki.ca.cert),
      ...(identity ? { cert: readFileSync(identity.cert), key: readFileSync(identity.key) } : {}),
      servername: "executor-a",
      ALPNProtocols: ["h2"],
      ...extra,
    });
    socket.once("secureConnect", () => socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    socket.once("data", () => {
      serverSpoke = true;
      socket.destroy();
    });
    socket.once("error", (err: NodeJS.ErrnoException) => (errorCode = err.code ?? err.message));
    socket.once("close", () => resolve({ serverSpoke, errorCode }));
    // Only so that a hung server cannot hang the test; not a timing assertion.
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

/** The certificate the server presents on a fresh TLS connection (as the controller identity). */
function peerCertificate(address: { port: number }): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: "127.0.0.1",
      port: address.port,
      ca: readFileSync(pki.ca.cert),
      cert: readFileSync(pki.controllerClient.cert),
      key: readFileSync(pki.controllerClient.key),
      checkServerIdentity: () => undefined,
      ALPNProtocols: ["h2"],
    });
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve(cert);
    });
    socket.once("error", reject);
  });
}

describe("executor mTLS: who may connect", () => {
  it("the allowed controller identity handshakes and can run", async () => {
    const client = clientFor(executor.address, pki.controllerClient);
    try {
      const h = await handshake(client);
      expect(h.capabilities).toEqual(expect.arrayContaining(["execute_v1", "heartbeat_v1", "provider.claude"]));
      expect(h.executorName).toBe("executor-a");
      expect(h.workspaceWritable).toBe(true);
      expect(h.ready).toBe(true);
      expect(await rawTls(pki.controllerClient)).toEqual({ serverSpoke: true, errorCode: undefined });
      // The same start message the refused callers send does spawn the CLI for an allowed caller.
      const record = join(executor.workspace, "allowed.jsonl");
      const { replies, error } = await execute(client, record);
      expect(error).toBeUndefined();
      expect(replies.map((r) => r.reply?.$case)).toContain("started");
      const exit = replies.at(-1)!.reply;
      expect(exit?.$case === "exit" && exit.value.error).toBeFalsy();
      expect(readRecord(record).some((x) => x.t === "start")).toBe(true);
    } finally {
      client.close();
    }
  });

  for (const [what, identity] of [
    ["no client certificate", () => undefined],
    ["a certificate from another CA", () => pki.rogueClient],
    ["an expired certificate", () => pki.expiredClient],
  ] as const) {
    it(`refuses ${what} at the TLS handshake: no call, no run`, async () => {
      expect((await rawTls(identity())).serverSpoke).toBe(false);
      const client = clientFor(executor.address, identity());
      try {
        const err = await handshakeError(client);
        expect(err.code).toBe(Status.UNAVAILABLE);
        const record = join(executor.workspace, `refused-${what.replace(/\W+/g, "-")}.jsonl`);
        const { replies, error } = await execute(client, record);
        expect(error?.code).toBe(Status.UNAVAILABLE);
        expect(replies).toEqual([]);
        expect(existsSync(record)).toBe(false);
      } finally {
        client.close();
      }
    });
  }

  it("refuses a valid certificate whose identity is not allowed: PERMISSION_DENIED identity_not_allowed", async () => {
    // TLS accepts it (CA-signed, valid); the executor's allow-list refuses it on every call.
    expect((await rawTls(pki.strangerClient)).serverSpoke).toBe(true);
    const client = clientFor(executor.address, pki.strangerClient);
    try {
      const err = await handshakeError(client);
      expect(err.code).toBe(Status.PERMISSION_DENIED);
      const typed = fromGrpcError(err);
      expect(typed.kind).toBe("permission_denied");
      expect(typed.reasonCode).toBe("identity_not_allowed");
      expect(typed.message).toContain("stranger");
      const record = join(executor.workspace, "stranger.jsonl");
      const { replies, error } = await execute(client, record);
      expect(error?.code).toBe(Status.PERMISSION_DENIED);
      expect(fromGrpcError(error!).reasonCode).toBe("identity_not_allowed");
      expect(replies).toEqual([]);
      expect(existsSync(record)).toBe(false);
    } finally {
      client.close();
    }
  });

  it("refuses a TLS 1.2 client even with the allowed certificate", async () => {
    const outcome = await rawTls(pki.controllerClient, { maxVersion: "TLSv1.2" });
    expect(outcome.serverSpoke).toBe(false);
    expect(outcome.errorCode).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
  });
});

describe("executor certificate rotation", () => {
  it("serves a replaced certificate and key on new connections without a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "asm-rotating-"));
    const cert = { cert: join(dir, "executor.crt"), key: join(dir, "executor.key") };
    copyFileSync(pki.executor.cert, cert.cert);
    copyFileSync(pki.executor.key, cert.key);
    const rotating = await startExecutorProcess({ pki, cert });
    try {
      expect((await peerCertificate(rotating)).subject.CN).toBe("executor-a");
      // Atomic replacement: write beside, rename over.
      copyFileSync(pki.executorB.cert, `${cert.cert}.new`);
      copyFileSync(pki.executorB.key, `${cert.key}.new`);
      renameSync(`${cert.key}.new`, cert.key);
      renameSync(`${cert.cert}.new`, cert.cert);
      // The executor polls its files every 2 s.
      await expect.poll(async () => (await peerCertificate(rotating)).subject.CN, { timeout: 15_000, interval: 250 }).toBe("executor-b");
      expect(rotating.proc.exitCode).toBeNull();
      // A controller that expects executor-b can now handshake with it.
      const client = clientFor(rotating.address, pki.controllerClient, "executor-b");
      try {
        const h = await handshake(client);
        expect(h.capabilities).toContain("execute_v1");
      } finally {
        client.close();
      }
    } finally {
      await rotating.stop();
    }
  });
});

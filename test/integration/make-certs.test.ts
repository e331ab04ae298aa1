import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import {
  Server,
  ServerCredentials,
  credentials,
  makeGenericClientConstructor,
  status as Status,
  type ServiceDefinition,
  type ServiceError,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identitiesOf, identitiesOfPem, isIdentityAllowed, loadTlsMaterial, type CertFiles } from "@asm/shared";

const REPO = join(import.meta.dirname, "..", "..");
const MAKE_CERTS = join(REPO, "controller", "dist", "cli", "make-certs.js");

function makeCerts(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAKE_CERTS, ...args], { cwd: REPO }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A one-method service whose answer is the identities of the client certificate the server saw. */
const WhoAmI: ServiceDefinition = {
  whoAmI: {
    path: "/asm.test.WhoAmI/WhoAmI",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (v: string) => Buffer.from(v),
    responseDeserialize: (b: Buffer) => b.toString("utf8"),
  },
};
const WhoAmIClient = makeGenericClientConstructor(WhoAmI, "WhoAmI");

async function startServer(files: CertFiles, caFile: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const tls = loadTlsMaterial({ caFile, certFile: files.cert, keyFile: files.key });
  const server = new Server();
  server.addService(WhoAmI, {
    whoAmI: (call: ServerUnaryCall<Buffer, string>, callback: sendUnaryData<string>) => {
      callback(null, JSON.stringify(identitiesOf(call.getAuthContext().sslPeerCertificate ?? {})));
    },
  });
  const creds = ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { port, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** Calls WhoAmI over mTLS; resolves with what each side saw of the other. */
async function whoAmI(port: number, files: CertFiles, caFile: string): Promise<{ clientSeen: string[]; serverSaw: string[] }> {
  const tls = loadTlsMaterial({ caFile, certFile: files.cert, keyFile: files.key });
  let serverSaw: string[] = [];
  const creds = credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: (host: string, cert: PeerCertificate) => {
      serverSaw = identitiesOf(cert);
      return checkServerIdentity(host, cert);
    },
  });
  // Dial the loopback address the server bound, verifying the certificate for the name "localhost".
  const client = new WhoAmIClient(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" });
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const method = (client as unknown as Record<string, (req: Buffer, cb: (e: ServiceError | null, r?: string) => void) => void>).whoAmI!;
      method.call(client, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!)));
    });
    return { clientSeen: JSON.parse(answer) as string[], serverSaw };
  } finally {
    client.close();
  }
}

describe("make certs", () => {
  let dir: string;
  let out: string;
  let run: { code: number; stdout: string; stderr: string };
  const file = (...parts: string[]): string => join(out, ...parts);
  const pair = (base: string): CertFiles => ({ cert: file(`${base}.crt`), key: file(`${base}.key`) });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "asm-make-certs-"));
    out = join(dir, "certs");
    run = await makeCerts(["--out", out, "--executor", "executor-a", "--executor", "executor-b"]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes the CA, controller, client and executor certificates, keys private", () => {
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    for (const base of ["ca", "controller", "client", "executors/executor-a", "executors/executor-b"]) {
      const { cert, key } = pair(base);
      expect(existsSync(cert)).toBe(true);
      expect(statSync(key).mode & 0o777).toBe(0o600);
    }
    expect(identitiesOfPem(readFileSync(pair("executors/executor-a").cert))).toEqual(["executor-a", "localhost", "127.0.0.1"]);
    expect(identitiesOfPem(readFileSync(pair("controller").cert))).toEqual(["controller", "localhost", "127.0.0.1"]);
    const ca = new X509Certificate(readFileSync(file("ca.crt")));
    expect(new X509Certificate(readFileSync(pair("client").cert)).verify(ca.publicKey)).toBe(true);
  });

  it("prints the files and the environment each process needs", () => {
    expect(run.stdout).toContain(`wrote a development PKI to ${out}`);
    for (const line of [
      `export ASM_TLS_CA=${file("ca.crt")}`,
      `export ASM_TLS_CERT=${file("controller.crt")}`,
      `export ASM_TLS_KEY=${file("controller.key")}`,
      `export ASM_REMOTE_TLS_CA=${file("ca.crt")}`,
      `export ASM_REMOTE_TLS_CERT=${file("controller.crt")}`,
      `export ASM_REMOTE_TLS_KEY=${file("controller.key")}`,
      "export ASM_EXECUTORS=executor-a=localhost:7443,executor-b=localhost:7444",
      "export ASM_EXECUTOR_LISTEN=127.0.0.1:7444",
      `export ASM_EXECUTOR_TLS_CA=${file("ca.crt")}`,
      `export ASM_EXECUTOR_TLS_CERT=${file("executors", "executor-b.crt")}`,
      `export ASM_EXECUTOR_TLS_KEY=${file("executors", "executor-b.key")}`,
      "export ASM_EXECUTOR_ALLOW_CLIENTS=controller",
    ]) {
      expect(run.stdout.split("\n").map((l) => l.trim())).toContain(line);
    }
  });

  it("an executor-certificate server and a controller-certificate client complete an mTLS handshake", async () => {
    const server = await startServer(pair("executors/executor-a"), file("ca.crt"));
    try {
      const { clientSeen, serverSaw } = await whoAmI(server.port, pair("controller"), file("ca.crt"));
      expect(serverSaw).toEqual(["executor-a", "localhost", "127.0.0.1"]);
      expect(clientSeen).toEqual(["controller", "localhost", "127.0.0.1"]);
      expect(isIdentityAllowed(clientSeen, ["controller"])).toBe(true);

      // The API client's certificate is from the same CA, so it connects; its identity is not the controller's.
      const asClient = await whoAmI(server.port, pair("client"), file("ca.crt"));
      expect(isIdentityAllowed(asClient.clientSeen, ["controller"])).toBe(false);

      // An executor certificate is for serving only: as a client it fails the handshake.
      const err = await whoAmI(server.port, pair("executors/executor-b"), file("ca.crt")).catch((e: ServiceError) => e);
      expect((err as ServiceError).code).toBe(Status.UNAVAILABLE);
    } finally {
      await server.stop();
    }
  });

  it("refuses to overwrite, and replaces with --force", async () => {
    const before = readFileSync(file("ca.crt"), "utf8");
    const again = await makeCerts(["--out", out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("--force");
    expect(readFileSync(file("ca.crt"), "utf8")).toBe(before);

    // Replacing the PKI with fewer executors leaves executor-b's files signed by the old CA: named as stale.
    const forced = await makeCerts(["--out", out, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(file("ca.crt"), "utf8")).not.toBe(before);
    expect(forced.stderr).toContain("not signed by the new CA");
    expect(forced.stderr).toContain(file("executors", "executor-b.crt"));
    expect(forced.stderr).not.toContain(file("executors", "executor-a.crt"));
  });

  it("--help prints usage, an unknown flag is a usage error", async () => {
    const help = await makeCerts(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--executor NAME");
    const bad = await makeCerts(["--bogus"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--bogus");
  });
});

import { mkdirSync } from "node:fs";
import { createCa, issueCertificate, type CertFiles } from "@asm/shared";

export type { CertFiles };

export interface TestPki {
  dir: string;
  ca: CertFiles;
  /** Server certificate for localhost / 127.0.0.1 (CN=controller, serverAuth). */
  server: CertFiles;
  /** Client certificate signed by the CA (CN=client, SAN URI spiffe://asm.test/client/c1). */
  client: CertFiles;
  /** A CA nobody trusts, and a client certificate it signed. */
  rogueCa: CertFiles;
  rogueClient: CertFiles;
  /** Executor "executor-a": CN and SAN DNS executor-a, DNS:localhost, IP:127.0.0.1, serverAuth. */
  executor: CertFiles;
  /** Executor "executor-b", same shape. */
  executorB: CertFiles;
  /** The controller's identity towards executors: CN=controller, clientAuth. */
  controllerClient: CertFiles;
  /** CN=controller, clientAuth, from the CA, but its validity ended yesterday. */
  expiredClient: CertFiles;
  /** CN=stranger, clientAuth, valid and from the CA, but on no allow list. */
  strangerClient: CertFiles;
  /** Claims to be executor-a (same names) but is signed by the rogue CA. */
  rogueExecutor: CertFiles;
}

/** The controller identity executors in tests allow. */
export const TEST_CONTROLLER_IDENTITY = "controller";

/** Generates a real test PKI with openssl (EC P-256, SHA-256): one openssl call per certificate. */
export function createTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const days = 2;
  const ca = createCa(dir, "asm-test-ca", { days });
  const rogueCa = createCa(dir, "rogue-ca", { days });
  const local = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };
  const executorCert = (name: string, fileName: string, issuer: CertFiles): CertFiles =>
    issueCertificate({ dir, name, fileName, ca: issuer, dnsNames: [name, "localhost"], ipAddresses: ["127.0.0.1"], usage: "server", days });
  const clientCert = (name: string, fileName: string, extra: { expired?: boolean; uris?: string[] } = {}, issuer = ca): CertFiles =>
    issueCertificate({ dir, name, fileName, ca: issuer, usage: "client", days, ...extra });

  return {
    dir,
    ca,
    server: issueCertificate({ dir, name: "controller", ca, ...local, usage: "server", days }),
    client: clientCert("client", "client", { uris: ["spiffe://asm.test/client/c1"] }),
    rogueCa,
    rogueClient: clientCert("rogue-client", "rogue-client", {}, rogueCa),
    executor: executorCert("executor-a", "executor-a", ca),
    executorB: executorCert("executor-b", "executor-b", ca),
    controllerClient: clientCert(TEST_CONTROLLER_IDENTITY, "controller-client"),
    expiredClient: clientCert(TEST_CONTROLLER_IDENTITY, "expired-controller-client", { expired: true }),
    strangerClient: clientCert("stranger", "stranger-client"),
    rogueExecutor: executorCert("executor-a", "rogue-executor-a", rogueCa),
  };
}

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: CertFiles;
  /** Server certificate for localhost / 127.0.0.1. */
  server: CertFiles;
  /** Client certificate signed by the CA. */
  client: CertFiles;
  /** A CA nobody trusts, and a client certificate it signed. */
  rogueCa: CertFiles;
  rogueClient: CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function keyPair(dir: string, name: string): string {
  const key = join(dir, `${name}.key`);
  openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], dir);
  return key;
}

function selfSignedCa(dir: string, name: string): CertFiles {
  const key = keyPair(dir, name);
  const cert = join(dir, `${name}.crt`);
  openssl(["req", "-x509", "-new", "-key", key, "-sha256", "-days", "2", "-subj", `/CN=${name}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", cert], dir);
  return { cert, key };
}

function signed(dir: string, name: string, ca: CertFiles, extensions: string, days = 2): CertFiles {
  const key = keyPair(dir, name);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(["req", "-new", "-key", key, "-subj", `/CN=${name}`, "-out", csr], dir);
  openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-sha256", "-days", String(days), "-extfile", ext, "-out", cert], dir);
  return { cert, key };
}

/** Generates a real development PKI with openssl (EC P-256, SHA-256). */
export function createTestPki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const ca = selfSignedCa(dir, "asm-test-ca");
  const server = signed(dir, "controller", ca, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  const client = signed(dir, "client", ca, "subjectAltName=URI:spiffe://asm.test/client/c1\nextendedKeyUsage=clientAuth\n");
  const rogueCa = selfSignedCa(dir, "rogue-ca");
  const rogueClient = signed(dir, "rogue-client", rogueCa, "extendedKeyUsage=clientAuth\n");
  return { dir, ca, server, client, rogueCa, rogueClient };
}

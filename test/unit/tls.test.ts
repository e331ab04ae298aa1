import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AsmError,
  certificateName,
  createDevPki,
  identitiesOf,
  identitiesOfPem,
  isIdentityAllowed,
  issueCertificate,
  loadTlsMaterial,
} from "@asm/shared";
import { createTestPki, type TestPki } from "../helpers/pki.js";

let dir: string;
let pki: TestPki;
const pem = (path: string): string => readFileSync(path, "utf8");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "asm-tls-test-"));
  pki = createTestPki(join(dir, "pki"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function thrown(fn: () => unknown): AsmError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AsmError);
    return err as AsmError;
  }
  throw new Error("expected an AsmError, nothing was thrown");
}

describe("certificate identities", () => {
  it("reads CN, SAN DNS names, URIs and IPs without prefixes, deduplicated", () => {
    expect(identitiesOfPem(pem(pki.executor.cert))).toEqual(["executor-a", "localhost", "127.0.0.1"]);
    expect(identitiesOfPem(pem(pki.executorB.cert))).toEqual(["executor-b", "localhost", "127.0.0.1"]);
    expect(identitiesOfPem(pem(pki.client.cert))).toEqual(["client", "spiffe://asm.test/client/c1"]);
    expect(identitiesOfPem(pem(pki.controllerClient.cert))).toEqual(["controller"]);
    expect(identitiesOfPem(pem(pki.strangerClient.cert))).toEqual(["stranger"]);
    expect(identitiesOfPem(pem(pki.rogueExecutor.cert))).toEqual(["executor-a", "localhost", "127.0.0.1"]);
  });

  it("takes an X509Certificate or a tls.PeerCertificate-shaped object", () => {
    const x509 = new X509Certificate(pem(pki.server.cert));
    expect(identitiesOf(x509)).toEqual(["controller", "localhost", "127.0.0.1"]);
    expect(identitiesOf(x509.toLegacyObject())).toEqual(["controller", "localhost", "127.0.0.1"]);
    expect(identitiesOf({})).toEqual([]);
    expect(
      identitiesOf({
        subject: { CN: ["a", "b"] },
        subjectaltname: 'DNS:a, DNS:"x, y", email:e@example.com, IP Address:::1, URI:spiffe://t/n, IP Address:10.0.0.1, URI:spiffe://t/n',
      }),
    ).toEqual(["a", "b", "x, y", "spiffe://t/n", "::1", "10.0.0.1"]);
  });

  it("certificateName is the subject CN", () => {
    expect(certificateName(pem(pki.executor.cert))).toBe("executor-a");
    expect(certificateName(readFileSync(pki.controllerClient.cert))).toBe("controller");
    expect(thrown(() => certificateName("not a certificate")).reasonCode).toBe("tls_file_invalid");
  });

  it("allow lists match identities exactly, and * admits anyone", () => {
    const controller = identitiesOfPem(pem(pki.controllerClient.cert));
    const stranger = identitiesOfPem(pem(pki.strangerClient.cert));
    expect(isIdentityAllowed(controller, ["controller"])).toBe(true);
    expect(isIdentityAllowed(stranger, ["controller"])).toBe(false);
    expect(isIdentityAllowed(controller, ["Controller", "controller.example", "control"])).toBe(false);
    expect(isIdentityAllowed(controller, [])).toBe(false);
    expect(isIdentityAllowed(stranger, ["*"])).toBe(true);
    expect(isIdentityAllowed(identitiesOfPem(pem(pki.client.cert)), ["spiffe://asm.test/client/c1"])).toBe(true);
  });
});

describe("generated certificates", () => {
  it("the expired client certificate is really expired, and otherwise like the controller's", () => {
    const expired = new X509Certificate(pem(pki.expiredClient.cert));
    expect(new Date(expired.validTo).getTime()).toBeLessThan(Date.now());
    expect(new Date(expired.validFrom).getTime()).toBeLessThan(new Date(expired.validTo).getTime());
    expect(identitiesOf(expired)).toEqual(["controller"]);
    expect(expired.verify(new X509Certificate(pem(pki.ca.cert)).publicKey)).toBe(true);
    expect(new Date(new X509Certificate(pem(pki.controllerClient.cert)).validTo).getTime()).toBeGreaterThan(Date.now());
  });

  it("each certificate is signed by its CA, with the usage asked for, and keys are private", () => {
    const ca = new X509Certificate(pem(pki.ca.cert));
    const rogueCa = new X509Certificate(pem(pki.rogueCa.cert));
    expect(ca.ca).toBe(true);
    for (const files of [pki.server, pki.client, pki.executor, pki.executorB, pki.controllerClient, pki.strangerClient]) {
      const cert = new X509Certificate(pem(files.cert));
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.ca).toBe(false);
      expect(statSync(files.key).mode & 0o777).toBe(0o600);
    }
    expect(new X509Certificate(pem(pki.rogueExecutor.cert)).verify(ca.publicKey)).toBe(false);
    expect(new X509Certificate(pem(pki.rogueExecutor.cert)).verify(rogueCa.publicKey)).toBe(true);
    expect(new X509Certificate(pem(pki.executor.cert)).keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // serverAuth
    expect(new X509Certificate(pem(pki.controllerClient.cert)).keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth
  });

  it("rejects names that would not survive openssl's syntax", () => {
    const e = thrown(() => issueCertificate({ dir, name: "a/CN=b", ca: pki.ca, usage: "client" }));
    expect(e.kind).toBe("config_invalid");
    expect(thrown(() => issueCertificate({ dir, name: "x", ca: pki.ca, usage: "server", dnsNames: ["a,DNS:b"] })).field).toBe("dnsNames");
    expect(thrown(() => issueCertificate({ dir, name: "x", ca: pki.ca, usage: "server", ipAddresses: ["localhost"] })).field).toBe("ipAddresses");
  });
});

describe("loadTlsMaterial", () => {
  const files = () => ({ caFile: pki.ca.cert, certFile: pki.executor.cert, keyFile: pki.executor.key });

  it("reads the three PEM files", () => {
    const material = loadTlsMaterial(files());
    expect(material.ca.toString()).toBe(pem(pki.ca.cert));
    expect(material.cert.toString()).toBe(pem(pki.executor.cert));
    expect(material.key.toString()).toBe(pem(pki.executor.key));
  });

  it("does not judge expiry: an expired certificate loads (the handshake rejects it)", () => {
    expect(() => loadTlsMaterial({ caFile: pki.ca.cert, certFile: pki.expiredClient.cert, keyFile: pki.expiredClient.key })).not.toThrow();
  });

  it("names the option and the file when one is missing", () => {
    const missing = join(dir, "nope.crt");
    const e = thrown(() => loadTlsMaterial({ ...files(), certFile: missing }, { certFile: "ASM_TLS_CERT" }));
    expect(e.kind).toBe("config_invalid");
    expect(e.reasonCode).toBe("tls_file_invalid");
    expect(e.field).toBe("ASM_TLS_CERT");
    expect(e.message).toContain(missing);
    expect(e.message).toContain("does not exist");
  });

  it("names the file that is not PEM, is empty, or is a directory", () => {
    const notPem = join(dir, "not-pem.crt");
    writeFileSync(notPem, "hello\n");
    const empty = join(dir, "empty.key");
    writeFileSync(empty, "");

    const ca = thrown(() => loadTlsMaterial({ ...files(), caFile: notPem }));
    expect([ca.field, ca.reasonCode]).toEqual(["caFile", "tls_file_invalid"]);
    expect(ca.message).toContain(notPem);
    expect(ca.message).toContain("not a PEM certificate");

    const key = thrown(() => loadTlsMaterial({ ...files(), keyFile: pki.executor.cert }, { keyFile: "ASM_TLS_KEY" }));
    expect(key.field).toBe("ASM_TLS_KEY");
    expect(key.message).toContain("not a PEM private key");

    expect(thrown(() => loadTlsMaterial({ ...files(), keyFile: empty })).message).toContain("is empty");
    expect(thrown(() => loadTlsMaterial({ ...files(), caFile: dir })).message).toContain("is a directory");

    const corrupt = join(dir, "corrupt.crt");
    writeFileSync(corrupt, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    expect(thrown(() => loadTlsMaterial({ ...files(), certFile: corrupt })).message).toContain("cannot be parsed");
  });

  it("names the key file when the key belongs to another certificate", () => {
    const e = thrown(() => loadTlsMaterial({ ...files(), keyFile: pki.executorB.key }));
    expect(e.field).toBe("keyFile");
    expect(e.message).toContain(pki.executorB.key);
    expect(e.message).toContain("does not belong to the certificate");
  });
});

describe("createDevPki", () => {
  it("writes the CA, controller, client and one certificate per executor", () => {
    const out = join(dir, "dev");
    const dev = createDevPki(out, { executors: ["executor-a", "executor-b"] });
    expect(Object.keys(dev.executors)).toEqual(["executor-a", "executor-b"]);
    expect(identitiesOfPem(pem(dev.controller.cert))).toEqual(["controller", "localhost", "127.0.0.1"]);
    expect(identitiesOfPem(pem(dev.executors["executor-b"]!.cert))).toEqual(["executor-b", "localhost", "127.0.0.1"]);
    expect(identitiesOfPem(pem(dev.client.cert))).toEqual(["client"]);
    expect(dev.staleFiles).toEqual([]);
    expect(new X509Certificate(pem(dev.controller.cert)).keyUsage.sort()).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    for (const f of [dev.ca, dev.controller, dev.client, ...Object.values(dev.executors)]) expect(statSync(f.key).mode & 0o777).toBe(0o600);
  });

  it("refuses to overwrite an existing PKI unless forced", () => {
    const out = join(dir, "again");
    const first = createDevPki(out, { executors: ["executor-a"] });
    const before = pem(first.ca.cert);

    const e = thrown(() => createDevPki(out, { executors: ["executor-a"] }));
    expect(e.kind).toBe("already_exists");
    expect(e.reasonCode).toBe("dev_pki_exists");
    expect(e.message).toContain(first.ca.cert);
    expect(pem(first.ca.cert)).toBe(before);

    // Even a run that would only add an executor refuses, since the CA would be replaced.
    expect(thrown(() => createDevPki(out, { executors: ["executor-z"] })).reasonCode).toBe("dev_pki_exists");

    const second = createDevPki(out, { executors: ["executor-a"], force: true });
    expect(pem(second.ca.cert)).not.toBe(before);
    expect(new X509Certificate(pem(second.executors["executor-a"]!.cert)).verify(new X509Certificate(pem(second.ca.cert)).publicKey)).toBe(true);
    expect(statSync(second.ca.key).mode & 0o777).toBe(0o600);
    expect(second.staleFiles).toEqual([]);
    expect(createDevPki(out, { executors: [], force: true }).staleFiles.sort()).toEqual([first.executors["executor-a"]!.cert, first.executors["executor-a"]!.key].sort());
  });

  it("rejects executor names that are not DNS names, and duplicates", () => {
    expect(thrown(() => createDevPki(join(dir, "bad"), { executors: ["exec b"] })).field).toBe("executors");
    expect(thrown(() => createDevPki(join(dir, "bad"), { executors: ["e1", "e1"] })).message).toContain("twice");
  });
});

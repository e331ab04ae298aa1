import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { AsmError } from "../errors/asm-error.js";

/** Paths of the PEM files one TLS endpoint needs: the trusted CA bundle, its certificate and key. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** The contents of those files, in the form grpc-js credentials take. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** The configuration option each file came from (e.g. `ASM_TLS_CERT`), used as the error's `field`. */
export type TlsFieldNames = Partial<Record<keyof TlsFiles, string>>;

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";
const PEM_PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/**
 * Reads and checks a CA bundle, certificate and private key. Every problem (missing, unreadable,
 * empty, not PEM, unparsable, key not matching the certificate) is an `AsmError` of kind
 * `config_invalid`, reason `tls_file_invalid`, naming the option and the file. Expiry is not
 * checked here: the TLS handshake is where validity is judged.
 */
export function loadTlsMaterial(files: TlsFiles, fieldNames: TlsFieldNames = {}): TlsMaterial {
  const field = (name: keyof TlsFiles): string => fieldNames[name] ?? name;
  const ca = readPem(files.caFile, field("caFile"), "CA certificate");
  const cert = readPem(files.certFile, field("certFile"), "certificate");
  const key = readPem(files.keyFile, field("keyFile"), "private key");

  const caText = ca.toString("utf8");
  if (!caText.includes(PEM_CERTIFICATE)) throw invalid(field("caFile"), files.caFile, "is not a PEM certificate (no BEGIN CERTIFICATE block)");
  parseCertificate(caText, field("caFile"), files.caFile);

  const certText = cert.toString("utf8");
  if (!certText.includes(PEM_CERTIFICATE)) throw invalid(field("certFile"), files.certFile, "is not a PEM certificate (no BEGIN CERTIFICATE block)");
  const leaf = parseCertificate(certText, field("certFile"), files.certFile);

  const keyText = key.toString("utf8");
  if (!PEM_PRIVATE_KEY.test(keyText)) throw invalid(field("keyFile"), files.keyFile, "is not a PEM private key (no BEGIN PRIVATE KEY block)");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyText);
  } catch (err) {
    throw invalid(field("keyFile"), files.keyFile, `cannot be parsed as an unencrypted private key (${errorText(err)})`, err);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw invalid(field("keyFile"), files.keyFile, `does not belong to the certificate in ${files.certFile}`);
  }
  return { ca, cert, key };
}

function readPem(path: string, field: string, what: string): Buffer {
  if (path.trim() === "") throw invalid(field, path, `no ${what} file given`);
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem =
      code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not readable (permission denied)" : code === "EISDIR" ? "is a directory" : `cannot be read (${code ?? errorText(err)})`;
    throw invalid(field, path, problem, err);
  }
  if (data.toString("utf8").trim() === "") throw invalid(field, path, "is empty");
  return data;
}

function parseCertificate(pem: string, field: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw invalid(field, path, `cannot be parsed as an X.509 certificate (${errorText(err)})`, err);
  }
}

function invalid(field: string, file: string, problem: string, cause?: unknown): AsmError {
  return new AsmError({
    reasonCode: "tls_file_invalid",
    field,
    message: `${field}: ${file === "" ? "(empty path)" : file} ${problem}`,
    details: { file, problem },
    cause,
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

import { X509Certificate } from "node:crypto";
import { AsmError } from "../errors/asm-error.js";

/**
 * The parts of a certificate identities are read from: the shape of `tls.PeerCertificate` (what
 * grpc-js `call.getAuthContext().sslPeerCertificate` and `tls.checkServerIdentity` hand over) and of
 * `X509Certificate.toLegacyObject()`.
 */
export interface CertificateFields {
  subject?: { CN?: string | string[] } | undefined;
  subjectaltname?: string | undefined;
}

/** Allow-list entry that admits every identity whose certificate the trusted CA issued. */
export const ANY_IDENTITY = "*";

/**
 * The identities a certificate claims: subject CN, then every SAN DNS name, URI and IP address, as
 * plain strings without type prefixes, deduplicated. It does not verify anything: call it on a
 * certificate the TLS handshake has already validated against the trusted CA.
 */
export function identitiesOf(cert: CertificateFields | X509Certificate): string[] {
  const fields: CertificateFields = cert instanceof X509Certificate ? cert.toLegacyObject() : cert;
  const commonNames = fields.subject?.CN;
  const cn = commonNames === undefined ? [] : Array.isArray(commonNames) ? commonNames : [commonNames];
  const san = parseSubjectAltName(fields.subjectaltname ?? "");
  const pick = (type: string): string[] => san.filter((e) => e.type === type).map((e) => e.value);
  const all = [...cn, ...pick("DNS"), ...pick("URI"), ...pick("IP Address")].filter((v) => v !== "");
  return [...new Set(all)];
}

/**
 * The one name a client certificate's holder goes by as a principal: its first URI SAN (a SPIFFE
 * id, say), else its first DNS SAN, else its subject CN; undefined when it has none of them.
 */
export function principalNameOf(cert: CertificateFields | X509Certificate): string | undefined {
  const fields: CertificateFields = cert instanceof X509Certificate ? cert.toLegacyObject() : cert;
  const san = parseSubjectAltName(fields.subjectaltname ?? "");
  const first = (type: string): string | undefined => san.find((e) => e.type === type && e.value !== "")?.value;
  const commonNames = fields.subject?.CN;
  const cn = Array.isArray(commonNames) ? commonNames[0] : commonNames;
  return first("URI") ?? first("DNS") ?? (cn || undefined);
}

/** `identitiesOf` for a PEM certificate (the first one in the text). */
export function identitiesOfPem(pem: string | Buffer): string[] {
  return identitiesOf(parsePem(pem));
}

/** True when any identity is on the allow list (exact match), or the list holds `*`. */
export function isIdentityAllowed(identities: readonly string[], allowList: readonly string[]): boolean {
  if (allowList.includes(ANY_IDENTITY)) return true;
  return identities.some((id) => allowList.includes(id));
}

/** The subject CN of a PEM certificate: the name a certificate's holder goes by by default. */
export function certificateName(pem: string | Buffer): string {
  const cn = parsePem(pem).toLegacyObject().subject?.CN as string | string[] | undefined;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (name === undefined || name === "") {
    throw new AsmError({ reasonCode: "tls_certificate_unnamed", message: "the certificate has no subject common name (CN)" });
  }
  return name;
}

function parsePem(pem: string | Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new AsmError({
      reasonCode: "tls_file_invalid",
      message: `not a PEM X.509 certificate (${err instanceof Error ? err.message : String(err)})`,
      cause: err,
    });
  }
}

interface SanEntry {
  type: string;
  value: string;
}

/**
 * Parses Node's `subjectaltname` text: `DNS:a, IP Address:127.0.0.1, URI:spiffe://x`. Since Node
 * 17.3.1 a value holding a comma, quote or other special character is written as a JSON string
 * (`DNS:"a, b"`), so a plain split on ", " would be wrong.
 */
function parseSubjectAltName(text: string): SanEntry[] {
  const entries: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === "\\" ? 2 : 1;
      const quoted = text.slice(j, k + 1);
      try {
        value = JSON.parse(quoted) as string;
      } catch {
        value = quoted;
      }
      j = k + 1;
    } else {
      const end = text.indexOf(", ", j);
      value = text.slice(j, end < 0 ? text.length : end);
      j = end < 0 ? text.length : end;
    }
    entries.push({ type, value });
    const next = text.indexOf(", ", j);
    if (next < 0) break;
    i = next + 2;
  }
  return entries;
}

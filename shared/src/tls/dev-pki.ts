import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AsmError } from "../errors/asm-error.js";

/**
 * A development PKI made offline with the `openssl` binary: EC P-256 keys, SHA-256 signatures.
 * For development and tests only; production certificates come from the operator's own CA.
 */

/** Paths of a certificate and its private key (PEM). */
export interface CertFiles {
  cert: string;
  key: string;
}

/** What a certificate may be used for: TLS server, TLS client, or both. */
export type CertificateUsage = "server" | "client" | "both";

export interface CreateCaOptions {
  /** Base name of the files (`<fileName>.crt`, `<fileName>.key`); defaults to `name`. */
  fileName?: string;
  days?: number;
  /** Replace existing files instead of refusing. */
  force?: boolean;
}

export interface IssueCertificateOptions {
  dir: string;
  /** Subject CN. */
  name: string;
  /** Base name of the files; defaults to `name`. */
  fileName?: string;
  ca: CertFiles;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  usage: CertificateUsage;
  /** Validity in days from now (default 365). */
  days?: number;
  /** Issue a certificate whose validity lies entirely in the past (for rejection tests). */
  expired?: boolean;
  force?: boolean;
}

export interface DevPkiOptions {
  /** One server certificate per executor name (CN and SAN DNS = the name). */
  executors: readonly string[];
  days?: number;
  /** Replace an existing PKI in `dir` instead of refusing. */
  force?: boolean;
}

export interface DevPki {
  dir: string;
  /** The CA every party trusts (`ca.crt`); its key signs everything else. */
  ca: CertFiles;
  /** CN=controller, SAN DNS:localhost, IP:127.0.0.1; server for clients and client identity towards executors. */
  controller: CertFiles;
  /** Per executor name: CN=name, SAN DNS:name, DNS:localhost, IP:127.0.0.1; server only. */
  executors: Record<string, CertFiles>;
  /** CN=client, client authentication, for API clients. */
  client: CertFiles;
  /** Certificates and keys left in `executors/` by an earlier run and not replaced: no longer signed by `ca`. */
  staleFiles: string[];
}

const DEFAULT_DAYS = 365;
const CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256"];
const DNS_NAME = /^(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s,"'\\$]+$/;
const EXTENDED_KEY_USAGE: Record<CertificateUsage, string> = { server: "serverAuth", client: "clientAuth", both: "serverAuth,clientAuth" };

/** Minimal `openssl req` configuration, so the host's openssl.cnf adds nothing of its own. */
const REQ_CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n";

/** A self-signed CA certificate and key in `dir`. */
export function createCa(dir: string, name: string, options: CreateCaOptions = {}): CertFiles {
  checkName("CA name", name);
  const files = filesFor(dir, options.fileName ?? name);
  prepareTargets(files, options.force ?? false);
  withWorkDir((work) => {
    const config = join(work, "req.cnf");
    writeFileSync(config, REQ_CONFIG);
    openssl(
      ["req", "-config", config, "-x509", ...CURVE, "-keyout", files.key, "-out", files.cert, "-subj", `/CN=${name}`, "-days", String(options.days ?? DEFAULT_DAYS * 2),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      work,
    );
  });
  chmodSync(files.key, 0o600);
  return files;
}

/** A leaf certificate and key signed by `ca`. One openssl call, two when `expired`. */
export function issueCertificate(options: IssueCertificateOptions): CertFiles {
  checkName("certificate name", options.name);
  const dnsNames = options.dnsNames ?? [];
  const ipAddresses = options.ipAddresses ?? [];
  const uris = options.uris ?? [];
  for (const d of dnsNames) if (!DNS_NAME.test(d)) throw badInput("dnsNames", `not a DNS name: ${JSON.stringify(d)}`);
  for (const ip of ipAddresses) if (isIP(ip) === 0) throw badInput("ipAddresses", `not an IP address: ${JSON.stringify(ip)}`);
  for (const u of uris) if (!URI.test(u)) throw badInput("uris", `not a URI usable in a certificate: ${JSON.stringify(u)}`);

  const files = filesFor(options.dir, options.fileName ?? options.name);
  prepareTargets(files, options.force ?? false);
  const san = [...dnsNames.map((d) => `DNS:${d}`), ...ipAddresses.map((ip) => `IP:${ip}`), ...uris.map((u) => `URI:${u}`)].join(",");
  const extensions = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    `extendedKeyUsage=${EXTENDED_KEY_USAGE[options.usage]}`,
    ...(san === "" ? [] : [`subjectAltName=${san}`]),
  ];
  const ca = { cert: resolve(options.ca.cert), key: resolve(options.ca.key) };

  withWorkDir((work) => {
    const config = join(work, "req.cnf");
    writeFileSync(config, REQ_CONFIG);
    if (!options.expired) {
      openssl(
        ["req", "-config", config, "-x509", ...CURVE, "-keyout", files.key, "-out", files.cert, "-subj", `/CN=${options.name}`,
          "-CA", ca.cert, "-CAkey", ca.key, "-days", String(options.days ?? DEFAULT_DAYS), ...extensions.flatMap((e) => ["-addext", e])],
        work,
      );
      return;
    }
    // `req -x509` in OpenSSL 3.0 cannot back-date; `openssl ca` takes explicit start and end dates.
    const csr = join(work, "request.csr");
    openssl(["req", "-config", config, "-new", ...CURVE, "-keyout", files.key, "-out", csr, "-subj", `/CN=${options.name}`], work);
    mkdirSync(join(work, "db"));
    writeFileSync(join(work, "db", "index.txt"), "");
    writeFileSync(
      join(work, "ca.cnf"),
      [
        "[ca]", "default_ca = dev_ca",
        "[dev_ca]", "database = ./db/index.txt", "new_certs_dir = ./db", "rand_serial = yes", "default_md = sha256",
        "policy = policy_any", "unique_subject = no", "copy_extensions = none", "email_in_dn = no",
        "[policy_any]", "commonName = supplied",
        "[leaf]", ...extensions,
        "",
      ].join("\n"),
    );
    const day = 24 * 60 * 60 * 1000;
    const now = Date.now();
    openssl(
      ["ca", "-config", "ca.cnf", "-batch", "-notext", "-in", csr, "-out", files.cert, "-cert", ca.cert, "-keyfile", ca.key, "-extensions", "leaf",
        "-startdate", generalizedTime(now - 3 * day), "-enddate", generalizedTime(now - day)],
      work,
    );
  });
  chmodSync(files.key, 0o600);
  return files;
}

/**
 * A complete development PKI in `dir`: `ca.*`, `controller.*`, `client.*` and `executors/<name>.*`.
 * Refuses, before writing anything, when any of those files exists, unless `force`.
 */
export function createDevPki(dir: string, options: DevPkiOptions): DevPki {
  const root = resolve(dir);
  const names = [...options.executors];
  for (const name of names) {
    if (!DNS_NAME.test(name) || name.startsWith("*")) throw badInput("executors", `executor name ${JSON.stringify(name)} is not usable as a DNS name`);
  }
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw badInput("executors", `executor name ${JSON.stringify(duplicate)} is given twice`);

  const executorDir = join(root, "executors");
  const targets = [
    filesFor(root, "ca"),
    filesFor(root, "controller"),
    filesFor(root, "client"),
    ...names.map((n) => filesFor(executorDir, n)),
  ].flatMap((f) => [f.cert, f.key]);
  const existing = targets.filter((p) => existsSync(p));
  if (existing.length > 0 && !options.force) {
    throw new AsmError({
      reasonCode: "dev_pki_exists",
      field: "dir",
      message: `refusing to overwrite the certificates already in ${root} (${existing.join(", ")}); choose another directory, or replace them with the force option`,
      details: { dir: root, existing },
    });
  }
  mkdirSync(executorDir, { recursive: true, mode: 0o700 });

  const force = options.force ?? false;
  const days = options.days ?? DEFAULT_DAYS;
  const ca = createCa(root, "asm-dev-ca", { fileName: "ca", days: days * 2, force });
  const local = { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] };
  const controller = issueCertificate({ dir: root, name: "controller", ca, ...local, usage: "both", days, force });
  const client = issueCertificate({ dir: root, name: "client", ca, usage: "client", days, force });
  const executors: Record<string, CertFiles> = {};
  for (const name of names) {
    executors[name] = issueCertificate({ dir: executorDir, name, ca, dnsNames: [name, "localhost"], ipAddresses: ["127.0.0.1"], usage: "server", days, force });
  }
  const written = new Set(targets);
  const staleFiles = readdirSync(executorDir)
    .filter((f) => f.endsWith(".crt") || f.endsWith(".key"))
    .map((f) => join(executorDir, f))
    .filter((p) => !written.has(p));
  return { dir: root, ca, controller, executors, client, staleFiles };
}

function filesFor(dir: string, base: string): CertFiles {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(base)) throw badInput("fileName", `not a usable file name: ${JSON.stringify(base)}`);
  return { cert: resolve(dir, `${base}.crt`), key: resolve(dir, `${base}.key`) };
}

function prepareTargets(files: CertFiles, force: boolean): void {
  for (const path of [files.cert, files.key]) {
    if (!existsSync(path)) continue;
    if (!force) {
      throw new AsmError({ reasonCode: "certificate_exists", message: `${path} already exists; pass force to replace it`, details: { file: path } });
    }
    unlinkSync(path); // a fresh file, so the key gets mode 0600 from the start
  }
}

function checkName(what: string, name: string): void {
  // The name lands in an openssl `-subj` argument, where `/`, `=` and `\` are syntax.
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._:@-]*$/.test(name)) throw badInput("name", `${what} ${JSON.stringify(name)} may hold only letters, digits, space and . _ : @ -`);
}

function badInput(field: string, message: string): AsmError {
  return new AsmError({ reasonCode: "dev_pki_invalid", field, message });
}

function generalizedTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

function withWorkDir(fn: (dir: string) => void): void {
  const work = mkdtempSync(join(tmpdir(), "asm-pki-"));
  try {
    fn(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, OPENSSL_CONF: join(cwd, "req.cnf") } });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer; status?: number | null };
    if (e.code === "ENOENT") {
      throw new AsmError({ domain: "config", reasonCode: "openssl_not_found", message: "the openssl binary is not on PATH; install OpenSSL to generate certificates", cause: err });
    }
    const stderr = e.stderr?.toString("utf8").trim() ?? "";
    throw new AsmError({
      reasonCode: "openssl_failed",
      message: `openssl ${args[0]} failed${e.status == null ? "" : ` (exit ${e.status})`}: ${stderr.split("\n").slice(-3).join(" | ")}`,
      stderrTail: stderr.slice(-2000),
      exitCode: e.status ?? undefined,
      cause: err,
    });
  }
}

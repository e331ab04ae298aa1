#!/usr/bin/env node
import { relative } from "node:path";
import { parseArgs } from "node:util";
import { AsmError, createDevPki, type CertFiles, type DevPki } from "@asm/shared";

/** `make certs`: writes a development PKI (CA, controller, executors, client) and prints how to use it. */

const FIRST_EXECUTOR_PORT = 7443;

const USAGE = `usage: make-certs [--out DIR] [--executor NAME]... [--force]

Generates a development PKI with openssl (EC P-256, SHA-256), for local use and tests only.

  --out DIR        where to write the files (default: certs/dev)
  --executor NAME  an executor certificate (CN and SAN DNS = NAME); repeat for several (default: executor-a)
  --force          replace certificates already in DIR instead of refusing
  --help           this text
`;

function main(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: "string", default: "certs/dev" },
        executor: { type: "string", multiple: true },
        force: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`make-certs: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  let pki: DevPki;
  try {
    pki = createDevPki(values.out, { executors: values.executor ?? ["executor-a"], force: values.force });
  } catch (err) {
    const exists = err instanceof AsmError && err.reasonCode === "dev_pki_exists";
    const message = exists ? `${values.out} already holds certificates; choose another --out, or rerun with --force to replace them` : err instanceof AsmError ? err.message : String(err);
    process.stderr.write(`make-certs: ${message}\n`);
    return err instanceof AsmError && err.kind !== "internal" ? 2 : 1;
  }
  process.stdout.write(report(pki));
  if (pki.staleFiles.length > 0) {
    process.stderr.write(`make-certs: warning: these files are from an earlier run and are not signed by the new CA; remove them: ${pki.staleFiles.join(" ")}\n`);
  }
  return 0;
}

function report(pki: DevPki): string {
  const shown = (p: string): string => relative(process.cwd(), p) || ".";
  const pair = (label: string, f: CertFiles): string => `  ${label.padEnd(22)} ${shown(f.cert)}  ${shown(f.key)}`;
  const env = (vars: Record<string, string>): string => Object.entries(vars).map(([k, v]) => `  export ${k}=${shellQuote(v)}`).join("\n");
  const executorNames = Object.keys(pki.executors);
  // Executors on one development host listen on consecutive ports from 7443 (the agent's default).
  const port = (i: number): number => FIRST_EXECUTOR_PORT + i;
  const lines = [
    `wrote a development PKI to ${pki.dir} (keys mode 0600; do not use in production)`,
    pair("CA", pki.ca),
    pair("controller", pki.controller),
    ...executorNames.map((name) => pair(`executor ${name}`, pki.executors[name]!)),
    pair("client", pki.client),
    "",
    "controller (TLS API for clients; CN=controller is also its client identity towards executors):",
    env({
      ASM_TLS_CA: pki.ca.cert,
      ASM_TLS_CERT: pki.controller.cert,
      ASM_TLS_KEY: pki.controller.key,
      ASM_REMOTE_TLS_CA: pki.ca.cert,
      ASM_REMOTE_TLS_CERT: pki.controller.cert,
      ASM_REMOTE_TLS_KEY: pki.controller.key,
      ...(executorNames.length > 0 ? { ASM_EXECUTORS: executorNames.map((name, i) => `${name}=localhost:${port(i)}`).join(",") } : {}),
    }),
    ...executorNames.flatMap((name, i) => [
      "",
      `executor agent ${name} (mTLS server; its name is its certificate's CN; accepts the controller's identity):`,
      env({
        ASM_EXECUTOR_LISTEN: `127.0.0.1:${port(i)}`,
        ASM_EXECUTOR_TLS_CA: pki.ca.cert,
        ASM_EXECUTOR_TLS_CERT: pki.executors[name]!.cert,
        ASM_EXECUTOR_TLS_KEY: pki.executors[name]!.key,
        ASM_EXECUTOR_ALLOW_CLIENTS: "controller",
      }),
    ]),
    "",
    "API clients: trust ca.crt, present client.crt and client.key (CN=client), and address the controller as localhost or 127.0.0.1.",
    "",
  ];
  return lines.join("\n");
}

function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

process.exitCode = main(process.argv.slice(2));

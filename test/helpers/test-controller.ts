import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { ControllerConfigSchema, startController, type ControllerApp } from "@asm/controller";
import { credentials } from "@grpc/grpc-js";
import { ControllerServiceClient, liveCliProcesses, silentLogger, type Clock, type Logger, type PolicyFile, type SdkDiscovery } from "@asm/shared";
import { testPolicy, writePolicy } from "./test-policy.js";
import { bearer, createJwtIssuer } from "./auth.js";
import { createTestPki } from "./pki.js";
import { connectInsecure, type Client } from "./grpc-client.js";

export interface TestController {
  app: ControllerApp;
  client: Client;
  /** The fake claude CLI built for this suite. */
  fakeClaude: string;
  /** A scratch directory for this controller (cwd of runs, record files). */
  dir: string;
  stop(): Promise<void>;
}

/** Starts a real controller on 127.0.0.1:0 (plaintext loopback) and a client for it. */
export interface TestControllerOptions {
  env?: Record<string, string>;
  /** SDK discovery: injected, or "installed" for the controller's own (the optional SDK packages). Default: none found. */
  sdkDiscovery?: SdkDiscovery | "installed";
  clock?: Clock;
  /** Changes to the suite's operator policy (test-policy.ts); ignored when env sets ASM_POLICY_FILE. */
  policy?: Partial<PolicyFile>;
  /** More of the controller's own environment (operator-supplied CLI variables, ASM_<P>_CLI_PATH). */
  hostEnv?: Record<string, string>;
  /** The controller's logger (default: silent). */
  logger?: Logger;
  /**
   * How `client` authenticates. Default: plaintext loopback (the `local` principal). `mtls`: TLS,
   * client certificates required, the client presents one (its principal is the certificate's
   * URI SAN). `jwt`: TLS, the client sends a bearer JWT signed by a configured key (principal `tester`).
   */
  auth?: "mtls" | "jwt";
}

export async function startTestController(opts: TestControllerOptions = {}): Promise<TestController> {
  const dir = mkdtempSync(join(tmpdir(), "asm-test-"));
  const auth = await clientAuth(dir, opts.auth);
  const config = ControllerConfigSchema.parse({
    ASM_LISTEN: "127.0.0.1:0",
    ASM_INSECURE_LOOPBACK: "1",
    ASM_KILL_GRACE_MS: "300",
    ASM_LOG_LEVEL: "silent",
    ASM_SHUTDOWN_GRACE_MS: "1000",
    ASM_DEFAULT_CWD: dir,
    ASM_POLICY_FILE: writePolicy(dir, testPolicy(opts.policy)),
    ...auth.env,
    ...opts.env,
  });
  const app = await startController({
    config,
    logger: opts.logger ?? silentLogger(),
    // npx puts node_modules/.bin (with the real provider CLIs) on PATH; runs name their CLI explicitly.
    hostEnv: { PATH: systemPath(), HOME: dir, ...opts.hostEnv },
    sdkDiscovery: opts.sdkDiscovery === "installed" ? undefined : (opts.sdkDiscovery ?? (() => false)),
    clock: opts.clock,
  });
  const client = auth.connect(app.port);
  return {
    app,
    client,
    fakeClaude: inject("fakeClaudePath"),
    dir,
    stop: async () => {
      client.close();
      await app.stop();
    },
  };
}

/** The controller settings and the client of an `auth` mode. */
async function clientAuth(dir: string, mode: TestControllerOptions["auth"]): Promise<{ env: Record<string, string>; connect(port: number): Client }> {
  if (mode === undefined) return { env: {}, connect: (port) => connectInsecure(port) };
  const pki = createTestPki(join(dir, "pki"));
  const tls = { ASM_INSECURE_LOOPBACK: "0", ASM_TLS_CA: pki.ca.cert, ASM_TLS_CERT: pki.server.cert, ASM_TLS_KEY: pki.server.key };
  const ca = readFileSync(pki.ca.cert);
  if (mode === "mtls") {
    return { env: tls, connect: (port) => new ControllerServiceClient(`localhost:${port}`, credentials.createSsl(ca, readFileSync(pki.client.key), readFileSync(pki.client.cert))) };
  }
  const jwt = await createJwtIssuer(dir);
  const token = await jwt.sign({ sub: "tester", expSecondsFromNow: 24 * 3600 });
  return {
    env: { ...tls, ASM_TLS_REQUIRE_CLIENT_CERT: "0", ASM_AUTH_JWT_JWKS_FILE: jwt.jwksFile, ASM_AUTH_JWT_ISSUER: jwt.issuer, ASM_AUTH_JWT_AUDIENCE: jwt.audience },
    connect: (port) => new ControllerServiceClient(`localhost:${port}`, credentials.createSsl(ca), { interceptors: [bearer(token)] }),
  };
}

/** PATH without node_modules/.bin: a CLI is only found where a test puts it. */
export function systemPath(): string {
  return (process.env.PATH ?? "/usr/bin:/bin")
    .split(":")
    .filter((dir) => !dir.includes("node_modules"))
    .join(":");
}

export interface FakeRecord {
  t: string;
  [key: string]: unknown;
}

/** Reads the JSONL record the fake CLI wrote. */
export function readRecord(path: string): FakeRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FakeRecord);
}

/** Whether a process exists and is not a zombie (killed orphans may wait as zombies for PID 1). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Whether every pid is gone, allowing a short bound for the kernel to deliver a SIGKILL already sent. */
export async function allGone(pids: number[]): Promise<boolean> {
  return eventually(() => pids.every((p) => !isAlive(p)), 2000);
}

/** Polls until `check` holds or the bound passes (for process-exit observation, not speed). */
export async function eventually(check: () => boolean, boundMs = 5000): Promise<boolean> {
  const until = Date.now() + boundMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

export { liveCliProcesses };

import { z } from "zod";
import { AsmError, type SurfaceOperatorConfig } from "@asm/shared";
import type { ExecutorEntry } from "../executors/executor-directory.js";

const bool = z.enum(["1", "0", "true", "false"]).transform((v) => v === "1" || v === "true");
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Controller configuration from the environment; every issue is listed at once. */
export const ControllerConfigSchema = z
  .object({
    ASM_LISTEN: z.string().default("127.0.0.1:50051"),
    ASM_INSECURE_LOOPBACK: bool.default(false),
    ASM_TLS_CA: z.string().optional(),
    ASM_TLS_CERT: z.string().optional(),
    ASM_TLS_KEY: z.string().optional(),
    ASM_TLS_REQUIRE_CLIENT_CERT: bool.default(true),
    // Who may call (see README "Authentication"): certificate identities, static tokens, JWTs.
    ASM_AUTH_CLIENT_IDENTITIES: z.string().default("*"),
    ASM_AUTH_TOKEN_FILE: z.string().min(1).optional(),
    ASM_AUTH_JWT_JWKS_FILE: z.string().min(1).optional(),
    ASM_AUTH_JWT_PUBLIC_KEY_FILE: z.string().min(1).optional(),
    ASM_AUTH_JWT_ISSUER: z.string().min(1).optional(),
    ASM_AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
    ASM_AUTH_JWT_CLOCK_SKEW_S: int(0, 3600).default(30),
    ASM_AUTH_JWT_ROLES_CLAIM: z.string().min(1).default("roles"),
    ASM_AUTH_JWT_ALGORITHMS: z.string().default("RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,ES512,EdDSA"),
    // What runs (see README "Operator policy"), and what of the host's environment local CLIs get.
    ASM_POLICY_FILE: z.string().min(1).optional(),
    ASM_PASS_ENV: z.string().default(""),
    // execution_surface ssh_exec: the operator's SSH client settings (host keys are always checked).
    ASM_SSH_IDENTITY_FILE: z.string().min(1).optional(),
    ASM_SSH_KNOWN_HOSTS_FILE: z.string().min(1).optional(),
    ASM_SSH_USER: z.string().min(1).optional(),
    ASM_SSH_CONNECT_TIMEOUT_S: int(1, 600).default(10),
    ASM_SSH_ALIVE_INTERVAL_S: int(1, 600).default(5),
    ASM_SSH_ALIVE_COUNT_MAX: int(1, 100).default(3),
    ASM_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    ASM_KILL_GRACE_MS: int(10, 60_000).default(2000),
    ASM_MAX_LINE_BYTES: int(1024, 256 * 1024 * 1024).default(8 * 1024 * 1024),
    ASM_STDERR_TAIL_BYTES: int(256, 1024 * 1024).default(8192),
    ASM_MAX_EVENTS_PER_RUN: int(16, 100_000_000).default(1_000_000),
    // Below the server's 4 MiB send limit and a client's default 4 MiB receive limit.
    ASM_MAX_EVENT_BYTES: int(64 * 1024, 3 * 1024 * 1024).default(1024 * 1024),
    // GetRun / Query stay below the 4 MiB message limits with room for the rest of the run.
    ASM_MAX_RESULT_TEXT_BYTES: int(1024, 2 * 1024 * 1024).default(1024 * 1024),
    ASM_STREAM_WINDOW: int(1, 1_000_000).default(256),
    // What is kept after the fact (finished runs, closed sessions), and the controller-wide caps.
    ASM_RETAINED_RUNS: int(0, 10_000_000).default(10_000),
    ASM_RETAINED_RUN_BYTES: int(0, 2 ** 40).default(256 * 1024 * 1024),
    ASM_RETENTION_MS: int(1000, 30 * 24 * 3_600_000).default(3_600_000),
    ASM_RETAINED_CLOSED_SESSIONS: int(0, 10_000_000).default(10_000),
    ASM_MAX_SESSIONS: int(1, 10_000_000).default(10_000),
    ASM_MAX_ACTIVE_RUNS: int(1, 100_000).default(64),
    ASM_MAX_STARTING_RUNS: int(1, 10_000).default(8),
    ASM_MAX_WAITING_RUNS: int(0, 10_000_000).default(10_000),
    ASM_SHUTDOWN_GRACE_MS: int(0, 600_000).default(10_000),
    ASM_DEFAULT_CWD: z.string().optional(),
    // Where sessions, runs and events are kept (see README "Durability").
    ASM_STORE: z
      .string()
      .regex(/^(sqlite|memory|postgres(ql)?:\/\/.+)$/, "must be sqlite, memory or a postgres:// URL")
      .default("sqlite"),
    ASM_DATA_DIR: z.string().min(1).optional(),
    ASM_STORE_SYNC: z.enum(["normal", "full"]).default("normal"),
    // Several controllers on one PostgreSQL database (see README "Several controllers").
    ASM_CONTROLLER_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1 to 64 of letters, digits and . _ - (not starting with . _ -)").optional(),
    ASM_LEASE_TTL_MS: int(500, 600_000).default(5000),
    ASM_FORWARD_TIMEOUT_MS: int(100, 600_000).default(15_000),
    // Executor directory: comma-separated `name=host:port` or `name=host:port@certificate-name`.
    ASM_EXECUTORS: z.string().default(""),
    // The controller's client identity towards executors (mTLS); unset = remote execution disabled.
    ASM_REMOTE_TLS_CA: z.string().optional(),
    ASM_REMOTE_TLS_CERT: z.string().optional(),
    ASM_REMOTE_TLS_KEY: z.string().optional(),
    ASM_REMOTE_HEARTBEAT_INTERVAL_MS: int(10, 600_000).default(2000),
    ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: int(50, 3_600_000).default(10_000),
    ASM_REMOTE_KEEPALIVE_TIME_MS: int(100, 3_600_000).default(30_000),
    ASM_REMOTE_KEEPALIVE_TIMEOUT_MS: int(100, 600_000).default(10_000),
    ASM_REMOTE_MAX_MESSAGE_BYTES: int(1024 * 1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
    ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES: int(65_535, 2 ** 31 - 1).default(1024 * 1024),
  })
  .superRefine((c, ctx) => {
    const tls = [c.ASM_TLS_CA, c.ASM_TLS_CERT, c.ASM_TLS_KEY].filter(Boolean).length;
    if (tls !== 0 && tls !== 3) ctx.addIssue({ code: "custom", path: ["ASM_TLS_CA"], message: "set ASM_TLS_CA, ASM_TLS_CERT and ASM_TLS_KEY together" });
    const remoteTls = [c.ASM_REMOTE_TLS_CA, c.ASM_REMOTE_TLS_CERT, c.ASM_REMOTE_TLS_KEY].filter(Boolean).length;
    if (remoteTls !== 0 && remoteTls !== 3) ctx.addIssue({ code: "custom", path: ["ASM_REMOTE_TLS_CA"], message: "set ASM_REMOTE_TLS_CA, ASM_REMOTE_TLS_CERT and ASM_REMOTE_TLS_KEY together" });
    if (c.ASM_REMOTE_HEARTBEAT_TIMEOUT_MS <= c.ASM_REMOTE_HEARTBEAT_INTERVAL_MS) ctx.addIssue({ code: "custom", path: ["ASM_REMOTE_HEARTBEAT_TIMEOUT_MS"], message: "must be longer than ASM_REMOTE_HEARTBEAT_INTERVAL_MS" });
    for (const item of c.ASM_EXECUTORS.split(",").map((s) => s.trim()).filter(Boolean)) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*=[^@=\s]+:\d{1,5}(@[^@=\s]+)?$/.test(item)) ctx.addIssue({ code: "custom", path: ["ASM_EXECUTORS"], message: `"${item}" is not name=host:port or name=host:port@certificate-name` });
    }
    const jwtKeys = [c.ASM_AUTH_JWT_JWKS_FILE, c.ASM_AUTH_JWT_PUBLIC_KEY_FILE].filter(Boolean).length;
    if (jwtKeys === 2) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_JWKS_FILE"], message: "set ASM_AUTH_JWT_JWKS_FILE or ASM_AUTH_JWT_PUBLIC_KEY_FILE, not both" });
    if (jwtKeys > 0 && !c.ASM_AUTH_JWT_ISSUER) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_ISSUER"], message: "JWT verification needs the issuer the tokens must name" });
    if (jwtKeys > 0 && !c.ASM_AUTH_JWT_AUDIENCE) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_AUDIENCE"], message: "JWT verification needs the audience the tokens must name" });
    if (jwtKeys === 0 && (c.ASM_AUTH_JWT_ISSUER || c.ASM_AUTH_JWT_AUDIENCE)) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_JWKS_FILE"], message: "ASM_AUTH_JWT_ISSUER / ASM_AUTH_JWT_AUDIENCE need ASM_AUTH_JWT_JWKS_FILE or ASM_AUTH_JWT_PUBLIC_KEY_FILE" });
    for (const alg of list(c.ASM_AUTH_JWT_ALGORITHMS)) {
      if (!JWT_ALGORITHMS.includes(alg)) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_ALGORITHMS"], message: `"${alg}" is not one of ${JWT_ALGORITHMS.join(", ")}` });
    }
    if (list(c.ASM_AUTH_JWT_ALGORITHMS).length === 0) ctx.addIssue({ code: "custom", path: ["ASM_AUTH_JWT_ALGORITHMS"], message: "name at least one algorithm" });
    for (const key of list(c.ASM_PASS_ENV)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) ctx.addIssue({ code: "custom", path: ["ASM_PASS_ENV"], message: `"${key}" is not an environment variable name` });
    }
    if (tls === 3 && !c.ASM_TLS_REQUIRE_CLIENT_CERT && !c.ASM_AUTH_TOKEN_FILE && jwtKeys === 0) {
      ctx.addIssue({ code: "custom", path: ["ASM_TLS_REQUIRE_CLIENT_CERT"], message: "without client certificates a token method is needed (ASM_AUTH_TOKEN_FILE or ASM_AUTH_JWT_*): nobody could authenticate" });
    }
    if (tls === 0 && !c.ASM_INSECURE_LOOPBACK) ctx.addIssue({ code: "custom", path: ["ASM_TLS_CERT"], message: "configure TLS (ASM_TLS_*) or set ASM_INSECURE_LOOPBACK=1 for a loopback-only plaintext listener" });
  });

export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;

/** Asymmetric JWS algorithms only: never `none`, never HMAC (a shared secret is not a public key). */
const JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];

/** The client port's TLS files (ASM_TLS_*, validated to come together), or undefined for plaintext. */
export function clientTlsFiles(config: Readonly<ControllerConfig>): { caFile: string; certFile: string; keyFile: string; requireClientCert: boolean } | undefined {
  return config.ASM_TLS_CA && config.ASM_TLS_CERT && config.ASM_TLS_KEY
    ? { caFile: config.ASM_TLS_CA, certFile: config.ASM_TLS_CERT, keyFile: config.ASM_TLS_KEY, requireClientCert: config.ASM_TLS_REQUIRE_CLIENT_CERT }
    : undefined;
}

/** ASM_CONTROLLER_ID, else the host's name (made a valid id): a restart on the same host takes its sessions back at once. */
export function controllerIdOf(config: Pick<ControllerConfig, "ASM_CONTROLLER_ID">, hostname: string): string {
  if (config.ASM_CONTROLLER_ID) return config.ASM_CONTROLLER_ID;
  const id = hostname.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return id || "controller";
}

/** The items of a comma-separated setting. */
export function list(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

export function loadControllerConfig(env: NodeJS.ProcessEnv): Readonly<ControllerConfig> {
  const parsed = ControllerConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new AsmError({ reasonCode: "controller_config_invalid", message: `invalid controller configuration:\n  ${issues.join("\n  ")}`, details: { issues } });
  }
  return Object.freeze(parsed.data);
}

/** The executor directory entries of ASM_EXECUTORS (already validated by the schema). */
export function executorEntries(config: Pick<ControllerConfig, "ASM_EXECUTORS">): ExecutorEntry[] {
  return config.ASM_EXECUTORS.split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const [name, rest] = item.split("=") as [string, string];
      const [address, serverName] = rest.split("@") as [string, string | undefined];
      return { name, address, serverName: serverName ?? name };
    });
}

/** The operator's settings of execution surfaces (ssh_exec), from the config. */
export function surfaceConfig(config: Readonly<ControllerConfig>): SurfaceOperatorConfig {
  return {
    ssh: {
      identityFile: config.ASM_SSH_IDENTITY_FILE,
      knownHostsFile: config.ASM_SSH_KNOWN_HOSTS_FILE,
      user: config.ASM_SSH_USER,
      connectTimeoutS: config.ASM_SSH_CONNECT_TIMEOUT_S,
      aliveIntervalS: config.ASM_SSH_ALIVE_INTERVAL_S,
      aliveCountMax: config.ASM_SSH_ALIVE_COUNT_MAX,
    },
  };
}

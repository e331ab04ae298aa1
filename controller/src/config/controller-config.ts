import { z } from "zod";
import { AsmError } from "@asm/shared";
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
    if (tls === 0 && !c.ASM_INSECURE_LOOPBACK) ctx.addIssue({ code: "custom", path: ["ASM_TLS_CERT"], message: "configure TLS (ASM_TLS_*) or set ASM_INSECURE_LOOPBACK=1 for a loopback-only plaintext listener" });
  });

export type ControllerConfig = z.infer<typeof ControllerConfigSchema>;

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

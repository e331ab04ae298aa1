import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { AsmError, PROVIDERS, adapterFor, type ProviderName } from "@asm/shared";

/** The executor agent's configuration, after parsing and validation. */
export interface ExecutorConfig {
  /** `host:port` of the mTLS gRPC listener (port 0 picks a free port). */
  readonly listen: string;
  readonly tlsCa: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** Controller identities (certificate CN or SAN) allowed to connect. */
  readonly allowClients: readonly string[];
  /** The executor's name; empty means the CN of its own certificate. */
  readonly name: string;
  /** Absolute workspace root; provider CLIs run in it or below it. */
  readonly workspace: string;
  readonly startMode: StartMode;
  /** Shared secret the controller must present, in addition to mTLS. */
  readonly cookie: string | undefined;
  readonly providers: readonly ProviderName[];
  /** Variables of the executor's own environment passed on to every CLI (e.g. credentials). */
  readonly passEnv: readonly string[];
  /** The executor's own policy file (what a controller may ask it to run); undefined = the defaults. */
  readonly policyFile: string | undefined;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly killGraceMs: number;
  readonly maxLineBytes: number;
  readonly stderrTailBytes: number;
  readonly batchMaxEvents: number;
  readonly batchMaxBytes: number;
  readonly maxMessageBytes: number;
  readonly startTimeoutMs: number;
  /** Runs with a live CLI at once; more wait (RunQueued). */
  readonly maxRuns: number;
  /** Runs starting at once (spawned, no output yet); more wait. */
  readonly maxStarting: number;
  /** Runs that may wait for a slot; past it a run is refused (at_capacity / executor_at_capacity). */
  readonly maxWaiting: number;
  /** Events kept per run until the controller acknowledges them (for its re-attach); past it the CLI waits. */
  readonly replayBufferEvents: number;
  readonly replayBufferBytes: number;
  readonly logLevel: LogLevel;
  /** execution_surface ssh_exec from this executor: the SSH client's identity, known_hosts and bounds. */
  readonly sshIdentity: string | undefined;
  readonly sshKnownHosts: string | undefined;
  readonly sshUser: string | undefined;
  readonly sshConnectTimeoutS: number;
  readonly sshAliveIntervalS: number;
  readonly sshAliveCountMax: number;
}

export const START_MODES = ["prestarted", "deferred"] as const;
export type StartMode = (typeof START_MODES)[number];

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One configuration option: its command-line flag, environment variable, default and parser. */
export interface ExecutorOption<K extends keyof ExecutorConfig = keyof ExecutorConfig> {
  readonly key: K;
  /** `--kebab-case` flag; `--flag value` and `--flag=value` both work. */
  readonly flag: string;
  /** `ASM_EXECUTOR_<UPPER_SNAKE>` environment variable. */
  readonly env: string;
  /** Placeholder for the value in the help text. */
  readonly value: string;
  /** Default in its textual form (run through `schema` like any other value); undefined = none. */
  readonly default: string | undefined;
  /** Whether a value must be given (no default). */
  readonly required: boolean;
  /** The flag may be given several times; the values are joined as a comma list. */
  readonly repeatable: boolean;
  readonly description: string;
  readonly schema: z.ZodType<ExecutorConfig[K], string>;
}

const MIB = 1024 * 1024;

const int = (min: number, max: number): z.ZodType<number, string> =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "expected a non-negative integer")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const nonEmpty = z.string().trim().min(1, "must not be empty");

const commaList = (item: z.ZodType<string, string>): z.ZodType<string[], string> =>
  z
    .string()
    .transform((s) => [...new Set(s.split(",").map((part) => part.trim()).filter(Boolean))])
    .pipe(z.array(item).min(1, "needs at least one entry"));

const hostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/, "expected host:port (e.g. 0.0.0.0:7443 or [::]:7443)")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be at most 65535");

const absolutePath = nonEmpty.transform((p) => (isAbsolute(p) ? p : resolve(p)));

function option<K extends keyof ExecutorConfig>(
  key: K,
  flag: string,
  env: string,
  spec: {
    value: string;
    default?: string;
    required?: boolean;
    repeatable?: boolean;
    description: string;
    schema: z.ZodType<ExecutorConfig[K], string>;
  },
): ExecutorOption<K> {
  return {
    key,
    flag,
    env,
    value: spec.value,
    default: spec.default,
    required: spec.required ?? false,
    repeatable: spec.repeatable ?? false,
    description: spec.description,
    schema: spec.schema,
  };
}

/** Every option of the executor, exactly one per configuration key; `--help` is generated from it. */
export const EXECUTOR_OPTIONS: { readonly [K in keyof ExecutorConfig]: ExecutorOption<K> } = {
  listen: option("listen", "--listen", "ASM_EXECUTOR_LISTEN", {
    value: "host:port",
    default: "0.0.0.0:7443",
    description: "Address of the mTLS gRPC listener (port 0 picks a free port, printed in the READY line).",
    schema: hostPort,
  }),
  tlsCa: option("tlsCa", "--tls-ca", "ASM_EXECUTOR_TLS_CA", {
    value: "file",
    required: true,
    description: "PEM file of the CA that signs controller certificates.",
    schema: absolutePath,
  }),
  tlsCert: option("tlsCert", "--tls-cert", "ASM_EXECUTOR_TLS_CERT", {
    value: "file",
    required: true,
    description: "PEM file of the executor's own certificate (its CN is the default --name).",
    schema: absolutePath,
  }),
  tlsKey: option("tlsKey", "--tls-key", "ASM_EXECUTOR_TLS_KEY", {
    value: "file",
    required: true,
    description: "PEM file of the executor's private key.",
    schema: absolutePath,
  }),
  allowClients: option("allowClients", "--allow-client", "ASM_EXECUTOR_ALLOW_CLIENTS", {
    value: "identity",
    required: true,
    repeatable: true,
    description:
      "Controller identity allowed to connect, matched against the CN and SAN entries of the controller's certificate. " +
      "Repeat the flag or give a comma list.",
    schema: commaList(nonEmpty),
  }),
  name: option("name", "--name", "ASM_EXECUTOR_NAME", {
    value: "name",
    default: "",
    description: "Name this executor reports in its handshake; empty means the CN of its own certificate.",
    schema: z.string().trim(),
  }),
  workspace: option("workspace", "--workspace", "ASM_EXECUTOR_WORKSPACE", {
    value: "dir",
    default: "/workspace",
    description: "Workspace root, created if missing. Provider CLIs run in it; a run's remote_cwd must resolve inside it (symlinks included).",
    schema: absolutePath,
  }),
  startMode: option("startMode", "--start-mode", "ASM_EXECUTOR_START_MODE", {
    value: START_MODES.join("|"),
    default: "prestarted",
    description: "prestarted: the runtime is initialized at start. deferred: the runtime is initialized only by a Bootstrap call from the controller.",
    schema: z.enum(START_MODES),
  }),
  cookie: option("cookie", "--cookie", "ASM_EXECUTOR_COOKIE", {
    value: "secret",
    description: "Optional shared secret the controller must present in addition to its certificate (never logged).",
    schema: nonEmpty,
  }),
  sshIdentity: option("sshIdentity", "--ssh-identity", "ASM_EXECUTOR_SSH_IDENTITY", {
    value: "file",
    description: "execution_surface ssh_exec: the private key the SSH client authenticates with (default: the client's own).",
    schema: nonEmpty,
  }),
  sshKnownHosts: option("sshKnownHosts", "--ssh-known-hosts", "ASM_EXECUTOR_SSH_KNOWN_HOSTS", {
    value: "file",
    description: "execution_surface ssh_exec: the known_hosts file host keys are checked against (checking is always on; default ~/.ssh/known_hosts).",
    schema: nonEmpty,
  }),
  sshUser: option("sshUser", "--ssh-user", "ASM_EXECUTOR_SSH_USER", {
    value: "name",
    description: "execution_surface ssh_exec: the login user when a run names none.",
    schema: nonEmpty,
  }),
  sshConnectTimeoutS: option("sshConnectTimeoutS", "--ssh-connect-timeout-s", "ASM_EXECUTOR_SSH_CONNECT_TIMEOUT_S", {
    value: "s",
    default: "10",
    description: "execution_surface ssh_exec: TCP connect bound.",
    schema: int(1, 600),
  }),
  sshAliveIntervalS: option("sshAliveIntervalS", "--ssh-alive-interval-s", "ASM_EXECUTOR_SSH_ALIVE_INTERVAL_S", {
    value: "s",
    default: "5",
    description: "execution_surface ssh_exec: keepalive probe interval; a silent connection is lost after interval × count.",
    schema: int(1, 600),
  }),
  sshAliveCountMax: option("sshAliveCountMax", "--ssh-alive-count-max", "ASM_EXECUTOR_SSH_ALIVE_COUNT_MAX", {
    value: "n",
    default: "3",
    description: "execution_surface ssh_exec: unanswered keepalive probes before the connection counts as lost.",
    schema: int(1, 100),
  }),
  policyFile: option("policyFile", "--policy", "ASM_EXECUTOR_POLICY_FILE", {
    value: "file",
    description:
      "The executor's own policy (JSON, the controller's format): env keys and CLI paths a controller may send, permission modes and " +
      "providers per role of the controller's identity. Without it: no env, no cli_path, no bypass from any controller.",
    schema: nonEmpty,
  }),
  providers: option("providers", "--providers", "ASM_EXECUTOR_PROVIDERS", {
    value: "list",
    default: PROVIDERS.join(","),
    description: `Comma list of the providers this executor serves (${PROVIDERS.join(", ")}).`,
    schema: commaList(z.enum(PROVIDERS)) as z.ZodType<ProviderName[], string>,
  }),
  passEnv: option("passEnv", "--pass-env", "ASM_EXECUTOR_PASS_ENV", {
    value: "NAME",
    default: "",
    repeatable: true,
    description:
      "Variable of the executor's own environment handed to every provider CLI besides PATH, HOME, LANG and TMPDIR " +
      "(e.g. ANTHROPIC_API_KEY: credentials live on the executor host). Repeat the flag or give a comma list.",
    schema: z
      .string()
      .transform((v) => [...new Set(v.split(",").map((s) => s.trim()).filter(Boolean))])
      .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be environment variable names"))),
  }),
  heartbeatIntervalMs: option("heartbeatIntervalMs", "--heartbeat-interval-ms", "ASM_EXECUTOR_HEARTBEAT_INTERVAL_MS", {
    value: "ms",
    default: "2000",
    description: "Interval of the application heartbeat sent on every run stream.",
    schema: int(10, 600_000),
  }),
  heartbeatTimeoutMs: option("heartbeatTimeoutMs", "--heartbeat-timeout-ms", "ASM_EXECUTOR_HEARTBEAT_TIMEOUT_MS", {
    value: "ms",
    default: "10000",
    description: "A run stream with no message from the controller for this long counts as lost (must exceed the heartbeat interval).",
    schema: int(20, 3_600_000),
  }),
  keepaliveTimeMs: option("keepaliveTimeMs", "--keepalive-time-ms", "ASM_EXECUTOR_KEEPALIVE_TIME_MS", {
    value: "ms",
    default: "30000",
    description: "HTTP/2 keepalive ping interval on controller connections.",
    schema: int(100, 3_600_000),
  }),
  keepaliveTimeoutMs: option("keepaliveTimeoutMs", "--keepalive-timeout-ms", "ASM_EXECUTOR_KEEPALIVE_TIMEOUT_MS", {
    value: "ms",
    default: "10000",
    description: "A keepalive ping not answered within this time closes the connection.",
    schema: int(100, 3_600_000),
  }),
  killGraceMs: option("killGraceMs", "--kill-grace-ms", "ASM_EXECUTOR_KILL_GRACE_MS", {
    value: "ms",
    default: "2000",
    description: "Grace between escalation steps (SIGINT, SIGTERM, SIGKILL) when stopping a CLI's process group.",
    schema: int(10, 60_000),
  }),
  maxLineBytes: option("maxLineBytes", "--max-line-bytes", "ASM_EXECUTOR_MAX_LINE_BYTES", {
    value: "bytes",
    default: String(8 * MIB),
    description: "Longest stdout line accepted from a provider CLI; a longer line ends the run with buffer_overflow.",
    schema: int(1024, 256 * MIB),
  }),
  stderrTailBytes: option("stderrTailBytes", "--stderr-tail-bytes", "ASM_EXECUTOR_STDERR_TAIL_BYTES", {
    value: "bytes",
    default: "8192",
    description: "Bytes of a CLI's stderr kept for error reports.",
    schema: int(256, MIB),
  }),
  batchMaxEvents: option("batchMaxEvents", "--batch-max-events", "ASM_EXECUTOR_BATCH_MAX_EVENTS", {
    value: "n",
    default: "256",
    description: "Most events sent to the controller in one stream message.",
    schema: int(1, 100_000),
  }),
  batchMaxBytes: option("batchMaxBytes", "--batch-max-bytes", "ASM_EXECUTOR_BATCH_MAX_BYTES", {
    value: "bytes",
    default: String(MIB),
    description: "Largest encoded size of one batch of events (must be below --max-message-bytes).",
    schema: int(1024, 1024 * MIB),
  }),
  maxMessageBytes: option("maxMessageBytes", "--max-message-bytes", "ASM_EXECUTOR_MAX_MESSAGE_BYTES", {
    value: "bytes",
    default: String(16 * MIB),
    description: "Largest gRPC message sent or received.",
    schema: int(64 * 1024, 1024 * MIB),
  }),
  startTimeoutMs: option("startTimeoutMs", "--start-timeout-ms", "ASM_EXECUTOR_START_TIMEOUT_MS", {
    value: "ms",
    default: "10000",
    description: "Time allowed between opening an Execute stream and its start message.",
    schema: int(10, 600_000),
  }),
  maxRuns: option("maxRuns", "--max-runs", "ASM_EXECUTOR_MAX_RUNS", {
    value: "n",
    default: "32",
    description: "Runs with a live CLI at once; more wait for a slot (the controller is told they are queued).",
    schema: int(1, 100_000),
  }),
  maxStarting: option("maxStarting", "--max-starting", "ASM_EXECUTOR_MAX_STARTING", {
    value: "n",
    default: "4",
    description: "Runs starting at once (spawned, no output from the CLI yet); more wait, so a burst does not starve the CLIs that start.",
    schema: int(1, 10_000),
  }),
  maxWaiting: option("maxWaiting", "--max-waiting", "ASM_EXECUTOR_MAX_WAITING", {
    value: "n",
    default: "10000",
    description: "Runs that may wait for a slot; past it a run is refused (at_capacity / executor_at_capacity).",
    schema: int(0, 10_000_000),
  }),
  replayBufferEvents: option("replayBufferEvents", "--replay-buffer-events", "ASM_EXECUTOR_REPLAY_BUFFER_EVENTS", {
    value: "n",
    default: "10000",
    description: "Events of a run kept until the controller acknowledges it has stored them, so a restarted controller can re-attach and get them again; when full, the executor stops reading the CLI (it blocks on its pipe) until acknowledgements or a re-attach free room.",
    schema: int(16, 10_000_000),
  }),
  replayBufferBytes: option("replayBufferBytes", "--replay-buffer-bytes", "ASM_EXECUTOR_REPLAY_BUFFER_BYTES", {
    value: "bytes",
    default: String(64 * MIB),
    description: "Approximate bytes of a run's unacknowledged events kept (see --replay-buffer-events); one larger event still fits alone.",
    schema: int(64 * 1024, 16 * 1024 * MIB),
  }),
  logLevel: option("logLevel", "--log-level", "ASM_EXECUTOR_LOG_LEVEL", {
    value: LOG_LEVELS.join("|"),
    default: "info",
    description: "Level of the JSON (pino) log written to stdout.",
    schema: z.enum(LOG_LEVELS),
  }),
};

/** The options in table order. */
export const EXECUTOR_OPTION_LIST: readonly ExecutorOption[] = Object.values(EXECUTOR_OPTIONS) as ExecutorOption[];

const HELP_FLAGS = new Set(["--help", "-h"]);

/** Whether the command line asks for the help text. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.some((arg) => HELP_FLAGS.has(arg));
}

interface RawValue {
  text: string;
  source: string;
}

/** Reads the flags into raw texts per key; problems (unknown flag, missing value) go to `issues`. */
function readFlags(argv: readonly string[], issues: string[]): Map<keyof ExecutorConfig, RawValue> {
  const byFlag = new Map(EXECUTOR_OPTION_LIST.map((o) => [o.flag, o]));
  const raw = new Map<keyof ExecutorConfig, RawValue>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (HELP_FLAGS.has(arg)) continue;
    if (!arg.startsWith("--")) {
      // Only flag-like words are echoed: a stray value could be a secret.
      const what = arg.startsWith("-") ? `"${arg}"` : `at position ${i + 1}`;
      issues.push(`unexpected argument ${what} (options are --flag value or --flag=value; see --help)`);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const opt = byFlag.get(flag);
    if (!opt) {
      issues.push(`unknown option ${flag} (see --help)`);
      continue;
    }
    let text: string;
    if (eq !== -1) {
      text = arg.slice(eq + 1);
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) {
      text = argv[++i]!;
    } else {
      issues.push(`${flag}: missing value (${flag} <${opt.value}>)`);
      continue;
    }
    const previous = raw.get(opt.key);
    if (previous && opt.repeatable) {
      raw.set(opt.key, { text: `${previous.text},${text}`, source: flag });
    } else {
      if (previous) issues.push(`${flag}: given more than once`);
      raw.set(opt.key, { text, source: flag });
    }
  }
  return raw;
}

/**
 * Parses the executor's configuration: each option from its flag, else its environment variable,
 * else its default. Every problem is listed at once in one `config_invalid` error
 * (reason `executor_config_invalid`); values never appear in the message (the cookie is secret).
 */
export function loadExecutorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ExecutorConfig {
  const issues: string[] = [];
  const fromFlags = readFlags(argv, issues);
  const values: Partial<Record<keyof ExecutorConfig, unknown>> = {};
  for (const opt of EXECUTOR_OPTION_LIST) {
    const envText = env[opt.env];
    const raw: RawValue | undefined =
      fromFlags.get(opt.key) ??
      (envText !== undefined ? { text: envText, source: opt.env } : undefined) ??
      (opt.default !== undefined ? { text: opt.default, source: `default of ${opt.flag}` } : undefined);
    if (raw === undefined) {
      if (opt.required) issues.push(`${opt.flag} / ${opt.env}: required`);
      continue;
    }
    const parsed = opt.schema.safeParse(raw.text);
    if (parsed.success) {
      values[opt.key] = parsed.data;
    } else {
      const where = raw.source === opt.flag ? opt.flag : `${opt.flag} (from ${raw.source})`;
      issues.push(`${where}: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
    }
  }
  const config = values as ExecutorConfig;
  if (config.heartbeatIntervalMs !== undefined && config.heartbeatTimeoutMs !== undefined && config.heartbeatTimeoutMs <= config.heartbeatIntervalMs) {
    issues.push(`${EXECUTOR_OPTIONS.heartbeatTimeoutMs.flag}: must be greater than ${EXECUTOR_OPTIONS.heartbeatIntervalMs.flag}`);
  }
  if (config.batchMaxBytes !== undefined && config.maxMessageBytes !== undefined && config.batchMaxBytes >= config.maxMessageBytes) {
    issues.push(`${EXECUTOR_OPTIONS.batchMaxBytes.flag}: must be less than ${EXECUTOR_OPTIONS.maxMessageBytes.flag}`);
  }
  if (issues.length > 0) {
    throw new AsmError({
      reasonCode: "executor_config_invalid",
      message: `invalid executor configuration:\n  ${issues.join("\n  ")}`,
      details: { issues },
    });
  }
  return Object.freeze({ ...config, allowClients: Object.freeze([...config.allowClients]), providers: Object.freeze([...config.providers]), passEnv: Object.freeze([...config.passEnv]) });
}

/** The `--help` text, generated from the option table. */
export function helpText(): string {
  const lines = [
    "Usage: asm-executor [options]",
    "",
    "The asm executor agent: serves the controller over gRPC with mutual TLS and runs provider CLIs",
    "in its workspace. Prints `READY port=<port> name=<name>` on stdout once listening; SIGTERM or",
    "SIGINT stop it. Every option can be given as a flag or as an environment variable; the flag wins.",
    "",
    "Options:",
    "  --help, -h",
    "      Print this text and exit.",
  ];
  for (const opt of EXECUTOR_OPTION_LIST) {
    const facts = [`env ${opt.env}`];
    if (opt.required) facts.push("required");
    else if (opt.default === undefined) facts.push("optional");
    else facts.push(`default ${opt.default === "" ? '""' : opt.default}`);
    if (opt.repeatable) facts.push("repeatable, or a comma list");
    lines.push(`  ${opt.flag} <${opt.value}>    (${facts.join("; ")})`);
    lines.push(...wrap(opt.description, 6));
  }
  lines.push(
    "",
    "Provider CLI environment:",
    "  A provider CLI never inherits the controller's environment. Its environment is this",
    "  executor's PATH, HOME, LANG, TMPDIR and the --pass-env variables, plus the variables the",
    "  run's allowlisted env carries. Provider credentials therefore live on the executor host",
    "  (in HOME, or passed with --pass-env).",
    "",
    "Provider CLI paths (read from the executor's own environment; default: the binary on PATH):",
  );
  for (const provider of PROVIDERS) {
    const adapter = adapterFor(provider);
    lines.push(`  ${adapter.cliPathEnv.padEnd(22)} path of the ${provider} CLI (default: "${adapter.defaultBinary}" on PATH)`);
  }
  return `${lines.join("\n")}\n`;
}

/** Breaks text into lines of at most 100 columns, indented by `indent` spaces. */
function wrap(text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && indent + line.length + 1 + word.length > 100) {
      lines.push(" ".repeat(indent) + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(" ".repeat(indent) + line);
  return lines;
}

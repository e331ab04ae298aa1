import { describe, expect, it } from "vitest";
import { AsmError, PROVIDERS, adapterFor } from "@asm/shared";
import { EXECUTOR_OPTIONS, EXECUTOR_OPTION_LIST, helpText, loadExecutorConfig, wantsHelp } from "../../executor-agent/src/config/executor-config.js";

const REQUIRED_FLAGS = ["--tls-ca", "/pki/ca.pem", "--tls-cert", "/pki/executor.pem", "--tls-key", "/pki/executor.key", "--allow-client", "controller"];

function configError(argv: string[], env: NodeJS.ProcessEnv = {}): AsmError {
  try {
    loadExecutorConfig(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(AsmError);
    return err as AsmError;
  }
  throw new Error("expected the configuration to be rejected");
}

describe("executor configuration", () => {
  it("has defaults for everything but TLS and the allowed clients", () => {
    const config = loadExecutorConfig(REQUIRED_FLAGS, {});
    expect(config).toEqual({
      listen: "0.0.0.0:7443",
      tlsCa: "/pki/ca.pem",
      tlsCert: "/pki/executor.pem",
      tlsKey: "/pki/executor.key",
      allowClients: ["controller"],
      name: "",
      workspace: "/workspace",
      startMode: "prestarted",
      cookie: undefined,
      providers: ["claude", "codex", "gemini", "amp", "cursor"],
      passEnv: [],
      heartbeatIntervalMs: 2000,
      heartbeatTimeoutMs: 10_000,
      keepaliveTimeMs: 30_000,
      keepaliveTimeoutMs: 10_000,
      killGraceMs: 2000,
      maxLineBytes: 8 * 1024 * 1024,
      stderrTailBytes: 8192,
      batchMaxEvents: 256,
      batchMaxBytes: 1024 * 1024,
      maxMessageBytes: 16 * 1024 * 1024,
      startTimeoutMs: 10_000,
      maxRuns: 32,
      maxStarting: 4,
      maxWaiting: 10_000,
      replayBufferEvents: 10_000,
      replayBufferBytes: 64 * 1024 * 1024,
      logLevel: "info",
      sshIdentity: undefined,
      sshKnownHosts: undefined,
      sshUser: undefined,
      sshConnectTimeoutS: 10,
      sshAliveIntervalS: 5,
      sshAliveCountMax: 3,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads every option from the environment", () => {
    const config = loadExecutorConfig([], {
      ASM_EXECUTOR_LISTEN: "127.0.0.1:0",
      ASM_EXECUTOR_TLS_CA: "/e/ca.pem",
      ASM_EXECUTOR_TLS_CERT: "/e/cert.pem",
      ASM_EXECUTOR_TLS_KEY: "/e/key.pem",
      ASM_EXECUTOR_ALLOW_CLIENTS: "controller, spiffe://asm.test/controller ,",
      ASM_EXECUTOR_NAME: "executor-a",
      ASM_EXECUTOR_WORKSPACE: "/srv/ws",
      ASM_EXECUTOR_START_MODE: "deferred",
      ASM_EXECUTOR_COOKIE: "s3cret",
      ASM_EXECUTOR_PROVIDERS: "claude,codex",
      ASM_EXECUTOR_HEARTBEAT_INTERVAL_MS: "100",
      ASM_EXECUTOR_HEARTBEAT_TIMEOUT_MS: "500",
      ASM_EXECUTOR_KEEPALIVE_TIME_MS: "1000",
      ASM_EXECUTOR_KEEPALIVE_TIMEOUT_MS: "800",
      ASM_EXECUTOR_KILL_GRACE_MS: "300",
      ASM_EXECUTOR_MAX_LINE_BYTES: "65536",
      ASM_EXECUTOR_STDERR_TAIL_BYTES: "1024",
      ASM_EXECUTOR_BATCH_MAX_EVENTS: "16",
      ASM_EXECUTOR_BATCH_MAX_BYTES: "65536",
      ASM_EXECUTOR_MAX_MESSAGE_BYTES: "131072",
      ASM_EXECUTOR_START_TIMEOUT_MS: "250",
      ASM_EXECUTOR_LOG_LEVEL: "silent",
    });
    expect(config).toMatchObject({
      listen: "127.0.0.1:0",
      tlsCa: "/e/ca.pem",
      allowClients: ["controller", "spiffe://asm.test/controller"],
      name: "executor-a",
      workspace: "/srv/ws",
      startMode: "deferred",
      cookie: "s3cret",
      providers: ["claude", "codex"],
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 500,
      keepaliveTimeMs: 1000,
      keepaliveTimeoutMs: 800,
      killGraceMs: 300,
      maxLineBytes: 65536,
      stderrTailBytes: 1024,
      batchMaxEvents: 16,
      batchMaxBytes: 65536,
      maxMessageBytes: 131072,
      startTimeoutMs: 250,
      logLevel: "silent",
    });
  });

  it("lets flags win over the environment, in both --flag value and --flag=value forms", () => {
    const config = loadExecutorConfig([...REQUIRED_FLAGS, "--listen=127.0.0.1:9000", "--start-mode", "deferred", "--kill-grace-ms=50"], {
      ASM_EXECUTOR_LISTEN: "127.0.0.1:1",
      ASM_EXECUTOR_TLS_CA: "/env/ca.pem",
      ASM_EXECUTOR_START_MODE: "prestarted",
      ASM_EXECUTOR_KILL_GRACE_MS: "not-a-number",
      ASM_EXECUTOR_ALLOW_CLIENTS: "from-env",
    });
    expect(config.listen).toBe("127.0.0.1:9000");
    expect(config.tlsCa).toBe("/pki/ca.pem");
    expect(config.startMode).toBe("deferred");
    expect(config.killGraceMs).toBe(50);
    expect(config.allowClients).toEqual(["controller"]);
  });

  it("accepts --allow-client repeated and as comma lists", () => {
    const config = loadExecutorConfig(
      ["--tls-ca", "/a", "--tls-cert", "/b", "--tls-key", "/c", "--allow-client", "one", "--allow-client=two,three", "--allow-client", "one"],
      {},
    );
    expect(config.allowClients).toEqual(["one", "two", "three"]);
  });

  it("lists every problem at once in one config_invalid error", () => {
    const err = configError(
      ["--listen", "nowhere", "--providers", "claude,vim", "--heartbeat-interval-ms", "abc", "--bogus", "x", "--start-mode"],
      { ASM_EXECUTOR_BATCH_MAX_EVENTS: "0", ASM_EXECUTOR_LOG_LEVEL: "loud", ASM_EXECUTOR_COOKIE: "" },
    );
    expect(err.kind).toBe("config_invalid");
    expect(err.reasonCode).toBe("executor_config_invalid");
    const issues = (err.details as { issues: string[] }).issues;
    const expected = [
      /^--tls-ca \/ ASM_EXECUTOR_TLS_CA: required$/,
      /^--tls-cert \/ ASM_EXECUTOR_TLS_CERT: required$/,
      /^--tls-key \/ ASM_EXECUTOR_TLS_KEY: required$/,
      /^--allow-client \/ ASM_EXECUTOR_ALLOW_CLIENTS: required$/,
      /^--listen: expected host:port/,
      /^--providers: /,
      /^--heartbeat-interval-ms: expected a non-negative integer/,
      /^unknown option --bogus/,
      /^--start-mode: missing value/,
      /^--batch-max-events \(from ASM_EXECUTOR_BATCH_MAX_EVENTS\): must be at least 1/,
      /^--log-level \(from ASM_EXECUTOR_LOG_LEVEL\): /,
      /^--cookie \(from ASM_EXECUTOR_COOKIE\): must not be empty/,
    ];
    for (const pattern of expected) expect(issues.some((i) => pattern.test(i)), `${pattern} in ${issues.join(" | ")}`).toBe(true);
    expect(issues).toHaveLength(expected.length + 1); // + the stray "x" after --bogus
    for (const issue of issues) expect(err.message).toContain(issue);
  });

  it("checks the invariants between options", () => {
    const err = configError(REQUIRED_FLAGS, {
      ASM_EXECUTOR_HEARTBEAT_INTERVAL_MS: "5000",
      ASM_EXECUTOR_HEARTBEAT_TIMEOUT_MS: "5000",
      ASM_EXECUTOR_BATCH_MAX_BYTES: String(16 * 1024 * 1024),
    });
    expect((err.details as { issues: string[] }).issues).toEqual([
      "--heartbeat-timeout-ms: must be greater than --heartbeat-interval-ms",
      "--batch-max-bytes: must be less than --max-message-bytes",
    ]);
  });

  it("never echoes values in its errors (the cookie is a secret)", () => {
    const err = configError(["--cookie", "", "top-secret-value", "--kill-grace-ms", "top-secret-2"], { ASM_EXECUTOR_LISTEN: "top-secret-3" });
    expect(err.message).not.toContain("top-secret");
  });

  it("names each option's env variable ASM_EXECUTOR_<UPPER_SNAKE> of its key, with a kebab-case flag", () => {
    for (const opt of EXECUTOR_OPTION_LIST) {
      const snake = opt.key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
      expect(opt.env).toBe(`ASM_EXECUTOR_${snake}`);
      expect(opt.flag).toMatch(/^--[a-z]+(-[a-z]+)*$/);
    }
    expect(EXECUTOR_OPTIONS.allowClients.flag).toBe("--allow-client");
  });

  it("generates --help from the table: every flag, env variable and default", () => {
    const help = helpText();
    for (const opt of EXECUTOR_OPTION_LIST) {
      expect(help).toContain(opt.flag);
      expect(help).toContain(opt.env);
      if (opt.default) expect(help).toContain(opt.default);
    }
    for (const provider of PROVIDERS) expect(help).toContain(adapterFor(provider).cliPathEnv);
    expect(help).toMatch(/PATH, HOME, LANG, TMPDIR and the --pass-env variables/);
    expect(wantsHelp(["--listen", "x", "--help"])).toBe(true);
    expect(wantsHelp(["-h"])).toBe(true);
    expect(wantsHelp([])).toBe(false);
  });
});

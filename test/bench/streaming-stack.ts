/**
 * What the streaming benchmark runs against: the built controller (`controller/dist/main.js`) and
 * the bundled executor agent (built from source by executor-agent/build-bundle.mjs) as real processes, joined by real
 * mTLS with a throwaway test PKI, and a gRPC client of the controller's public API in this process.
 * Builds the fake CLI and the executor bundle first, like test/global-setup.ts.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFakeCli } from "../fake-cli/build-fake-cli.js";
import { connectInsecure, type Client } from "../helpers/grpc-client.js";
import { createTestPki } from "../helpers/pki.js";

export const ROOT = join(import.meta.dirname, "..", "..");
export const EXECUTOR_NAME = "executor-a";
/**
 * The benchmark's gRPC clients (of the controller and of the bare baselines alike): a 1 MiB HTTP/2
 * receive window, as the README advises for clients that stream fast (grpc-js keeps 64 KiB).
 */
export const CLIENT_CHANNEL_OPTIONS = { "grpc-node.flow_control_window": 1024 * 1024 };

export interface BenchStack {
  client: Client;
  fakeClaude: string;
  /** Scratch directory (PKI, record files, local working directory). */
  dir: string;
  /** Working directory of local runs. */
  localCwd: string;
  executorWorkspace: string;
  pids: { controller: number; executor: number };
  stop(): Promise<void>;
}

export interface BenchStackOptions {
  /** Write V8 CPU profiles of the controller and the executor into this directory. */
  cpuProfDir?: string;
  /** More controller settings (e.g. ASM_STORE). */
  controllerEnv?: Record<string, string>;
}

/** PATH without node_modules/.bin, as the tests give their CLIs. */
export function systemPath(): string {
  return (process.env.PATH ?? "/usr/bin:/bin")
    .split(":")
    .filter((d) => !d.includes("node_modules"))
    .join(":");
}

/**
 * Builds the fake claude CLI and the executor bundle (what `make bench` needs besides `make build`)
 * into .build/bench/bin, under names the test suite's leak check does not match: a `make test`
 * running at the same time must not kill the benchmark's processes (nor count them as its own).
 */
export async function buildArtifacts(): Promise<{ fakeClaude: string; executorBundle: string }> {
  const bin = join(ROOT, ".build", "bench", "bin");
  mkdirSync(bin, { recursive: true });
  const fakeClaude = join(bin, "bench-claude.mjs");
  copyFileSync(await buildFakeCli(join(bin, "build")), fakeClaude);
  const executorBundle = join(bin, "bench-executor.cjs");
  execFileSync(process.execPath, [join(ROOT, "executor-agent", "build-bundle.mjs"), "--outfile", executorBundle], { stdio: ["ignore", "ignore", "inherit"] });
  return { fakeClaude, executorBundle };
}

interface Child {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Spawns a node program that prints `READY port=N` on stdout; its further output is read and dropped. */
export async function startReadyProcess(what: string, args: string[], env: Record<string, string>, cpuProfDir: string | undefined): Promise<Child> {
  const prof = cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${what}.${Date.now()}.cpuprofile`] : [];
  const proc = spawn(process.execPath, [...prof, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      if (output.length < 64 * 1024) output += chunk.toString("utf8");
      const m = /^READY port=(\d+)/m.exec(output);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.once("exit", (code) => reject(new Error(`${what} exited with ${code} before READY:\n${output}`)));
  });
  return {
    proc,
    port,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await exited;
    },
  };
}

export async function startBenchStack(fakeClaude: string, executorBundle: string, opts: BenchStackOptions = {}): Promise<BenchStack> {
  const dir = mkdtempSync(join(tmpdir(), "asm-bench-"));
  const pki = createTestPki(join(dir, "pki"));
  const executorWorkspace = join(dir, "executor-ws");
  const localCwd = join(dir, "local-ws");
  mkdirSync(localCwd, { recursive: true });
  if (opts.cpuProfDir) mkdirSync(opts.cpuProfDir, { recursive: true });
  const baseEnv = { PATH: systemPath(), HOME: dir };
  // The bench is the operator of both processes: the fake CLI is their CLI, and clients may set
  // the fake CLI's own variables.
  const policy = join(dir, "bench-policy.json");
  writeFileSync(policy, JSON.stringify({ workspace_root: dir, client_env: ["FAKE_CLI_*"] }));
  const operatorEnv = { ...baseEnv, ASM_CLAUDE_CLI_PATH: fakeClaude };

  // Production defaults throughout (batching, heartbeats, stream window); only the addresses,
  // identities and the retention of finished runs (memory) are set here.
  const executor = await startReadyProcess(
    "executor",
    [executorBundle, "--listen", "127.0.0.1:0", "--tls-ca", pki.ca.cert, "--tls-cert", pki.executor.cert, "--tls-key", pki.executor.key, "--allow-client", "controller", "--workspace", executorWorkspace, "--log-level", "warn", "--policy", policy],
    operatorEnv,
    opts.cpuProfDir,
  );
  const controller = await startReadyProcess(
    "controller",
    [join(ROOT, "controller", "dist", "main.js")],
    {
      ...operatorEnv,
      ASM_POLICY_FILE: policy,
      ASM_LISTEN: "127.0.0.1:0",
      ASM_INSECURE_LOOPBACK: "1",
      ASM_LOG_LEVEL: "warn",
      ASM_DEFAULT_CWD: localCwd,
      ASM_RETAINED_RUNS: "2",
      ASM_EXECUTORS: `${EXECUTOR_NAME}=127.0.0.1:${executor.port}`,
      ASM_REMOTE_TLS_CA: pki.ca.cert,
      ASM_REMOTE_TLS_CERT: pki.controllerClient.cert,
      ASM_REMOTE_TLS_KEY: pki.controllerClient.key,
      ASM_DATA_DIR: join(dir, "data"),
      ...opts.controllerEnv,
    },
    opts.cpuProfDir,
  ).catch(async (err: unknown) => {
    await executor.stop();
    throw err;
  });
  const client = connectInsecure(controller.port, CLIENT_CHANNEL_OPTIONS);
  return {
    client,
    fakeClaude,
    dir,
    localCwd,
    executorWorkspace,
    pids: { controller: controller.proc.pid!, executor: executor.proc.pid! },
    stop: async () => {
      client.close();
      await controller.stop();
      await executor.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

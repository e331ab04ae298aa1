import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import type { TestPki } from "./pki.js";
import { systemPath } from "./test-controller.js";
import { testRunMarker } from "./test-run.js";
import { testPolicy, writePolicy } from "./test-policy.js";
import type { PolicyFile } from "@asm/shared";

export { systemPath };

export interface ExecutorProcess {
  proc: ChildProcess;
  pid: number;
  port: number;
  name: string;
  address: string;
  workspace: string;
  /** Everything the executor wrote (pino JSON lines and stderr). */
  output(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface ExecutorProcessOptions {
  pki: TestPki;
  /** Extra flags (e.g. --start-mode deferred, --providers codex, --cookie x). */
  args?: string[];
  /** Environment of the executor (its CLIs inherit PATH/HOME from it). */
  env?: Record<string, string>;
  workspace?: string;
  allowClients?: string[];
  cert?: { cert: string; key: string };
  /** Changes to the executor's policy (test-policy.ts; the controller identity is admin); ignored when args hold --policy. */
  policy?: Partial<PolicyFile>;
}


/** Fast bounds for tests, unless the test's own args set the same flag. */
function testDefaults(args: string[]): string[] {
  const defaults: [string, string][] = [
    ["--heartbeat-interval-ms", "200"],
    ["--heartbeat-timeout-ms", "2000"],
    ["--kill-grace-ms", "300"],
    ["--log-level", "debug"],
  ];
  return defaults.filter(([flag]) => !args.includes(flag)).flat();
}

/** Starts the bundled executor agent (`node asm-executor.cjs`) on 127.0.0.1:0 with real mTLS. */
export async function startExecutorProcess(opts: ExecutorProcessOptions): Promise<ExecutorProcess> {
  const workspace = opts.workspace ?? mkdtempSync(join(tmpdir(), "asm-ws-"));
  const cert = opts.cert ?? opts.pki.executor;
  const policy = opts.args?.includes("--policy") ? [] : ["--policy", writePolicy(mkdtempSync(join(tmpdir(), "asm-policy-")), testPolicy({ principals: { controller: ["admin"] }, ...opts.policy }))];
  const args = [
    inject("executorBundlePath"),
    ...policy,
    "--listen", "127.0.0.1:0",
    "--tls-ca", opts.pki.ca.cert,
    "--tls-cert", cert.cert,
    "--tls-key", cert.key,
    "--allow-client", (opts.allowClients ?? ["controller"]).join(","),
    "--workspace", workspace,
    ...testDefaults(opts.args ?? []),
    ...(opts.args ?? []),
  ];
  const proc = spawn(process.execPath, args, {
    env: { ...testRunMarker(), PATH: systemPath(), HOME: workspace, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const ready = new Promise<{ port: number; name: string }>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      const m = /^READY port=(\d+) name=(\S+)$/m.exec(output);
      if (m) resolve({ port: Number(m[1]), name: m[2]! });
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    proc.once("exit", (code) => reject(new Error(`executor exited with ${code} before READY:\n${output}`)));
  });
  const { port, name } = await ready;
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  return {
    proc,
    pid: proc.pid!,
    port,
    name,
    address: `127.0.0.1:${port}`,
    workspace,
    output: () => output,
    stop: () => kill("SIGTERM"),
    kill,
  };
}

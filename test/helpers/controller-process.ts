import { spawn, type ChildProcess } from "node:child_process";
import { inject } from "vitest";
import { connectInsecure, type Client } from "./grpc-client.js";
import { systemPath } from "./executor-process.js";
import { testRunMarker } from "./test-run.js";
import { testPolicy, writePolicy } from "./test-policy.js";

export interface ControllerProcess {
  proc: ChildProcess;
  port: number;
  client: Client;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the compiled controller (`node controller/dist/main.js`, or `mainPath`: another install's)
 * on plaintext loopback port 0.
 */
export async function startControllerProcess(env: Record<string, string>, cwd: string, mainPath: string = inject("controllerMainPath")): Promise<ControllerProcess> {
  const proc = spawn(process.execPath, [mainPath], {
    cwd,
    env: {
      ...testRunMarker(),
      PATH: systemPath(),
      HOME: cwd,
      ASM_LISTEN: "127.0.0.1:0",
      ASM_INSECURE_LOOPBACK: "1",
      ASM_LOG_LEVEL: "debug",
      ASM_KILL_GRACE_MS: "300",
      ASM_DEFAULT_CWD: cwd,
      ASM_POLICY_FILE: writePolicy(cwd, testPolicy(), "asm-policy.json"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const m = /^READY port=(\d+)$/m.exec(output);
      if (m) resolve(Number(m[1]));
    });
    proc.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    proc.once("exit", (code) => reject(new Error(`controller exited with ${code} before READY:\n${output}`)));
  });
  const client = connectInsecure(port);
  return {
    proc,
    port,
    client,
    output: () => output,
    kill: async (signal) => {
      client.close();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}

import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { ControllerConfigSchema, startController, type ControllerApp } from "@asm/controller";
import { liveCliProcesses, silentLogger, type Clock, type SdkDiscovery } from "@asm/shared";
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
export async function startTestController(opts: { env?: Record<string, string>; sdkDiscovery?: SdkDiscovery; clock?: Clock } = {}): Promise<TestController> {
  const dir = mkdtempSync(join(tmpdir(), "asm-test-"));
  const config = ControllerConfigSchema.parse({
    ASM_LISTEN: "127.0.0.1:0",
    ASM_INSECURE_LOOPBACK: "1",
    ASM_KILL_GRACE_MS: "300",
    ASM_LOG_LEVEL: "silent",
    ASM_SHUTDOWN_GRACE_MS: "1000",
    ASM_DEFAULT_CWD: dir,
    ...opts.env,
  });
  const app = await startController({
    config,
    logger: silentLogger(),
    // npx puts node_modules/.bin (with the real provider CLIs) on PATH; runs name their CLI explicitly.
    hostEnv: { PATH: systemPath(), HOME: dir },
    sdkDiscovery: opts.sdkDiscovery ?? (() => false),
    clock: opts.clock,
  });
  const client = connectInsecure(app.port);
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

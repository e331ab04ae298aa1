import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock, RunOptions, SdkDiscovery } from "@asm/shared";
import { startExecutorProcess, type ExecutorProcess, type ExecutorProcessOptions } from "./executor-process.js";
import { createTestPki, type TestPki } from "./pki.js";
import { runOptions } from "./sessions.js";
import { startTestController, type TestController } from "./test-controller.js";

export interface RemoteSetup {
  pki: TestPki;
  executor: ExecutorProcess;
  t: TestController;
  stop(): Promise<void>;
}

/** Controller env giving it the test PKI's controller identity towards executors. */
export function remoteIdentityEnv(pki: TestPki): Record<string, string> {
  return { ASM_REMOTE_TLS_CA: pki.ca.cert, ASM_REMOTE_TLS_CERT: pki.controllerClient.cert, ASM_REMOTE_TLS_KEY: pki.controllerClient.key };
}

/** Fast liveness bounds for tests (defaults are seconds). */
export const FAST_LIVENESS = {
  ASM_REMOTE_HEARTBEAT_INTERVAL_MS: "200",
  ASM_REMOTE_HEARTBEAT_TIMEOUT_MS: "2000",
  ASM_REMOTE_KEEPALIVE_TIME_MS: "1000",
  ASM_REMOTE_KEEPALIVE_TIMEOUT_MS: "1000",
};

/** A real executor process (executor-a) and an in-process controller that knows it. */
export async function startRemoteSetup(
  opts: { executor?: Omit<ExecutorProcessOptions, "pki">; env?: Record<string, string>; pki?: TestPki; sdkDiscovery?: SdkDiscovery; clock?: Clock } = {},
): Promise<RemoteSetup> {
  const pki = opts.pki ?? createTestPki(mkdtempSync(join(tmpdir(), "asm-pki-")));
  const executor = await startExecutorProcess({ pki, ...opts.executor });
  const t = await startTestController({ env: { ...remoteIdentityEnv(pki), ...FAST_LIVENESS, ASM_EXECUTORS: `executor-a=${executor.address}`, ...opts.env }, sdkDiscovery: opts.sdkDiscovery, clock: opts.clock });
  return {
    pki,
    executor,
    t,
    stop: async () => {
      await t.stop();
      await executor.stop();
    },
  };
}

/** Run options that execute on `node` with the given driver_opts. */
export function remoteOptions(node: string, driverOpts: Record<string, unknown> = {}, partial: Partial<RunOptions> = {}): RunOptions {
  return runOptions({ executionMode: 2, driverOpts: { remote_node: node, ...driverOpts }, ...partial });
}

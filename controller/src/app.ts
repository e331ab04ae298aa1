import { realpathSync } from "node:fs";
import { hostname } from "node:os";
import { type AsmError, baseCliEnv, killAllCliProcesses, loadPolicyFile, loadTlsMaterial, LocalCoreBackend, RunPolicy, startOrphanReaper, type Clock, type Logger, type SdkDiscovery } from "@asm/shared";
import { controllerService } from "./api/controller-service.js";

import { SessionRouter } from "./cluster/session-router.js";
import { startCluster, type Cluster } from "./cluster/start-cluster.js";
import { clientTlsFiles, controllerIdOf, executorEntries, list, surfaceConfig, type ControllerConfig } from "./config/controller-config.js";
import { Controller } from "./core/controller.js";
import { ExecutorDirectory, type ExecutorEntry } from "./executors/executor-directory.js";
import { ExecutorLinks } from "./remote/executor-links.js";
import { RemoteCoreBackend } from "./remote/remote-core-backend.js";
import { SdkBackend } from "./sdk-lane/sdk-backend.js";
import { openStore } from "./store/open-store.js";
import { PostgresStore } from "./store/postgres-store.js";
import { clientAuthenticator } from "./server/client-auth.js";
import { ControllerServer } from "./server/grpc-server.js";

export interface ControllerApp {
  controller: Controller;
  port: number;
  /**
   * Two-stage shutdown. At once: health NOT_SERVING, new calls refused (UNAVAILABLE /
   * controller_shutting_down), every run stopped with transport_error / controller_shutdown. Once
   * the runs have ended, or after ASM_SHUTDOWN_GRACE_MS (or `forceStop`), the CLIs still alive are
   * killed; the server then ends its calls, forcing them after another ASM_SHUTDOWN_GRACE_MS.
   */
  stop(): Promise<void>;
  /** Skips the rest of the grace: kills what still runs now (a second SIGTERM / SIGINT). */
  forceStop(): void;
  /**
   * Resolves if this controller is fenced (several controllers on PostgreSQL: another one declared
   * it dead and took its sessions over). Its CLIs are killed and its executor links dropped by
   * then; the process should exit (asm-controller exits with 75).
   */
  fenced: Promise<AsmError>;
}

export interface StartOptions {
  config: Readonly<ControllerConfig>;
  logger: Logger;
  /** Host environment used for CLI lookup (PATH, ASM_*_CLI_PATH) and as the CLI's base env. */
  hostEnv?: NodeJS.ProcessEnv;
  sdkDiscovery?: SdkDiscovery;
  /** Executor directory; defaults to ASM_EXECUTORS. */
  executors?: readonly ExecutorEntry[];
  /** The clock of the runs' timeouts (tests move a manual one). Default: the real one. */
  clock?: Clock;
}

/** Wires the controller, its local backend and its gRPC server, and starts listening. */
export async function startController(opts: StartOptions): Promise<ControllerApp> {
  const { config, logger } = opts;
  const hostEnv = opts.hostEnv ?? process.env;
  // Local CLIs get the host's PATH, HOME, LANG, TMPDIR and the operator's ASM_PASS_ENV variables.
  const baseEnv = baseCliEnv(hostEnv, list(config.ASM_PASS_ENV));
  const defaultCwd = realpathSync(config.ASM_DEFAULT_CWD ?? process.cwd());
  const policy = config.ASM_POLICY_FILE ? new RunPolicy(loadPolicyFile(config.ASM_POLICY_FILE), { workspaceRoot: defaultCwd }) : RunPolicy.defaults({ workspaceRoot: defaultCwd });
  const authenticator = clientAuthenticator(config, logger);
  // Opened first: a store that cannot be opened (locked, unwritable, newer) stops the start.
  const store = await openStore({ store: config.ASM_STORE, dataDir: config.ASM_DATA_DIR, sync: config.ASM_STORE_SYNC, controllerId: controllerIdOf(config, hostname()) }, hostEnv, logger);
  // Even if this process is SIGKILLed, the CLIs it started locally do not outlive it.
  const reaper = startOrphanReaper(logger);
  const directory = new ExecutorDirectory(opts.executors ?? executorEntries(config));
  const identity =
    config.ASM_REMOTE_TLS_CA && config.ASM_REMOTE_TLS_CERT && config.ASM_REMOTE_TLS_KEY
      ? loadTlsMaterial({ caFile: config.ASM_REMOTE_TLS_CA, certFile: config.ASM_REMOTE_TLS_CERT, keyFile: config.ASM_REMOTE_TLS_KEY })
      : undefined;
  const links = new ExecutorLinks({
    identity,
    directory,
    logger,
    settings: { keepaliveTimeMs: config.ASM_REMOTE_KEEPALIVE_TIME_MS, keepaliveTimeoutMs: config.ASM_REMOTE_KEEPALIVE_TIMEOUT_MS, maxMessageBytes: config.ASM_REMOTE_MAX_MESSAGE_BYTES, flowControlWindowBytes: config.ASM_REMOTE_FLOW_CONTROL_WINDOW_BYTES },
  });
  // How every local CLI is held, on either lane.
  const localCli = {
    logger,
    killGraceMs: config.ASM_KILL_GRACE_MS,
    maxLineBytes: config.ASM_MAX_LINE_BYTES,
    stderrTailBytes: config.ASM_STDERR_TAIL_BYTES,
    hostEnv,
    // Every local CLI starts through the cwd guard: its directory is re-checked at the spawn.
    confinedTo: () => policy.workspaceRoot ?? defaultCwd,
  };
  const controller = new Controller({
    logger,
    localBackend: new LocalCoreBackend({ ...localCli, controllerSide: true, surfaces: surfaceConfig(config) }),
    sdkBackend: new SdkBackend({ ...localCli, surfaces: surfaceConfig(config) }),
    surfaces: surfaceConfig(config),
    remoteBackend: new RemoteCoreBackend({ links, logger, heartbeatIntervalMs: config.ASM_REMOTE_HEARTBEAT_INTERVAL_MS, heartbeatTimeoutMs: config.ASM_REMOTE_HEARTBEAT_TIMEOUT_MS }),
    resolveExecutor: (node, field) => directory.resolve(node, field),
    sdkDiscovery: opts.sdkDiscovery,
    baseEnv,
    defaultCwd,
    policy,
    maxEventsPerRun: config.ASM_MAX_EVENTS_PER_RUN,
    maxEventBytes: config.ASM_MAX_EVENT_BYTES,
    maxResultTextBytes: config.ASM_MAX_RESULT_TEXT_BYTES,
    streamWindow: config.ASM_STREAM_WINDOW,
    retention: { maxRuns: config.ASM_RETAINED_RUNS, maxRunBytes: config.ASM_RETAINED_RUN_BYTES, maxAgeMs: config.ASM_RETENTION_MS, maxClosedSessions: config.ASM_RETAINED_CLOSED_SESSIONS },
    admission: { maxActive: config.ASM_MAX_ACTIVE_RUNS, maxStarting: config.ASM_MAX_STARTING_RUNS, maxWaiting: config.ASM_MAX_WAITING_RUNS },
    maxSessions: config.ASM_MAX_SESSIONS,
    clock: opts.clock,
    store,
  });
  let onFenced!: (err: AsmError) => void;
  const fenced = new Promise<AsmError>((resolve) => (onFenced = resolve));
  let cluster: Cluster | undefined;
  try {
    cluster =
      store instanceof PostgresStore
        ? await startCluster(store, controller, {
            leaseTtlMs: config.ASM_LEASE_TTL_MS,
            forwardTimeoutMs: config.ASM_FORWARD_TIMEOUT_MS,
            logger,
            onFenced: (err) => {
              logger.fatal({ err }, "fenced: another controller took this one's sessions over; stopping its CLIs and links");
              killAllCliProcesses();
              links.closeAll();
              onFenced(err);
            },
          })
        : undefined;
  } catch (err) {
    await store.close();
    reaper.stop();
    throw err;
  }
  const router = cluster?.router ?? new SessionRouter(controller);
  const server = new ControllerServer(controllerService(controller, router, directory, logger), async (call, method) => policy.withRoles(await authenticator.authenticate(call, method)), logger);
  let port: number;
  try {
    const recovered = await controller.recover();
    logger.info({ store: store.kind, location: store.location, ...recovered }, "store open");
    cluster?.start();
    port = await server.listen({ address: config.ASM_LISTEN, tls: clientTlsFiles(config), insecure: config.ASM_INSECURE_LOOPBACK });
  } catch (err) {
    await controller.shutdown();
    await cluster?.stop();
    await store.close();
    reaper.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  let forced!: () => void;
  const force = new Promise<void>((resolve) => (forced = resolve));
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Stage one, at once: NOT_SERVING, new calls refused, every run stopping (controller_shutdown).
      server.beginDrain();
      logger.info({ graceMs: config.ASM_SHUTDOWN_GRACE_MS }, "draining: new calls are refused and the runs are stopped");
      const runsEnded = controller.shutdown();
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<"grace">((resolve) => (graceTimer = setTimeout(() => resolve("grace"), config.ASM_SHUTDOWN_GRACE_MS)));
      const first = await Promise.race([runsEnded.then(() => "ended" as const), graceOver, force.then(() => "forced" as const)]);
      clearTimeout(graceTimer);
      if (first !== "ended") {
        // Stage two: what is still running is killed; the runs end with their shutdown error.
        logger.warn({ why: first }, "runs still stopping: killing their CLIs and dropping executor links");
        killAllCliProcesses();
        links.closeAll();
        await runsEnded;
      }
      // The runs' streams and queries end with their terminal events; the server then stops.
      await server.shutdown(config.ASM_SHUTDOWN_GRACE_MS);
      killAllCliProcesses();
      // What this controller kept is committed; the others may take its sessions over at once.
      await store.flush().catch(() => undefined);
      await cluster?.leave();
      await cluster?.stop();
      await store.close();
      reaper.stop();
    })());
  return {
    controller,
    port,
    fenced,
    stop,
    forceStop: () => {
      forced();
      void stop();
    },
  };
}

import { Server } from "@grpc/grpc-js";
import { certificateName, ExecutorServiceService, LocalCoreBackend, loadTlsMaterial, startOrphanReaper, type Logger, RunAdmission, TlsServerCredentials, RunPolicy, loadPolicyFile } from "@asm/shared";
import type { ExecutorConfig } from "./config/executor-config.js";
import type { ExecuteStream } from "./run/execute-stream.js";
import { ExecutorRuntime } from "./runtime/executor-runtime.js";
import { executorService } from "./server/executor-service.js";

export interface StartExecutorOptions {
  config: ExecutorConfig;
  logger: Logger;
  /** The executor's own environment (CLI lookup and the CLIs' base env). */
  env: NodeJS.ProcessEnv;
}

export interface ExecutorApp {
  port: number;
  name: string;
  /** Stops taking calls, kills every run's process group, then closes the server. */
  stop(): Promise<void>;
}

/** Wires the executor agent: runtime, backend, mTLS gRPC server. */
export async function startExecutor(opts: StartExecutorOptions): Promise<ExecutorApp> {
  const { config, logger } = opts;
  const tlsFiles = { caFile: config.tlsCa, certFile: config.tlsCert, keyFile: config.tlsKey };
  const name = config.name || certificateName(loadTlsMaterial(tlsFiles).cert.toString("utf8")) || "executor";
  const log = logger.child({ executor: name });
  // Even if this process is SIGKILLed, the CLIs it started do not outlive it.
  const reaper = startOrphanReaper(log);
  const runtime = new ExecutorRuntime({ workspace: config.workspace, providers: config.providers, cookie: config.cookie, hostEnv: opts.env, passEnv: config.passEnv, logger: log });
  if (config.startMode === "prestarted") await runtime.initialize();
  // Every run's cwd is confined to the workspace (remote_cwd); the guard re-checks it at the spawn.
  const backend = new LocalCoreBackend({
    logger: log,
    killGraceMs: config.killGraceMs,
    maxLineBytes: config.maxLineBytes,
    stderrTailBytes: config.stderrTailBytes,
    hostEnv: opts.env,
    confinedTo: () => runtime.workspaceRoot,
    surfaces: {
      ssh: {
        identityFile: config.sshIdentity,
        knownHostsFile: config.sshKnownHosts,
        user: config.sshUser,
        connectTimeoutS: config.sshConnectTimeoutS,
        aliveIntervalS: config.sshAliveIntervalS,
        aliveCountMax: config.sshAliveCountMax,
      },
    },
  });
  const streams = new Set<ExecuteStream>();
  const server = new Server({
    "grpc.keepalive_time_ms": config.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": config.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_send_message_length": config.maxMessageBytes,
    "grpc.max_receive_message_length": config.maxMessageBytes,
  });
  server.addService(
    ExecutorServiceService,
    executorService({
      name,
      runtime,
      backend,
      logger: log,
      allowClients: config.allowClients,
      streams,
      policy: config.policyFile ? new RunPolicy(loadPolicyFile(config.policyFile)) : RunPolicy.defaults(),
      admission: new RunAdmission({
        maxActive: config.maxRuns,
        maxStarting: config.maxStarting,
        maxWaiting: config.maxWaiting,
        labels: { where: `executor ${name}`, active: "--max-runs", waiting: "--max-waiting" },
      }),
      limits: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        heartbeatTimeoutMs: config.heartbeatTimeoutMs,
        startTimeoutMs: config.startTimeoutMs,
        batchMaxEvents: config.batchMaxEvents,
        batchMaxBytes: config.batchMaxBytes,
        replayBufferEvents: config.replayBufferEvents,
        replayBufferBytes: config.replayBufferBytes,
      },
      held: new Map(),
    }),
  );
  const credentials = new TlsServerCredentials(tlsFiles, log);
  credentials.watch(2000);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(config.listen, credentials, (err, p) => (err ? reject(err) : resolve(p))));
  log.info({ port, workspace: runtime.workspaceRoot, ready: runtime.ready, startMode: config.startMode }, "executor listening");
  let stopping: Promise<void> | undefined;
  return {
    port,
    name,
    stop: () =>
      (stopping ??= (async () => {
        credentials.unwatch();
        for (const stream of streams) stream.shutdown();
        server.forceShutdown();
        await Promise.all([...streams].map((s) => s.finished));
        await backend.releaseAll();
        reaper.stop();
      })()),
  };
}

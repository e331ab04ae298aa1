import type { AsmError, Logger } from "@asm/shared";
import type { Controller } from "../core/controller.js";
import type { PostgresStore } from "../store/postgres-store.js";
import { CommandChannel } from "./commands.js";
import { Doorbell } from "./doorbell.js";
import { Liveness } from "./liveness.js";
import { ReplicaReads } from "./replica-views.js";
import { SessionClaims } from "./session-claims.js";
import { SessionRouter } from "./session-router.js";

export interface ClusterSettings {
  /** ASM_LEASE_TTL_MS: silent this long, a controller is declared dead and its sessions taken over. */
  leaseTtlMs: number;
  /** ASM_FORWARD_TIMEOUT_MS. */
  forwardTimeoutMs: number;
  logger: Logger;
  /** This controller was fenced: it must stop driving anything (the app stops the process). */
  onFenced(err: AsmError): void;
}

export interface Cluster {
  router: SessionRouter;
  /** After recovery: answers forwarded calls and starts the heartbeat and the take-over sweep. */
  start(): void;
  /** A graceful stop: leaves the sessions to the others at once (their next sweep takes them). */
  leave(): Promise<void>;
  stop(): Promise<void>;
}

/** Wires several controllers on one PostgreSQL database: doorbell, forwarded calls, liveness and the router. */
export async function startCluster(store: PostgresStore, controller: Controller, settings: ClusterSettings): Promise<Cluster> {
  const { pool, url, member } = store.database;
  const logger = settings.logger.child({ component: "cluster", controllerId: member.controllerId });
  const doorbell = new Doorbell(url, logger);
  await doorbell.start();
  const commands = new CommandChannel(pool, member, doorbell, logger);
  const router = new SessionRouter(controller, {
    controllerId: member.controllerId,
    reads: new ReplicaReads(pool),
    claims: new SessionClaims(pool, member.controllerId),
    commands,
    doorbell,
    store,
    loadSessions: (ids) => store.loadSessions(ids),
    forwardTimeoutMs: settings.forwardTimeoutMs,
    logger,
  });
  let fenced = false;
  const fence = (err: AsmError): void => {
    if (fenced) return;
    fenced = true;
    liveness.stop();
    settings.onFenced(err);
  };
  const liveness = new Liveness(pool, member, settings.leaseTtlMs, logger, { fenced: fence, takeOver: (ids, from) => router.takeOver(ids, from) });
  store.onFatal(fence);
  return {
    router,
    start: () => {
      commands.serve((call) => router.execute(call));
      liveness.start();
    },
    leave: () => liveness.leave(),
    stop: async () => {
      liveness.stop();
      await doorbell.stop();
    },
  };
}

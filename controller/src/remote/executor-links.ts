import { AsmError, type Logger } from "@asm/shared";
import type { ExecutorDirectory } from "../executors/executor-directory.js";
import type { ClientIdentity } from "./executor-dialer.js";
import { ExecutorLink, type LinkSettings } from "./executor-link.js";
import type { RemoteConfig } from "./remote-config.js";

export interface ExecutorLinksOptions {
  /** The controller's client identity for executors; undefined = distribution disabled. */
  identity: ClientIdentity | undefined;
  directory: ExecutorDirectory;
  settings: LinkSettings;
  logger: Logger;
}

/**
 * The controller's connections to executors: one link per executor, reused by every run; a link
 * that failed or was lost is re-dialled by the next run. Also holds the cookie pins: the first
 * cookie used for an executor stays its cookie for this controller's lifetime.
 */
export class ExecutorLinks {
  private readonly links = new Map<string, Promise<ExecutorLink>>();
  private readonly cookies = new Map<string, string>();

  constructor(private readonly opts: ExecutorLinksOptions) {}

  /** A ready link for the run's executor; throws the typed failure of whichever step failed. */
  async acquire(config: RemoteConfig): Promise<{ link: ExecutorLink; cookie: string; reused: boolean }> {
    const target = this.opts.directory.resolve(config.remote_node);
    const identity = this.opts.identity;
    if (!identity) {
      const error = new AsmError({
        domain: "transport",
        reasonCode: "distribution_disabled",
        message: "remote execution is disabled: this controller has no client TLS identity for executors (set ASM_REMOTE_TLS_CA, ASM_REMOTE_TLS_CERT and ASM_REMOTE_TLS_KEY)",
        details: { executor: target.node },
      });
      this.opts.directory.record(target.node, { error });
      throw error;
    }
    const key = `${target.host}:${target.port}|${target.serverName}`;
    const cookie = this.pinCookie(key, config);
    let pending = this.links.get(key);
    if (pending) {
      const link = await pending.catch(() => undefined);
      if (!link || !link.usable) {
        if (this.links.get(key) === pending) this.links.delete(key);
        link?.close();
        pending = undefined;
      }
    }
    const reused = pending !== undefined;
    if (!pending) {
      pending = ExecutorLink.open(target, identity, this.opts.settings, { connectTimeoutMs: config.remote_connect_timeout_ms, rpcTimeoutMs: config.remote_rpc_timeout_ms, cookie });
      this.links.set(key, pending);
      pending.then(
        (link) => {
          this.opts.directory.record(target.node, { handshake: link.handshake });
          this.opts.logger.info({ executor: target.node, address: `${target.host}:${target.port}`, asmVersion: link.handshake.asmVersion, ready: link.handshake.ready }, "executor link open");
        },
        (err: unknown) => {
          if (this.links.get(key) === pending) this.links.delete(key);
          this.opts.directory.record(target.node, { error: AsmError.from(err) });
        },
      );
    }
    const link = await pending;
    if (!this.cookies.has(key) && config.remote_cookie !== undefined) this.cookies.set(key, config.remote_cookie);
    return { link, cookie, reused };
  }

  /** Drops a link a run found dead, so the next run dials afresh. */
  discard(link: ExecutorLink, error: AsmError): void {
    const key = `${link.target.host}:${link.target.port}|${link.target.serverName}`;
    void this.links.get(key)?.then((current) => {
      if (current === link) this.links.delete(key);
    }, () => undefined);
    link.close();
    this.opts.directory.markLost(link.target.node, error);
  }

  closeAll(): void {
    for (const pending of this.links.values()) void pending.then((link) => link.close(), () => undefined);
    this.links.clear();
  }

  private pinCookie(key: string, config: RemoteConfig): string {
    const pinned = this.cookies.get(key);
    const wanted = config.remote_cookie;
    if (pinned !== undefined && wanted !== undefined && wanted !== pinned) {
      throw new AsmError({
        field: "options.driver_opts.remote_cookie",
        reasonCode: "cookie_conflict",
        message: `executor ${config.remote_node} is already used with a different remote_cookie; one controller uses one cookie per executor`,
        details: { executor: config.remote_node },
      });
    }
    return wanted ?? pinned ?? "";
  }
}

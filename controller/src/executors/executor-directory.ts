import { AsmError, type Executor, type HandshakeResponse } from "@asm/shared";

/** One entry of the controller's executor directory (from config). */
export interface ExecutorEntry {
  name: string;
  /** host:port */
  address: string;
  /** Expected certificate name of the executor. */
  serverName: string;
}

/** Splits `host:port` / `[v6]:port`; undefined when it is not one. */
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * The executors the controller knows by name, with what their last handshake said. Handshakes are
 * recorded by the remote backend; until an executor has been reached it is listed as not healthy.
 */
export class ExecutorDirectory {
  private readonly entries = new Map<string, Executor>();

  constructor(entries: readonly ExecutorEntry[]) {
    for (const e of entries) {
      this.entries.set(e.name, {
        name: e.name,
        address: e.address,
        serverName: e.serverName,
        healthy: false,
        lastHandshakeAt: undefined,
        asmVersion: "",
        nodeVersion: "",
        capabilities: [],
        providers: [],
        lastError: "",
        details: undefined,
      });
    }
  }

  lookup(name: string): Executor | undefined {
    return this.entries.get(name);
  }

  list(): Executor[] {
    return [...this.entries.values()];
  }

  /**
   * Where `remote_node` points: a directory name, or a literal `host:port` (whose host is then the
   * expected certificate name). Throws config_invalid for anything else.
   */
  resolve(node: string, field = "options.driver_opts.remote_node"): { node: string; host: string; port: number; serverName: string } {
    const entry = this.entries.get(node);
    const address = parseAddress(entry ? entry.address : node);
    if (!address) {
      throw new AsmError({
        field,
        reasonCode: "unknown_executor",
        message: entry
          ? `executor ${node} has an invalid address ${entry.address} in the directory`
          : `remote_node ${node} is neither an executor in this controller's directory (${[...this.entries.keys()].join(", ") || "empty"}) nor host:port`,
      });
    }
    return { node, ...address, serverName: entry?.serverName || address.host };
  }

  /** Records a handshake (or its failure) for ListExecutors, for directory entries. */
  record(node: string, outcome: { handshake: HandshakeResponse } | { error: AsmError }): void {
    const entry = this.entries.get(node);
    if (!entry) return;
    if ("handshake" in outcome) {
      const h = outcome.handshake;
      Object.assign(entry, {
        healthy: true,
        lastHandshakeAt: new Date(),
        asmVersion: h.asmVersion,
        nodeVersion: h.nodeVersion,
        capabilities: h.capabilities,
        providers: h.providers,
        lastError: "",
        details: { workspace_root: h.workspaceRoot, ready: h.ready, executor_name: h.executorName },
      });
    } else {
      Object.assign(entry, { healthy: false, lastError: `${outcome.error.reasonCode ?? outcome.error.kind}: ${outcome.error.message}` });
    }
  }

  /** Marks an executor unhealthy after a run lost it. */
  markLost(node: string, error: AsmError): void {
    this.record(node, { error });
  }
}

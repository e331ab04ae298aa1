// Every CLI process group asm owns in this process: the ones CliProcess started and the ones it
// adopted from a vendor SDK's spawn. Observers (the orphan reaper) are told of each; shutdown
// kills them all.

/** A process group asm started and supervises (a CliProcess). */
export interface SupervisedGroup {
  /** The group leader's pid, which is the group id. */
  readonly pid: number;
  terminate(opts: { firstSignal: NodeJS.Signals }): Promise<unknown>;
  signalGroup(sig: NodeJS.Signals): boolean;
}

const live = new Set<SupervisedGroup>();

/** Told when a CLI's process group starts and when it is gone (e.g. the orphan reaper). */
export interface ProcessGroupObserver {
  added(pgid: number): void;
  removed(pgid: number): void;
}
const groupObservers = new Set<ProcessGroupObserver>();

/** Registers an observer of CLI process groups; returns the function that removes it. */
export function observeProcessGroups(observer: ProcessGroupObserver): () => void {
  groupObservers.add(observer);
  for (const p of live) observer.added(p.pid);
  for (const pgid of adopted.keys()) observer.added(pgid);
  return () => groupObservers.delete(observer);
}

/**
 * A CLI's process group that was started outside CliProcess (by a vendor SDK's own spawn, see the
 * controller's sdk lane) and that asm owns all the same: the orphan reaper lists it, and
 * `killAllCliProcesses` kills it. Its owner calls `release()` once the group is gone.
 */
export interface AdoptedProcessGroup {
  readonly pgid: number;
  /** Sends `sig` to the whole group; false when it is gone (or released). */
  signal(sig: NodeJS.Signals): boolean;
  /** SIGKILLs what is left of the group and stops owning it (idempotent). */
  release(): void;
}

const adopted = new Map<number, AdoptedProcessGroup>();

/** Takes ownership of the process group `pgid` (a positive pid that leads its own group). */
export function adoptProcessGroup(pgid: number): AdoptedProcessGroup {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new Error(`adoptProcessGroup: not a process group id: ${pgid}`);
  let released = false;
  const signal = (sig: NodeJS.Signals): boolean => {
    if (released) return false;
    try {
      process.kill(-pgid, sig);
      return true;
    } catch {
      return false;
    }
  };
  const group: AdoptedProcessGroup = {
    pgid,
    signal,
    release: () => {
      if (released) return;
      signal("SIGKILL");
      released = true;
      if (adopted.get(pgid) === group) {
        adopted.delete(pgid);
        for (const o of groupObservers) o.removed(pgid);
      }
    },
  };
  adopted.set(pgid, group);
  for (const o of groupObservers) o.added(pgid);
  return group;
}

/** `group` started: observers (the orphan reaper) list it until `releaseGroup`. */
export function superviseGroup(group: SupervisedGroup): void {
  live.add(group);
  for (const o of groupObservers) o.added(group.pid);
}

/** `group` is gone (its leader exited and its output was read). */
export function releaseGroup(group: SupervisedGroup): void {
  if (live.delete(group)) for (const o of groupObservers) o.removed(group.pid);
}

/** Pids of every CliProcess whose `exited` has not resolved yet, and of every adopted group (for tests and diagnostics). */
export function liveCliProcesses(): number[] {
  return [...[...live].map((p) => p.pid), ...adopted.keys()];
}

/** SIGKILLs the process group of every live CliProcess and adopted group right away (for shutdown); marks them killedByUs. */
export function killAllCliProcesses(): void {
  for (const p of live) {
    // Marks killedByUs (and signals synchronously) unless a terminate() is already under way ...
    void p.terminate({ firstSignal: "SIGKILL" });
    // ... in which case its escalation may still be waiting: kill now regardless.
    p.signalGroup("SIGKILL");
  }
  for (const group of adopted.values()) group.signal("SIGKILL");
}

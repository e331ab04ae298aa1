/**
 * The time a component waits with: its timers and its notion of "now". Everything that times out
 * (a run's stream timeout and deadline, a kill grace, an orphaned-pipe bound) takes one, so that a
 * test whose subject is a timeout moves a manual clock instead of waiting for real time.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (only differences mean anything). */
  now(): number;
  /** Calls `fn` after `ms`; an unref'd timer does not keep the process alive. */
  setTimeout(fn: () => void, ms: number, opts?: { unref?: boolean }): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and Node's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, ms, opts) {
    const t = setTimeout(fn, ms);
    if (opts?.unref) t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

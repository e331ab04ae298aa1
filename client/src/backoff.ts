/** Bounded exponential backoff: how long to wait before attempt `n` (1-based), with jitter. */
export interface BackoffPolicy {
  /** First wait. Default 100 ms. */
  initialMs: number;
  /** Longest wait. Default 2000 ms. */
  maxMs: number;
  /** Give up once re-attaching has been failing for this long. Default 30000 ms. */
  giveUpAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 2000, giveUpAfterMs: 30_000 });

export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  // Half fixed, half random: retries of many clients spread out.
  return Math.round(base / 2 + (base / 2) * random());
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export interface RetryPolicy {
  /** Sends in all, the first included, before a notification is given up. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * 10 sends: waits of about 5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s, then 600 s (the cap),
 * so a receiver that is down for up to ~35 minutes still gets the message.
 */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 10, baseDelayMs: 5_000, maxDelayMs: 600_000 };

/**
 * The wait after the `failedAttempts`-th failed send (1-based): base·2^(n−1), capped, then
 * spread by ±20 % so agents that lost the same receiver do not come back in step.
 * `random` is in [0, 1); 0.5 gives the exact doubling (5 s, 10 s, 20 s …).
 */
export function retryDelayMs(failedAttempts: number, policy: RetryPolicy, random: number): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, failedAttempts - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  const spread = 1 + 0.4 * (Math.min(Math.max(random, 0), 1) - 0.5);
  return Math.round(capped * spread);
}

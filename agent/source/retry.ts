import type { Clock } from '../clock.js';

export interface BackoffPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/** 3 tries spread over at most 1 s + 2 s of waiting: short enough to stay inside one cycle. */
export const defaultBackoff: BackoffPolicy = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000 };

/**
 * Exponential backoff with full jitter: a delay uniform in [0, min(max, base·2^retryIndex)).
 * Full jitter keeps many agents that lost the same server from coming back in step.
 * With base 1 s and max 10 s: retry 0 waits up to 1 s, retry 1 up to 2 s, retry 3 up to 8 s,
 * retry 4 and later up to 10 s.
 */
export function backoffDelay(retryIndex: number, policy: BackoffPolicy, random: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retryIndex));
  const unit = Math.min(Math.max(random, 0), 1);
  return Math.floor(ceiling * unit);
}

export interface RetryOptions {
  policy: BackoffPolicy;
  clock: Clock;
  random: () => number;
  isRetryable: (error: unknown) => boolean;
  onRetry?: (details: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** Runs `operation` until it succeeds, fails with a non-retryable error, or runs out of tries. */
export async function withRetry<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.policy.attempts);
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts || !options.isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt - 1, options.policy, options.random());
      options.onRetry?.({ attempt, delayMs, error });
      await options.clock.sleep(delayMs);
    }
  }
}

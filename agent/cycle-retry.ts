// What a failed cycle's error class decides about the next try (errors.ts):
//   transient (git, Docker or a registry unreachable) and not ready (still pending after apply):
//     try again before the next scheduled cycle, backing off exponentially with jitter;
//   terminal (the commit does not load, is refused or quarantined; a plan blocked by a name
//     another holds): no early retry, the next scheduled cycle looks for a new commit.

interface CycleRetryPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** 5 s, 10 s, 20 s … up to 5 min, each between half and all of that (jitter). */
const defaultCycleRetry: CycleRetryPolicy = { baseDelayMs: 5_000, maxDelayMs: 300_000 };

/**
 * The wait before trying again after the `failuresInARow`-th retryable failure (1-based), or
 * undefined when the outcome calls for no early retry. `random` is in [0, 1): "equal jitter",
 * half the backoff fixed and half random, so agents that lost the same server spread out but
 * never retry at once. Base 5 s: the 1st waits 2.5–5 s, the 3rd 10–20 s, the 7th and later
 * 150–300 s.
 */
export function cycleRetryDelayMs(
  outcome: { result: string; errorClass?: 'terminal' | 'transient' | 'not-ready' },
  failuresInARow: number,
  random: number,
  policy: CycleRetryPolicy = defaultCycleRetry,
): number | undefined {
  if (outcome.result !== 'failed' || outcome.errorClass === undefined || outcome.errorClass === 'terminal') return undefined;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failuresInARow - 1));
  const unit = Math.min(Math.max(random, 0), 1);
  return Math.round(ceiling / 2 + (ceiling / 2) * unit);
}

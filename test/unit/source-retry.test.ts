// Backoff arithmetic and the retry loop, with a clock whose sleep only records.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { backoffDelay, withRetry, type BackoffPolicy } from '../../agent/source/retry.js';

const policy: BackoffPolicy = { attempts: 3, baseDelayMs: 1000, maxDelayMs: 10_000 };

function recordingClock() {
  const sleeps: number[] = [];
  return { sleeps, clock: { now: () => 0, sleep: async (ms: number) => void sleeps.push(ms) } };
}

describe('backoffDelay (full jitter)', () => {
  const table: Array<{ retryIndex: number; random: number; expected: number }> = [
    { retryIndex: 0, random: 0, expected: 0 },
    { retryIndex: 0, random: 0.5, expected: 500 },
    { retryIndex: 0, random: 0.999, expected: 999 },
    { retryIndex: 1, random: 0.5, expected: 1000 },
    { retryIndex: 2, random: 0.25, expected: 1000 },
    { retryIndex: 3, random: 0.999, expected: 7992 },
    // 1 s · 2^4 = 16 s, capped at 10 s.
    { retryIndex: 4, random: 0.5, expected: 5000 },
    { retryIndex: 30, random: 0.999, expected: 9990 },
    // Out-of-range inputs are clamped rather than trusted.
    { retryIndex: -1, random: 0.5, expected: 500 },
    { retryIndex: 1, random: 1.5, expected: 2000 },
    { retryIndex: 1, random: -3, expected: 0 },
  ];
  for (const row of table) {
    it(`retry ${row.retryIndex}, random ${row.random} → ${row.expected} ms`, () => {
      assert.equal(backoffDelay(row.retryIndex, policy, row.random), row.expected);
    });
  }

  it('never exceeds the exponential ceiling or the cap', () => {
    for (let retryIndex = 0; retryIndex < 12; retryIndex++) {
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retryIndex);
      for (const random of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const delay = backoffDelay(retryIndex, policy, random);
        assert.ok(delay >= 0 && delay < ceiling, `retry ${retryIndex} random ${random}: ${delay} outside [0, ${ceiling})`);
      }
    }
  });
});

describe('withRetry', () => {
  it('gives up after the policy\'s attempts, sleeping between them', async () => {
    const { sleeps, clock } = recordingClock();
    let calls = 0;
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw new Error('down');
      }, { policy, clock, random: () => 0.5, isRetryable: () => true }),
      /down/,
    );
    assert.equal(calls, 3);
    assert.deepEqual(sleeps, [500, 1000]);
  });

  it('returns as soon as a try succeeds', async () => {
    const { sleeps, clock } = recordingClock();
    let calls = 0;
    const result = await withRetry(async () => {
      calls++;
      if (calls < 2) throw new Error('flaky');
      return 'ok';
    }, { policy, clock, random: () => 0, isRetryable: () => true });
    assert.equal(result, 'ok');
    assert.equal(calls, 2);
    assert.deepEqual(sleeps, [0]);
  });

  it('does not retry an error that is not retryable', async () => {
    const { sleeps, clock } = recordingClock();
    let calls = 0;
    const retried: number[] = [];
    await assert.rejects(
      withRetry(async () => {
        calls++;
        throw new Error('401');
      }, { policy, clock, random: () => 0.5, isRetryable: () => false, onRetry: ({ attempt }) => retried.push(attempt) }),
      /401/,
    );
    assert.equal(calls, 1);
    assert.deepEqual(sleeps, []);
    assert.deepEqual(retried, []);
  });
});

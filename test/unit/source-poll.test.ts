// The reference check's arithmetic (interval jitter, back-off, Retry-After) and its loop, with a
// fake check (a pure unit: the real server is in test/integration/poll.test.ts).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { createLogger } from '../../agent/log.js';
import { systemClock } from '../../agent/clock.js';
import { maxRetryAfterMs, parseRetryAfter, PollError, pollDelay, pollIntervalMs, RefPoller, type HeadProbe } from '../../agent/source/poll.js';

describe('pollDelay', () => {
  const interval = 5_000;
  it('after a success: the interval ±20 %', () => {
    assert.equal(pollDelay({ intervalMs: interval, failures: 0, random: 0 }), 4_000);
    assert.equal(pollDelay({ intervalMs: interval, failures: 0, random: 0.5 }), 5_000);
    assert.equal(pollDelay({ intervalMs: interval, failures: 0, random: 1 }), 6_000);
  });
  it('after failures: doubling, uniform in [c/2, c), capped at 5 min', () => {
    const table: Array<[failures: number, random: number, expected: number]> = [
      [1, 0, 5_000], [1, 1, 10_000],
      [2, 0, 10_000], [2, 0.5, 15_000],
      [3, 0, 20_000],
      [6, 0, 150_000], [6, 1, 300_000],
      // 5 s · 2^7 = 640 s, capped at 300 s.
      [7, 0, 150_000], [7, 1, 300_000],
      [1_000, 0.5, 225_000],
    ];
    for (const [failures, random, expected] of table) {
      assert.equal(pollDelay({ intervalMs: interval, failures, random }), expected, `${failures} failures, random ${random}`);
    }
  });
  it('an interval longer than the cap is the cap', () => {
    assert.equal(pollDelay({ intervalMs: 600_000, failures: 3, random: 1 }), 600_000);
  });
  it('Retry-After is a floor, with up to 20 % more, and capped at 1 h', () => {
    assert.equal(pollDelay({ intervalMs: interval, failures: 1, retryAfterMs: 60_000, random: 0 }), 60_000);
    assert.equal(pollDelay({ intervalMs: interval, failures: 1, retryAfterMs: 60_000, random: 1 }), 72_000);
    // A short Retry-After does not shorten the back-off.
    assert.equal(pollDelay({ intervalMs: interval, failures: 3, retryAfterMs: 1_000, random: 0 }), 20_000);
    assert.equal(pollDelay({ intervalMs: interval, failures: 1, retryAfterMs: 10 ** 12, random: 0 }), maxRetryAfterMs);
  });
  it('clamps random outside [0, 1]', () => {
    assert.equal(pollDelay({ intervalMs: interval, failures: 0, random: -4 }), 4_000);
    assert.equal(pollDelay({ intervalMs: interval, failures: 0, random: 9 }), 6_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-12-05T10:00:00Z');
  it('reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Sat, 05 Dec 2026 10:01:30 GMT', now), 90_000);
    assert.equal(parseRetryAfter('Sat, 05 Dec 2026 09:00:00 GMT', now), 0);
  });
  it('caps absurd values and ignores garbage', () => {
    assert.equal(parseRetryAfter('9999999999', now), maxRetryAfterMs);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('x'.repeat(10_000), now), undefined);
  });
});

describe('pollIntervalMs', () => {
  it('defaults to 5 s, reads the flag before the environment, turns off with 0 or off', () => {
    assert.equal(pollIntervalMs(undefined, {}), 5_000);
    assert.equal(pollIntervalMs(undefined, { CAPSTAN_POLL_INTERVAL: '30s' }), 30_000);
    assert.equal(pollIntervalMs('2s', { CAPSTAN_POLL_INTERVAL: '30s' }), 2_000);
    assert.equal(pollIntervalMs('1m', {}), 60_000);
    assert.equal(pollIntervalMs('0', {}), 0);
    assert.equal(pollIntervalMs('off', {}), 0);
  });
  it('refuses what is not a duration from 1 s to 24 h, naming the flag and the variable', () => {
    for (const bad of ['5', '100ms', 'fast', '25h', '-1s', '99999999999s']) {
      assert.throws(() => pollIntervalMs(bad, {}), /--poll-interval \/ CAPSTAN_POLL_INTERVAL/);
    }
  });
});

describe('RefPoller', () => {
  const logger = createLogger({ level: 'silent', destination: 2, pretty: false });

  async function until(condition: () => boolean): Promise<void> {
    for (let round = 0; round < 2_000 && !condition(); round++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(condition(), 'condition not reached within 2,000 rounds');
  }

  it('starts a cycle when the head differs from the one the last cycle saw, once per move', async () => {
    const heads = ['a'.repeat(40), 'a'.repeat(40), 'b'.repeat(40), 'b'.repeat(40), 'b'.repeat(40)];
    let calls = 0;
    const moves: string[] = [];
    const poller = new RefPoller({
      check: async (): Promise<HeadProbe> => ({ head: heads[Math.min(calls++, heads.length - 1)], requests: 1, bytes: 200 }),
      intervalMs: 2, clock: systemClock, logger, busy: () => false, onMove: (head) => moves.push(head),
    });
    poller.seen('a'.repeat(40));
    poller.start();
    await until(() => calls >= 6);
    await poller.stop();
    assert.deepEqual(moves, ['b'.repeat(40)]);
    assert.equal(poller.totals.requests, poller.totals.checks);
  });

  it('checks nothing while a cycle runs, and backs off while the server fails', async () => {
    let busy = true;
    let calls = 0;
    const poller = new RefPoller({
      check: async () => {
        calls++;
        throw new PollError('HTTP 503', 503, 1);
      },
      intervalMs: 1, clock: systemClock, logger, busy: () => busy, onMove: () => assert.fail('no move'),
      random: () => 0,
    });
    poller.start();
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(calls, 0);
    busy = false;
    await until(() => calls >= 3);
    await poller.stop();
    assert.equal(poller.totals.failures, calls);
  });

  it('a cycle that could not take the lock makes the next check start one again', async () => {
    const head = 'c'.repeat(40);
    const moves: string[] = [];
    const poller = new RefPoller({
      check: async () => ({ head, requests: 1, bytes: 1 }),
      intervalMs: 2, clock: systemClock, logger, busy: () => false, onMove: (moved) => moves.push(moved),
    });
    poller.seen(head);
    poller.start();
    await until(() => poller.totals.checks >= 2);
    assert.equal(moves.length, 0);
    poller.forget();
    await until(() => moves.length === 1);
    // A failed fetch (null) keeps the head: no cycle every check.
    poller.seen(null);
    const checks = poller.totals.checks;
    await until(() => poller.totals.checks >= checks + 3);
    await poller.stop();
    assert.equal(moves.length, 1);
  });
});

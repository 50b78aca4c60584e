import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeferralWake, LOCK_RECHECK_MS, WAKE_MARGIN_MS, wakePlan, type WakeTimers } from '../../agent/deferral/wake.js';
import type { Deferral } from '../../agent/deferral/gate.js';

// When `capstan run` looks again at changes that wait (agent/deferral/wake.ts): the clock and the
// timers are driven by hand, as the deploy-windows tests inject the cycle's clock.

const at = (text: string) => Date.parse(text);

/** A clock and timers moved only by advance(): each due timer fires in order, then pending promises settle. */
function manualTime(start: string) {
  let now = at(start);
  let nextId = 0;
  const pending = new Map<number, { due: number; callback: () => void }>();
  const timers: WakeTimers = {
    setTimeout: (callback, ms) => {
      pending.set(++nextId, { due: now + ms, callback });
      return nextId;
    },
    clearTimeout: (handle) => void pending.delete(handle as number),
  };
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clock: { now: () => now, sleep: async () => undefined },
    timers,
    pending: () => pending.size,
    async advance(ms: number) {
      const end = now + ms;
      for (let step = 0; step < 10_000; step++) {
        const due = [...pending].filter(([, timer]) => timer.due <= end).sort((a, b) => a[1].due - b[1].due)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = due[1].due;
        due[1].callback();
        await settle();
      }
      now = end;
      await settle();
    },
  };
}

const waitFor = (app: string, cause: Deferral['cause'], until?: string) => ({ app, cause, ...(until ? { until } : {}) });

describe('wakePlan: when a run looks again at what waits', () => {
  it('the earliest end of the waits, a moment after it, and the apps a lock holds back', () => {
    const plan = wakePlan([waitFor('shop', 'window', '2026-12-04T17:00:00.000Z'), waitFor('queue', 'lock', '2026-12-04T12:10:00.000Z'), waitFor('blog', 'window')]);
    assert.deepEqual(plan, { at: at('2026-12-04T12:10:00Z') + WAKE_MARGIN_MS, lockApps: ['queue'] });
  });
  it('a window with no opening in sight: no time, no lock', () => {
    assert.deepEqual(wakePlan([waitFor('shop', 'window')]), { lockApps: [] });
    assert.deepEqual(wakePlan([]), { lockApps: [] });
  });
});

describe('DeferralWake', () => {
  it('starts a cycle when a deny window ends, not before', async () => {
    const time = manualTime('2026-12-04T12:00:00Z');
    const wakes: string[] = [];
    const wake = new DeferralWake({ clock: time.clock, timers: time.timers, held: async () => true, wake: (trigger) => wakes.push(trigger) });
    assert.equal(wake.arm([waitFor('shop', 'window', '2026-12-04T17:00:00.000Z')]), at('2026-12-04T17:00:01Z'));
    await time.advance(5 * 3_600_000);
    assert.deepEqual(wakes, [], 'at 17:00:00 the cycle is not due yet');
    await time.advance(WAKE_MARGIN_MS);
    assert.deepEqual(wakes, ['wait-over']);
    assert.equal(time.pending(), 0, 'once: the cycle arms it again');
  });

  it('a window ending in 40 days waits past the longest timer', async () => {
    const time = manualTime('2026-12-04T12:00:00Z');
    const wakes: string[] = [];
    const wake = new DeferralWake({ clock: time.clock, timers: time.timers, held: async () => true, wake: (trigger) => wakes.push(trigger) });
    wake.arm([waitFor('shop', 'window', '2027-01-13T12:00:00.000Z')]);
    await time.advance(30 * 86_400_000);
    assert.deepEqual(wakes, []);
    await time.advance(10 * 86_400_000 + WAKE_MARGIN_MS);
    assert.deepEqual(wakes, ['wait-over']);
  });

  it('looks at a held lock every few seconds and starts a cycle once it is released', async () => {
    const time = manualTime('2026-12-04T12:00:00Z');
    const wakes: string[] = [];
    let held = true;
    let looks = 0;
    const wake = new DeferralWake({
      clock: time.clock,
      timers: time.timers,
      held: async () => {
        looks++;
        return held;
      },
      wake: (trigger) => wakes.push(trigger),
    });
    wake.arm([waitFor('queue', 'lock', '2026-12-04T13:00:00.000Z')]);
    await time.advance(60_000);
    assert.deepEqual(wakes, []);
    assert.equal(looks, 60_000 / LOCK_RECHECK_MS, 'one look per interval, no more');
    held = false;
    await time.advance(LOCK_RECHECK_MS);
    assert.deepEqual(wakes, ['lock-released']);
    assert.equal(time.pending(), 0, 'no look and no timer after the wake');
  });

  it('a lock held to its max_wait: a cycle at the deadline', async () => {
    const time = manualTime('2026-12-04T12:00:00Z');
    const wakes: string[] = [];
    const wake = new DeferralWake({ clock: time.clock, timers: time.timers, held: async () => true, wake: (trigger) => wakes.push(trigger) });
    wake.arm([waitFor('queue', 'lock', '2026-12-04T12:10:00.000Z')]);
    await time.advance(10 * 60_000 + WAKE_MARGIN_MS);
    assert.deepEqual(wakes, ['wait-over']);
  });

  it('disarmed (a cycle started), nothing fires; a lock look in flight is dropped', async () => {
    const time = manualTime('2026-12-04T12:00:00Z');
    const wakes: string[] = [];
    let release: (() => void) | undefined;
    const wake = new DeferralWake({
      clock: time.clock,
      timers: time.timers,
      held: () => new Promise<boolean>((resolve) => (release = () => resolve(false))),
      wake: (trigger) => wakes.push(trigger),
    });
    wake.arm([waitFor('queue', 'lock', '2026-12-04T12:10:00.000Z')]);
    await time.advance(LOCK_RECHECK_MS);
    assert.ok(release, 'a look is in flight');
    wake.disarm();
    release!();
    await time.advance(3_600_000);
    assert.deepEqual(wakes, []);
    assert.equal(time.pending(), 0);
    assert.equal(wake.arm([]), undefined, 'nothing waits: nothing armed');
    assert.equal(time.pending(), 0);
  });
});

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { forEachBounded } from '../../agent/source/bounded.js';

/** Resolves on the next turns of the event loop, so calls overlap as file operations would. */
const tick = (turns: number) => new Promise<void>((resolve) => setTimeout(resolve, turns));

describe('forEachBounded', () => {
  it('runs every item with at most `limit` in flight', async () => {
    for (const [itemCount, limit] of [[0, 16], [1, 16], [5, 2], [100, 16], [7, 1]]) {
      let inFlight = 0;
      let peak = 0;
      const seen: number[] = [];
      await forEachBounded(Array.from({ length: itemCount }, (_, index) => index), limit, async (item) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick(item % 3);
        seen.push(item);
        inFlight--;
      });
      assert.deepEqual(seen.sort((a, b) => a - b), Array.from({ length: itemCount }, (_, index) => index));
      assert.equal(peak, Math.min(itemCount, limit), `${itemCount} items, limit ${limit}`);
    }
  });

  it('starts nothing after a failure, waits for the calls in flight, then throws the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachBounded(Array.from({ length: 20 }, (_, index) => index), 4, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('first');
      if (item === 2) {
        await tick(1);
        throw new Error('second');
      }
      await tick(5);
      finished.push(item);
    });
    await assert.rejects(run, /first/);
    // 0–3 were in flight when 1 failed; 0 and 3 still finished before the error surfaced.
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.deepEqual(finished.sort(), [0, 3]);
  });
});

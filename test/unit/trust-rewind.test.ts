import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { rewindVerdict, type Ancestry } from '../../agent/trust/rewind.js';

const noon = 1_750_000_000;

describe('rewindVerdict', () => {
  // [case, head time, applied time (undefined: unknown), ancestry, allowRewind, refused]
  const table: Array<[string, number, number | undefined, Ancestry, boolean, boolean]> = [
    ['fast-forward, even with a committer clock behind', noon - 600, noon, 'head-descends', false, false],
    ['back to an ancestor, even one with a newer time', noon + 600, noon, 'head-is-ancestor', false, true],
    ['back to an ancestor, rewinds allowed', noon - 600, noon, 'head-is-ancestor', true, false],
    ['shallow history, head older', noon - 1, noon, 'unknown', false, true],
    ['shallow history, head newer', noon + 1, noon, 'unknown', false, false],
    ['shallow history, same second', noon, noon, 'unknown', false, false],
    ['unrelated history, head older', noon - 3600, noon, 'unrelated', false, true],
    ['unrelated history, head newer (a rebased branch)', noon + 3600, noon, 'unrelated', false, false],
    ['applied commit unknown and absent', noon + 3600, undefined, 'unknown', false, true],
    ['applied commit unknown, rewinds allowed', noon - 3600, undefined, 'unknown', true, false],
  ];
  for (const [name, headTime, appliedTime, ancestry, allowRewind, refused] of table) {
    it(name, () => {
      const verdict = rewindVerdict({
        head: { commit: 'b'.repeat(40), committerTime: headTime },
        applied: { commit: 'a'.repeat(40), committerTime: appliedTime },
        ancestry,
      }, allowRewind);
      assert.equal(verdict.refused, refused, JSON.stringify(verdict));
    });
  }

  it('never refuses the first deploy or the applied commit itself', () => {
    const head = { commit: 'a'.repeat(40), committerTime: noon - 3600 };
    assert.equal(rewindVerdict({ head, applied: null, ancestry: 'unknown' }, false).refused, false);
    assert.equal(rewindVerdict({ head, applied: { commit: head.commit, committerTime: noon }, ancestry: 'unknown' }, false).refused, false);
  });

  it('says which time made the head a rewind', () => {
    const verdict = rewindVerdict({
      head: { commit: 'b'.repeat(40), committerTime: noon - 60 },
      applied: { commit: 'a'.repeat(40), committerTime: noon },
      ancestry: 'unknown',
    }, false);
    assert.ok(verdict.refused);
    assert.match(verdict.reason, /2025-06-15T15:05:40.000Z, before the applied commit \(2025-06-15T15:06:40.000Z\)/);
  });
});

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { clockCheck } from '../../agent/cli/doctor/checks.js';

it('flags a clock that is behind the commits it deploys', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  const table: [string, number, string][] = [
    ['an hour-old commit', now - 3_600_000, 'ok'],
    ['a commit two minutes ahead (clock skew within tolerance)', now + 120_000, 'ok'],
    ['a commit an hour ahead', now + 3_600_000, 'warn'],
  ];
  for (const [name, committedAt, expected] of table) assert.equal(clockCheck(new Date(committedAt).toISOString(), now).status, expected, name);
  assert.equal(clockCheck('2020-01-01T00:00:00Z', Date.parse('1970-01-02T00:00:00Z')).status, 'fail');
});

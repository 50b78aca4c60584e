import assert from 'node:assert/strict';
import { it } from 'node:test';
import { eventsForOutcome, type OutcomeFacts } from '../../agent/notify/from-outcome.js';

const applied: OutcomeFacts = { result: 'applied', commit: 'c1', rollouts: ['shop/web'], rollbacks: [] };
type Context = Parameters<typeof eventsForOutcome>[1];
const context: Context = { node: 'n1', previous: null, consecutiveFailures: 0 };
const kinds = (outcome: OutcomeFacts, extra: Partial<Context> = {}) => eventsForOutcome(outcome, { ...context, ...extra }).map((event) => event.kind);

it('maps cycle outcomes to notifications, each said once', () => {
  const table: [string, OutcomeFacts, Partial<Context>, string[]][] = [
    ['a rollout', applied, {}, ['deployed']],
    ['in sync', { ...applied, result: 'in-sync', rollouts: [] }, {}, []],
    ['an apply that only repaired drift', { ...applied, rollouts: [] }, {}, []],
    ['a rollback', { ...applied, result: 'failed', reason: 'ROLLED_BACK', rollouts: [], rollbacks: ['shop/web'] }, { consecutiveFailures: 1 }, ['rollback', 'quarantined']],
    ['a paused rollout', { ...applied, result: 'failed', reason: 'ROLLOUT_FAILED', rollouts: [] }, { consecutiveFailures: 1 }, ['quarantined']],
    ['a new refusal', { ...applied, result: 'failed', reason: 'VERIFY_FAILED', code: 'UNTRUSTED_SIGNER', rollouts: [] }, { consecutiveFailures: 1 }, ['commit-refused']],
    [
      'the same refusal again',
      { ...applied, result: 'failed', reason: 'VERIFY_FAILED', code: 'UNTRUSTED_SIGNER', rollouts: [] },
      { previous: { commit: 'c1', reason: 'UNTRUSTED_SIGNER' }, consecutiveFailures: 2 },
      [],
    ],
    ['a head that does not load (blocked)', { ...applied, result: 'blocked', reason: 'LOAD_FAILED', code: 'MANIFEST_INVALID', rollouts: [] }, {}, ['commit-refused']],
    ['the same head again', { ...applied, result: 'blocked', reason: 'LOAD_FAILED', code: 'MANIFEST_INVALID', rollouts: [] }, { previous: { commit: 'c1', reason: 'MANIFEST_INVALID' } }, []],
    ['a quarantined head, blocked', { ...applied, result: 'blocked', reason: 'COMMIT_QUARANTINED', rollouts: [] }, {}, []],
    ['the third failure in a row', { ...applied, result: 'failed', reason: 'FETCH_FAILED', rollouts: [] }, { consecutiveFailures: 3 }, ['repeated-failure']],
    ['the fourth failure in a row', { ...applied, result: 'failed', reason: 'FETCH_FAILED', rollouts: [] }, { consecutiveFailures: 4 }, []],
  ];
  for (const [name, outcome, extra, expected] of table) assert.deepEqual(kinds(outcome, extra), expected, name);
});

it('says the error\'s own code, and tells a repeat by it', () => {
  const refused: OutcomeFacts = { ...applied, result: 'blocked', reason: 'LOAD_FAILED', code: 'MANIFEST_INVALID', rollouts: [] };
  assert.equal(eventsForOutcome(refused, context)[0].reason, 'MANIFEST_INVALID');
  // The same commit refused for another cause is said again.
  assert.deepEqual(kinds(refused, { previous: { commit: 'c1', reason: 'UNTRUSTED_SIGNER' } }), ['commit-refused']);
});

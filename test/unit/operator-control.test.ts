import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeCommand, everythingSuspended, expandPrefix, localUser, notSuspended, withoutSuspended } from '../../agent/control/decide.js';
import { ControlStore } from '../../agent/control/store.js';
import { controlLines } from '../../agent/cli/status-report.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';
import type { DesiredState } from '../../agent/model.js';

describe('operator control: pure parts', () => {
  it('leaves suspended apps out of the desired state and names them', () => {
    const desired = { commit: 'c', apps: [{ name: 'a' }, { name: 'b' }] } as unknown as DesiredState;
    const without = withoutSuspended(desired, ['b', 'gone']);
    assert.deepEqual(without.apps.map((app) => app.name), ['a']);
    assert.deepEqual(without.suspendedApps, ['b', 'gone']);
    assert.equal(withoutSuspended(desired, []), desired);
    assert.deepEqual(notSuspended([{ app: 'a' }, { app: 'b' }], new Set(['b'])), [{ app: 'a' }]);
  });

  it('names the user behind sudo, describes commands, expands prefixes', () => {
    assert.equal(localUser('root', { SUDO_USER: 'alice' }), 'root (sudo from alice)');
    assert.equal(localUser('alice', {}), 'alice');
    assert.equal(describeCommand('suspend', { apps: [], reason: 'disk full' }), 'suspend everything: disk full');
    assert.equal(describeCommand('sync', { force: true }), 'sync --force');
    assert.equal(describeCommand('pin', { commit: 'a'.repeat(40) }), `pin ${'a'.repeat(12)}`);
    assert.equal(expandPrefix('AB12', ['ab12ff', 'cd']), 'ab12ff');
    assert.equal(expandPrefix('ab', ['ab1', 'ab2']), 'ambiguous');
    assert.equal(expandPrefix('ef', ['ab1']), 'unknown');
  });
});

describe('ControlStore', () => {
  const stores = () => {
    const db = openDb(':memory:');
    return { state: new StateStore(db), control: new ControlStore(db, 'n1') };
  };

  it('queues cycle requests until a cycle takes them, then records the outcome', () => {
    const { control } = stores();
    const id = control.record('sync', { force: true }, 'alice', true);
    control.record('suspend', { apps: ['a'] }, 'alice', false);
    assert.equal(control.hasPendingCycleRequest(), true);
    const taken = control.takePendingCycleRequests();
    assert.deepEqual(taken.map((row) => [row.id, row.args.force]), [[id, true]]);
    assert.equal(control.hasPendingCycleRequest(), false);
    control.finishCycleRequests([id], { cycleId: 7, result: 'applied', message: null });
    assert.deepEqual([control.command(id)?.cycleId, control.command(id)?.result], [7, 'applied']);
  });

  it('suspends apps or everything, resumes them; pins and unpins', () => {
    const { control } = stores();
    control.suspend(['a', 'b'], 'alice', 'maintenance');
    control.suspend([], 'bob', null);
    assert.equal(everythingSuspended(control.suspensions())?.user, 'bob');
    assert.deepEqual(control.resume(['a']), ['a']);
    assert.deepEqual(control.resume([]).sort(), ['*', 'b']);
    control.pin('c1', 'alice', 'why');
    control.pinChecked('c1', { head: 'c3', ahead: 2, problem: null });
    control.pinChecked('other', { head: 'c3', ahead: 9, problem: null });
    const pin = control.pinned();
    assert.deepEqual([pin?.commit, pin?.ahead, pin?.head], ['c1', 2, 'c3']);
    assert.match(controlLines({ pin, suspended: [] }).join('\n'), /pinned: +c1 by alice .*branch head c3 is 2 commit\(s\) ahead/s);
    assert.equal(control.unpin(), 'c1');
    assert.equal(control.pinned(), null);
  });

  it('rollback: the commit applied before the current one was first applied, one further back each time', () => {
    const { state, control } = stores();
    const cycle = (commit: string, result: 'applied' | 'in-sync' | 'failed') => {
      const id = state.startCycle('test', 'n1');
      state.setCycleCommit(id, { id: commit, author: '', message: '' });
      state.finishCycle(id, { result, durationMs: 1 });
    };
    cycle('c1', 'applied');
    cycle('c2', 'applied');
    cycle('c2', 'in-sync');
    cycle('bad', 'failed');
    cycle('c3', 'applied');
    assert.equal(control.appliedBefore('c3'), 'c2');
    cycle('c2', 'applied');
    assert.equal(control.appliedBefore('c2'), 'c1');
    assert.equal(control.appliedBefore('c1'), null);
  });
});

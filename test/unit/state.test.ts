import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('keeps last attempted apart from last applied, and the error until a success', () => {
  const file = join(dir, 'a.db');
  const store = new StateStore(openDb(file));
  const good = store.startCycle('once', 'n1');
  store.setCycleCommit(good, { id: 'aaa', author: 'Ann', message: 'add web' });
  store.finishCycle(good, { result: 'applied', changes: ['create container x: container missing'], durationMs: 5 });
  const bad = store.startCycle('schedule', 'n1');
  store.setCycleCommit(bad, { id: 'bbb', author: 'Bob', message: 'typo' });
  store.finishCycle(bad, { result: 'failed', reason: 'MANIFEST_INVALID', message: 'web.yaml:3:1: bad', durationMs: 7 });
  assert.equal(store.lastAppliedCommit, 'aaa');
  assert.equal(store.lastAttemptedCommit, 'bbb');
  assert.deepEqual({ ...store.lastError, at: undefined }, { code: 'MANIFEST_INVALID', message: 'web.yaml:3:1: bad', commit: 'bbb', at: undefined });
  assert.deepEqual(
    store.cycles().map((cycle) => [cycle.commit, cycle.result, cycle.changes.length]),
    [
      ['bbb', 'failed', 0],
      ['aaa', 'applied', 1],
    ],
  );
  assert.equal(store.cyclesForCommit('aa')[0].commitMessage, 'add web');
  store.close();

  // Reopening the same file keeps everything (and does not re-run migrations).
  const reopened = new StateStore(openDb(file));
  assert.equal(reopened.lastAppliedCommit, 'aaa');
  const fixed = reopened.startCycle('schedule', 'n1');
  reopened.setCycleCommit(fixed, { id: 'ccc', author: 'Ann', message: 'fix' });
  reopened.finishCycle(fixed, { result: 'in-sync', durationMs: 1 });
  assert.equal(reopened.lastError, null);
  assert.equal(reopened.lastAppliedCommit, 'ccc');
  reopened.close();
});

it('marks cycles and journal entries a killed process left running as interrupted', () => {
  const store = new StateStore(openDb(join(dir, 'b.db')));
  const cycle = store.startCycle('schedule', 'n1');
  store.journalStart(cycle, 'stop-container', 'stop container web-1', 'config-hash changed');
  assert.equal(store.markInterrupted(), 1);
  assert.equal(store.cycles()[0].result, 'interrupted');
  assert.equal(store.journal(cycle)[0].state, 'interrupted');
  store.close();
});

it('keeps the time of the last real change of a deployment', () => {
  let now = new Date('2026-01-01T00:00:00Z');
  const store = new StateStore(openDb(join(dir, 'c.db')), () => now);
  const row = { app: 'shop', service: 'web', configHash: 'h1', image: 'img', replicas: 1, commit: 'aaa' };
  store.recordDeployments('n1', [row]);
  now = new Date('2026-01-02T00:00:00Z');
  store.recordDeployments('n1', [{ ...row, commit: 'bbb' }]);
  assert.equal(store.deployments('n1')[0].updatedAt, '2026-01-01T00:00:00.000Z');
  store.recordDeployments('n1', [{ ...row, configHash: 'h2', commit: 'ccc' }]);
  assert.equal(store.deployments('n1')[0].updatedAt, '2026-01-02T00:00:00.000Z');
  store.recordDeployments('n1', []);
  assert.deepEqual(store.deployments('n1'), []);
  store.close();
});

it('records the containers whose post_start hooks finished, per node, keeping the newest', () => {
  const store = new StateStore(openDb(join(dir, 'post-start.db')));
  assert.deepEqual(store.postStartDone('n1'), []);
  store.recordPostStartDone('n1', 'c1');
  store.recordPostStartDone('n1', 'c1');
  store.recordPostStartDone('n2', 'c2');
  assert.deepEqual(store.postStartDone('n1'), ['c1']);
  assert.deepEqual(store.postStartDone('n2'), ['c2']);
  for (let index = 0; index < 2_050; index++) store.recordPostStartDone('n1', `bulk-${index}`);
  const kept = store.postStartDone('n1');
  assert.ok(kept.length <= 2_000 && kept.includes('bulk-2049'), `${kept.length} rows kept`);
  store.close();
});

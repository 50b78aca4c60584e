import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DesiredState } from '../../agent/model.js';
import { openDb } from '../../agent/state/db.js';
import { StorageStore, type VolumeRow } from '../../agent/storage/store.js';
import { StorageTarget } from '../../agent/storage/target.js';
import type { ResticRun } from '../../agent/storage/restic.js';
import { VolumeStorage } from '../../agent/storage/volumes.js';
import type { Target, TargetPlan } from '../../agent/targets/target.js';

// `capstan plan` with snapshot volumes: StorageTarget.plan over a real StorageStore (SQLite), a
// restic that answers `snapshots` from a table (and records every call, to prove nothing is
// written), and a target that records the desired state it is asked to plan. Golden output.

const COMMIT = 'c'.repeat(40);
const NOW = Date.parse('2026-01-01T12:00:00.000Z');
const PASSWORD = 'hunter2-repository-password';
const SNAP_A = '1a2b3c4d'.repeat(8);
const SNAP_LATEST = '5e6f7a8b'.repeat(8);
const SNAP_INTERRUPTED = 'feedbeef'.repeat(8);

const spec = (schedule: string) => ({ schedule, keep: { daily: 7 }, repository: 'main', handoffTimeoutMs: 600_000 });
const app = (name: string, volumes: { name: string; schedule?: string }[], services: { name: string; volume?: string }[]) => ({
  name,
  volumes: volumes.map((volume) => ({ name: volume.name, dockerName: `${name}_${volume.name}`, labels: {}, ...(volume.schedule ? { snapshot: spec(volume.schedule) } : {}) })),
  services: services.map((service) => ({ name: service.name, mounts: service.volume ? [{ type: 'volume', volume: service.volume, target: '/data', readOnly: false }] : [] })),
});

// Each record as restic lists it; `node` is restic's host.
const record = (id: string, kind: string, node: string, at: string, snapshot?: string) => ({
  id,
  short_id: id.slice(0, 8),
  time: at,
  hostname: node,
  paths: ['/'],
  tags: [`capstan-kind=${kind}`, ...(snapshot ? [`capstan-snapshot=${snapshot}`] : [])],
});
const REPOSITORY: Record<string, unknown[] | Error> = {
  'shop/db': [record(SNAP_A, 'data', 'a', '2026-01-01T10:00:00Z'), record('r1', 'lease', 'a', '2026-01-01T09:00:00Z'), record('r2', 'handoff', 'a', '2026-01-01T10:00:01Z', SNAP_A)],
  'blog/data': [record('r3', 'lease', 'a', '2026-01-01T09:00:00Z')],
  'wiki/data': [record('r4', 'lease', 'a', '2026-01-01T09:00:00Z')],
  'mail/data': [record('r5', 'lease', 'b', '2026-01-01T09:00:00Z')],
  'news/data': [record('r6', 'lease', 'b', '2026-01-01T09:00:00Z')],
  'docs/data': new Error('restic snapshots failed (exit code 1): Fatal: unable to open repository: connection refused'),
  'pics/data': new Error('restic snapshots failed (exit code 1): Fatal: unable to open config file: stat /repo/config: no such file or directory\nIs there a repository at the following location?'),
  'film/data': [record(SNAP_LATEST, 'data', 'a', '2026-01-01T11:00:00Z'), record('r7', 'lease', 'a', '2026-01-01T09:00:00Z'), record('r8', 'takeover', 'b', '2026-01-01T11:30:00Z')],
};

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), 'capstan-storage-plan-'));
  const db = openDb(join(dir, 'capstan.db'));
  const store = new StorageStore(() => db);
  const calls: string[][] = [];
  const restic: ResticRun = async (args) => {
    calls.push(args);
    const tag = args[args.indexOf('--tag') + 1];
    const key = `${/capstan-app=([^,]+)/.exec(tag)![1]}/${/capstan-volume=([^,]+)/.exec(tag)![1]}`;
    const answer = REPOSITORY[key] ?? [];
    if (answer instanceof Error) throw answer;
    return { stdout: JSON.stringify((answer as { tags: string[] }[]).map((snapshot) => ({ ...snapshot, tags: [...snapshot.tags, `capstan-app=${key.split('/')[0]}`, `capstan-volume=${key.split('/')[1]}`] }))), stderr: '', code: 0 };
  };
  const storage = new VolumeStorage({
    docker: {} as never,
    node: 'b',
    store,
    clock: { now: () => NOW, sleep: async () => undefined },
    repositories: async () => ({ main: { name: 'main', location: `s3:https://key:${PASSWORD}@s3.example/bucket`, passwordEnv: 'RESTIC_PASSWORD' } }),
    restic: async () => restic,
    redact: (text) => text,
  });
  const planned: DesiredState[] = [];
  const inner: Target = {
    converge: async () => assert.fail('plan must not converge'),
    plan: async (desired) => {
      planned.push(desired);
      return { commit: desired.commit, node: 'b', operations: [{ id: 1, kind: 'create-container' }], problems: [] };
    },
    print: (plan: TargetPlan) => `inner plan: ${plan.operations.length} operation(s)\n`,
    afterApplied: async () => undefined,
  };
  const row = (app: string, volume: string, state: VolumeRow['state'], since: string, extra: { restoreFrom?: string; lastSnapshotAt?: string } = {}) => {
    store.setState({ node: 'b', app, volume, dockerName: `${app}_${volume}`, repository: 'main' }, state, since, extra.restoreFrom ?? null);
    if (extra.lastSnapshotAt) store.recordSnapshot('b', app, volume, { id: SNAP_A, at: extra.lastSnapshotAt, bytes: 10 });
  };
  return { dir, db, store, calls, planned, row, target: new StorageTarget(inner, storage) };
}

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('StorageTarget.plan: the storage steps a cycle would take, read-only', () => {
  it('hands off, releases, waits, restores, claims and snapshots, after the target\'s operations', async () => {
    const { dir, calls, planned, row, target, store } = fixture();
    dirs.push(dir);
    row('gone', 'data', 'holding', '2026-01-01T08:00:00.000Z');
    row('shop', 'cache', 'holding', '2026-01-01T08:00:00.000Z');
    row('blog', 'data', 'waiting', '2026-01-01T11:55:00.000Z');
    row('wiki', 'data', 'waiting', '2026-01-01T11:00:00.000Z');
    row('mail', 'data', 'holding', '2026-01-01T08:00:00.000Z', { lastSnapshotAt: '2026-01-01T11:00:00.000Z' });
    row('news', 'data', 'holding', '2026-01-01T08:00:00.000Z', { lastSnapshotAt: '2026-01-01T11:59:30.000Z' });
    row('logs', 'data', 'restoring', '2026-01-01T11:58:00.000Z', { restoreFrom: SNAP_INTERRUPTED });
    const desired = {
      commit: COMMIT,
      apps: [
        app('blog', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('docs', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('film', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('logs', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('mail', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('news', [{ name: 'data', schedule: '0 0 1 1 *' }], [{ name: 'web', volume: 'data' }]),
        app('pics', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
        app('shop', [{ name: 'cache' }, { name: 'db', schedule: '*/30 * * * *' }], [{ name: 'db', volume: 'db' }, { name: 'web' }]),
        app('wiki', [{ name: 'data', schedule: '*/30 * * * *' }], [{ name: 'web', volume: 'data' }]),
      ],
    } as unknown as DesiredState;
    const before = JSON.stringify(store.rows('b'));

    const plan = await target.plan(desired);
    const text = target.print(plan);

    assert.equal(
      text,
      [
        'inner plan: 1 operation(s)',
        'volume storage on node b: 11 operation(s)',
        '    2. hand off volume gone/data                           no longer placed on this node: stop its services, final snapshot, hand-off record',
        '    3. release volume shop/cache                           no snapshot: asked any more; the lease is given up, nothing stops',
        '    4. wait for volume blog/data                           node a holds the lease; waiting for its hand-off since 2026-01-01T11:55:00.000Z, the service does not start',
        "    5. claim volume docs/data                              VOLUME_REPOSITORY_FAILED: cannot read repository main: restic snapshots failed (exit code 1): Fatal: unable to open repository: connection refused; the service does not start",
        '    6. restore volume film/data from 5e6f7a8b              lease taken; taken over from a dead node (the latest snapshot)',
        '    7. restore volume logs/data from feedbeef              an interrupted restore, done again before the service starts',
        '    8. claim volume pics/data                              no node holds it: lease taken in repository main; the volume\'s files are kept',
        '    9. restore volume shop/db from 1a2b3c4d                lease taken; handed off from node a',
        '   10. wait for volume wiki/data                           VOLUME_HANDOFF_TIMEOUT: node a has not handed off since 2026-01-01T11:00:00.000Z; if it is gone for good: capstan volumes takeover wiki/data',
        "   11. snapshot volume mail/data                           schedule '*/30 * * * *' due since the snapshot at 2026-01-01T11:00:00.000Z",
        '   12. snapshot volume pics/data                           no snapshot yet',
        '',
      ].join('\n'),
    );
    // Counted with the target's operations: `capstan plan` exits 2.
    assert.equal(plan.operations.length, 12);
    // The services of volumes another node holds (or that cannot be read) are left out, as converge leaves them out.
    const services = planned[0].apps.flatMap((entry) => entry.services.map((service) => `${entry.name}/${service.name}`));
    assert.deepEqual(services, ['film/web', 'logs/web', 'mail/web', 'news/web', 'pics/web', 'shop/db', 'shop/web']);
    // Nothing written: only `snapshots --no-lock --no-cache`, none for the interrupted restore; no row changed.
    assert.ok(calls.length > 0);
    for (const args of calls) assert.deepEqual(args.slice(0, 3), ['snapshots', '--no-lock', '--no-cache']);
    assert.equal(calls.some((args) => args.join(',').includes('capstan-app=logs')), false);
    assert.equal(JSON.stringify(store.rows('b')), before);
    // No credential, in the text or the JSON.
    assert.equal(text.includes(PASSWORD) || JSON.stringify(plan).includes(PASSWORD) || JSON.stringify(plan).includes('s3.example'), false);
  });

  it('a commit with no services hands nothing off, as converge', async () => {
    const { dir, row, target } = fixture();
    dirs.push(dir);
    row('gone', 'data', 'holding', '2026-01-01T08:00:00.000Z');
    const plan = await target.plan({ commit: COMMIT, apps: [] } as unknown as DesiredState);
    assert.equal(target.print(plan), 'inner plan: 1 operation(s)\n');
  });
});

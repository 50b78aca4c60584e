import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import { parsePolicy } from '../../agent/policy/index.js';
import { forgetArgs, isDue, leaseDecision, leaseState, waitVerdict, type LeaseRecord } from '../../agent/storage/decide.js';
import { resticEnvironment } from '../../agent/storage/repositories.js';
import { withoutServicesOf } from '../../agent/storage/target.js';

// The storage decisions (agent/storage/decide.ts) as tables, and the manifest and host
// configuration they read. Times are local: the agent's cron runs in local time, tests in UTC.

const at = (text: string) => new Date(text).getTime();
const COMMIT = 'b'.repeat(40);
const hashKey = new TextEncoder().encode('storage-test-key');

describe('isDue: a tick of the schedule between the last snapshot and now', () => {
  const cases: [schedule: string, last: string | undefined, now: string, due: boolean, why: string][] = [
    ['0 */6 * * *', undefined, '2026-01-01T03:00:00', true, 'no snapshot yet: at once'],
    ['0 */6 * * *', '2026-01-01T05:59:00', '2026-01-01T06:01:00', true, 'the 06:00 tick passed'],
    ['0 */6 * * *', '2026-01-01T06:00:30', '2026-01-01T11:59:00', false, 'next tick is 12:00'],
    ['0 */6 * * *', '2026-01-01T06:00:30', '2026-01-01T12:00:00', true, 'exactly on the tick'],
    ['0 */6 * * *', '2026-01-01T06:00:00', '2026-01-01T06:00:00', false, 'the tick of the last snapshot itself'],
    ['30 2 * * sun', '2026-01-03T02:30:00', '2026-01-09T23:00:00', true, 'Saturday 3 to Friday 9 January 2026: Sunday the 4th at 02:30'],
    ['30 2 * * sun', '2026-01-04T02:30:00', '2026-01-10T23:00:00', false, 'Sunday the 4th to Saturday the 10th: the next Sunday is the 11th'],
    ['0 0 1 1 *', '2026-01-01T00:00:00', '2026-12-31T23:59:00', false, 'yearly, within the year'],
    ['0 0 1 1 *', '2025-01-01T00:00:00', '2027-01-02T00:00:00', true, 'more than a year: due without walking'],
    ['*/10 * * * * *', '2026-01-01T00:00:01', '2026-01-01T00:00:09', false, 'seconds field: next tick at :10'],
    ['*/10 * * * * *', '2026-01-01T00:00:01', '2026-01-01T00:00:10', true, 'seconds field: the :10 tick'],
    ['0 */6 * * *', '2026-01-01T07:00:00', '2026-01-01T06:00:00', false, 'clock went back: not due'],
  ];
  for (const [schedule, last, now, due, why] of cases) {
    it(`${schedule} last ${last ?? 'never'} now ${now}: ${due ? 'due' : 'not due'} (${why})`, () => {
      assert.equal(isDue(schedule, last === undefined ? undefined : at(last), at(now)), due);
    });
  }
});

describe('forgetArgs: retention as restic flags', () => {
  it('in restic\'s order, whatever the manifest\'s', () => {
    assert.deepEqual(forgetArgs({ weekly: 4, daily: 7 }), ['--keep-daily', '7', '--keep-weekly', '4']);
    assert.deepEqual(forgetArgs({ last: 3, yearly: 1, monthly: 12, hourly: 24 }), ['--keep-last', '3', '--keep-hourly', '24', '--keep-monthly', '12', '--keep-yearly', '1']);
  });
});

describe('the lease: replaying the records in the repository', () => {
  const record = (id: string, kind: LeaseRecord['kind'], node: string, time: string, snapshot?: string): LeaseRecord => ({ id, kind, node, at: `2026-01-01T${time}Z`, ...(snapshot ? { snapshot } : {}) });
  const cases: [name: string, records: LeaseRecord[], node: string, decision: ReturnType<typeof leaseDecision>['kind'], holders: string[]][] = [
    ['no records: free', [], 'b', 'free', []],
    ['a holds: b may not write', [record('1', 'lease', 'a', '00:00')], 'b', 'held-elsewhere', ['a']],
    ['a holds: a keeps it', [record('1', 'lease', 'a', '00:00')], 'a', 'held', ['a']],
    ['a handed off: free for b', [record('1', 'lease', 'a', '00:00'), record('2', 'handoff', 'a', '01:00', 's1')], 'b', 'free', []],
    ['a handed off, b took it', [record('1', 'lease', 'a', '00:00'), record('2', 'handoff', 'a', '01:00', 's1'), record('3', 'lease', 'b', '02:00')], 'b', 'held', ['b']],
    ['a and b raced: neither holds alone', [record('1', 'lease', 'a', '00:00'), record('2', 'lease', 'b', '00:00')], 'a', 'held-elsewhere', ['a', 'b']],
    ['a died, c took over: free for c', [record('1', 'lease', 'a', '00:00'), record('2', 'takeover', 'c', '03:00')], 'c', 'free', []],
    ['a\'s old lease after a takeover does not count again', [record('1', 'lease', 'a', '00:00'), record('2', 'takeover', 'c', '03:00'), record('3', 'lease', 'c', '03:01')], 'a', 'held-elsewhere', ['c']],
    ['records out of order are replayed by time', [record('3', 'lease', 'b', '02:00'), record('2', 'handoff', 'a', '01:00', 's1'), record('1', 'lease', 'a', '00:00')], 'b', 'held', ['b']],
  ];
  for (const [name, records, node, decision, holders] of cases) {
    it(name, () => {
      const state = leaseState(records);
      assert.deepEqual(state.holders.map((holder) => holder.node).sort(), holders);
      assert.equal(leaseDecision(state, node).kind, decision);
    });
  }
  it('the last release names the snapshot to restore', () => {
    const state = leaseState([record('1', 'lease', 'a', '00:00'), record('2', 'handoff', 'a', '01:00', 's1')]);
    assert.equal(state.lastRelease?.snapshot, 's1');
  });
  it('waiting turns into a timeout after handoff_timeout', () => {
    assert.equal(waitVerdict(at('2026-01-01T00:00:00Z'), at('2026-01-01T00:09:59Z'), 600_000), 'waiting');
    assert.equal(waitVerdict(at('2026-01-01T00:00:00Z'), at('2026-01-01T00:10:00Z'), 600_000), 'timed-out');
  });
});

describe('snapshot: in manifests', () => {
  const withManifest = async (text: string, body: (dir: string) => Promise<void>) => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-storage-'));
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'app.yaml'), text);
      await body(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  const manifest = (snapshot: string) => `app: shop\nvolumes:\n  data:\n    snapshot: ${snapshot}\nservices:\n  db:\n    image: local/busybox:1\n    volumes: ["data:/data"]\n`;

  it('normalizes into the model', async () => {
    await withManifest(manifest('{ schedule: "0 */6 * * *", keep: { daily: 7, weekly: 4 }, repository: offsite, pre_snapshot: "pg_dump > /data/dump.sql", handoff_timeout: 2m }'), async (root) => {
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey });
      assert.deepEqual(state.apps[0].volumes[0].snapshot, {
        schedule: '0 */6 * * *',
        keep: { daily: 7, weekly: 4 },
        repository: 'offsite',
        preSnapshot: ['sh', '-c', 'pg_dump > /data/dump.sql'],
        handoffTimeoutMs: 120_000,
      });
    });
  });

  const refused: [snapshot: string, expected: RegExp][] = [
    ['{ schedule: "every day", keep: { daily: 7 }, repository: offsite }', /app\.yaml:4:\d+: volumes\.data\.snapshot\.schedule: 'every day' is not a cron expression.*\[SNAPSHOT_SCHEDULE_INVALID\]/],
    ['{ schedule: "0 * * * *", keep: {}, repository: offsite }', /app\.yaml:4:\d+: volumes\.data\.snapshot\.keep.*/],
    ['{ schedule: "0 * * * *", keep: { daily: 7 }, repository: offsite, stopp: true }', /app\.yaml:4:\d+: volumes\.data\.snapshot.*stopp/],
    ['{ schedule: "0 * * * *", keep: { daily: 99999999 }, repository: offsite }', /volumes\.data\.snapshot\.keep\.daily/],
    ['{ schedule: "0 * * * *", keep: { daily: 7 } }', /volumes\.data\.snapshot.*repository/],
  ];
  for (const [snapshot, expected] of refused) {
    it(`refuses ${snapshot} with file, line and key`, async () => {
      await withManifest(manifest(snapshot), async (root) => {
        const result = await validateDir({ root, commit: COMMIT, hashKey });
        assert.equal(result.state, undefined);
        assert.match(result.problems.map(formatProblem).join('\n'), expected);
      });
    });
  }
});

describe('snapshot: in Compose files, under a volume\'s x-capstan', () => {
  it('converts to the same model, and an error names the Compose file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'capstan-storage-compose-'));
    try {
      await mkdir(join(dir, 'notes'));
      const compose = (schedule: string) =>
        `services:\n  db:\n    image: local/busybox:1\n    volumes: ["data:/data"]\nvolumes:\n  data:\n    x-capstan:\n      snapshot: { schedule: "${schedule}", keep: { daily: 3 }, repository: nas, stop: true }\n`;
      await writeFile(join(dir, 'notes', 'compose.yaml'), compose('0 3 * * *'));
      const state = await loadDesiredState({ root: dir, commit: COMMIT, hashKey });
      assert.deepEqual(state.apps[0].volumes[0].snapshot, { schedule: '0 3 * * *', keep: { daily: 3 }, repository: 'nas', stop: true, handoffTimeoutMs: 600_000 });
      await writeFile(join(dir, 'notes', 'compose.yaml'), compose('nightly'));
      const result = await validateDir({ root: dir, commit: COMMIT, hashKey });
      assert.match(result.problems.map(formatProblem).join('\n'), /notes\/compose\.yaml:8:\d+: volumes\.data\.x-capstan\.snapshot\.schedule: 'nightly' is not a cron expression/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('repositories: in the policy file', () => {
  it('reads a path, an SFTP and an S3 repository', () => {
    const policy = parsePolicy(
      [
        'repositories:',
        '  local: { path: /mnt/backup, password_file: /etc/capstan/restic }',
        '  nas: { sftp: "backup@nas:/srv/restic", password_env: NAS_PASSWORD }',
        '  cloud: { s3: "https://s3.example.com/bucket/capstan", password_env: P, access_key_id_env: K, secret_access_key_env: S }',
      ].join('\n'),
      'policy.yaml',
    );
    assert.deepEqual(Object.fromEntries(Object.entries(policy.repositories ?? {}).map(([name, repository]) => [name, repository.location])), {
      local: '/mnt/backup',
      nas: 'sftp:backup@nas:/srv/restic',
      cloud: 's3:https://s3.example.com/bucket/capstan',
    });
  });
  for (const [text, expected] of [
    ['repositories:\n  x: { path: /a, sftp: "u@h:/b", password_env: P }', /exactly one of path, sftp, s3/],
    ['repositories:\n  x: { path: /a }', /exactly one of password_file, password_env/],
    ['repositories:\n  x: { path: relative, password_env: P }', /repositories/],
    ['repositories:\n  x: { path: /a, password_env: P, access_key_id_env: K }', /access keys are for s3/],
  ] as const) {
    it(`refuses ${text.split('\n')[1].trim()}`, () => assert.throws(() => parsePolicy(text, 'policy.yaml'), (error: Error & { code?: string }) => error.code === 'POLICY_INVALID' && expected.test(error.message)));
  }

  it('passes credentials to restic in its environment only, registered as secrets', async () => {
    const registered: string[] = [];
    const env = await resticEnvironment(
      { name: 'cloud', location: 's3:https://s3.example.com/b', passwordEnv: 'P', accessKeyIdEnv: 'K', secretAccessKeyEnv: 'S' },
      { env: { PATH: '/bin', P: 'pass-value', K: 'key-value', S: 'secret-value' }, register: (value) => registered.push(value), cacheDir: '/tmp/cache' },
    );
    assert.equal(env.RESTIC_PASSWORD, 'pass-value');
    assert.equal(env.AWS_ACCESS_KEY_ID, 'key-value');
    assert.equal(env.AWS_SECRET_ACCESS_KEY, 'secret-value');
    assert.deepEqual(registered.sort(), ['key-value', 'pass-value', 'secret-value']);
    await assert.rejects(
      resticEnvironment({ name: 'cloud', location: 's3:x', passwordEnv: 'MISSING' }, { env: {}, register: () => undefined, cacheDir: '/tmp' }),
      (error: Error & { code?: string }) => error.code === 'REPOSITORY_CREDENTIALS' && /MISSING is not set/.test(error.message),
    );
  });
});

describe('withoutServicesOf: a volume this node may not write', () => {
  it('leaves out the services mounting it and keeps the volume (so it is created for the restore)', async () => {
    const state = {
      commit: COMMIT,
      apps: [
        {
          name: 'shop',
          source: { file: 'shop.yaml', line: 1 },
          volumes: [{ name: 'data', dockerName: 'shop_data', labels: {} }],
          services: [
            { name: 'db', mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: false }] },
            { name: 'web', mounts: [] },
          ],
        },
      ],
    } as unknown as Parameters<typeof withoutServicesOf>[0];
    const gated = withoutServicesOf(state, new Set(['shop/data']));
    assert.deepEqual(gated.apps[0].services.map((service) => service.name), ['web']);
    assert.deepEqual(gated.apps[0].volumes.map((volume) => volume.name), ['data']);
  });
});

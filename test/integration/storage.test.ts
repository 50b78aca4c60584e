import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { stopProcess } from '../helpers/cli.js';
import { exec } from '../helpers/docker.js';
import { SLEEPER, sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';

// Volume snapshots on one node (agent/storage): a real restic repository on a local path, real
// Docker, the CLI as users run it. Snapshots on the schedule and by hand, `capstan volumes`,
// a restore of an older snapshot, and a backup killed with -9 that leaves the earlier ones whole.

describe('storage: volume snapshots with restic on one node', () => {
  const agent = sharedAgent({ app: 'vault', repoName: 'storage', timeoutMs: 180_000 });
  const { app } = agent;
  let scratch: TempDir;
  let policy: string;
  const capstan = (...args: string[]) => agent.run(args, { env: { CAPSTAN_POLICY_FILE: policy } });
  const resticEnv = () => ({ ...process.env, RESTIC_REPOSITORY: join(scratch.path, 'restic'), RESTIC_PASSWORD_FILE: join(scratch.path, 'password'), RESTIC_CACHE_DIR: join(scratch.path, 'cache') });
  const dataSnapshots = () =>
    (JSON.parse(execFileSync('restic', ['snapshots', '--json', '--tag', `capstan-app=${app},capstan-kind=data`], { env: resticEnv() }).toString()) as { id: string }[]).map((snapshot) => snapshot.id);
  const replica = async () => {
    const [container] = (await agent.managed()).filter((candidate) => candidate.service === 'db');
    assert.ok(container, 'the db replica runs');
    return container;
  };
  const write = async (text: string) => {
    const result = await exec((await replica()).id, ['sh', '-c', `echo ${text} > /data/file && sync`]);
    assert.equal(result.exitCode, 0, result.stderr);
  };
  const read = async () => (await exec((await replica()).id, ['cat', '/data/file'])).stdout.trim();
  const snapshotByHand = async () => {
    const taken = await capstan('volumes', 'snapshot', `${app}/data`);
    assert.equal(taken.code, 0, taken.stderr);
  };

  // The app deployed by its first cycle, which takes the first snapshot. The first test reads
  // what that cycle did; each later test writes and snapshots what it then checks.
  before(async () => {
    scratch = await agent.tempDir('capstan-storage-repo');
    writeFileSync(join(scratch.path, 'password'), 'correct horse battery staple\n', { mode: 0o600 });
    policy = join(scratch.path, 'policy.yaml');
    writeFileSync(policy, `repositories:\n  local:\n    path: ${join(scratch.path, 'restic')}\n    password_file: ${join(scratch.path, 'password')}\n`);
    // A yearly schedule: the first snapshot comes with the first cycle, the rest by hand.
    await agent.push(
      {
        [`${app}.yaml`]: [
          `app: ${app}`,
          'volumes:',
          '  data:',
          '    snapshot: { schedule: "0 0 1 1 *", keep: { last: 10 }, repository: local, pre_snapshot: "echo dumped > /data/dump" }',
          'services:',
          '  db:',
          '    image: local/busybox:1',
          `    command: ${SLEEPER}`,
          '    update: { monitor: 1s }',
          '    volumes: ["data:/data"]',
          '',
        ].join('\n'),
      },
      'a volume with snapshots',
    );
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  });

  it('takes the first snapshot with the first cycle, after pre_snapshot, and lists it', async () => {
    assert.equal(dataSnapshots().length, 1);
    const history = await capstan('history', '--json');
    const changes = (JSON.parse(history.stdout) as { changes: string[] }[])[0].changes;
    assert.ok(changes.some((change) => change.startsWith(`volume ${app}/data: snapshot `)), changes.join('\n'));
    assert.equal(await exec((await replica()).id, ['cat', '/data/dump']).then((output) => output.stdout.trim()), 'dumped');
    const listing = await capstan('volumes', '--json');
    assert.equal(listing.code, 0, listing.stderr);
    const [volume] = JSON.parse(listing.stdout) as { volume: string; repository: string; state: string; snapshots: number; sizeBytes: number; ageSeconds: number }[];
    assert.equal(volume.volume, `${app}/data`);
    assert.equal(volume.repository, 'local');
    assert.equal(volume.state, 'holding');
    assert.equal(volume.snapshots, 1);
    assert.ok(volume.sizeBytes > 0);
    assert.ok(volume.ageSeconds >= 0);
    // A second cycle finds nothing due: no new snapshot.
    assert.equal((await capstan('once')).code, 0);
    assert.equal(dataSnapshots().length, 1);
  });

  it('restores an older snapshot, with the service stopped meanwhile and started after', async () => {
    await write('one');
    await snapshotByHand();
    const older = dataSnapshots().at(-1)!;
    await write('two');
    await snapshotByHand();
    assert.equal(await read(), 'two');
    const before = (await replica()).id;
    const restored = await capstan('volumes', 'restore', `${app}/data`, '--snapshot', older.slice(0, 8));
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /restarted/);
    assert.equal((await replica()).id, before, 'the same container, stopped and started again');
    assert.equal(await read(), 'one');
    // An operator command: who restored what, and how it ended, in `history --commands`.
    const commands = JSON.parse((await capstan('history', '--commands', '--json')).stdout) as { command: string; args: { volume?: string; snapshot?: string }; user: string; result: string; message: string }[];
    const restore = commands.find((row) => row.command === 'volume-restore');
    assert.deepEqual(restore && { ...restore.args, result: restore.result }, { volume: `${app}/data`, snapshot: older.slice(0, 8), result: 'done' });
    assert.match(restore!.message, /^restored .+ from snapshot /);
    assert.ok(restore!.user.length > 0);
    assert.ok(commands.some((row) => row.command === 'volume-snapshot' && row.result === 'done'), 'the snapshots by hand are recorded too');
    const table = (await capstan('history', '--commands')).stdout;
    assert.match(table, new RegExp(`volumes restore ${app}/data .*\\sdone\\n`));
  });

  it('a snapshot killed with -9 leaves the earlier snapshots whole, and the next one works', async () => {
    // The snapshot the repository must still restore after the kill.
    await write('kept');
    await snapshotByHand();
    // 64 MiB of random data takes restic a few seconds: long enough to be killed half-way.
    const big = await exec((await replica()).id, ['sh', '-c', 'head -c 67108864 /dev/urandom > /data/big && sync']);
    assert.equal(big.exitCode, 0, big.stderr);
    const before = dataSnapshots();
    const pids = join(scratch.path, 'pids');
    const wrapper = join(scratch.path, 'restic-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\necho "$$ $1 $2" >> ${pids}\nexec restic "$@"\n`);
    chmodSync(wrapper, 0o755);
    const child = agent.spawn(['volumes', 'snapshot', `${app}/data`], { env: { CAPSTAN_POLICY_FILE: policy, CAPSTAN_RESTIC: wrapper } });
    let backupPid: number | undefined;
    for (let attempt = 0; attempt < 600 && backupPid === undefined; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const lines = (() => { try { return readFileSync(pids, 'utf8').split('\n'); } catch { return []; } })();
      const line = lines.find((candidate) => / backup \.$/.test(candidate));
      if (line) backupPid = Number(line.split(' ')[0]);
    }
    assert.ok(backupPid, 'restic backup started');
    process.kill(backupPid, 'SIGKILL');
    child.kill('SIGKILL');
    await stopProcess(child).catch(() => undefined);
    assert.deepEqual(dataSnapshots(), before, 'no partial snapshot, none lost');
    execFileSync('restic', ['check'], { env: resticEnv() });
    await write('overwritten');
    const restored = await capstan('volumes', 'restore', `${app}/data`, '--snapshot', before.at(-1)!.slice(0, 8));
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(await read(), 'kept');
    await snapshotByHand();
    assert.equal(dataSnapshots().length, before.length + 1);
  });

  it('a volume whose repository the host does not configure: its service never starts, the failure is counted', async () => {
    await agent.push({
      [`${app}-lost.yaml`]: [
        `app: ${app}-lost`,
        'volumes:',
        '  data:',
        '    snapshot: { schedule: "0 0 1 1 *", keep: { last: 1 }, repository: nowhere }',
        'services:',
        '  web:',
        '    image: local/busybox:1',
        `    command: ${SLEEPER}`,
        '    volumes: ["data:/data"]',
        '',
      ].join('\n'),
    }, 'a volume with an unknown repository');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /VOLUME_REPOSITORY_FAILED/);
    assert.match(result.stderr, /repository 'nowhere' is not in this host's configuration/);
    assert.deepEqual((await agent.managed()).filter((container) => container.app === `${app}-lost`), []);
    assert.ok((await agent.managed()).some((container) => container.service === 'db'), 'the other app runs on');
    const metrics = readFileSync(join(agent.state.path, 'metrics.prom'), 'utf8');
    assert.match(metrics, new RegExp(`capstan_volume_failures_total\\{[^}]*app="${app}-lost"[^}]*reason="VOLUME_REPOSITORY_FAILED"[^}]*\\} 1`));
    assert.match(metrics, new RegExp(`capstan_volume_snapshots_total\\{[^}]*app="${app}"`));
  });
});

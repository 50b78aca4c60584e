import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, exec, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Issue 5, storage: named volumes survive prune and rollback, have a single writer unless shared,
// go only when the manifest says so; repository files are mounted from the commit applied.

/** Writes a file into the volume once, then serves until SIGTERM. */
const WRITER = `["sh", "-c", "[ -f /data/file ] || echo kept > /data/file; trap 'exit 0' TERM; sleep 3600 & wait"]`;

function manifest(app: string, options: { version?: string; broken?: boolean; reader?: string; volume?: string; db?: boolean } = {}): string {
  const db = [
    '  db:',
    '    image: local/busybox:1',
    `    command: ${options.broken ? '["sh", "-c", "exit 1"]' : WRITER}`,
    `    environment: { VERSION: "${options.version ?? 'v1'}" }`,
    '    volumes: ["data:/data", "./conf/app.conf:/etc/app.conf:ro"]',
    '    update: { monitor: 1s, progress_deadline: 20s }',
  ].join('\n');
  return [`app: ${app}`, 'volumes:', `  data: ${options.volume ?? '{}'}`, 'services:', options.db === false ? '' : db, options.reader ?? ''].join('\n') + '\n';
}

describe('spec: volumes and repository files', () => {
  const agent = sharedAgent({ repoName: 'storage' });
  const { node } = agent;
  const app = uniqueName('store');
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: agent.env() });
  const push = async (files: Record<string, string | null>, message: string) => {
    await agent.repo.write(files);
    const commit = await agent.repo.commit(message);
    await agent.repo.push();
    return commit;
  };
  const read = async (path: string) => {
    const db = (await listManaged(node)).find((container) => container.name === `${app}-db-1`);
    assert.ok(db, 'the db container exists');
    const result = await exec(db.id, ['cat', path]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout.trim();
  };
  const volumeExists = async () => (await docker.listVolumes({ filters: { label: [`capstan.node=${node}`] } })).Volumes?.some((volume) => volume.Name === `${app}_data`) ?? false;

  // v1 deployed here; each test then changes the app from whatever state the tests before it left
  // (the db running with its volume), so each also passes alone.
  before(async () => {
    await push({ [`${app}.yaml`]: manifest(app), 'conf/app.conf': 'conf v1\n' }, 'v1');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  });

  it('mounts a named volume and a repository file', async () => {
    assert.equal(await read('/data/file'), 'kept');
    assert.equal(await read('/etc/app.conf'), 'conf v1');
  });

  it('refuses a second read-write writer of a single-writer volume, naming both places', async () => {
    const before = (await listManaged(node)).map((container) => container.id);
    const reader = `  reader:\n    image: local/busybox:1\n    command: ${WRITER}\n    volumes: ["data:/data"]\n`;
    await push({ [`${app}.yaml`]: manifest(app, { reader }) }, 'second writer');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${app}\\.yaml:14:\\d+: services\\.reader\\.volumes\\[0\\]: volume 'data' is single-writer and service 'db' already mounts it read-write at services\\.db\\.volumes\\[0\\] \\(line 9\\)`));
    assert.match(result.stderr, /VOLUME_SINGLE_WRITER/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before, 'nothing changed');
  });

  it('plans a start-first rollout over a single-writer volume stop-first, and says so; the data stays', async () => {
    await push({ [`${app}.yaml`]: manifest(app, { version: 'v2' }) }, 'v2');
    const plan = await capstan('plan');
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /stop-first: volume data has a single writer \(not shared\)/);
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await read('/data/file'), 'kept');
  });

  it('a failed rollout is rolled back with the old repository files and the volume intact', async () => {
    // The applied commit, not the head: a refused commit (the second writer) may be the head.
    const good = JSON.parse((await capstan('status', '--json')).stdout).appliedCommit;
    await push({ [`${app}.yaml`]: manifest(app, { version: 'v3', broken: true }), 'conf/app.conf': 'conf v3\n' }, 'v3: crashes');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.lastError.code, 'ROLLED_BACK', JSON.stringify(status.lastError));
    assert.equal(status.appliedCommit, good);
    assert.equal(await read('/etc/app.conf'), 'conf v1', "the rolled-back container mounts its own commit's file");
    assert.equal(await read('/data/file'), 'kept');
  });

  it('keeps the volume when the app is removed from the repository, and its data when it comes back', async () => {
    const idle = `app: ${app}-other\nservices:\n  idle:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    update: { monitor: 1s }\n`;
    await push({ [`${app}.yaml`]: null, 'other.yaml': idle }, 'remove the app');
    const pruned = await capstan('once');
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.equal((await listManaged(node)).some((container) => container.app === app), false);
    assert.equal(await volumeExists(), true);

    await push({ [`${app}.yaml`]: manifest(app, { version: 'v4' }), 'conf/app.conf': 'conf v4\n' }, 'the app is back');
    const back = await capstan('once');
    assert.equal(back.code, 0, back.stderr);
    assert.equal(await read('/data/file'), 'kept');
  });

  it('removes the volume only when the manifest says remove: true, once no container uses it', async () => {
    await push({ [`${app}.yaml`]: manifest(app, { volume: '{ remove: true }', db: false, reader: `  idle:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    update: { monitor: 1s }\n` }) }, 'drop the data');
    const plan = await capstan('plan');
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, new RegExp(`remove volume ${app}_data\\s+manifest says remove: true  \\(after \\d+`));
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await volumeExists(), false);
  });
});

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { stopProcess, waitForLine } from '../helpers/cli.js';
import { docker, exec, listManaged, removeContainer, runUnmanagedContainer, uniqueName, waitFor } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// The whole cycle of docs/design.md end to end: a real git smart-HTTP server on 127.0.0.1,
// the real `git` CLI pushing, the built `capstan` CLI, and a real Docker engine. The tests share
// one host; each brings the repository to the state it starts from (`ensure`), which costs a
// status call when the test before left it there, so each also passes alone.

const TOKEN = 'test-token-5f1d';

function manifest(app: string, services: string): string {
  return `app: ${app}\nservices:\n${services}`;
}

function webService(extra = ''): string {
  return `  web:\n    image: local/busybox:1\n    command: ["httpd", "-f", "-p", "8080"]\n    replicas: 2\n${extra}`;
}

function workerService(message: string): string {
  return `  worker:\n    image: local/busybox:1\n    command: ["sh", "-c", "echo ${message}; trap 'exit 0' TERM; sleep 3600 & wait"]\n    environment:\n      MODE: batch\n`;
}

describe('core: pull a git repository and converge the Docker host', () => {
  const agent = sharedAgent({ token: TOKEN, env: { CAPSTAN_LOG_LEVEL: 'debug' } });
  const { node } = agent;
  const shop = uniqueName('shop');
  const blog = uniqueName('blog');
  let bystander: { id: string; name: string };
  const capstan = agent.capstan;
  const ids = agent.ids;
  const v1 = () => manifest(shop, webService() + workerService('v1'));
  const v2 = () => manifest(shop, webService() + workerService('v2'));
  const webOnly = (replicas = 2) => manifest(shop, webService().replace('replicas: 2', `replicas: ${replicas}`));
  const cache = '  cache:\n    image: local/busybox:1\n    command: ["sleep", "3600"]\n    volumes: ["data:/data"]\n';
  const withCache = () => `${manifest(shop, webService().replace('replicas: 2', 'replicas: 1') + cache)}volumes:\n  data: {}\n`;
  const appliedCommit = async () => JSON.parse((await capstan('status', '--json')).stdout).appliedCommit as string | null;
  /**
   * The host runs shop's `shopManifest` and no blog: nothing to do when the applied commit holds
   * exactly that (the head may be a later commit that was refused), else a commit and a cycle.
   */
  const ensure = async (shopManifest: string) => {
    await agent.repo.write({ [`apps/${shop}.yaml`]: shopManifest, [`apps/${blog}.yaml`]: null });
    await agent.repo.git('add', '-A');
    const applied = await appliedCommit();
    const same = applied !== null && (await agent.repo.git('diff', '--cached', '--quiet', applied, '--', 'apps').then(() => true, () => false));
    if (same) return;
    await agent.repo.commit('the state this test starts from');
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
  };

  before(async () => {
    // A container someone runs by hand beside Capstan, even labelled with an app name.
    bystander = await agent.unmanaged('bystander', { labels: { 'capstan.app': shop } });
  });

  it('deploys an app pushed to the branch', async () => {
    await agent.repo.write({ [`apps/${shop}.yaml`]: v1(), 'README.md': 'manifests\n' });
    await agent.repo.commit('add shop');
    await agent.repo.push();

    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const containers = await listManaged(node);
    assert.deepEqual(
      containers.map((container) => [container.name, container.state]),
      [
        [`${shop}-web-1`, 'running'],
        [`${shop}-web-2`, 'running'],
        [`${shop}-worker-1`, 'running'],
      ],
    );
    const labels = containers[0].labels;
    assert.equal(labels['capstan.managed'], 'true');
    assert.equal(labels['capstan.app'], shop);
    assert.equal(labels['capstan.service'], 'web');
    assert.equal(labels['capstan.replica'], '1');
    assert.equal(labels['capstan.node'], node);
    assert.match(labels['capstan.config-hash'], /^[0-9a-f]{16,}$/);
    assert.equal(labels['capstan.commit'], (await agent.repo.git('rev-parse', 'HEAD')).trim());

    // Services reach each other by name on the app's network: httpd answers (404, as it serves
    // an empty folder), where an unknown name gives "bad address". (busybox wget -T crashes.)
    const reply = await exec(containers[2].id, ['wget', '-q', '-O', '-', `http://web:8080/`]);
    assert.match(reply.stderr, /HTTP\/1\.1 404/, reply.stderr);
  });

  it('changes nothing when nothing changed', async () => {
    await ensure(v1());
    const before = await ids();
    const plan = await capstan('plan');
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /in sync, nothing to do/);
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /in-sync/);
    assert.deepEqual(await ids(), before);
    const history = JSON.parse((await capstan('history', '--json')).stdout) as { result: string; changes: string[] }[];
    assert.equal(history[0].result, 'in-sync');
    assert.deepEqual(history[0].changes, []);
  });

  it('replaces only the service whose config changed', async () => {
    await ensure(v1());
    const before = await ids();
    await agent.repo.write({ [`apps/${shop}.yaml`]: v2() });
    await agent.repo.commit('worker v2');
    await agent.repo.push();

    const plan = await capstan('plan');
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, new RegExp(`create container ${shop}-worker-1--next +config-hash changed`));
    assert.doesNotMatch(plan.stdout, /web-/);

    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const afterIds = await ids();
    assert.equal(afterIds[`${shop}-web-1`], before[`${shop}-web-1`]);
    assert.equal(afterIds[`${shop}-web-2`], before[`${shop}-web-2`]);
    assert.notEqual(afterIds[`${shop}-worker-1`], before[`${shop}-worker-1`]);
    assert.equal(Object.keys(afterIds).length, 3, 'no temporary or orphan containers left');
  });

  it('restores containers removed or stopped by hand without a new commit', async () => {
    await ensure(v2());
    const before = await ids();
    await removeContainer(before[`${shop}-web-2`]);
    await docker.getContainer(before[`${shop}-web-1`]).stop({ t: 1 });

    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const containers = await listManaged(node);
    assert.deepEqual(
      containers.map((container) => [container.name, container.state]),
      [
        [`${shop}-web-1`, 'running'],
        [`${shop}-web-2`, 'running'],
        [`${shop}-worker-1`, 'running'],
      ],
    );
    assert.equal(containers[0].id, before[`${shop}-web-1`], 'a stopped container is started, not replaced');
  });

  it('prunes a removed service and a removed app, but keeps named volumes', async () => {
    await ensure(v2());
    await agent.repo.write({
      [`apps/${blog}.yaml`]: `app: ${blog}\nvolumes:\n  data: {}\nservices:\n  db:\n    image: local/busybox:1\n    command: ["sh", "-c", "echo kept > /data/file; trap 'exit 0' TERM; sleep 3600 & wait"]\n    volumes: ["data:/data"]\n`,
    });
    await agent.repo.commit('add blog');
    await agent.repo.push();
    assert.equal((await capstan('once')).code, 0);
    assert.ok((await ids())[`${blog}-db-1`]);

    await agent.repo.write({ [`apps/${blog}.yaml`]: null, [`apps/${shop}.yaml`]: webOnly() });
    await agent.repo.commit('remove blog and the worker');
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(await ids()).sort(), [`${shop}-web-1`, `${shop}-web-2`]);
    const networks = await docker.listNetworks({ filters: { label: [`capstan.node=${node}`] } });
    assert.deepEqual(networks.map((network) => network.Name), [`${shop}_default`]);
    const volumes = await docker.listVolumes({ filters: { label: [`capstan.node=${node}`] } });
    assert.deepEqual((volumes.Volumes ?? []).map((volume) => volume.Name), [`${blog}_data`]);
  });

  it('applies nothing of a broken commit, names file, line and key, and shows it in status', async () => {
    await ensure(webOnly());
    const before = await ids();
    const applied = await appliedCommit();
    await agent.repo.write({
      [`apps/${shop}.yaml`]: manifest(shop, webService('    imagePullPolicy: always\n') + workerService('v3')),
    });
    const broken = await agent.repo.commit('typo');
    await agent.repo.push();

    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`apps/${shop}\\.yaml:7:\\d+: services\\.web`));
    assert.match(result.stderr, /imagePullPolicy/);
    assert.deepEqual(await ids(), before, 'the running state is kept');

    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, applied);
    assert.equal(status.attemptedCommit, broken);
    assert.equal(status.lastError.code, 'MANIFEST_INVALID');
    assert.match(status.lastError.message, new RegExp(`apps/${shop}\\.yaml:7`));
    const plan = await capstan('plan');
    assert.equal(plan.code, 1);
    // Issue 14: an invalid head is `blocked`, not `failed`; said at error level once per commit.
    assert.match(result.stderr, /"level":50.*commit not applied/);
    const again = await capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /cycle blocked: MANIFEST_INVALID/);
    assert.doesNotMatch(again.stderr, /"level":50/);
    const [latest] = JSON.parse((await capstan('history', '--json')).stdout);
    assert.equal(latest.result, 'blocked');
    assert.equal(latest.commit, broken);
    assert.ok(latest.commitAuthor, 'the row carries the author');
  });

  it('prunes nothing when a commit renders no services', async () => {
    await ensure(webOnly());
    const before = await ids();
    await agent.repo.write({ [`apps/${shop}.yaml`]: null });
    await agent.repo.commit('oops, everything gone');
    await agent.repo.push();
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /EMPTY_DESIRED_STATE/);
    assert.deepEqual(await ids(), before);
  });

  it('follows a force-push to rewritten history', async () => {
    await ensure(webOnly());
    const base = (await appliedCommit())!;
    // A commit the agent fetches (refused: it renders no services), then a history without it.
    await agent.repo.write({ [`apps/${shop}.yaml`]: null });
    await agent.repo.commit('to be rewritten: everything gone');
    await agent.repo.push();
    assert.match((await capstan('once')).stderr, /EMPTY_DESIRED_STATE/);
    await agent.repo.git('reset', '--quiet', '--hard', base);
    await agent.repo.write({ [`apps/${shop}.yaml`]: webOnly(1) });
    const rewritten = await agent.repo.commit('rewritten: one web replica');
    await agent.repo.push({ force: true });

    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(Object.keys(await ids()), [`${shop}-web-1`]);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, rewritten);
    assert.equal(status.lastError, null);
    assert.equal(status.services[0].upToDateReplicas, 1);
  });

  it('creates nothing over a container or volume name someone else holds', async () => {
    // An in-sync cycle lists only this node's objects; the names others hold are looked up
    // when the plan is about to create one, and a clash stops the whole plan.
    await ensure(webOnly(1));
    const before = await ids();
    const squatter = await runUnmanagedContainer(`${shop}-cache-1`);
    const squattedVolume = `${shop}_data`;
    await docker.createVolume({ Name: squattedVolume, Labels: { 'capstan.test': 'true', 'capstan.test-run': process.env.CAPSTAN_TEST_RUN ?? '' } });
    try {
      await agent.repo.write({ [`apps/${shop}.yaml`]: withCache() });
      await agent.repo.commit('add a cache with a volume');
      await agent.repo.push();

      const blocked = await capstan('once');
      assert.equal(blocked.code, 1);
      assert.match(blocked.stderr, /NAME_CONFLICT/);
      assert.match(blocked.stderr, new RegExp(`container '${shop}-cache-1'`));
      assert.match(blocked.stderr, new RegExp(`volume '${squattedVolume}'`));
      assert.deepEqual(await ids(), before, 'nothing applied');
      assert.equal((await docker.getContainer(squatter.id).inspect()).State.Running, true);
      const volume = await docker.getVolume(squattedVolume).inspect();
      assert.equal(volume.Labels?.['capstan.managed'], undefined, 'the volume was not adopted');
    } finally {
      await removeContainer(squatter.id);
      await docker.getVolume(squattedVolume).remove().catch(() => undefined);
    }
    const freed = await capstan('once');
    assert.equal(freed.code, 0, freed.stderr);
    assert.deepEqual(Object.keys(await ids()).sort(), [`${shop}-cache-1`, `${shop}-web-1`]);
  });

  it('never touched the container run by hand', async () => {
    const inspected = await docker.getContainer(bystander.id).inspect();
    assert.equal(inspected.State.Running, true);
  });

  it('`capstan run` converges on its schedule and stops cleanly on SIGTERM', async () => {
    await ensure(withCache());
    const running = agent.spawn(['run', '--schedule', '*/2 * * * * *']);
    try {
      const first = await waitForLine(running, (_line, json) => json?.msg === 'cycle finished', 60_000);
      assert.equal(first.json?.result, 'in-sync');
      assert.ok(typeof first.json?.commit === 'string', 'each cycle logs with its commit');

      await agent.repo.write({ [`apps/${shop}.yaml`]: webOnly() });
      const pushed = await agent.repo.commit('two web replicas again');
      await agent.repo.push();
      await waitForLine(running, (_line, json) => json?.msg === 'cycle finished' && json?.result === 'applied', 60_000);
      await waitFor(async () => (await listManaged(node)).length === 2, { timeoutMs: 10_000, what: 'two web replicas' });
      assert.equal(JSON.parse((await capstan('status', '--json')).stdout).appliedCommit, pushed);
      assert.equal(listeningSockets(running.pid!), 0, 'capstan listens on no port');
    } finally {
      const stopped = await stopProcess(running, { timeoutMs: 60_000 });
      assert.equal(stopped.killed, false);
      assert.equal(stopped.code, 0);
    }
    const output = JSON.stringify(await capstan('history', '--json'));
    assert.ok(!output.includes(TOKEN), 'the git token never reaches the history');
  });
});

/** Sockets of `pid` that are in LISTEN state, from /proc (TCP and TCP6). */
function listeningSockets(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  let listening = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A is LISTEN for TCP; any bound UDP socket of ours would be a listener too.
      if (fields.length > 9 && inodes.has(fields[9]) && (fields[3] === '0A' || table.includes('udp'))) listening++;
    }
  }
  return listening;
}

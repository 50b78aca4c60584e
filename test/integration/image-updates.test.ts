// Image update automation (issue 17) against a real registry on 127.0.0.1: a service with
// `update.image` follows the registry through the same health-gated rollout. Each test has its
// own agent (state dir, node) and repository; `interval: 1s` makes every cycle check.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { docker, uniqueName } from '../helpers/docker.js';
import { agentFor, type Agent } from '../helpers/fixture.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

const MANIFEST_TYPES = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json';

describe('image updates', () => {
  let registry: Registry;
  const repositories: string[] = [];

  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    for (const repository of repositories) {
      const images = await docker.listImages({ filters: { reference: [`${registry.host}/${repository}`] } }).catch(() => []);
      for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    }
    await registry?.close();
  });

  const repositoryFor = (prefix: string) => {
    const repository = `capstan-test/${uniqueName(prefix)}`;
    repositories.push(repository);
    return repository;
  };
  const digestOf = async (repository: string, tag: string) => {
    const response = await fetch(`http://${registry.host}/v2/${repository}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MANIFEST_TYPES } });
    assert.equal(response.status, 200);
    return response.headers.get('docker-content-digest')!;
  };
  const manifest = (agent: Agent, image: string, update: string) =>
    `app: ${agent.app}\nservices:\n  web:\n    image: ${image}\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    update: { monitor: 1s, interval: 1s, ${update} }\n`;
  const runningImage = async (agent: Agent) => {
    const container = await agent.container('web');
    return ((await docker.getContainer(container.id).inspect()) as { Config: { Image: string } }).Config.Image;
  };
  // Each cycle checks once the service's 1s interval has passed since the last check.
  const once = async (agent: Agent) => {
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    return agent.capstan('once');
  };
  const status = async (agent: Agent) => (await agent.capstan('status')).stdout;

  it('rolls out a new digest pushed under the same tag', async (t) => {
    const agent = await agentFor(t, { app: 'digest' });
    const repository = repositoryFor('digest');
    const image = await registry.pushImage(repository, '1');
    const first = await digestOf(repository, '1');
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'image: digest') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    // The manifest's tag runs first, as the digest it was checked to be (so a rollback or a
    // recreated replica never runs what the tag means later).
    assert.equal(await runningImage(agent), `${registry.host}/${repository}@${first}`);
    const ids = await agent.ids();
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await agent.ids(), ids, 'the digest the tag has here already is no update');

    await registry.pushImage(repository, '1');
    const second = await digestOf(repository, '1');
    assert.notEqual(second, first);
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await runningImage(agent), `${registry.host}/${repository}@${second}`);
    assert.match(await status(agent), new RegExp(`image ${agent.app}/web: running 1@${second.slice(0, 19)}`));

    // Removing the policy returns the service to the manifest's tag, and forgets the record.
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, '').replace(/update: .*\n/, 'update: { monitor: 1s }\n') });
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await runningImage(agent), image);
    assert.doesNotMatch(await status(agent), /image \S+\/web:/);
  });

  it('follows the newest tag in a semver range: 2.4.0 under ^2, not 3.0.0', async (t) => {
    const agent = await agentFor(t, { app: 'semver' });
    const repository = repositoryFor('semver');
    const image = await registry.pushImage(repository, '2.3.1');
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'image: {semver: "^2"}') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    for (const tag of ['2.4.0', '3.0.0', 'latest', '2.5']) await registry.pushImage(repository, tag);
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await runningImage(agent), `${registry.host}/${repository}@${await digestOf(repository, '2.4.0')}`);
    assert.match(await status(agent), new RegExp(`image ${agent.app}/web: running 2\\.4\\.0 \\(semver \\^2, deploy\\)`));
    const plan = await agent.capstan('plan');
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /image updates:\n {2}\S+\/web: running 2\.4\.0/);
  });

  it('rolls a failing new digest back and quarantines it for the service, not the commit', async (t) => {
    const agent = await agentFor(t, { app: 'bad' });
    const repository = repositoryFor('bad');
    const image = await registry.pushImage(repository, '1');
    const good = `${registry.host}/${repository}@${await digestOf(repository, '1')}`;
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'image: digest') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    const before = await agent.ids();

    // The new image exits at once: its replica is never ready.
    await registry.pushImage(repository, '1', ['ENTRYPOINT ["false"]']);
    const bad = await digestOf(repository, '1');
    result = await once(agent);
    assert.equal(result.code, 1, result.stdout);
    assert.equal(await runningImage(agent), good, 'rolled back to the image that ran');
    assert.deepEqual(await agent.ids(), before, 'the old replica kept running (start-first)');
    const report = JSON.parse((await agent.capstan('status', '--json')).stdout) as { quarantined: unknown[]; quarantinedImages: { digest: string; service: string }[] };
    assert.deepEqual(report.quarantined, [], 'the commit is not quarantined');
    assert.deepEqual(report.quarantinedImages.map((row) => [row.service, row.digest]), [['web', bad]]);

    // Never tried again: the next cycle is in sync and changes nothing.
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await agent.ids(), before);
    assert.match(await status(agent), /quarantined \(its rollout failed\)/);

    // `capstan retry --image` lifts it: the next cycle tries the same digest again (and fails again).
    const retried = await agent.capstan('retry', '--image', `${agent.app}/web`, '--no-wait');
    assert.equal(retried.code, 0, retried.stderr);
    const lifted = JSON.parse((await agent.capstan('status', '--json')).stdout) as { quarantinedImages: unknown[] };
    assert.deepEqual(lifted.quarantinedImages, []);
    result = await once(agent);
    assert.equal(result.code, 1, 'the lifted digest is rolled out again');
    assert.equal(await runningImage(agent), good);
    const refused = await agent.capstan('retry', '--image', `${agent.app}/nope`, '--no-wait');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /NOT_QUARANTINED/);
  });

  it('rolls back to the digest that ran, not the tag, when the old replica must be recreated', async (t) => {
    const agent = await agentFor(t, { app: 'exact' });
    const repository = repositoryFor('exact');
    const image = await registry.pushImage(repository, '1');
    const good = await digestOf(repository, '1');
    const imageIdOf = async () => ((await docker.getContainer((await agent.container('web')).id).inspect()) as { Image: string }).Image;
    // stop-first: the old replica is removed before the new one starts, so a rollback recreates it.
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'order: stop-first, image: digest') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    const goodId = await imageIdOf();
    assert.equal(await runningImage(agent), `${registry.host}/${repository}@${good}`, 'created from the digest the tag was checked to be');

    // The bad image takes the tag, in the registry and on this engine (it was built here).
    await registry.pushImage(repository, '1', ['ENTRYPOINT ["false"]']);
    const bad = await digestOf(repository, '1');
    assert.notEqual(bad, good);
    result = await once(agent);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout + result.stderr, /rolled back to the image deployed before/);
    assert.equal(await imageIdOf(), goodId, 'the recreated replica runs the image that ran, not what the tag means now');
    assert.equal(await runningImage(agent), `${registry.host}/${repository}@${good}`);
    const report = JSON.parse((await agent.capstan('status', '--json')).stdout) as { quarantinedImages: { digest: string }[] };
    assert.deepEqual(report.quarantinedImages.map((row) => row.digest), [bad]);

    // Drift repair recreates a removed replica from the same digest too.
    await docker.getContainer((await agent.container('web')).id).remove({ force: true });
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await imageIdOf(), goodId);
  });

  it('notify mode changes nothing and reports the update (status, metrics)', async (t) => {
    const agent = await agentFor(t, { app: 'notify' });
    const repository = repositoryFor('notify');
    const image = await registry.pushImage(repository, '2.3.1');
    const running = `${registry.host}/${repository}@${await digestOf(repository, '2.3.1')}`;
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'image: {semver: "^2"}, mode: notify') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    const before = await agent.ids();
    await registry.pushImage(repository, '2.4.0');
    result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await agent.ids(), before);
    assert.equal(await runningImage(agent), running, 'the manifest\'s tag, as the digest it was found to be');
    assert.match(await status(agent), new RegExp(`image ${agent.app}/web: running 2\\.3\\.1, 2\\.4\\.0 available \\(semver \\^2, notify\\)`));
    const metrics = await readFile(join(agent.state.path, 'metrics.prom'), 'utf8');
    assert.match(metrics, new RegExp(`capstan_image_update_available\\{node="[^"]+",app="${agent.app}",service="web"\\} 1`));
  });

  it('changes nothing when the registry is unreachable', async (t) => {
    const agent = await agentFor(t, { app: 'down' });
    const repository = repositoryFor('down');
    const image = await registry.pushImage(repository, '1');
    const good = `${registry.host}/${repository}@${await digestOf(repository, '1')}`;
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent, image, 'image: digest') });
    let result = await once(agent);
    assert.equal(result.code, 0, result.stderr);
    const before = await agent.ids();
    await registry.stop();
    try {
      result = await once(agent);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(await agent.ids(), before);
      assert.match(await status(agent), /last check failed: .*unreachable/);
    } finally {
      await registry.start();
    }
  });
});

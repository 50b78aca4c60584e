import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

// Images come from a real registry on 127.0.0.1: pulled before anything stops, so a missing
// tag or an unreachable registry stops nothing; after a successful rollout only the current
// and the rollback image stay.

describe('images: pull first, collect old ones', () => {
  const agent = sharedAgent({ repoName: 'images' });
  const { node } = agent;
  const app = uniqueName('img');
  const repository = `capstan-test/${app}`;
  let registry: Registry;
  const tags: Record<string, string> = {};
  const capstan = (...args: string[]) =>
    runCapstan(args, { timeoutMs: 120_000, env: agent.env() });
  const deploy = async (image: string) => {
    await agent.push({
      [`${app}.yaml`]: `app: ${app}\nservices:\n  web:\n    image: ${image}\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    replicas: 2\n    update: { monitor: 1s }\n`,
    }, `deploy ${image}`);
    return capstan('once');
  };
  const present = async (reference: string) => {
    try {
      await docker.getImage(reference).inspect();
      return true;
    } catch {
      return false;
    }
  };

  before(async () => {
    registry = await startRegistry();
    for (const tag of ['v1', 'v2', 'v3']) tags[tag] = await registry.pushImage(repository, tag);
    // v1, pulled by the deploy, runs for every test.
    assert.equal(await present(tags.v1), false);
    const result = await deploy(tags.v1);
    assert.equal(result.code, 0, result.stderr);
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    for (const reference of Object.values(tags)) await docker.getImage(reference).remove({ force: true }).catch(() => undefined);
    await registry?.close();
  });

  it('pulls an image the host lacks before creating containers', async () => {
    assert.equal(await present(tags.v1), true);
    assert.equal((await listManaged(node)).length, 2);
  });

  it('keeps only the current and the rollback image after successful rollouts', async () => {
    assert.equal((await deploy(tags.v2)).code, 0);
    assert.equal(await present(tags.v1), true, 'v1 is the rollback image while v2 runs');
    const result = await deploy(tags.v3);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await present(tags.v1), false, 'v1 is neither current nor rollback any more');
    assert.equal(await present(tags.v2), true);
    assert.equal(await present(tags.v3), true);
    assert.equal(await present('local/busybox:1'), true, 'an image Capstan did not pull is never removed');
  });

  it('stops nothing when the tag does not exist, and does not quarantine the commit', async () => {
    const before = (await listManaged(node)).map((container) => container.id);
    const result = await deploy(`${registry.host}/${repository}:v404`);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /pull image/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.deepEqual(status.quarantined, [], 'a registry problem is transient: the commit is tried again');
  });

  it('stops nothing when the registry is unreachable', async () => {
    const before = (await listManaged(node)).map((container) => container.id);
    tags.v5 = await registry.pushImage(repository, 'v5');
    await registry.stop();
    try {
      const result = await deploy(tags.v5);
      assert.equal(result.code, 1);
      assert.deepEqual((await listManaged(node)).map((container) => container.id), before);
    } finally {
      await registry.start();
    }
    const retried = await capstan('once');
    assert.equal(retried.code, 0, retried.stderr);
    assert.equal(await present(tags.v5), true);
  });
});

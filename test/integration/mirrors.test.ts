import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

// Registry mirrors from the host policy: an image of a registry that does not exist
// (`upstream.invalid:5000`) is pulled from the mirror, a real registry, and runs under its own
// name; fail-closed, an image the mirror lacks fails the pull without trying the original.

describe('registry mirrors from the host policy', { timeout: 300_000 }, () => {
  const agent = sharedAgent({ repoName: 'mirrors' });
  const { node } = agent;
  const app = uniqueName('mirrored');
  const repository = `mirrored/${uniqueName('web')}`;
  const upstream = 'upstream.invalid:5000';
  let registry: Registry;
  let policyFile: string;
  const capstan = (...args: string[]) => runCapstan(args, {
    timeoutMs: 180_000,
    env: agent.env({ CAPSTAN_POLICY_FILE: policyFile }),
  });
  const push = (tag: string) =>
    agent.push({ [`${app}.yaml`]: `app: ${app}\nservices:\n  web:\n    image: ${upstream}/${repository}:${tag}\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n` }, tag);

  before(async () => {
    registry = await startRegistry();
    await registry.pushImage(repository, 'v1');
    policyFile = join(agent.state.path, 'policy.yaml');
    writeFileSync(policyFile, `mirrors:\n  "${upstream}": "${registry.host}"\nmirrors_fail_closed: true\n`);
    // v1, through the mirror, for every test.
    await push('v1');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    for (const image of [`${upstream}/${repository}:v1`, `${registry.host}/${repository}:v1`]) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    await registry?.close();
  });

  it('pulls from the mirror and runs the image under its own name', async () => {
    const containers = await listManaged(node);
    assert.equal(containers.length, 1);
    const info = await docker.getContainer(containers[0].id).inspect();
    assert.equal(info.Config.Image, `${upstream}/${repository}:v1`);
  });

  it('fail-closed: an image the mirror lacks fails, and the running one stays', async () => {
    const before = (await listManaged(node)).map((container) => container.id);
    await push('v2');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot be pulled from mirror .*mirrors_fail_closed forbids the original registry/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before);
  });
});

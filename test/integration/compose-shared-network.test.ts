import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { docker, exec, uniqueName } from '../helpers/docker.js';
import { SLEEPER as SLEEP, sharedAgent } from '../helpers/fixture.js';

// Compose fidelity on the real engine (issue 23, held-out rules): a network shared by name
// between two apps (created once without Capstan's labels, reached across apps, left in place
// when both are pruned), a relative bind source the repository lacks kept as a volume of the app
// across a rollout, and network_mode: container: naming a container of the app.

const TOKEN = 'test-token-sh4red';

function files(names: { web: string; client: string; network: string }, version: string): Record<string, string> {
  return {
    [`apps/${names.web}/compose.yaml`]: `services:
  web:
    image: local/busybox:1
    # The first container writes a marker into ./data; later ones find it there.
    command: ["sh", "-c", "test -f /data/marker || cat /proc/sys/kernel/random/uuid > /data/marker; mkdir -p /www && echo ${version} > /www/index.html && httpd -f -p 8080 -h /www"]
    volumes: ["./data:/data"]
    networks: [public, default]
    deploy: {update_config: {monitor: 1s}}
  probe:
    image: local/busybox:1
    network_mode: container:${names.web}-web-1
    command: ${SLEEP}
networks:
  public:
    name: ${names.network}
`,
    [`apps/${names.client}/compose.yaml`]: `services:
  client:
    image: local/busybox:1
    command: ${SLEEP}
    networks: [public]
networks:
  public:
    name: ${names.network}
`,
  };
}

describe('Compose shared networks, missing folders and container: on the real engine', () => {
  const agent = sharedAgent({ app: 'cshw', token: TOKEN, repoName: 'shared', timeoutMs: 180_000, env: { CAPSTAN_PATH: 'apps' } });
  const names = { web: agent.app, client: uniqueName('cshc'), keep: uniqueName('cshk'), network: uniqueName('public') };
  const byName = async () => Object.fromEntries((await agent.managed()).map((container) => [container.name, container]));
  const network = async () => (await docker.listNetworks()).find((candidate) => candidate.Name === names.network);
  // Created without Capstan's labels, so no clean-up by label finds them.
  agent.defer(() => docker.getNetwork(names.network).remove().catch(() => undefined));
  agent.defer(() => docker.getVolume(`${names.web}_data`).remove().catch(() => undefined));

  // Both apps at version 1, which the first test only reads and the second rolls out and prunes.
  before(async () => {
    await agent.push(files(names, '1'), 'two apps sharing a network by name');
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  it('creates the shared network once, unowned; both apps join it and reach each other across it', async () => {
    const shared = await network();
    assert.ok(shared, 'the shared network exists');
    assert.equal(shared.Labels?.['capstan.managed'], undefined, 'not labelled as Capstan\'s own');
    const containers = await byName();
    const client = await docker.getContainer(containers[`${names.client}-client-1`].id).inspect();
    assert.deepEqual(Object.keys(client.NetworkSettings.Networks), [names.network]);
    const across = await exec(containers[`${names.client}-client-1`].id, ['timeout', '-s', 'KILL', '20', 'wget', '-q', '-O', '-', `http://web.${names.web}:8080/`]);
    assert.equal(across.stdout.trim(), '1', JSON.stringify(across));
    const sidecar = await exec(containers[`${names.web}-probe-1`].id, ['timeout', '-s', 'KILL', '20', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/']);
    assert.equal(sidecar.stdout.trim(), '1', `container:${names.web}-web-1 shares web's namespace: ${JSON.stringify(sidecar)}`);
    const volume = await docker.getVolume(`${names.web}_data`).inspect();
    assert.equal(volume.Labels['capstan.app'], names.web);
  });

  it('a rollout keeps ./data (the app\'s volume); pruning both apps leaves the shared network', async () => {
    const before = await byName();
    const marker = (await exec(before[`${names.web}-web-1`].id, ['cat', '/data/marker'])).stdout;
    assert.match(marker, /^[0-9a-f-]{36}\n$/);
    await agent.push(files(names, '2'), 'version 2');
    const rolled = await agent.capstan('once');
    assert.equal(rolled.code, 0, rolled.stdout + rolled.stderr);
    const after = await byName();
    assert.notEqual(after[`${names.web}-web-1`].id, before[`${names.web}-web-1`].id, 'replaced');
    assert.equal((await exec(after[`${names.web}-web-1`].id, ['cat', '/data/marker'])).stdout, marker, 'the replacement mounts the same folder volume');

    await agent.push(
      { [`apps/${names.web}/compose.yaml`]: null, [`apps/${names.client}/compose.yaml`]: null, [`apps/${names.keep}/compose.yaml`]: `services:\n  keep:\n    image: local/busybox:1\n    command: ${SLEEP}\n` },
      'both apps removed',
    );
    const pruned = await agent.capstan('once');
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
    assert.equal((await byName())[`${names.client}-client-1`], undefined, 'pruned');
    assert.ok(await network(), 'the shared network is left in place');
  });
});

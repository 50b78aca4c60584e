import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { docker, exec, testLabels, uniqueName } from '../helpers/docker.js';
import { agentFor, SLEEPER as SLEEP, type Agent } from '../helpers/fixture.js';

// Compose fidelity on the real engine (issue 23): an anonymous volume kept across a rollout, an
// external network joined and left alone when its app is pruned (and a missing one stopping the
// commit), and network_mode: service: following its target when the target is replaced.

const TOKEN = 'test-token-f1del1ty';

function files(names: { anon: string; ext: string; side: string; network: string }, version: string): Record<string, string> {
  return {
    [`apps/${names.anon}/compose.yaml`]: `services:
  app:
    image: local/busybox:1
    # The first container writes a marker into its anonymous volume; later ones find it there.
    command: ["sh", "-c", "test -f /app/node_modules/marker || cat /proc/sys/kernel/random/uuid > /app/node_modules/marker; trap 'exit 0' TERM; sleep 3600 & wait"]
    environment: {VERSION: "${version}"}
    volumes:
      - /app/node_modules
    deploy: {update_config: {monitor: 1s}}
`,
    [`apps/${names.ext}/compose.yaml`]: `services:
  web:
    image: local/busybox:1
    command: ${SLEEP}
    networks: [proxy, default]
networks:
  proxy:
    external: true
    name: ${names.network}
`,
    [`apps/${names.side}/compose.yaml`]: `services:
  web:
    image: local/busybox:1
    command: ["sh", "-c", "mkdir -p /www && echo ${version} > /www/index.html && httpd -f -p 8080 -h /www"]
    deploy: {update_config: {monitor: 1s}}
  probe:
    image: local/busybox:1
    network_mode: service:web
    command: ${SLEEP}
`,
  };
}

describe('Compose volumes and networks on the real engine', () => {
  const options = { app: 'canon', token: TOKEN, timeoutMs: 180_000, env: { CAPSTAN_PATH: 'apps' } };
  const byName = async (agent: Agent) => Object.fromEntries((await agent.managed()).map((container) => [container.name, container]));
  const networkExists = async (name: string) => (await docker.listNetworks()).some((network) => network.Name === name);
  /** The fixture, and app and network names of its own. */
  const start = async (t: TestContext) => {
    const agent = await agentFor(t, options);
    const names = { anon: agent.app, ext: uniqueName('cext'), side: uniqueName('cside'), network: uniqueName('proxy-net') };
    agent.defer(() => docker.getNetwork(names.network).remove().catch(() => undefined));
    return { agent, names, capstan: agent.capstan, node: agent.node };
  };

  it('a missing external network stops the whole commit, naming file, line and key', async (t) => {
    const { agent, names, capstan } = await start(t);
    await agent.push(files(names, '1'), 'three Compose apps');
    const result = await capstan('once');
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout + result.stderr, new RegExp(`apps/${names.ext}/compose\\.yaml:8: networks\\.proxy\\.external: network '${names.network}' does not exist`));
    assert.deepEqual(await byName(agent), {}, 'nothing applied');
    assert.equal(await networkExists(names.network), false, 'never created by Capstan');
  });

  it('deploys (external network joined, sidecar in its target\'s namespace, anonymous volume per replica), then a rollout keeps the volume, recreates the sidecar, prune leaves the external network', async (t) => {
    const { agent, names, capstan, node } = await start(t);
    await docker.createNetwork({ Name: names.network, Driver: 'bridge', Labels: testLabels() });
    await agent.push(files(names, '1'), 'three Compose apps');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const containers = await byName(agent);
    const web = await docker.getContainer(containers[`${names.ext}-web-1`].id).inspect();
    assert.deepEqual(Object.keys(web.NetworkSettings.Networks).sort(), [names.network, `${names.ext}_default`].sort());

    const probe = await exec(containers[`${names.side}-probe-1`].id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/']);
    assert.equal(probe.stdout.trim(), '1', JSON.stringify(probe));

    const volumes = (await docker.listVolumes({ filters: { label: [`capstan.node=${node}`, `capstan.app=${names.anon}`] } })).Volumes ?? [];
    assert.equal(volumes.length, 1);
    assert.match(volumes[0].Name, new RegExp(`^${names.anon}-app-1_[0-9a-f]{12}$`));
    assert.equal(volumes[0].Labels['capstan.service'], 'app');
    assert.equal(volumes[0].Labels['capstan.replica'], '1');

    // The rollout.
    const before = await byName(agent);
    const marker = (await exec(before[`${names.anon}-app-1`].id, ['cat', '/app/node_modules/marker'])).stdout;
    assert.match(marker, /^[0-9a-f-]{36}\n$/);

    const changed: Record<string, string | null> = files(names, '2');
    changed[`apps/${names.ext}/compose.yaml`] = null;
    await agent.push(changed, 'version 2, ext app removed');
    const rolled = await capstan('once');
    assert.equal(rolled.code, 0, rolled.stdout + rolled.stderr);

    const replaced = await byName(agent);
    assert.notEqual(replaced[`${names.anon}-app-1`].id, before[`${names.anon}-app-1`].id, 'replaced');
    const kept = await exec(replaced[`${names.anon}-app-1`].id, ['cat', '/app/node_modules/marker']);
    assert.equal(kept.stdout, marker, 'the replacement mounts the replica\'s anonymous volume');

    assert.notEqual(replaced[`${names.side}-web-1`].id, before[`${names.side}-web-1`].id);
    assert.notEqual(replaced[`${names.side}-probe-1`].id, before[`${names.side}-probe-1`].id, 'the sidecar follows its replaced target');
    const followed = await exec(replaced[`${names.side}-probe-1`].id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/']);
    assert.equal(followed.stdout.trim(), '2', JSON.stringify(followed));

    assert.equal(replaced[`${names.ext}-web-1`], undefined, 'pruned');
    assert.equal(await networkExists(names.network), true, 'the external network is left alone');
    assert.equal(await networkExists(`${names.ext}_default`), false, 'the app\'s own network is pruned');
  });
});

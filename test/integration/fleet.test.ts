import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { listManaged } from '../helpers/docker.js';
import { sharedAgent, startAgent, type Agent } from '../helpers/fixture.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';

// Fleet mode: two Docker engines on one machine, an agent on each, one repository. Each agent
// converges only its share; moving a service in git moves it between engines; an agent never
// touches what another node created, even on a shared engine.

describe('fleet: one repository, an agent per host', () => {
  // Three agents on one repository (A's); B runs on the second engine.
  const fleet = {
    A: sharedAgent({ app: 'fleet', repoName: 'fleet', env: { CAPSTAN_NODE_LABELS: 'role=front' } }),
  } as Record<'A' | 'B' | 'C', Agent>;
  fleet.C = sharedAgent({ sameRepoAs: fleet.A, env: { CAPSTAN_NODE_LABELS: 'role=spare' } });
  const { A: { node: nodeA, app }, C: { node: nodeC } } = fleet;
  let engine2: SecondEngine;
  let nodeB: string;

  const service = (name: string, placement?: string) =>
    `  ${name}:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    update: { monitor: 1s }\n${placement ? `    placement: ${placement}\n` : ''}`;
  const push = async (services: string, message: string) => {
    await fleet.A.push({ [`${app}.yaml`]: `app: ${app}\nservices:\n${services}` }, message);
  };
  const once = (node: string, ...args: string[]) => Object.values(fleet).find((agent) => agent.node === node)!.run(['once', ...args]);
  const services = async (docker: Docker | undefined, node: string) => {
    if (!docker) return (await listManaged(node)).map((container) => container.service).sort();
    const containers = await docker.listContainers({ all: true, filters: { label: [`capstan.node=${node}`] } });
    return containers.map((container) => container.Labels['capstan.service']).sort();
  };

  before(async () => {
    engine2 = await startSecondEngine();
    // The second engine runs with --iptables=false beside the first (one host's filter table
    // holds one engine's chains), so its networks are not isolated by iptables.
    fleet.B = await startAgent({
      sameRepoAs: fleet.A,
      env: { CAPSTAN_NODE_LABELS: 'role=back', DOCKER_HOST: engine2.host, CAPSTAN_NETWORK_ISOLATION: 'off' },
    });
    nodeB = fleet.B.node;
  });

  // After the label cleanup, whatever it meets.
  fleet.A.defer(async () => {
    await engine2?.stop();
    await fleet.B?.close().catch(() => undefined);
  });

  it('each agent runs only its share: by label, by node name, and everywhere', async () => {
    await push(service('web', '{ labels: { role: front } }') + service('worker', `{ nodes: [${nodeB}] }`) + service('agent'), 'placed services');
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await services(undefined, nodeA), ['agent', 'web']);
    assert.deepEqual(await services(engine2.docker, nodeB), ['agent', 'worker']);
  });

  it('`plan --share --node` previews any node\'s share from any machine', async () => {
    const preview = await fleet.A.run(['plan', '--share', '--node', 'elsewhere', '--node-labels', 'role=back'], { timeoutMs: 60_000 });
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    assert.match(preview.stdout, /share of node elsewhere/);
    assert.match(preview.stdout, new RegExp(`${app}/agent +×1`));
    assert.doesNotMatch(preview.stdout, /\/web/);
    assert.doesNotMatch(preview.stdout, /\/worker/, 'worker is placed on one node by name');
  });

  it('moving a service in git stops it on one node and starts it on the other', async () => {
    await push(service('web', `{ nodes: [${nodeB}] }`) + service('worker', `{ nodes: [${nodeB}] }`) + service('agent'), 'move web to B');
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await services(undefined, nodeA), ['agent']);
    assert.deepEqual(await services(engine2.docker, nodeB), ['agent', 'web', 'worker']);
  });

  it('an agent never touches what another node created on a shared engine', async () => {
    // Two agents on one engine run different apps: an app's network and container names are
    // the app's, so its services on one engine belong to one node (a second gets NAME_CONFLICT).
    await fleet.A.repo.write({
      [`${app}.yaml`]: `app: ${app}\nservices:\n${service('web', `{ nodes: [${nodeB}] }`)}${service('worker', `{ nodes: [${nodeB}] }`)}${service('agent', '{ labels: { role: front } }')}`,
      [`${app}-spare.yaml`]: `app: ${app}-spare\nplacement: { nodes: [${nodeC}] }\nservices:\n${service('spare')}`,
    });
    await fleet.A.repo.commit('a spare app on C');
    await fleet.A.repo.push();
    const spare = await once(nodeC);
    assert.equal(spare.code, 0, spare.stderr);
    const before = await listManaged(nodeC);
    assert.deepEqual(before.map((container) => container.service), ['spare']);
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual((await listManaged(nodeC)).map((container) => container.id), before.map((container) => container.id));
    assert.deepEqual(await services(undefined, nodeA), ['agent']);
  });

  it('a node whose whole share moved away prunes it (the empty-commit guard is about the commit)', async () => {
    await push(service('web', `{ nodes: [${nodeA}] }`) + service('worker', `{ nodes: [${nodeA}] }`) + service('agent', `{ nodes: [${nodeA}] }`), 'everything to A');
    const result = await once(nodeB);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await services(engine2.docker, nodeB), []);
  });
});

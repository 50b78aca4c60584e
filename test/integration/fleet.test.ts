import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { runCapstan } from '../helpers/cli.js';
import { cleanupNode, listManaged, testNodeName, uniqueName } from '../helpers/docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';

// Fleet mode: two Docker engines on one machine, an agent on each, one repository. Each agent
// converges only its share; moving a service in git moves it between engines; an agent never
// touches what another node created, even on a shared engine.

describe('fleet: one repository, an agent per host', () => {
  const nodeA = testNodeName();
  const nodeB = testNodeName();
  const nodeC = testNodeName();
  const app = uniqueName('fleet');
  let engine2: SecondEngine;
  let server: GitServer;
  let repo: RemoteRepo;
  const states: TempDir[] = [];
  const agents: Record<string, { env: Record<string, string> }> = {};

  const service = (name: string, placement?: string) =>
    `  ${name}:\n    image: local/busybox:1\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    update: { monitor: 1s }\n${placement ? `    placement: ${placement}\n` : ''}`;
  const push = async (services: string, message: string) => {
    await repo.write({ [`${app}.yaml`]: `app: ${app}\nservices:\n${services}` });
    await repo.commit(message);
    await repo.push();
  };
  const once = (node: string, ...args: string[]) => runCapstan(['once', ...args], { timeoutMs: 120_000, env: agents[node].env });
  const services = async (docker: Docker | undefined, node: string) => {
    if (!docker) return (await listManaged(node)).map((container) => container.service).sort();
    const containers = await docker.listContainers({ all: true, filters: { label: [`capstan.node=${node}`] } });
    return containers.map((container) => container.Labels['capstan.service']).sort();
  };

  before(async () => {
    engine2 = await startSecondEngine();
    server = await startGitServer();
    repo = await server.createRepo('fleet');
    for (const [node, labels, dockerHost] of [
      [nodeA, 'role=front', undefined],
      [nodeB, 'role=back', engine2.host],
      [nodeC, 'role=spare', undefined],
    ] as const) {
      const state = await tempDir('capstan-fleet-state');
      states.push(state);
      agents[node] = {
        env: {
          CAPSTAN_REPO: repo.url,
          CAPSTAN_STATE_DIR: state.path,
          CAPSTAN_NODE: node,
          CAPSTAN_NODE_LABELS: labels,
          // The second engine runs with --iptables=false beside the first (one host's filter
          // table holds one engine's chains), so its networks are not isolated by iptables.
          ...(dockerHost ? { DOCKER_HOST: dockerHost, CAPSTAN_NETWORK_ISOLATION: 'off' } : {}),
        },
      };
    }
  });

  after(async () => {
    await cleanupNode(nodeA);
    await cleanupNode(nodeC);
    await engine2?.stop();
    await server?.close();
    for (const state of states) await state.cleanup();
  });

  it('each agent runs only its share: by label, by node name, and everywhere', async () => {
    await push(service('web', '{ labels: { role: front } }') + service('worker', `{ nodes: [${nodeB}] }`) + service('agent'), 'placed services');
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await services(undefined, nodeA), ['agent', 'web']);
    assert.deepEqual(await services(engine2.docker, nodeB), ['agent', 'worker']);
  });

  it('`plan --share --node` previews any node\'s share from any machine', async () => {
    const preview = await runCapstan(['plan', '--share', '--node', 'elsewhere', '--node-labels', 'role=back'], {
      timeoutMs: 60_000,
      env: { ...agents[nodeA].env, CAPSTAN_STATE_DIR: states[0].path },
    });
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
    await repo.write({
      [`${app}.yaml`]: `app: ${app}\nservices:\n${service('web', `{ nodes: [${nodeB}] }`)}${service('worker', `{ nodes: [${nodeB}] }`)}${service('agent', '{ labels: { role: front } }')}`,
      [`${app}-spare.yaml`]: `app: ${app}-spare\nplacement: { nodes: [${nodeC}] }\nservices:\n${service('spare')}`,
    });
    await repo.commit('a spare app on C');
    await repo.push();
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

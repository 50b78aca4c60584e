import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { runCapstan } from '../helpers/cli.js';
import { docker, testLabels, uniqueName, waitFor, TEST_IMAGE } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// `--target swarm` on a real single-node Swarm: the same manifests become Swarm services, Swarm
// rolls them out start-first and rolls back a commit whose health check fails, and Capstan
// reports and quarantines it exactly as on one host. The engine joins a swarm only for this
// file (and leaves it after) unless it was already in one; the plain containers and bridge
// networks of other tests are not disturbed by that.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;
const SECRET_V1 = 'swarm-sentinel-value-one';
const SECRET_V2 = 'swarm-sentinel-value-two';

function webManifest(app: string, version: string, options: { healthy?: boolean; secret?: string } = {}): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    `    image: ${TEST_IMAGE}`,
    `    command: ${SLEEPER}`,
    `    environment: { VERSION: "${version}" }`,
    '    replicas: 2',
    '    secrets:',
    `      /run/secrets/token: "${options.secret ?? SECRET_V1}"`,
    '    healthcheck:',
    `      test: ${options.healthy === false ? '["CMD", "false"]' : '["CMD", "true"]'}`,
    '      interval: 1s',
    '      timeout: 2s',
    '      retries: 2',
    '    update:',
    '      order: start-first',
    '      parallelism: 1',
    '      monitor: 2s',
    '      progress_deadline: 40s',
    '',
  ].join('\n');
}

function otherManifest(app: string): string {
  return [`app: ${app}`, 'services:', '  worker:', `    image: ${TEST_IMAGE}`, `    command: ${SLEEPER}`, ''].join('\n');
}

async function servicesOf(node: string): Promise<Docker.Service[]> {
  const services = (await docker.listServices({ filters: { label: ['capstan.managed=true', `capstan.node=${node}`] } })) as Docker.Service[];
  return services.sort((left, right) => ((left.Spec?.Name ?? '') < (right.Spec?.Name ?? '') ? -1 : 1));
}

async function serviceNamed(name: string): Promise<Docker.Service> {
  return (await docker.getService(name).inspect()) as Docker.Service;
}

interface Task {
  ServiceID: string;
  DesiredState: string;
  Status: { State: string };
  Spec: { ContainerSpec: { Labels?: Record<string, string> } };
}

async function runningTasks(serviceId: string): Promise<Task[]> {
  const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as Task[];
  return tasks.filter((task) => task.ServiceID === serviceId && task.Status.State === 'running');
}

async function secretNames(node: string): Promise<string[]> {
  const secrets = (await docker.listSecrets({ filters: { label: [`capstan.node=${node}`] } })) as unknown as { Spec: { Name: string; Labels: Record<string, string> } }[];
  return secrets.map((secret) => secret.Spec.Name).sort();
}

/** Removes what the agent of `node` made in the swarm, then its containers, networks and volumes. */
async function cleanupSwarm(node: string, extraServices: string[]): Promise<void> {
  const services = [...(await servicesOf(node)).map((service) => service.ID), ...extraServices];
  for (const serviceId of services) await docker.getService(serviceId).remove().catch(() => undefined);
  // Tasks go a moment after their service; networks in use cannot be removed before.
  await waitFor(async () => (await docker.listContainers({ all: true, filters: { label: [`capstan.node=${node}`] } })).length === 0, {
    timeoutMs: 30_000,
    what: 'the swarm tasks to go',
  }).catch(() => undefined);
  const label = { filters: { label: [`capstan.node=${node}`] } };
  for (const secret of (await docker.listSecrets(label)) as unknown as { ID: string }[]) await docker.getSecret(secret.ID).remove().catch(() => undefined);
  for (const config of await docker.listConfigs(label)) await docker.getConfig(config.ID).remove().catch(() => undefined);
}

describe('swarm target: the same manifests as Swarm services', () => {
  // Swarm services hold the node's networks: they go first, then the swarm if this test made it.
  const agent = sharedAgent({
    repoName: 'swarm',
    beforeCleanup: async () => {
      try {
        await cleanupSwarm(node, bystanderId ? [bystanderId] : []);
      } finally {
        if (initialisedSwarm) {
          await docker.swarmLeave({ force: true });
          // The engine leaves the bridge Swarm made for its tasks behind; leave the engine as found.
          if (!hadGatewayBridge) await docker.getNetwork('docker_gwbridge').remove().catch(() => undefined);
        }
      }
    },
  });
  const { node } = agent;
  const app = uniqueName('swarm');
  const other = uniqueName('swother');
  const bystanderName = uniqueName('bystander');
  let initialisedSwarm = false;
  let hadGatewayBridge = true;
  let bystanderId = '';
  const env = () => agent.env({ CAPSTAN_TARGET: 'swarm' });
  const outputs: string[] = [];
  const capstan = async (...args: string[]) => {
    const result = await runCapstan(args, { timeoutMs: 120_000, env: env() });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const push = async (files: Record<string, string | null>, message: string) => {
    await agent.repo.write(files);
    const commit = await agent.repo.commit(message);
    await agent.repo.push();
    return commit;
  };
  const appliedCommit = async () => JSON.parse((await capstan('status', '--json')).stdout).appliedCommit as string | null;
  /** The applied commit holds `files` (a status call when so), else they are pushed and applied. */
  const ensure = async (files: Record<string, string | null>) => {
    await agent.repo.write(files);
    await agent.repo.git('add', '-A');
    const applied = await appliedCommit();
    if (applied && (await agent.repo.git('diff', '--cached', '--quiet', applied, '--', ...Object.keys(files)).then(() => true, () => false))) return;
    await push(files, 'the state this test starts from');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  };

  before(async () => {
    const info = (await docker.info()) as { Swarm: { LocalNodeState: string; ControlAvailable: boolean } };
    if (info.Swarm.LocalNodeState === 'inactive') {
      hadGatewayBridge = (await docker.listNetworks({ filters: { name: ['docker_gwbridge'] } })).length > 0;
      await docker.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
      initialisedSwarm = true;
    } else {
      assert.ok(info.Swarm.LocalNodeState === 'active' && info.Swarm.ControlAvailable, `this engine is in a swarm but not a manager (${info.Swarm.LocalNodeState})`);
    }
    // Made by hand, labelled like the app and this node but not managed: Capstan must never touch it.
    const bystander = await docker.createService({
      Name: bystanderName,
      Labels: testLabels({ 'capstan.app': app, 'capstan.node': node }),
      TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'] } },
      Mode: { Replicated: { Replicas: 1 } },
    });
    bystanderId = (bystander as unknown as { id: string }).id;
    // Both apps at v1: the first test reads them; each later test changes them from whatever
    // state the tests before it left (or brings them to the one it needs with ensure).
    await push({ [`${app}.yaml`]: webManifest(app, 'v1'), [`${other}.yaml`]: otherManifest(other) }, 'v1');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
  });

  it('deploys an app as Swarm services: replicas, health check, labels, a secret by keyed name', async () => {
    const services = await servicesOf(node);
    assert.deepEqual(
      services.map((service) => service.Spec?.Name),
      [`${app}_web`, `${other}_worker`],
    );
    const web = services[0];
    const labels = web.Spec?.Labels ?? {};
    assert.equal(labels['capstan.managed'], 'true');
    assert.equal(labels['capstan.app'], app);
    assert.match(labels['capstan.config-hash'], /^[0-9a-f]{64}$/);
    assert.equal(labels['capstan.commit'], (await agent.repo.git('rev-parse', 'HEAD')).trim());
    assert.equal(web.Spec?.Mode?.Replicated?.Replicas, 2);
    assert.equal((await runningTasks(web.ID)).length, 2, 'both replicas running (Swarm says running only once healthy)');
    const secrets = await secretNames(node);
    assert.equal(secrets.length, 1);
    assert.match(secrets[0], new RegExp(`^${app}_web_[0-9a-f]{16}$`));
    const inspected = JSON.stringify([web.Spec?.Labels, secrets]);
    assert.ok(!inspected.includes(SECRET_V1), 'no secret value in names or labels');

    const status = JSON.parse((await capstan('status', '--json')).stdout);
    const row = status.services.find((entry: { service: string }) => entry.service === 'web');
    assert.equal(`${row.readyReplicas}/${row.desiredReplicas}`, '2/2');
    assert.equal(row.health, 'healthy');
    assert.equal((await capstan('once')).stdout.trim().split(' ')[0], 'in-sync', 'an unchanged commit changes nothing');
  });

  it('rolls a change out start-first through Swarm, never below 2 running tasks', async () => {
    const before = await serviceNamed(`${app}_web`);
    await push({ [`${app}.yaml`]: webManifest(app, 'v2') }, 'v2');
    let minimum = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      for (let sample = 0; sampling && sample < 600; sample++) {
        minimum = Math.min(minimum, (await runningTasks(before.ID)).length);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const result = await capstan('once').finally(() => (sampling = false));
    await sampler;
    assert.equal(result.code, 0, result.stderr);
    const updated = await serviceNamed(`${app}_web`);
    assert.equal(updated.UpdateStatus?.State, 'completed');
    assert.equal(updated.Spec?.UpdateConfig?.Order, 'start-first');
    assert.equal(updated.Spec?.UpdateConfig?.FailureAction, 'rollback');
    assert.notEqual(updated.Spec?.Labels?.['capstan.config-hash'], before.Spec?.Labels?.['capstan.config-hash']);
    assert.equal(minimum, 2, 'start-first kept both replicas serving');
    const history = JSON.parse((await capstan('history', '--json')).stdout);
    assert.equal(history[0].result, 'applied');
    assert.ok(history[0].changes.some((change: string) => change.startsWith(`update service ${app}_web`)), JSON.stringify(history[0].changes));
  });

  it('rotates a secret by name: a new value is a new secret, the old one is removed', async () => {
    const [oldSecret] = await secretNames(node);
    await push({ [`${app}.yaml`]: webManifest(app, 'v2', { secret: SECRET_V2 }) }, 'rotate the token');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const secrets = await secretNames(node);
    assert.equal(secrets.length, 1);
    assert.notEqual(secrets[0], oldSecret);
    const web = await serviceNamed(`${app}_web`);
    const refs = ((web.Spec?.TaskTemplate as Docker.ContainerTaskSpec).ContainerSpec?.Secrets ?? []).map((secret) => secret.SecretName);
    assert.deepEqual(refs, secrets);
  });

  it('reports ROLLED_BACK when Swarm rolls back a commit whose health check fails, and quarantines it', async () => {
    // v2 with the second secret running (as the rotation test leaves it), so the broken commit
    // changes only the health check.
    await ensure({ [`${app}.yaml`]: webManifest(app, 'v2', { secret: SECRET_V2 }) });
    const good = await appliedCommit();
    const before = await serviceNamed(`${app}_web`);
    const bad = await push({ [`${app}.yaml`]: webManifest(app, 'v3-broken', { healthy: false, secret: SECRET_V2 }) }, 'v3: broken health check');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ROLLED_BACK/);
    assert.match(result.stderr, /Swarm rolled the update back/);

    const rolledBack = await serviceNamed(`${app}_web`);
    assert.equal(rolledBack.UpdateStatus?.State, 'rollback_completed');
    assert.equal(rolledBack.Spec?.Labels?.['capstan.config-hash'], before.Spec?.Labels?.['capstan.config-hash'], 'Swarm restored the previous spec');
    assert.equal((await runningTasks(rolledBack.ID)).length, 2);

    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, good);
    assert.equal(status.attemptedCommit, bad);
    assert.equal(status.quarantined[0]?.commit, bad);
    assert.match(status.quarantined[0].message, /Swarm rolled the update back/);
    const history = JSON.parse((await capstan('history', '--json')).stdout);
    assert.equal(history[0].reason, 'ROLLED_BACK');

    const again = await capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /COMMIT_QUARANTINED/);
    assert.deepEqual(JSON.parse((await capstan('history', '--json')).stdout)[0].changes, [], 'a quarantined commit changes nothing');
    assert.equal((await serviceNamed(`${app}_web`)).Version?.Index, rolledBack.Version?.Index, 'the rolled-back service was not updated again');

    await push({ [`${app}.yaml`]: webManifest(app, 'v4', { secret: SECRET_V2 }) }, 'v4: fixed');
    const fixed = await capstan('once');
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('restores a service scaled or removed by hand', async () => {
    const web = await serviceNamed(`${app}_web`);
    await docker.getService(web.ID).update({ _query: { version: web.Version?.Index }, _body: { ...web.Spec, Mode: { Replicated: { Replicas: 1 } } } } as never);
    await docker.getService(`${other}_worker`).remove();
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await serviceNamed(`${app}_web`)).Spec?.Mode?.Replicated?.Replicas, 2);
    assert.ok(await serviceNamed(`${other}_worker`), 'the removed service is back');
    const history = JSON.parse((await capstan('history', '--json')).stdout);
    assert.ok(history[0].changes.some((change: string) => change.startsWith(`scale service ${app}_web to 2`)), JSON.stringify(history[0].changes));
    assert.ok(history[0].changes.some((change: string) => change.startsWith(`create service ${other}_worker`)), JSON.stringify(history[0].changes));
  });

  it('prunes a removed app\'s services and network, and never touches what it does not own', async () => {
    await push({ [`${other}.yaml`]: null }, `remove ${other}`);
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      (await servicesOf(node)).map((service) => service.Spec?.Name),
      [`${app}_web`],
    );
    const networks = await docker.listNetworks({ filters: { label: [`capstan.node=${node}`] } });
    assert.deepEqual(
      networks.map((network) => network.Name),
      [`${app}_default`],
    );
    const bystander = await serviceNamed(bystanderName);
    assert.equal(bystander.ID, bystanderId, 'the hand-made service survived every cycle');
  });

  it('never wrote a secret value to logs, plans, status, history or SQLite', async () => {
    // Run here too, so the reading commands are searched when this test runs alone.
    outputs.push((await capstan('plan', '--json')).stdout);
    await capstan('status', '--json');
    await capstan('history', '--json');
    const database = ['capstan.db', 'capstan.db-wal'].map((file) => join(agent.state.path, file)).filter(existsSync).map((file) => readFileSync(file).toString('latin1'));
    for (const text of [...outputs, ...database]) {
      for (const value of [SECRET_V1, SECRET_V2]) assert.ok(!text.includes(value), `found a secret value in: ${text.slice(0, 200)}`);
    }
    assert.ok(outputs.length > 6 && database.length > 0, 'checked every output and the database');
  });
});

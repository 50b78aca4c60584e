import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { stopProcess } from '../helpers/cli.js';
import { listManaged, type ManagedContainer } from '../helpers/docker.js';
import { killOn, type DockerEvent } from '../helpers/events.js';
import { agentFor, SLEEPER } from '../helpers/fixture.js';

// Issue 4's properties on a real engine with real health checks: rolling updates keep the
// service serving, a commit that never gets healthy is rolled back and quarantined, and
// `kill -9` at any step of a rollout is finished by the next cycle. Each test has its own
// agent (node, repository, state dir) and deploys what it starts from.

/** 3 replicas with a real Docker healthcheck; `version` changes the config, `healthy` decides the check. */
function webManifest(app: string, version: string, options: { healthy?: boolean; replicas?: number; extra?: string } = {}): string {
  const check = options.healthy === false ? '["CMD", "false"]' : '["CMD", "true"]';
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${SLEEPER}`,
    `    environment: { VERSION: "${version}" }`,
    `    replicas: ${options.replicas ?? 3}`,
    '    healthcheck:',
    `      test: ${check}`,
    '      interval: 1s',
    '      timeout: 2s',
    '      retries: 2',
    '    update:',
    '      order: start-first',
    '      parallelism: 1',
    '      progress_deadline: 30s',
    options.extra ?? '',
  ].join('\n');
}

function isReady(container: ManagedContainer): boolean {
  return container.state === 'running' && container.status.includes('(healthy)');
}

/** Samples the node's containers every 100 ms until stopped; bounded by `maxSamples`. */
function sampler(node: string, maxSamples = 1200) {
  const samples: { total: number; ready: number; hashes: string[] }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped && samples.length < maxSamples) {
      const containers = await listManaged(node);
      samples.push({ total: containers.length, ready: containers.filter(isReady).length, hashes: containers.map((container) => container.labels['capstan.config-hash']) });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    samples,
    stop: async () => {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

describe('rollouts: rolling updates gated on health, rollback, crash safety', () => {
  /** A fixture of its own for one test, with `web` at `version` deployed and ready. */
  const deployed = async (t: TestContext, version = 'v1') => {
    const agent = await agentFor(t, { app: 'roll', timeoutMs: 180_000 });
    await agent.push({ [`${agent.app}.yaml`]: webManifest(agent.app, version) }, version);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    return agent;
  };

  it('deploys 3 healthy replicas, then rolls start-first: never fewer than 3 ready, never more than 3 + parallelism', async (t) => {
    const agent = await deployed(t);
    const { app, node } = agent;
    const deployedContainers = await agent.managed();
    assert.equal(deployedContainers.length, 3);
    assert.ok(deployedContainers.every(isReady), 'a deploy waits until every replica is healthy');

    await agent.push({ [`${app}.yaml`]: webManifest(app, 'v2') }, 'v2');
    const watch = sampler(node);
    const result = await agent.capstan('once');
    const samples = await watch.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.ok(samples.length >= 10, `sampled the rollout (${samples.length} samples)`);
    assert.equal(Math.min(...samples.map((sample) => sample.ready)), 3, 'ready replicas never dipped below 3');
    assert.equal(Math.max(...samples.map((sample) => sample.total)), 4, 'at most one extra container at a time');
    const final = await agent.managed();
    assert.deepEqual(final.map((container) => container.name), [1, 2, 3].map((replica) => `${app}-web-${replica}`));
    assert.equal(new Set(final.map((container) => container.labels['capstan.config-hash'])).size, 1);
  });

  it('rolls back a commit that never becomes healthy, keeps serving, quarantines it', async (t) => {
    const agent = await deployed(t);
    const { app, node, repo } = agent;
    const before = await agent.managed();
    const good = (await repo.git('rev-parse', 'HEAD')).trim();
    const bad = await agent.push({ [`${app}.yaml`]: webManifest(app, 'v3-broken', { healthy: false }) }, 'v3: broken healthcheck');

    const watch = sampler(node);
    const result = await agent.capstan('once');
    const samples = await watch.stop();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ROLLED_BACK/);
    assert.match(result.stderr, /unhealthy/);
    assert.equal(Math.min(...samples.map((sample) => sample.ready)), 3, 'the old replicas served throughout');
    const afterRollback = await agent.managed();
    assert.deepEqual(
      afterRollback.map((container) => container.id),
      before.map((container) => container.id),
      'the old replicas were never stopped',
    );

    const status = JSON.parse((await agent.capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, good);
    assert.equal(status.attemptedCommit, bad);
    assert.equal(status.quarantined[0].commit, bad);
    assert.match(status.quarantined[0].message, /unhealthy/);
    const history = JSON.parse((await agent.capstan('history', '--json')).stdout);
    assert.equal(history[0].reason, 'ROLLED_BACK');

    // The next cycle on the same commit changes nothing.
    const again = await agent.capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /COMMIT_QUARANTINED/);
    assert.deepEqual((await agent.managed()).map((container) => container.id), before.map((container) => container.id));
    const secondHistory = JSON.parse((await agent.capstan('history', '--json')).stdout);
    assert.deepEqual(secondHistory[0].changes, []);

    // The next new commit is tried normally.
    await agent.push({ [`${app}.yaml`]: webManifest(app, 'v4') }, 'v4: fixed');
    const fixed = await agent.capstan('once');
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('does not count a one-shot that exits 0 as a failure', async (t) => {
    const agent = await agentFor(t, { app: 'roll', timeoutMs: 180_000 });
    const oneShot = `\n  migrate:\n    image: local/busybox:1\n    command: ["sh", "-c", "echo migrated"]\n    restart: "no"\n    update: { monitor: 10s }\n`;
    await agent.push({ [`${agent.app}.yaml`]: webManifest(agent.app, 'v4', { extra: oneShot }) }, 'a one-shot migration');
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const migrate = (await agent.managed()).find((container) => container.service === 'migrate');
    assert.equal(migrate?.state, 'exited');
    assert.equal((await agent.capstan('once')).code, 0, 'a finished one-shot is not restarted or reported');
  });

  it('rolls back a replica without healthcheck that Docker restarts within its monitor window', async (t) => {
    // The watch inspects sparsely inside a monitor window; a crash that Docker restarts at once
    // still shows, as a restart count that grew.
    const agent = await agentFor(t, { app: 'roll', timeoutMs: 180_000 });
    const { app } = agent;
    const worker = (command: string) => `\n  worker:\n    image: local/busybox:1\n    command: ${command}\n    restart: unless-stopped\n    update: { monitor: 3s }\n`;
    await agent.push({ [`${app}.yaml`]: webManifest(app, 'v4', { extra: worker(SLEEPER) }) }, 'add a worker');
    assert.equal((await agent.capstan('once')).code, 0);
    const before = (await agent.managed()).filter((container) => container.service === 'worker');
    assert.equal(before.length, 1);

    await agent.push({ [`${app}.yaml`]: webManifest(app, 'v4', { extra: worker('["sh", "-c", "sleep 1; exit 3"]') }) }, 'a worker that crashes after 1 s');
    const result = await agent.capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ROLLED_BACK/);
    assert.match(result.stderr, /restart/);
    const after = (await agent.managed()).filter((container) => container.service === 'worker');
    assert.deepEqual(after.map((container) => [container.id, container.state]), [[before[0].id, 'running']], 'the old worker kept running');
  });

  // kill -9 the agent right after Docker reports each step of a 3-replica rollout; the next
  // cycle must converge to exactly 3 new containers with no temporary or orphan container. The
  // steps run in one test, each rollout starting from the host the previous one converged (a
  // fresh deploy per step would cost a 3-replica deploy each).
  const steps: [string, (event: DockerEvent) => boolean][] = [
    ['after creating the new container', (event) => event.Action === 'create'],
    ['after it turns healthy', (event) => event.Action.startsWith('health_status: healthy') && (event.Actor?.Attributes?.name ?? '').endsWith('--next')],
    ['after stopping the old one', (event) => event.Action === 'stop'],
    ['after removing the old one', (event) => event.Action === 'destroy'],
  ];
  it('kill -9 at each step of a rollout: the next cycle converges without orphans', async (t) => {
    const agent = await deployed(t);
    const { app, node } = agent;
    for (const [index, [step, matches]] of steps.entries()) {
      await agent.push({ [`${app}.yaml`]: webManifest(app, `crash-${index}`) }, `crash test ${index}`);
      const running = agent.spawn(['run', '--schedule', '0 0 1 1 *']);
      try {
        await killOn(running, node, matches);
      } finally {
        await stopProcess(running, { signal: 'SIGKILL', timeoutMs: 10_000 });
      }
      const halfDone = await agent.managed();
      const mixed = new Set(halfDone.map((container) => container.labels['capstan.config-hash'])).size > 1;
      assert.ok(mixed || halfDone.some((container) => container.name.endsWith('--next')), `kill ${step}: the kill landed in the middle of the rollout`);
      const recovered = await agent.capstan('once');
      assert.equal(recovered.code, 0, `kill ${step}: ${recovered.stderr}`);
      const containers = await agent.managed();
      assert.deepEqual(containers.map((container) => container.name), [1, 2, 3].map((replica) => `${app}-web-${replica}`), `kill ${step}: no temporary or orphan container left`);
      assert.equal(new Set(containers.map((container) => container.labels['capstan.config-hash'])).size, 1, `kill ${step}: all on the new config`);
      assert.ok(containers.every(isReady), `kill ${step}: every replica ready`);
    }
  });
});

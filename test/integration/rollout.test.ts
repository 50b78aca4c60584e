import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { runCapstan, spawnCapstan, stopProcess } from '../helpers/cli.js';
import { cleanupNode, docker, listManaged, testNodeName, uniqueName, waitFor, type ManagedContainer } from '../helpers/docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

// Issue 4's properties on a real engine with real health checks: rolling updates keep the
// service serving, a commit that never gets healthy is rolled back and quarantined, and
// `kill -9` at any step of a rollout is finished by the next cycle.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

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
  const node = testNodeName();
  const app = uniqueName('roll');
  let server: GitServer;
  let repo: RemoteRepo;
  let state: TempDir;
  const env = () => ({ CAPSTAN_REPO: repo.url, CAPSTAN_STATE_DIR: state.path, CAPSTAN_NODE: node });
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: env() });
  const push = async (files: Record<string, string | null>, message: string) => {
    await repo.write(files);
    const commit = await repo.commit(message);
    await repo.push();
    return commit;
  };

  before(async () => {
    server = await startGitServer();
    repo = await server.createRepo('rollouts');
    state = await tempDir('capstan-rollout-state');
  });

  after(async () => {
    await cleanupNode(node);
    await server?.close();
    await state?.cleanup();
  });

  it('deploys 3 healthy replicas', async () => {
    await push({ [`${app}.yaml`]: webManifest(app, 'v1') }, 'v1');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const containers = await listManaged(node);
    assert.equal(containers.length, 3);
    assert.ok(containers.every(isReady), 'a deploy waits until every replica is healthy');
  });

  it('start-first: never fewer than 3 ready replicas, never more than 3 + parallelism containers', async () => {
    await push({ [`${app}.yaml`]: webManifest(app, 'v2') }, 'v2');
    const watch = sampler(node);
    const result = await capstan('once');
    const samples = await watch.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.ok(samples.length >= 10, `sampled the rollout (${samples.length} samples)`);
    assert.equal(Math.min(...samples.map((sample) => sample.ready)), 3, 'ready replicas never dipped below 3');
    assert.equal(Math.max(...samples.map((sample) => sample.total)), 4, 'at most one extra container at a time');
    const final = await listManaged(node);
    assert.deepEqual(final.map((container) => container.name), [1, 2, 3].map((replica) => `${app}-web-${replica}`));
    assert.equal(new Set(final.map((container) => container.labels['capstan.config-hash'])).size, 1);
  });

  it('rolls back a commit that never becomes healthy, keeps serving, quarantines it', async () => {
    const before = await listManaged(node);
    const good = (await repo.git('rev-parse', 'HEAD')).trim();
    const bad = await push({ [`${app}.yaml`]: webManifest(app, 'v3-broken', { healthy: false }) }, 'v3: broken healthcheck');

    const watch = sampler(node);
    const result = await capstan('once');
    const samples = await watch.stop();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ROLLED_BACK/);
    assert.match(result.stderr, /unhealthy/);
    assert.equal(Math.min(...samples.map((sample) => sample.ready)), 3, 'the old replicas served throughout');
    const afterRollback = await listManaged(node);
    assert.deepEqual(
      afterRollback.map((container) => container.id),
      before.map((container) => container.id),
      'the old replicas were never stopped',
    );

    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, good);
    assert.equal(status.attemptedCommit, bad);
    assert.equal(status.quarantined[0].commit, bad);
    assert.match(status.quarantined[0].message, /unhealthy/);
    const history = JSON.parse((await capstan('history', '--json')).stdout);
    assert.equal(history[0].reason, 'ROLLED_BACK');

    // The next cycle on the same commit changes nothing.
    const again = await capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /COMMIT_QUARANTINED/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before.map((container) => container.id));
    const secondHistory = JSON.parse((await capstan('history', '--json')).stdout);
    assert.deepEqual(secondHistory[0].changes, []);

    // The next new commit is tried normally.
    await push({ [`${app}.yaml`]: webManifest(app, 'v4') }, 'v4: fixed');
    const fixed = await capstan('once');
    assert.equal(fixed.code, 0, fixed.stderr);
  });

  it('does not count a one-shot that exits 0 as a failure', async () => {
    const oneShot = `\n  migrate:\n    image: local/busybox:1\n    command: ["sh", "-c", "echo migrated"]\n    restart: "no"\n    update: { monitor: 10s }\n`;
    await push({ [`${app}.yaml`]: webManifest(app, 'v4', { extra: oneShot }) }, 'add a one-shot migration');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const migrate = (await listManaged(node)).find((container) => container.service === 'migrate');
    assert.equal(migrate?.state, 'exited');
    assert.equal((await capstan('once')).code, 0, 'a finished one-shot is not restarted or reported');
  });

  it('rolls back a replica without healthcheck that Docker restarts within its monitor window', async () => {
    // The watch inspects sparsely inside a monitor window; a crash that Docker restarts at once
    // still shows, as a restart count that grew.
    const worker = (command: string) => `\n  worker:\n    image: local/busybox:1\n    command: ${command}\n    restart: unless-stopped\n    update: { monitor: 3s }\n`;
    await push({ [`${app}.yaml`]: webManifest(app, 'v4', { extra: worker(SLEEPER) }) }, 'add a worker');
    assert.equal((await capstan('once')).code, 0);
    const before = (await listManaged(node)).filter((container) => container.service === 'worker');
    assert.equal(before.length, 1);

    await push({ [`${app}.yaml`]: webManifest(app, 'v4', { extra: worker('["sh", "-c", "sleep 1; exit 3"]') }) }, 'a worker that crashes after 1 s');
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ROLLED_BACK/);
    assert.match(result.stderr, /restart/);
    const after = (await listManaged(node)).filter((container) => container.service === 'worker');
    assert.deepEqual(after.map((container) => [container.id, container.state]), [[before[0].id, 'running']], 'the old worker kept running');
  });

  // kill -9 the agent right after Docker reports each step of a 3-replica rollout; the next
  // cycle must converge to exactly 3 new containers with no temporary or orphan container.
  const steps: [string, (event: DockerEvent) => boolean][] = [
    ['after creating the new container', (event) => event.Action === 'create'],
    ['after it turns healthy', (event) => event.Action.startsWith('health_status: healthy') && (event.Actor?.Attributes?.name ?? '').endsWith('--next')],
    ['after stopping the old one', (event) => event.Action === 'stop'],
    ['after removing the old one', (event) => event.Action === 'destroy'],
  ];
  for (const [index, [step, matches]] of steps.entries()) {
    it(`kill -9 ${step}: the next cycle converges without orphans`, async () => {
      await push({ [`${app}.yaml`]: webManifest(app, `crash-${index}`) }, `crash test ${index}`);
      const agent = spawnCapstan(['run', '--schedule', '0 0 1 1 *'], { env: env() });
      try {
        await killOn(agent, node, matches);
      } finally {
        await stopProcess(agent, { signal: 'SIGKILL', timeoutMs: 10_000 });
      }
      const halfDone = await listManaged(node);
      const mixed = new Set(halfDone.map((container) => container.labels['capstan.config-hash'])).size > 1;
      assert.ok(mixed || halfDone.some((container) => container.name.endsWith('--next')), 'the kill landed in the middle of the rollout');
      const recovered = await capstan('once');
      assert.equal(recovered.code, 0, recovered.stderr);
      const containers = await listManaged(node);
      const web = containers.filter((container) => container.service === 'web');
      assert.deepEqual(web.map((container) => container.name), [1, 2, 3].map((replica) => `${app}-web-${replica}`), 'no temporary container left');
      assert.equal(new Set(web.map((container) => container.labels['capstan.config-hash'])).size, 1, 'all on the new config');
      assert.ok(web.every(isReady));
      assert.equal(containers.length, 3, 'no orphans (the one-shot left the repo with this commit)');
    });
  }
});

interface DockerEvent {
  Type: string;
  Action: string;
  Actor?: { Attributes?: Record<string, string> };
}

/** Kills the agent with SIGKILL at the first Docker event of this node that matches. */
async function killOn(agent: ChildProcess, node: string, matches: (event: DockerEvent) => boolean): Promise<void> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [`capstan.node=${node}`] } })) as NodeJS.ReadableStream & { destroy(): void };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching Docker event within 60 s')), 60_000);
      let buffer = '';
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.trim() && matches(JSON.parse(line) as DockerEvent)) {
            agent.kill('SIGKILL');
            clearTimeout(timer);
            resolve();
          }
        }
      });
      agent.once('exit', () => {
        clearTimeout(timer);
        reject(new Error('agent exited before the step happened'));
      });
    });
  } finally {
    stream.destroy();
  }
  await waitFor(() => agent.exitCode !== null || agent.signalCode !== null, { timeoutMs: 10_000, what: 'the agent to die' });
}

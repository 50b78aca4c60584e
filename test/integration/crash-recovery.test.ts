import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { runCapstan, spawnCapstan, stopProcess } from '../helpers/cli.js';
import { cleanupNode, docker, listManaged, testNodeName, uniqueName, waitFor, type ManagedContainer } from '../helpers/docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

// Issue 14: kill -9 at each step of a start-first and a stop-first rollout, including while a
// replica that never gets ready is watched and during the rollback. After a restart the host
// converges to the old commit (the bad one quarantined) or to the new good one, no unready
// replica serves, no `--next` or orphan container is left, and SQLite agrees with Docker.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

/**
 * One replica with a real health check. A bad version fails its check inside a long start
 * period, so Docker keeps it `starting` (never ready) until the 4 s progress deadline fails it:
 * a wide, predictable window to kill the agent in.
 */
function manifest(app: string, version: string, options: { healthy: boolean; order: 'start-first' | 'stop-first' }): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${SLEEPER}`,
    `    environment: { VERSION: "${version}" }`,
    '    healthcheck:',
    `      test: ${options.healthy ? '["CMD", "true"]' : '["CMD", "false"]'}`,
    '      interval: 1s',
    '      timeout: 2s',
    '      retries: 1',
    ...(options.healthy ? [] : ['      start_period: 120s']),
    '    update:',
    `      order: ${options.order}`,
    '      progress_deadline: 4s',
    '',
  ].join('\n');
}

function isReady(container: ManagedContainer): boolean {
  return container.state === 'running' && container.status.includes('(healthy)');
}

interface DockerEvent {
  Type: string;
  Action: string;
  Actor?: { Attributes?: Record<string, string> };
}

type Step = { order: 'start-first' | 'stop-first'; healthy: boolean; step: string; matches: (event: DockerEvent, commits: { good: string; pushed: string }) => boolean };

const name = (event: DockerEvent) => event.Actor?.Attributes?.name ?? '';
const commitOf = (event: DockerEvent) => event.Actor?.Attributes?.['capstan.commit'] ?? '';
const ofPushed = (action: string) => (event: DockerEvent, commits: { pushed: string }) => event.Action === action && commitOf(event) === commits.pushed;
const ofRollback = (action: string) => (event: DockerEvent, commits: { good: string; pushed: string }) =>
  event.Action === action && commitOf(event) === commits.good;

// Each kill point: the order, whether the new version ever gets ready, and the Docker event of
// this node after which the agent is killed.
const STEPS: Step[] = [
  { order: 'start-first', healthy: false, step: 'after creating the never-ready replica', matches: ofPushed('create') },
  { order: 'start-first', healthy: false, step: 'while the never-ready replica is watched', matches: ofPushed('start') },
  { order: 'start-first', healthy: false, step: 'during the rollback (the new replica stopping)', matches: (event, commits) => event.Action === 'die' && commitOf(event) === commits.pushed },
  { order: 'start-first', healthy: true, step: 'while a good replica is watched', matches: ofPushed('start') },
  { order: 'stop-first', healthy: false, step: 'after creating the never-ready replica', matches: ofPushed('create') },
  { order: 'stop-first', healthy: false, step: 'after removing the old replica', matches: (event, commits) => event.Action === 'destroy' && commitOf(event) !== commits.pushed },
  { order: 'stop-first', healthy: false, step: 'after renaming the never-ready replica', matches: ofPushed('rename') },
  { order: 'stop-first', healthy: false, step: 'while the never-ready replica is watched', matches: ofPushed('start') },
  { order: 'stop-first', healthy: false, step: 'during the rollback, after creating the old config again', matches: ofRollback('create') },
  { order: 'stop-first', healthy: false, step: 'during the rollback, while the old config is watched again', matches: ofRollback('start') },
  { order: 'stop-first', healthy: true, step: 'while a good replica is watched', matches: ofPushed('start') },
];

describe('crash recovery: kill -9 at every step of a rollout, then restart', () => {
  const node = testNodeName();
  const app = uniqueName('crash');
  let server: GitServer;
  let repo: RemoteRepo;
  let state: TempDir;
  let good = '';
  /** The update order of each good commit. */
  const goodOrders = new Map<string, string>();
  const env = () => ({ CAPSTAN_REPO: repo.url, CAPSTAN_STATE_DIR: state.path, CAPSTAN_NODE: node });
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: env() });
  const push = async (content: string, message: string) => {
    await repo.write({ [`${app}.yaml`]: content });
    const commit = await repo.commit(message);
    await repo.push();
    return (await repo.git('rev-parse', 'HEAD')).trim() || commit;
  };

  /** Docker and SQLite both say: one ready replica of `commit`, nothing else, nothing half-done. */
  const assertConverged = async (commit: string, context: string) => {
    const containers = await listManaged(node);
    assert.deepEqual(containers.map((container) => container.name), [`${app}-web-1`], `${context}: no --next or orphan container`);
    const [web] = containers;
    assert.ok(isReady(web), `${context}: the serving replica is ready (${web.status})`);
    assert.equal(web.labels['capstan.commit'], commit, `${context}: the replica runs the expected commit`);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    assert.equal(status.appliedCommit, commit, `${context}: SQLite records the commit Docker runs`);
    assert.equal(status.services.length, 1);
    assert.equal(status.services[0].commit, commit);
    assert.ok(web.labels['capstan.config-hash'].startsWith(status.services[0].configHash), `${context}: SQLite's config hash is the container's`);
    assert.equal(status.services[0].readyReplicas, 1);
    return status;
  };

  before(async () => {
    server = await startGitServer();
    repo = await server.createRepo('crash');
    state = await tempDir('capstan-crash-state');
  });

  after(async () => {
    await cleanupNode(node);
    await server?.close();
    await state?.cleanup();
  });

  for (const [index, { order, healthy, step, matches }] of STEPS.entries()) {
    it(`${order}, ${healthy ? 'good' : 'never-ready'} commit, kill -9 ${step}`, async () => {
      // The last good commit of this order, applied normally.
      if (goodOrders.get(good) !== order) {
        good = await push(manifest(app, `base-${index}`, { healthy: true, order }), `baseline ${index}`);
        goodOrders.set(good, order);
        const applied = await capstan('once');
        assert.equal(applied.code, 0, applied.stderr);
      }
      const before = await listManaged(node);
      const pushed = await push(manifest(app, `v${index}`, { healthy, order }), `${healthy ? 'good' : 'bad'} ${index}`);

      const agent = spawnCapstan(['run', '--schedule', '0 0 1 1 *'], { env: env() });
      try {
        await killOn(agent, node, (event) => matches(event, { good, pushed }));
      } finally {
        await stopProcess(agent, { signal: 'SIGKILL', timeoutMs: 10_000 });
      }

      const recovered = await capstan('once');
      const context = `kill ${step} (${order})\n${recovered.stderr.slice(-2000)}`;
      if (healthy) {
        assert.equal(recovered.code, 0, context);
        await assertConverged(pushed, context);
        good = pushed;
        goodOrders.set(pushed, order);
        return;
      }
      const status = await assertConverged(good, context);
      assert.ok(
        status.quarantined.some((entry: { commit: string }) => entry.commit === pushed),
        `${context}: the never-ready commit is quarantined`,
      );
      if (order === 'start-first') {
        assert.deepEqual((await listManaged(node)).map((container) => container.id), before.map((container) => container.id), `${context}: the old replica was never stopped`);
      }
      // Quarantined: the next cycle leaves the host alone.
      const again = await capstan('once');
      assert.match(again.stdout + again.stderr, /COMMIT_QUARANTINED|quarantined/);
      await assertConverged(good, 'the cycle after');
    });
  }

});

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

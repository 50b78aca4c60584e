import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { stopProcess } from '../helpers/cli.js';
import type { ManagedContainer } from '../helpers/docker.js';
import { killOn, type DockerEvent } from '../helpers/events.js';
import { agentFor, SLEEPER, type Agent } from '../helpers/fixture.js';

// Issue 14: kill -9 at each step of a start-first and a stop-first rollout, including while a
// replica that never gets ready is watched and during the rollback. After a restart the host
// converges to the old commit (the bad one quarantined) or to the new good one, no unready
// replica serves, no `--next` or orphan container is left, and SQLite agrees with Docker.

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

type Step = { order: 'start-first' | 'stop-first'; healthy: boolean; step: string; matches: (event: DockerEvent, commits: { good: string; pushed: string }) => boolean };

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

/** Docker and SQLite both say: one ready replica of `commit`, nothing else, nothing half-done. */
async function assertConverged(agent: Agent, commit: string, context: string) {
  const containers = await agent.managed();
  assert.deepEqual(containers.map((container) => container.name), [`${agent.app}-web-1`], `${context}: no --next or orphan container`);
  const [web] = containers;
  assert.ok(isReady(web), `${context}: the serving replica is ready (${web.status})`);
  assert.equal(web.labels['capstan.commit'], commit, `${context}: the replica runs the expected commit`);
  const status = JSON.parse((await agent.capstan('status', '--json')).stdout);
  assert.equal(status.appliedCommit, commit, `${context}: SQLite records the commit Docker runs`);
  assert.equal(status.services.length, 1);
  assert.equal(status.services[0].commit, commit);
  assert.ok(web.labels['capstan.config-hash'].startsWith(status.services[0].configHash), `${context}: SQLite's config hash is the container's`);
  assert.equal(status.services[0].readyReplicas, 1);
  return status;
}

describe('crash recovery: kill -9 at every step of a rollout, then restart', () => {
  // One test per update order, with its own agent; its kill points run in turn, each from the
  // host the previous one converged (a fresh baseline per kill point would cost a deploy each).
  for (const order of ['start-first', 'stop-first'] as const) {
    it(`${order}: kill -9 at each step, good and never-ready commits`, async (t) => {
      const agent = await agentFor(t, { app: 'crash', timeoutMs: 180_000 });
      const { app, node } = agent;
      const good = await agent.push({ [`${app}.yaml`]: manifest(app, 'base', { healthy: true, order }) }, `baseline ${order}`);
      const applied = await agent.capstan('once');
      assert.equal(applied.code, 0, applied.stderr);
      const commits = { good, pushed: '' };

      for (const [index, { healthy, step, matches }] of STEPS.entries()) {
        if (STEPS[index].order !== order) continue;
        const before = await agent.managed();
        commits.pushed = await agent.push({ [`${app}.yaml`]: manifest(app, `v${index}`, { healthy, order }) }, `${healthy ? 'good' : 'bad'} ${index}`);

        const running = agent.spawn(['run', '--schedule', '0 0 1 1 *']);
        try {
          await killOn(running, node, (event) => matches(event, commits));
        } finally {
          await stopProcess(running, { signal: 'SIGKILL', timeoutMs: 10_000 });
        }

        const recovered = await agent.capstan('once');
        const context = `kill ${step} (${order}, ${healthy ? 'good' : 'never-ready'} commit)\n${recovered.stderr.slice(-2000)}`;
        if (healthy) {
          assert.equal(recovered.code, 0, context);
          await assertConverged(agent, commits.pushed, context);
          commits.good = commits.pushed;
          continue;
        }
        const status = await assertConverged(agent, commits.good, context);
        assert.ok(
          status.quarantined.some((entry: { commit: string }) => entry.commit === commits.pushed),
          `${context}: the never-ready commit is quarantined`,
        );
        if (order === 'start-first') {
          assert.deepEqual((await agent.managed()).map((container) => container.id), before.map((container) => container.id), `${context}: the old replica was never stopped`);
        }
        // Quarantined: the next cycle leaves the host alone.
        const again = await agent.capstan('once');
        assert.match(again.stdout + again.stderr, /COMMIT_QUARANTINED|quarantined/);
        await assertConverged(agent, commits.good, `${context}: the cycle after`);
      }
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outputOf, stopProcess } from '../helpers/cli.js';
import { waitForEvent } from '../helpers/events.js';
import { agentFor } from '../helpers/fixture.js';

// Issue 14: one cycle at a time per state dir across processes. `capstan once` started while
// `capstan run` is mid-rollout waits for it (or refuses at once with --lock-timeout 0) instead
// of running the same plan beside it; read-only commands answer meanwhile.

function manifest(app: string, version: string): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    `    environment: { VERSION: "${version}" }`,
    '    replicas: 3',
    // 3 replicas one at a time, each watched 4 s: a rollout of 12 s or more to start `once` in.
    '    update: { order: start-first, parallelism: 1, monitor: 4s }',
    '',
  ].join('\n');
}

describe('cycle lock: once while run is mid-rollout', () => {
  it('once waits for the cycle in flight, then finds the host in sync; no 409', async (t) => {
    const fixture = await agentFor(t, { app: 'lock', timeoutMs: 180_000 });
    const { app, node } = fixture;
    const capstan = fixture.capstan;
    await fixture.push({ [`${app}.yaml`]: manifest(app, 'v1') }, 'v1');
    assert.equal((await capstan('once')).code, 0);

    await fixture.push({ [`${app}.yaml`]: manifest(app, 'v2') }, 'v2');
    const agent = fixture.spawn(['run', '--schedule', '0 0 1 1 *']);
    try {
      await waitForEvent(node, (event) => event.Action === 'create');
      // Refused at once, naming the holder.
      const refused = await capstan('once', '--lock-timeout', '0');
      assert.equal(refused.code, 75, refused.stderr);
      assert.match(refused.stderr, /another capstan cycle is in flight on state dir .* \(run, pid \d+/);
      // Read-only commands never wait for the lock.
      const status = await capstan('status', '--json');
      assert.equal(status.code, 0, status.stderr);
      assert.equal(JSON.parse(status.stdout).lastCycle.result, 'running');
      // Waits, then runs its own cycle on what run left: nothing to do.
      const waited = await capstan('once');
      assert.equal(waited.code, 0, waited.stderr);
      assert.match(waited.stdout, /^in-sync at /);
      assert.doesNotMatch(waited.stderr, /409|already in progress/);
    } finally {
      await stopProcess(agent, { signal: 'SIGTERM', timeoutMs: 60_000 });
    }
    const { stdout, stderr } = outputOf(agent);
    assert.doesNotMatch(stdout + stderr, /409|already in progress/);
    assert.match(stdout, /"result":"applied"/);
    const containers = await fixture.managed();
    assert.deepEqual(containers.map((container) => container.name), [1, 2, 3].map((replica) => `${app}-web-${replica}`));
    assert.equal(new Set(containers.map((container) => container.labels['capstan.config-hash'])).size, 1);
    const history = JSON.parse((await capstan('history', '--json')).stdout) as { trigger: string; result: string }[];
    assert.deepEqual(history.slice(0, 2).map((cycle) => [cycle.trigger, cycle.result]), [['once', 'in-sync'], ['startup', 'applied']]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outputOf, stopProcess, waitForLine } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { agentFor } from '../helpers/fixture.js';

// Issue 24: commit to running in seconds with no port. `capstan run` checks the branch head
// (one GET of info/refs, no pack) every --poll-interval and starts a cycle as soon as it moves,
// while its schedule (here once a year) keeps the full cycles for drift repair.

function manifest(app: string, version: string): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    `    environment: { VERSION: "${version}" }`,
    '    update: { monitor: 0s }',
    '',
  ].join('\n');
}

describe('reference check: a push starts a cycle without waiting for the schedule', () => {
  it('deploys a pushed commit on the next check; checks between cycles download no pack', async (t) => {
    const fixture = await agentFor(t, { app: 'poll', token: 'poll-test-token-0123456789', repoName: 'poll' });
    const { app, server } = fixture;
    await fixture.push({ [`${app}.yaml`]: manifest(app, 'v1') }, 'v1');
    const agent = fixture.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '1s']);
    try {
      const first = await waitForLine(agent, (_line, json) => json?.msg === 'cycle finished', 180_000);
      assert.equal(first.json?.result, 'applied', first.line);
      // A few checks of the unchanged branch: each one request for the advertisement, no pack.
      const afterFirst = server.log.length;
      await waitFor(() => server.log.slice(afterFirst).filter((request) => request.kind === 'advertise').length >= 3, 60_000);
      // The first check meets the 401 challenge once; after that the token goes up front.
      // Only answered requests: the newest may still be in flight (its status not yet recorded).
      const checks = server.log.slice(afterFirst).filter((request) => request.status !== 0);
      const challenged = checks.findIndex((request) => request.status === 401);
      assert.ok(challenged <= 0, JSON.stringify(checks));
      const later = checks.slice(challenged + 1);
      assert.deepEqual([...new Set(later.map((request) => `${request.method} ${request.kind} ${request.status}`))], ['GET advertise 200'], JSON.stringify(checks));
      assert.ok(later.every((request) => request.authorization), 'the token goes up front once accepted');

      const beforePush = server.log.length;
      const v2 = await fixture.push({ [`${app}.yaml`]: manifest(app, 'v2') }, 'v2');
      const moved = await waitForLine(agent, (_line, json) => json?.msg === 'branch moved, starting a cycle', 60_000);
      assert.equal(moved.json?.head, v2.slice(0, 12));
      const second = await waitForLine(agent, (_line, json) => json?.msg === 'cycle finished', 180_000);
      assert.equal(second.json?.result, 'applied', second.line);
      // The cycle fetches the head the check read: no ls-refs to ask for it again.
      const cycleRequests = server.log.slice(beforePush).map((request) => request.kind);
      assert.ok(cycleRequests.includes('fetch') && !cycleRequests.includes('ls-refs'), cycleRequests.join(', '));
      const inspected = await docker.getContainer(`${app}-web-1`).inspect();
      assert.ok(inspected.Config.Env.includes('VERSION=v2'), inspected.Config.Env.join(' '));
    } finally {
      const stopped = await stopProcess(agent, { signal: 'SIGTERM', timeoutMs: 60_000 });
      assert.equal(stopped.killed, false, outputOf(agent).stderr);
    }
    const { stdout } = outputOf(agent);
    // The schedule never fired: the startup cycle and the one the push started.
    assert.equal(stdout.split('\n').filter((line) => line.includes('"cycle finished"')).length, 2, stdout);
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// `capstan run` decides by error class (agent/cycle-retry.ts): a transient failure is tried again
// before the next scheduled cycle, backing off. Here the repository (a local path) is missing,
// which the source calls transient; the schedule is once a year, so every cycle after the first
// is an early retry. No Docker is needed: the cycle fails at fetch.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { stopProcess, waitForLine } from '../helpers/cli.js';
import { agentFor } from '../helpers/fixture.js';

it('tries a transiently failed cycle again before the schedule, backing off', async (t) => {
  const agent = await agentFor(t, { app: 'retry', noRepo: true });
  const missing = await agent.tempDir('capstan-retry');
  const run = agent.spawn(['run', '--schedule', '0 0 1 1 *'], { env: { CAPSTAN_REPO: join(missing.path, 'no-such-repo') } });
  try {
    const retry = (_line: string, json: Record<string, unknown> | undefined) => json?.msg === 'trying again before the next scheduled cycle';
    const first = await waitForLine(run, retry, 60_000);
    assert.equal(first.json?.reason, 'FETCH_FAILED');
    assert.equal(first.json?.errorClass, 'transient');
    const firstDelay = Number(first.json?.retryInMs);
    assert.ok(firstDelay >= 2_500 && firstDelay <= 5_000, `first retry after ${firstDelay} ms`);
    // The retry ran (its own failed cycle) and backs off further.
    const second = await waitForLine(run, retry, 60_000);
    const secondDelay = Number(second.json?.retryInMs);
    assert.ok(secondDelay >= 5_000 && secondDelay <= 10_000, `second retry after ${secondDelay} ms`);
  } finally {
    const stopped = await stopProcess(run, { timeoutMs: 60_000 });
    assert.equal(stopped.code, 0, 'a pending retry does not keep the agent from stopping');
  }
});

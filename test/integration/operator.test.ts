import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outputOf, stopProcess } from '../helpers/cli.js';
import { docker, waitFor } from '../helpers/docker.js';
import { agentFor, SLEEPER, type Agent } from '../helpers/fixture.js';

// Issue 16a: operator commands without a port. They write to the state dir's SQLite; a running
// `capstan run` picks a cycle request up within about a second; without an agent, the next
// `once` honours what they set.

function manifest(app: string, version: string, command = SLEEPER, monitor = '1s'): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${command}`,
    `    environment: { VERSION: "${version}" }`,
    `    update: { monitor: ${monitor}, progress_deadline: 60s }`,
    '',
  ].join('\n');
}

async function deployedCommit(agent: Agent): Promise<string | undefined> {
  return (await agent.container('web')).labels['capstan.commit'];
}

async function startRun(agent: Agent) {
  // A schedule that never fires and no reference check: only the startup cycle and operator requests.
  const child = agent.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '0']);
  await waitFor(async () => {
    const status = JSON.parse((await agent.capstan('status', '--json')).stdout) as { agent: { alive: boolean }; lastCycle: { result: string } | null };
    return status.agent.alive && status.lastCycle !== null && status.lastCycle.result !== 'running';
  }, { timeoutMs: 120_000, what: 'the agent to finish its startup cycle' });
  return child;
}

describe('operator commands', () => {
  it('sync runs a cycle in the running agent; rollback pins the previous commit, which survives new commits and a restart; unpin follows the head', async (t) => {
    const agent = await agentFor(t, { app: 'op', timeoutMs: 180_000 });
    const { app } = agent;
    const c1 = await agent.push({ [`${app}.yaml`]: manifest(app, 'v1') }, 'v1');
    assert.equal((await agent.capstan('once')).code, 0);
    const c2 = await agent.push({ [`${app}.yaml`]: manifest(app, 'v2') }, 'v2');
    assert.equal((await agent.capstan('once')).code, 0);
    assert.equal(await deployedCommit(agent), c2);

    // No agent: sync refuses and says what to do instead.
    const refused = await agent.capstan('sync');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /AGENT_NOT_RUNNING/);

    let run = await startRun(agent);
    try {
      const c3 = await agent.push({ [`${app}.yaml`]: manifest(app, 'v3') }, 'v3');
      // The schedule never fires and nothing polls the branch: only the request starts this cycle.
      const synced = await agent.capstan('sync');
      assert.equal(synced.code, 0, synced.stderr);
      assert.match(synced.stdout, /^cycle \d+: applied/);
      assert.equal(await deployedCommit(agent), c3);

      const rolledBack = await agent.capstan('rollback', '--reason', 'v3 is slow');
      assert.equal(rolledBack.code, 0, rolledBack.stderr);
      assert.match(rolledBack.stdout, new RegExp(`pinned ${c2}`));
      assert.equal(await deployedCommit(agent), c2);

      // A new commit arrives: the host stays on the pin.
      const c4 = await agent.push({ [`${app}.yaml`]: manifest(app, 'v4') }, 'v4');
      assert.equal((await agent.capstan('sync')).code, 0);
      assert.equal(await deployedCommit(agent), c2);
      const status = JSON.parse((await agent.capstan('status', '--json')).stdout) as { pin: { commit: string; ahead: number; reason: string } };
      assert.equal(status.pin.commit, c2);
      assert.equal(status.pin.ahead, 2);
      assert.equal(status.pin.reason, 'v3 is slow');

      // Restarted, the agent stays on the pin.
      await stopProcess(run, { timeoutMs: 60_000 });
      run = await startRun(agent);
      assert.equal(await deployedCommit(agent), c2);

      // Pinning an explicit older commit by prefix.
      const pinned = await agent.capstan('pin', c1.slice(0, 10));
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.equal(await deployedCommit(agent), c1);

      const unpinned = await agent.capstan('unpin');
      assert.equal(unpinned.code, 0, unpinned.stderr);
      assert.equal(await deployedCommit(agent), c4);
      const history = await agent.capstan('history', '--commands', '--json');
      const commands = (JSON.parse(history.stdout) as { command: string; user: string; result: string | null }[]).map((row) => row.command);
      assert.deepEqual(commands, ['unpin', 'pin', 'sync', 'rollback', 'sync']);
    } finally {
      await stopProcess(run, { timeoutMs: 60_000 });
    }
    assert.doesNotMatch(outputOf(run).stdout, /cycle crashed/);
  });

  it('sync during a cycle queues one after it; --no-wait returns at once', async (t) => {
    const agent = await agentFor(t, { app: 'queue', timeoutMs: 180_000 });
    const { app } = agent;
    // The startup cycle watches the new replica 8 s: a cycle in flight to ask during.
    await agent.push({ [`${app}.yaml`]: manifest(app, 'v1', SLEEPER, '8s') }, 'v1');
    const run = agent.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '0']);
    try {
      const startup = await waitFor(async () => {
        const status = JSON.parse((await agent.capstan('status', '--json')).stdout) as { agent: { alive: boolean }; lastCycle: { id: number; result: string } | null };
        return status.agent.alive && status.lastCycle?.result === 'running' ? status.lastCycle : undefined;
      }, { timeoutMs: 60_000, what: 'the startup cycle in flight' });
      const noWait = await agent.capstan('sync', '--no-wait');
      assert.equal(noWait.code, 0, noWait.stderr);
      assert.match(noWait.stdout, /cycle requested/);
      const synced = await agent.capstan('sync', '--force');
      assert.equal(synced.code, 0, synced.stderr);
      const cycleId = Number(/^cycle (\d+): in-sync/.exec(synced.stdout)?.[1]);
      assert.ok(cycleId > startup.id, `a cycle after the startup cycle ${startup.id}: ${synced.stdout}`);
      const history = JSON.parse((await agent.capstan('history', '--json')).stdout) as { id: number; trigger: string; result: string }[];
      assert.deepEqual(history.map((cycle) => [cycle.trigger, cycle.result]), [['sync', 'in-sync'], ['startup', 'applied']]);
      const commands = JSON.parse((await agent.capstan('history', '--commands', '--json')).stdout) as { args: { force?: boolean }; cycleId: number }[];
      assert.deepEqual(commands.map((row) => [row.cycleId, row.args.force ?? false]), [[cycleId, true], [cycleId, false]]);
    } finally {
      await stopProcess(run, { timeoutMs: 60_000 });
    }
  });

  it('suspend leaves a drifted container alone until resume; retry lifts a quarantine', async (t) => {
    const agent = await agentFor(t, { app: 'sus', timeoutMs: 180_000 });
    const { app } = agent;
    await agent.push({ [`${app}.yaml`]: manifest(app, 'v1') }, 'v1');
    assert.equal((await agent.capstan('once')).code, 0);

    const suspended = await agent.capstan('suspend', app, '--reason', 'maintenance');
    assert.equal(suspended.code, 0, suspended.stderr);
    const web = await agent.container('web');
    await docker.getContainer(web.id).stop({ t: 1 });
    assert.equal((await agent.capstan('once')).code, 0);
    assert.equal((await agent.container('web')).state, 'exited', 'a suspended app is not repaired');
    const status = JSON.parse((await agent.capstan('status', '--json')).stdout) as { suspended: { app: string; reason: string; user: string }[] };
    assert.deepEqual(status.suspended.map((row) => [row.app, row.reason]), [[app, 'maintenance']]);
    assert.ok(status.suspended[0].user.length > 0);

    const resumed = await agent.capstan('resume', app);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await agent.capstan('once')).code, 0);
    assert.equal((await agent.container('web')).state, 'running', 'resumed, the drift is repaired');

    // A commit whose replica exits: quarantined and rolled back; the next cycle is blocked.
    const bad = await agent.push({ [`${app}.yaml`]: manifest(app, 'v2', '["sh", "-c", "exit 3"]') }, 'bad');
    assert.equal((await agent.capstan('once')).code, 1);
    const blocked = await agent.capstan('once');
    assert.match(blocked.stderr, /COMMIT_QUARANTINED/);
    const retried = await agent.capstan('retry');
    assert.equal(retried.code, 0, retried.stderr);
    assert.match(retried.stdout, new RegExp(`quarantine of ${bad} lifted`));
    // Tried again: a rollout that fails again, not a blocked cycle.
    const again = await agent.capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ROLLED_BACK|ROLLOUT/);
    assert.doesNotMatch(again.stderr, /COMMIT_QUARANTINED/);
    const history = JSON.parse((await agent.capstan('history', '--commands', '--json')).stdout) as { command: string }[];
    assert.deepEqual(history.map((row) => row.command), ['retry', 'resume', 'suspend']);
  });
});

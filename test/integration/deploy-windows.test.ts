import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import type { Clock } from '../../agent/clock.js';
import { resolveConfig } from '../../agent/cli/config.js';
import { createReconciler, openState } from '../../agent/cli/wiring.js';
import { createLogger } from '../../agent/log.js';
import { agentFor, type Agent } from '../helpers/fixture.js';
import { outputOf, stopProcess, waitForLine } from '../helpers/cli.js';

// Deploy windows and update locks (agent/deferral/) on the real engine, git and SQLite. The
// cycle's clock is injected (createReconciler's `clock`), so a window opens without waiting;
// readiness and Docker keep real time. `once --force` and `status` run as the built CLI.

const exec = promisify(execFile);
const LONG_RUNNING = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

function manifest(app: string, version: string, options: { lock?: boolean } = {}): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${LONG_RUNNING}`,
    `    environment: { VERSION: "${version}" }`,
    '    update: { monitor: 0s, progress_deadline: 60s }',
    ...(options.lock ? ['    update_lock: true'] : []),
  ].join('\n') + '\n';
}

function manualClock(start: string): Clock & { set(text: string): void } {
  let now = Date.parse(start);
  return { now: () => now, sleep: async () => undefined, set: (text) => void (now = Date.parse(text)) };
}

/** An in-process reconciler on the fixture's repository and state dir, with the injected clock. */
async function reconcilerFor(agent: Agent, policyFile: string, clock: Clock) {
  const config = resolveConfig({}, { ...agent.env(), CAPSTAN_POLICY_FILE: policyFile } as NodeJS.ProcessEnv, process.cwd());
  const { store } = openState(config);
  agent.defer(() => store.close());
  const reconciler = await createReconciler(config, store, createLogger({ level: 'silent' }), undefined, undefined, clock);
  return { reconciler, store };
}

async function versionOf(agent: Agent): Promise<string> {
  const { stdout } = await exec('docker', ['inspect', '--format', '{{range .Config.Env}}{{println .}}{{end}}', (await agent.container('web')).id]);
  return /^VERSION=(.*)$/m.exec(stdout)?.[1] ?? '';
}

describe('deploy windows', () => {
  it('defers a change in a deny window, repairs drift meanwhile, and applies it when the window ends', async (t) => {
    const agent = await agentFor(t, { app: 'window' });
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    // 2026-12-04 is a Friday: the window is 09:00 to 17:00 UTC.
    await writeFile(policyFile, `deploy_windows:\n  deny:\n    - { schedule: "0 9 * * 1-5", duration: 8h, timezone: UTC, apps: [${agent.app}] }\n`);
    const clock = manualClock('2026-12-04T08:00:00Z');
    const { reconciler, store } = await reconcilerFor(agent, policyFile, clock);

    const v1 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1') }, 'v1');
    assert.equal((await reconciler.cycle('test')).result, 'applied', 'before the window: applied');
    const v2 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v2') }, 'v2');

    clock.set('2026-12-04T12:00:00Z');
    const waiting = await reconciler.cycle('test');
    assert.equal(waiting.result, 'deferred', waiting.message);
    assert.deepEqual(waiting.deferrals?.map((item) => [item.app, item.cause, item.until, item.started]), [[agent.app, 'window', '2026-12-04T17:00:00.000Z', true]]);
    assert.equal(await versionOf(agent), 'v1', 'the change waits');
    assert.equal(store.lastAppliedCommit, v1, 'v2 is not the applied commit yet');

    // Drift of what runs is still repaired, at the running version.
    await exec('docker', ['rm', '-f', (await agent.container('web')).id]);
    const repaired = await reconciler.cycle('test');
    assert.equal(repaired.result, 'deferred');
    assert.equal(repaired.deferrals?.[0].started, false, 'said once: still the same wait');
    assert.equal(await versionOf(agent), 'v1', 'recreated at v1, not v2');

    const status = JSON.parse((await agent.run(['status', '--json'], { env: { CAPSTAN_POLICY_FILE: policyFile } })).stdout);
    assert.equal(status.deferrals[0].app, agent.app);
    assert.equal(status.deferrals[0].until, '2026-12-04T17:00:00.000Z');
    assert.equal(status.windows[0].window, 'deny "0 9 * * 1-5" for 8h (UTC)');

    clock.set('2026-12-04T17:00:00Z');
    const applied = await reconciler.cycle('test');
    assert.equal(applied.result, 'applied', applied.message);
    assert.deepEqual(applied.rollouts, [`${agent.app}/web`]);
    assert.equal(await versionOf(agent), 'v2');
    assert.equal(store.lastAppliedCommit, v2);
    assert.equal(JSON.parse((await agent.capstan('status', '--json')).stdout).deferrals.length, 0);
  });

  it('with drift_repair: false, a window of one app leaves that app as it is while the others converge', async (t) => {
    const agent = await agentFor(t, { app: 'freeze' });
    const other = `${agent.app}-other`;
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    await writeFile(policyFile, `deploy_windows:\n  deny:\n    - { schedule: "0 9 * * 1-5", duration: 8h, timezone: UTC, apps: [${agent.app}] }\n  drift_repair: false\n`);
    const clock = manualClock('2026-12-04T08:00:00Z');
    const { reconciler, store } = await reconcilerFor(agent, policyFile, clock);
    const v1 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1'), [`${other}.yaml`]: manifest(other, 'v1') }, 'v1');
    assert.equal((await reconciler.cycle('test')).result, 'applied');

    // Both change in the window; only the app it governs waits, and is left as it is.
    clock.set('2026-12-04T12:00:00Z');
    const v2 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v2'), [`${other}.yaml`]: manifest(other, 'v2') }, 'v2');
    const waiting = await reconciler.cycle('test');
    assert.equal(waiting.result, 'deferred', waiting.message);
    assert.deepEqual(waiting.deferrals?.map((item) => [item.app, item.frozen]), [[agent.app, true]]);
    assert.equal(await versionOf(agent), 'v1');
    const otherVersion = async () => /^VERSION=(.*)$/m.exec((await exec('docker', ['inspect', '--format', '{{range .Config.Env}}{{println .}}{{end}}', (await agent.container('web', 1, other)).id])).stdout)?.[1];
    assert.equal(await otherVersion(), 'v2', 'the other app converges');

    // Drift: the frozen app's replica is not recreated; the other app's is.
    await exec('docker', ['rm', '-f', (await agent.container('web')).id, (await agent.container('web', 1, other)).id]);
    const next = await reconciler.cycle('test');
    assert.equal(next.result, 'deferred', next.message);
    assert.equal((await agent.managed()).some((container) => container.name === `${agent.app}-web-1`), false, 'left as it is');
    assert.equal(await otherVersion(), 'v2', 'repaired');
    // Its record stays: it runs v1, the other app v2.
    assert.deepEqual(store.deployments(agent.node).map((row) => [row.app, row.commit]).sort(), [[agent.app, v1], [other, v2]]);
    assert.match((await agent.run(['status'], { env: { CAPSTAN_POLICY_FILE: policyFile } })).stdout, new RegExp(`waiting: +${agent.app} .* until 2026-12-04T17:00:00.000Z, left as it is \\(drift_repair: false\\)`));

    // The window ends: the change goes out, the replica with it.
    clock.set('2026-12-04T17:00:00Z');
    const applied = await reconciler.cycle('test');
    assert.equal(applied.result, 'applied', applied.message);
    assert.equal(await versionOf(agent), 'v2');
  });

  it('recreates a removed replica of a waiting app with the repository files of the commit it runs', async (t) => {
    const agent = await agentFor(t, { app: 'files' });
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    await writeFile(policyFile, `deploy_windows:\n  deny:\n    - { schedule: "0 9 * * 1-5", duration: 8h, timezone: UTC, apps: [${agent.app}] }\n`);
    const clock = manualClock('2026-12-04T08:00:00Z');
    const { reconciler } = await reconcilerFor(agent, policyFile, clock);
    const withFile = (version: string) => manifest(agent.app, version).replace('    update:', `    volumes: ["./${agent.app}-files/settings.txt:/settings.txt:ro"]\n    update:`);
    const settings = async () => (await exec('docker', ['exec', (await agent.container('web')).id, 'cat', '/settings.txt'])).stdout.trim();
    const v1 = await agent.push({ [`${agent.app}.yaml`]: withFile('v1'), [`${agent.app}-files/settings.txt`]: 'one\n' }, 'v1');
    assert.equal((await reconciler.cycle('test')).result, 'applied');
    assert.equal(await settings(), 'one');

    clock.set('2026-12-04T12:00:00Z');
    const v2 = await agent.push({ [`${agent.app}.yaml`]: withFile('v2'), [`${agent.app}-files/settings.txt`]: 'two\n' }, 'v2');
    assert.equal((await reconciler.cycle('test')).result, 'deferred');
    await exec('docker', ['rm', '-f', (await agent.container('web')).id]);
    const repaired = await reconciler.cycle('test');
    assert.equal(repaired.result, 'deferred', repaired.message);
    assert.deepEqual([await versionOf(agent), await settings()], ['v1', 'one'], 'recreated as it ran: v1 with v1\'s file');
    // Labelled with the commit whose files it mounts, so that commit's checkout is kept while it runs.
    assert.equal((await agent.container('web')).labels['capstan.commit'], v1);

    clock.set('2026-12-04T17:00:00Z');
    const applied = await reconciler.cycle('test');
    assert.equal(applied.result, 'applied', applied.message);
    assert.deepEqual([await versionOf(agent), await settings()], ['v2', 'two']);
    assert.equal((await agent.container('web')).labels['capstan.commit'], v2);
  });

  it('`capstan once --force` deploys through a deny window once, and history says so', async (t) => {
    const agent = await agentFor(t, { app: 'force' });
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    const env = { CAPSTAN_POLICY_FILE: policyFile };
    await writeFile(policyFile, '{}\n');
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1') }, 'v1');
    assert.equal((await agent.run(['once'], { env })).code, 0);
    // A window always in force (every minute, for a minute): real time is fine here.
    await writeFile(policyFile, 'deploy_windows:\n  deny:\n    - { schedule: "* * * * *", duration: 1m }\n');
    const v2 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v2') }, 'v2');

    const waiting = await agent.run(['once'], { env });
    assert.equal(waiting.code, 0, waiting.stderr);
    assert.match(waiting.stdout, new RegExp(`^deferred at .*: ${agent.app} waits: deny window "\\* \\* \\* \\* \\*" for 1m, no opening in sight`));
    assert.equal(await versionOf(agent), 'v1');

    const forced = await agent.run(['once', '--force'], { env });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /^applied at /);
    assert.equal(await versionOf(agent), 'v2');
    const history = (await agent.capstan('history', v2)).stdout;
    assert.match(history, /\(once --force\) .* → applied/);
    assert.match(history, new RegExp(`- forced: ${agent.app} deployed though deny window`));
    assert.match(history, /\(once\) .* → deferred/);

    // Once only: the next change waits again.
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v3') }, 'v3');
    assert.match((await agent.run(['once'], { env })).stdout, /^deferred at /);
    assert.equal(await versionOf(agent), 'v2');
  });
});

describe('update locks', () => {
  it('defers a rollout while the service holds its lock, applies it once released, and proceeds after max_wait', async (t) => {
    const agent = await agentFor(t, { app: 'lock' });
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    await writeFile(policyFile, 'update_locks: { max_wait: 10m }\n');
    const clock = manualClock('2026-12-04T12:00:00Z');
    const { reconciler } = await reconcilerFor(agent, policyFile, clock);

    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1', { lock: true }) }, 'v1');
    assert.equal((await reconciler.cycle('test')).result, 'applied');
    // The service takes the lock from inside, through the folder Capstan mounted for it.
    await exec('docker', ['exec', (await agent.container('web')).id, 'touch', '/capstan/lock/updates.lock']);
    const status = JSON.parse((await agent.capstan('status', '--json')).stdout);
    assert.deepEqual(status.locks.map((lock: { app: string; held: boolean }) => [lock.app, lock.held]), [[agent.app, true]]);

    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v2', { lock: true }) }, 'v2');
    const held = await reconciler.cycle('test');
    assert.equal(held.result, 'deferred', held.message);
    assert.deepEqual(held.deferrals?.map((item) => [item.cause, item.until]), [['lock', '2026-12-04T12:10:00.000Z']]);
    assert.equal(await versionOf(agent), 'v1');

    await exec('docker', ['exec', (await agent.container('web')).id, 'rm', '/capstan/lock/updates.lock']);
    clock.set('2026-12-04T12:01:00Z');
    assert.equal((await reconciler.cycle('test')).result, 'applied', 'released: rolled out');
    assert.equal(await versionOf(agent), 'v2');

    // Held again, and never released: after max_wait the rollout goes ahead and says so.
    await exec('docker', ['exec', (await agent.container('web')).id, 'touch', '/capstan/lock/updates.lock']);
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v3', { lock: true }) }, 'v3');
    clock.set('2026-12-04T13:00:00Z');
    assert.equal((await reconciler.cycle('test')).result, 'deferred');
    clock.set('2026-12-04T13:09:59Z');
    assert.equal((await reconciler.cycle('test')).result, 'deferred');
    assert.equal(await versionOf(agent), 'v2');
    clock.set('2026-12-04T13:10:00Z');
    const expired = await reconciler.cycle('test');
    assert.equal(expired.result, 'applied', expired.message);
    assert.match(expired.changes[0], /past update_locks\.max_wait: deployed anyway/);
    assert.deepEqual(expired.overrides?.map((item) => item.cause), ['lock']);
    assert.equal(await versionOf(agent), 'v3');
  });
});

describe('capstan run looks again when a wait ends', () => {
  it('starts a cycle as soon as a holding update lock is released, and when a deny window ends, not at the next scheduled cycle', async (t) => {
    const agent = await agentFor(t, { app: 'wake' });
    const dir = await agent.tempDir('policy');
    const policyFile = join(dir.path, 'policy.yaml');
    const env = { CAPSTAN_POLICY_FILE: policyFile };
    await writeFile(policyFile, 'update_locks: { max_wait: 1h }\n');
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1', { lock: true }) }, 'v1');
    assert.equal((await agent.run(['once'], { env })).code, 0);
    await exec('docker', ['exec', (await agent.container('web')).id, 'touch', '/capstan/lock/updates.lock']);
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v2', { lock: true }) }, 'v2');

    // The schedule is once a year: only the wake (deferral/wake.ts) can start the cycles below.
    const runner = agent.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '1s'], { env });
    try {
      const held = await waitForLine(runner, (_line, json) => json?.msg === 'cycle finished', 180_000);
      assert.equal(held.json?.result, 'deferred', held.line);
      await exec('docker', ['exec', (await agent.container('web')).id, 'rm', '/capstan/lock/updates.lock']);
      const released = await waitForLine(runner, (_line, json) => json?.msg === 'cycle finished', 120_000);
      assert.equal(released.json?.result, 'applied', released.line);
      assert.equal(await versionOf(agent), 'v2');

      // A deny window in force now, for 45 s (six fields: seconds first), in real time.
      const opened = new Date(Math.floor(Date.now() / 1000) * 1000);
      const schedule = `${opened.getUTCSeconds()} ${opened.getUTCMinutes()} ${opened.getUTCHours()} ${opened.getUTCDate()} ${opened.getUTCMonth() + 1} *`;
      await writeFile(policyFile, `deploy_windows:\n  deny:\n    - { schedule: "${schedule}", duration: 45s, timezone: UTC }\n`);
      await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v3', { lock: true }) }, 'v3');
      const waiting = await waitForLine(runner, (_line, json) => json?.msg === 'cycle finished', 120_000);
      assert.equal(waiting.json?.result, 'deferred', `the window was over before the push's cycle (a very slow host?): ${waiting.line}`);
      const due = await waitForLine(runner, (_line, json) => json?.msg === 'a cycle is due when the wait ends', 10_000);
      assert.equal(due.json?.at, new Date(opened.getTime() + 45_000 + 1_000).toISOString());
      const ended = await waitForLine(runner, (_line, json) => json?.msg === 'cycle finished', 180_000);
      assert.equal(ended.json?.result, 'applied', ended.line);
      assert.equal(await versionOf(agent), 'v3');
      const cycles = JSON.parse((await agent.capstan('history', '--json')).stdout) as { trigger: string; result: string }[];
      assert.deepEqual(cycles.map((cycle) => `${cycle.trigger} ${cycle.result}`), ['wait-over applied', 'push deferred', 'lock-released applied', 'startup deferred', 'once applied']);
    } finally {
      const stopped = await stopProcess(runner, { signal: 'SIGTERM', timeoutMs: 60_000 });
      assert.equal(stopped.killed, false, outputOf(runner).stderr);
    }
  });
});

describe('status --watch', () => {
  it('prints a frame per interval without escape codes when stdout is not a terminal, with the lock, pin and suspension, and ends cleanly on Ctrl-C', async (t) => {
    const agent = await agentFor(t, { app: 'watch' });
    const v1 = await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, 'v1', { lock: true }) }, 'v1');
    assert.equal((await agent.capstan('once')).code, 0);
    await exec('docker', ['exec', (await agent.container('web')).id, 'touch', '/capstan/lock/updates.lock']);
    // What operators set: no agent runs, so each is applied by the next cycle; the view shows it now.
    assert.equal((await agent.capstan('pin', v1, '--reason', 'hold v1')).code, 0);
    assert.equal((await agent.capstan('suspend', agent.app, '--reason', 'maintenance')).code, 0);
    assert.match((await agent.run(['status', '--watch', '--interval', '0s'])).stderr, /--interval must be a duration from 1s to 1h/);

    const watcher = agent.spawn(['status', '--watch', '--interval', '1s']);
    await waitForLine(watcher, new RegExp(`^${agent.app}/web\\s+1/1`), 60_000);
    await waitForLine(watcher, new RegExp(`^pinned: +${v1.slice(0, 12)} by .*: hold v1`), 60_000);
    await waitForLine(watcher, new RegExp(`^suspended: +${agent.app} by .*: maintenance$`), 60_000);
    await waitForLine(watcher, new RegExp(`^lock: +${agent.app} holds its update lock since `), 60_000);
    // A second frame follows after the interval.
    await waitForLine(watcher, /^capstan .* agent never started/, 60_000);
    const stopped = await stopProcess(watcher, { signal: 'SIGINT' });
    assert.deepEqual([stopped.code, stopped.killed], [0, false]);
    assert.doesNotMatch(outputOf(watcher).stdout, /\x1b/);
  });
});

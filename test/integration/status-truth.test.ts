import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { stopProcess, waitForLine } from '../helpers/cli.js';
import { waitFor } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Issue 14 on a real engine: a failed one-shot's last output is kept before the rollback
// removes it and shown by status and history; `capstan logs`; and each fact status states
// (heartbeat and a dead agent, rollout progress while watched, a completed one-shot,
// quarantine aging, the blocked outcome).

const LONG_RUNNING = `["sh", "-c", "echo web says hello; trap 'exit 0' TERM; sleep 3600 & wait"]`;

function manifest(app: string, options: { version: string; migrate?: 'fail' | 'succeed'; monitor?: string; replicas?: number }): string {
  const lines = [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${LONG_RUNNING}`,
    `    environment: { VERSION: "${options.version}" }`,
    `    replicas: ${options.replicas ?? 1}`,
    `    update: { order: start-first, parallelism: 1, monitor: ${options.monitor ?? '1s'}, progress_deadline: 60s }`,
  ];
  if (options.migrate) {
    const script = options.migrate === 'fail' ? 'echo applying 0042; echo migration 0042 failed: column email already exists >&2; exit 3' : 'echo migrations done; exit 0';
    lines.push('  migrate:', '    image: local/busybox:1', '    restart: "no"', `    command: ["sh", "-c", "${script}"]`, `    environment: { VERSION: "${options.version}" }`);
  }
  return lines.join('\n') + '\n';
}

/** A fixture of its own per describe, with the helpers its tests share. */
function truthAgent() {
  const agent = sharedAgent({ app: 'truth', repoName: 'truth', timeoutMs: 180_000 });
  const { app } = agent;
  const capstan = (...args: string[]) => agent.capstan(...args);
  const status = async () => JSON.parse((await capstan('status', '--json')).stdout);
  const push = (text: string, message: string) => agent.push({ [`${app}.yaml`]: text }, message);
  return { agent, app, capstan, status, push };
}

describe('status tells the truth about a failed rollout; a failed replica\'s output is kept', () => {
  const { agent, app, capstan, status, push } = truthAgent();
  const { node } = agent;
  let good = '';
  let bad = '';

  // v1 applied, then v2 whose migration exits 3: rolled back and quarantined. The tests read
  // this; the blocked cycle and the old quarantine row they add change none of what the others read.
  before(async () => {
    good = await push(manifest(app, { version: 'v1' }), 'v1: web');
    assert.equal((await capstan('once')).code, 0);
    bad = await push(manifest(app, { version: 'v2', migrate: 'fail' }), 'v2: add a migration');
    const failed = await capstan('once');
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /ROLLED_BACK/);
  });

  it('keeps the output of a migration that exits 3, and shows it in status and history', async () => {
    const text = (await capstan('status')).stdout;
    assert.match(text, new RegExp(`last output of ${app}-migrate-1\\S* \\(exit code 3\\):`));
    assert.match(text, /migration 0042 failed: column email already exists/);
    const json = await status();
    assert.equal(json.failureOutputs[0].exitCode, 3);
    // stdout and stderr both, in whatever order Docker read its two pipes.
    assert.match(json.failureOutputs[0].output, /^applying 0042$/m);
    assert.match(json.failureOutputs[0].output, /^migration 0042 failed: column email already exists$/m);
    const history = (await capstan('history', bad.slice(0, 10))).stdout;
    assert.match(history, /ROLLED_BACK/);
    assert.match(history, /\| migration 0042 failed: column email already exists/);
    const rows = JSON.parse((await capstan('history', '--json')).stdout);
    assert.match(rows[0].failureOutputs[0].output, /migration 0042 failed/);
  });

  it('records the next cycles on the quarantined commit as blocked, with author and subject', async () => {
    const again = await capstan('once');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /cycle blocked: COMMIT_QUARANTINED/);
    // Said at error level only the first time the commit was seen (the rollout failure).
    assert.doesNotMatch(again.stderr, /"level":50/);
    const rows = JSON.parse((await capstan('history', '--json')).stdout);
    assert.equal(rows[0].result, 'blocked');
    assert.equal(rows[0].commitAuthor, 'Test Author <author@example.test>');
    assert.equal(rows[0].commitMessage, 'v2: add a migration');
    const json = await status();
    assert.equal(json.attempted.commit, bad);
    assert.equal(json.attempted.result, 'blocked');
    assert.equal(json.attempted.reason, 'COMMIT_QUARANTINED');
    assert.equal(json.applied.commit, good);
    assert.equal(json.applied.reason, null);
  });

  it('an unknown commit given to history is an error', async () => {
    const unknown = await capstan('history', 'deadbeef');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /UNKNOWN_COMMIT: no cycle of commit deadbeef/);
    const garbage = await capstan('history', 'not-a-commit');
    assert.equal(garbage.code, 1);
  });

  it('lists only recent or active quarantines; older ones are in history --quarantined', async () => {
    assert.deepEqual((await status()).quarantined.map((entry: { commit: string }) => entry.commit), [bad]);
    // A quarantine of two days ago, of a commit that is no longer the head.
    const db = new Database(join(agent.state.path, 'capstan.db'));
    db.prepare("INSERT INTO quarantine (commit_id, node, reason, message, at) VALUES (?, ?, 'ROLLOUT_FAILED', 'old failure', ?)").run(
      'f'.repeat(40),
      node,
      new Date(Date.now() - 2 * 24 * 3600_000).toISOString(),
    );
    db.close();
    const json = await status();
    assert.deepEqual(json.quarantined.map((entry: { commit: string }) => entry.commit), [bad]);
    assert.equal(json.olderQuarantines, 1);
    const all = JSON.parse((await capstan('history', '--quarantined', '--json')).stdout);
    assert.equal(all.length, 2);
  });

});

describe('status tells the truth about one-shots, logs and the agent\'s heartbeat', () => {
  const { agent, app, capstan, status, push } = truthAgent();

  // v3: web and a migration that succeeds. The heartbeat test, last, rolls out v4 over it.
  before(async () => {
    await push(manifest(app, { version: 'v3', migrate: 'succeed' }), 'v3: migration fixed');
    const applied = await capstan('once');
    assert.equal(applied.code, 0, applied.stderr);
  });

  it('shows a finished one-shot as completed with its exit code', async () => {
    const json = await status();
    const migrate = json.services.find((service: { service: string }) => service.service === 'migrate');
    assert.deepEqual(migrate.completion, { state: 'completed', exitCodes: [0] });
    assert.match((await capstan('status')).stdout, /migrate\s+completed \(exit 0\)/);
  });

  it('capstan logs shows the current replicas\' output through Docker', async () => {
    const logs = await capstan('logs', `${app}/web`, '--tail', '5');
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`^${app}-web-1 +\\| web says hello$`, 'm'));
    const migrate = await capstan('logs', `${app}/migrate`);
    assert.match(migrate.stdout, /\| migrations done/);
    const none = await capstan('logs', `${app}/nothing`);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no replica of/);
  });

  it('the heartbeat: a running agent, its rollout in progress, then dead after kill -9', async () => {
    // 3 replicas one at a time, each watched 6 s: a rollout long enough to be seen.
    await push(manifest(app, { version: 'v4', migrate: 'succeed', monitor: '6s', replicas: 3 }), 'v4: three web replicas');
    const running = agent.spawn(['run', '--schedule', '0 0 1 1 *']);
    try {
      const seen = await waitFor(
        async () => {
          const json = await status();
          const web = json.rollout?.services.find((entry: { service: string }) => entry.service === 'web');
          return json.agent.state === 'running' && json.rollout?.inFlight && web ? { json, web } : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500, what: 'status to show the rollout in flight' },
      );
      assert.equal(seen.web.total, 3);
      assert.ok(seen.web.done >= 0 && seen.web.done < 3);
      assert.match(seen.web.phase, /creating|starting|waiting for readiness|ready|stopping|removing|renaming|planned/);
      assert.equal(seen.json.lastCycle.result, 'running');
      await waitForLine(running, /"msg":"cycle finished"/, 150_000);
      // The next cycle's time is written once the cycle has let go of the lock, after its line.
      const idle = await waitFor(async () => {
        const json = await status();
        return json.nextCycleAt !== null ? json : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250, what: 'status to show the next cycle' });
      assert.equal(idle.agent.state, 'running');
      assert.equal(idle.rollout, null);
      assert.ok(Date.parse(idle.nextCycleAt) > Date.now());
    } finally {
      await stopProcess(running, { signal: 'SIGKILL' });
    }
    const dead = await status();
    assert.equal(dead.agent.state, 'not running');
    assert.equal(dead.agent.alive, false);
    assert.equal(dead.nextCycleAt, null);
    assert.match((await capstan('status')).stdout, /agent: +NOT RUNNING: pid \d+ is gone/);
  });
});

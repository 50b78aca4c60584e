import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { RECENT_QUARANTINE_MS, readyCell, serviceStatus, statusReport, type StatusFacts } from '../../agent/cli/status-report.js';
import { parseTail, parseTarget } from '../../agent/cli/commands/logs.js';
import { wasKilledAfterGrace } from '../../agent/targets/containers/execute.js';
import { withOutputs } from '../../agent/notify/from-outcome.js';
import { KEPT_BYTES, lastLines } from '../../agent/output/bounded.js';
import { FrameReader, LineSplitter, demuxLogs } from '../../agent/output/frames.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';

// Issue 14: the pure parts of a status that tells the truth and of the output kept of a failed
// replica. The integration tests (test/integration/status-truth.test.ts) prove them on an engine.

const dir = mkdtempSync(join(tmpdir(), 'capstan-status-truth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('log frames and bounds', () => {
  it('demultiplexes frames, also split across chunks', () => {
    const all = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    assert.equal(demuxLogs(all, false), 'out 1\nerr 1\nout 2\n');
    assert.equal(demuxLogs(Buffer.from('raw\n'), true), 'raw\n');
    const reader = new FrameReader();
    const first = reader.push(all.subarray(0, 5));
    const rest = reader.push(all.subarray(5));
    assert.deepEqual(first, []);
    assert.deepEqual(rest.map((piece) => [piece.stream, piece.data.toString()]), [['stdout', 'out 1\n'], ['stderr', 'err 1\n'], ['stdout', 'out 2\n']]);
    const lines = new LineSplitter();
    assert.deepEqual(lines.push('a\nb'), ['a']);
    assert.deepEqual(lines.push('c\r\n'), ['bc']);
    assert.deepEqual(lines.end(), []);
  });

  it('keeps the last 50 lines and 8 KB at most, without control characters', () => {
    const many = Array.from({ length: 120 }, (_, index) => `line ${index + 1}`).join('\n') + '\n\n';
    const kept = lastLines(many).split('\n');
    assert.equal(kept.length, 50);
    assert.equal(kept[0], 'line 71');
    assert.equal(kept.at(-1), 'line 120');
    const huge = lastLines('é'.repeat(20_000) + '\nthe error');
    assert.ok(Buffer.byteLength(huge) <= KEPT_BYTES, `${Buffer.byteLength(huge)} bytes`);
    assert.ok(huge.endsWith('the error'));
    assert.ok(!huge.includes('\uFFFD'));
    assert.equal(lastLines('\x1b[31mred\x1b[0m\x07 bell\r\n'), 'red bell');
  });

  it('quotes the end of each kept output in a notification', () => {
    const message = withOutputs('rollout failed', [{ app: 'a', service: 'm', subject: 'a-m-1', exitCode: 3, output: Array.from({ length: 30 }, (_, i) => `l${i}`).join('\n') }]);
    assert.match(message, /^rollout failed\n\nlast output of a-m-1 \(exit code 3\):\nl10\n/);
    assert.ok(message.endsWith('l29'));
  });
});

describe('a stop Docker finished with SIGKILL', () => {
  const table: [string, Parameters<typeof wasKilledAfterGrace>[0], boolean][] = [
    ['ignored SIGTERM, killed after 10 s', { exitCode: 137, oomKilled: false, elapsedMs: 10_050, graceSeconds: 10 }, true],
    ['exited on SIGTERM (143)', { exitCode: 143, oomKilled: false, elapsedMs: 50, graceSeconds: 10 }, false],
    ['stop_signal SIGKILL: at once', { exitCode: 137, oomKilled: false, elapsedMs: 40, graceSeconds: 10 }, false],
    ['out of memory', { exitCode: 137, oomKilled: true, elapsedMs: 10_000, graceSeconds: 10 }, false],
  ];
  for (const [name, stop, expected] of table) it(name, () => assert.equal(wasKilledAfterGrace(stop), expected));
});

describe('capstan logs arguments', () => {
  it('takes APP or APP/SERVICE and a bounded tail', () => {
    assert.deepEqual(parseTarget('shop'), { app: 'shop' });
    assert.deepEqual(parseTarget('shop/web'), { app: 'shop', service: 'web' });
    assert.throws(() => parseTarget('shop/web/1'), /not APP or APP\/SERVICE/);
    assert.equal(parseTail('all'), 'all');
    assert.equal(parseTail('20'), 20);
    assert.throws(() => parseTail('-1'), /invalid --tail/);
    assert.throws(() => parseTail('99999999'), /invalid --tail/);
  });
});

const NOW = Date.parse('2026-06-01T12:00:00Z');
function facts(overrides: Partial<StatusFacts> = {}): StatusFacts {
  return {
    node: 'n1',
    target: 'containers',
    now: NOW,
    heartbeat: null,
    lockHolderPid: null,
    isAlive: () => false,
    appliedCommit: null,
    attemptedCommit: null,
    lastError: null,
    lastCycle: null,
    commitCycles: [],
    nextCycleAt: null,
    quarantined: [],
    rollout: [],
    failureOutputs: [],
    deployments: [],
    containers: [],
    ...overrides,
  };
}
const cycle = (id: number, commit: string, result: string, reason: string | null, author = 'Ann <ann@example.com>', message = 'subject') => ({
  id,
  startedAt: '2026-06-01T11:00:00Z',
  finishedAt: result === 'running' ? null : '2026-06-01T11:00:05Z',
  trigger: 'schedule',
  node: 'n1',
  commit,
  commitAuthor: author,
  commitMessage: message,
  result: result as 'running',
  reason,
  message: null,
  changes: [],
  durationMs: 5,
});

describe('status report', () => {
  it('an agent killed with -9: not running, its cycle interrupted, no next cycle in the past', () => {
    const report = statusReport(
      facts({
        heartbeat: { pid: 4242, startedAt: '2026-06-01T10:00:00Z', heartbeatAt: '2026-06-01T11:00:00Z' },
        lastCycle: cycle(7, 'bbb', 'running', null),
        lockHolderPid: 4242,
        nextCycleAt: '2026-06-01T11:01:00Z',
        rollout: [{ app: 'a', service: 'web', cycleId: 7, commit: 'bbb', done: 1, total: 3, phase: 'waiting for readiness of a-web-2--next', startedAt: 'x', updatedAt: 'y' }],
      }),
    );
    assert.equal(report.agent.state, 'not running');
    assert.equal(report.agent.alive, false);
    assert.equal(report.lastCycle?.result, 'interrupted');
    assert.equal(report.nextCycleAt, null);
    assert.deepEqual({ inFlight: report.rollout?.inFlight, interrupted: report.rollout?.interrupted }, { inFlight: false, interrupted: true });
  });

  it('a live agent mid-rollout: running, rollout in flight', () => {
    const report = statusReport(
      facts({
        heartbeat: { pid: 1, startedAt: 'a', heartbeatAt: 'b' },
        isAlive: (pid) => pid === 1,
        lockHolderPid: 1,
        lastCycle: cycle(7, 'bbb', 'running', null),
        nextCycleAt: '2026-06-01T12:01:00Z',
        rollout: [{ app: 'a', service: 'web', cycleId: 7, commit: 'bbb', done: 1, total: 3, phase: 'starting a-web-2--next', startedAt: 'x', updatedAt: 'y' }],
      }),
    );
    assert.equal(report.agent.state, 'running');
    assert.equal(report.lastCycle?.result, 'running');
    assert.equal(report.nextCycleAt, '2026-06-01T12:01:00Z');
    assert.equal(report.rollout?.inFlight, true);
  });

  it('a stopped agent is stopped, not dead', () => {
    const report = statusReport(facts({ heartbeat: { pid: 1, startedAt: 'a', heartbeatAt: 'b', stoppedAt: 'b' }, isAlive: () => true }));
    assert.equal(report.agent.state, 'stopped');
  });

  it('each reason names its own commit', () => {
    const report = statusReport(
      facts({
        appliedCommit: 'aaa',
        attemptedCommit: 'bbb',
        commitCycles: [cycle(3, 'aaa', 'applied', null, 'Ann <a@x>', 'good'), cycle(5, 'bbb', 'blocked', 'MANIFEST_INVALID', 'Bob <b@x>', 'typo'), cycle(4, 'bbb', 'blocked', 'MANIFEST_INVALID')],
      }),
    );
    assert.deepEqual(report.applied, { commit: 'aaa', author: 'Ann <a@x>', subject: 'good', result: 'applied', reason: null, at: '2026-06-01T11:00:05Z' });
    assert.equal(report.attempted?.reason, 'MANIFEST_INVALID');
    assert.equal(report.attempted?.subject, 'typo');
  });

  it('shows active or recent quarantines only, and counts the older ones', () => {
    const old = new Date(NOW - RECENT_QUARANTINE_MS - 1000).toISOString();
    const report = statusReport(
      facts({
        attemptedCommit: 'head',
        quarantined: [
          { commit: 'head', reason: 'ROLLOUT_FAILED', message: 'm', at: old },
          { commit: 'recent', reason: 'ROLLOUT_FAILED', message: 'm', at: new Date(NOW - 60_000).toISOString() },
          { commit: 'old', reason: 'ROLLOUT_FAILED', message: 'm', at: old },
        ],
      }),
    );
    assert.deepEqual(report.quarantined.map((entry) => entry.commit), ['head', 'recent']);
    assert.equal(report.olderQuarantines, 1);
  });

  it('a one-shot that exited 0 is completed, not 0/1; one that exited 3 failed', () => {
    const deployment = { app: 'a', service: 'migrate', configHash: 'h1', image: 'i', replicas: 1, commit: 'c', updatedAt: 't', oneShot: true };
    const done = serviceStatus(deployment, [{ app: 'a', service: 'migrate', state: 'exited', configHash: 'h1', health: null, exitCode: 0 }]);
    assert.equal(readyCell(done), 'completed (exit 0)');
    const failed = serviceStatus(deployment, [{ app: 'a', service: 'migrate', state: 'exited', configHash: 'h1', health: null, exitCode: 3 }]);
    assert.equal(readyCell(failed), 'failed (exit 3)');
    const web = serviceStatus({ ...deployment, service: 'web', oneShot: false }, [{ app: 'a', service: 'web', state: 'running', configHash: 'h1', health: null }]);
    assert.equal(readyCell(web), '1/1');
  });
});

/** What the first three migrations create: a state dir from before issue 14. */
const FIRST_THREE_MIGRATIONS = [
  'meta', 'cycles', 'cycles_started', 'deployments', 'journal', 'journal_cycle', 'notifications', 'notifications_due', 'counters', 'cycles_node_result', 'quarantine', 'pulled_images', 'service_images',
];

describe('state migrations', () => {
  it('upgrades a state dir of the previous schema, keeping its rows', () => {
    const file = join(dir, 'old.db');
    // The schema as it was before issue 14's migration: the first three migrations only (named,
    // so that migrations appended later are run by the upgrade too, not copied in beforehand).
    const fresh = openDb(join(dir, 'fresh.db'));
    fresh.close();
    const version = 4;
    const old = new Database(file);
    const source = new Database(join(dir, 'fresh.db'), { readonly: true });
    old.exec(
      // Only the objects of the first three migrations: later ones (issue 14's and after) are left out.
      (source.prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name IN (${FIRST_THREE_MIGRATIONS.map((name) => `'${name}'`).join(', ')})`).all() as { sql: string }[])
        .map((row) => row.sql.replace(/,\s*one_shot INTEGER NOT NULL DEFAULT 0/, '').replace(/,\s*hooks_hash TEXT/, ''))
        .join(';\n'),
    );
    source.close();
    old.exec("INSERT INTO deployments (app, service, node, config_hash, image, replicas, commit_id, updated_at) VALUES ('a', 'web', 'n1', 'h', 'i', 1, 'c', 't')");
    old.pragma('user_version = 3');
    old.close();
    const store = new StateStore(openDb(file));
    // hooks_hash: NULL on an upgrade, which the planner takes as unchanged hooks.
    assert.deepEqual(store.deployments('n1').map((row) => [row.service, row.oneShot, row.hooksHash]), [['web', false, null]]);
    const id = store.startCycle('once', 'n1');
    store.keepFailureOutput('n1', { cycleId: id, commit: 'c', app: 'a', service: 'web', kind: 'replica', subject: 'a-web-1', exitCode: 3, reason: 'ROLLOUT_FAILED', output: 'boom', at: 't' });
    assert.equal(store.latestFailureOutputs('n1', 'c')[0].output, 'boom');
    // Issue 22's hook_runs: a run left `running` (agent killed) does not count as passed.
    store.hookRunStarted('n1', { cycleId: id, commit: 'c', app: 'a', phase: 'pre_deploy', job: 'migrate' });
    store.hookRunFinished(store.hookRunStarted('n1', { cycleId: id, commit: 'c', app: 'a', phase: 'pre_deploy', job: 'migrate' }), 'passed', 0);
    store.hookRunFinished(store.hookRunStarted('n1', { cycleId: id, commit: 'c', app: 'a', phase: 'post_deploy', job: 'smoke' }), 'failed', 1);
    assert.deepEqual(store.hooksPassed('n1', 'c'), ['a/pre_deploy/migrate']);
    assert.deepEqual(store.hookRuns('n1', 'c').map((run) => run.result), ['running', 'passed', 'failed']);
    store.close();
  });

  it('records a blocked cycle as the last error, not as applied', () => {
    const store = new StateStore(openDb(':memory:'));
    const good = store.startCycle('once', 'n1');
    store.setCycleCommit(good, { id: 'aaa', author: 'A', message: 'm' });
    store.finishCycle(good, { result: 'applied', durationMs: 1 });
    const blocked = store.startCycle('once', 'n1');
    store.setCycleCommit(blocked, { id: 'bbb', author: 'B', message: 'bad' });
    store.finishCycle(blocked, { result: 'blocked', reason: 'COMMIT_QUARANTINED', message: 'quarantined', durationMs: 1 });
    assert.equal(store.lastAppliedCommit, 'aaa');
    assert.equal(store.lastError?.code, 'COMMIT_QUARANTINED');
    assert.equal(store.commitSeenBefore('bbb', blocked), false);
    assert.equal(store.commitSeenBefore('bbb', blocked + 1), true);
    assert.equal(store.knowsCommit('bb'), true);
    assert.equal(store.knowsCommit('cc'), false);
    store.close();
  });
});

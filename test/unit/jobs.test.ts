// Scheduled jobs (agent/jobs): when runs fall (node-cron's own matcher), which runs start at a
// look, and what the loader accepts. Times are given with their zone; jobs name theirs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import { lastRunIn, nextRun, nextRuns } from '../../agent/jobs/cron.js';
import { decideRuns, STARTING_DEADLINE_MS, type ScheduledJob } from '../../agent/jobs/decide.js';
import { memoryFiles } from '../helpers/memory-files.js';
import { previewJobs, printJobs } from '../../agent/jobs/print.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { unsupportedFields } from '../../agent/targets/swarm/support.js';
import { app, container, desired, HASH_A, HASH_B, observed, service } from '../helpers/model.js';

const at = (text: string) => new Date(text).getTime();
const iso = (ms: number) => new Date(ms).toISOString();

describe('nextRun: the first time of a schedule strictly after a moment', () => {
  const cases: [schedule: string, timezone: string | undefined, after: string, next: string, why: string][] = [
    ['0 3 * * *', 'UTC', '2026-12-05T17:00:00Z', '2026-12-06T03:00:00.000Z', 'daily at 03:00, later today passed'],
    ['0 3 * * *', 'UTC', '2026-12-05T02:59:59Z', '2026-12-05T03:00:00.000Z', 'a second before'],
    ['0 3 * * *', 'UTC', '2026-12-05T03:00:00Z', '2026-12-06T03:00:00.000Z', 'strictly after: not the moment itself'],
    ['*/15 * * * *', 'UTC', '2026-12-05T17:07:00Z', '2026-12-05T17:15:00.000Z', 'every quarter hour'],
    ['0 3 * * *', 'Europe/Paris', '2026-12-05T17:00:00Z', '2026-12-06T02:00:00.000Z', '03:00 in Paris is 02:00 UTC in winter'],
    ['0 3 * * *', 'Europe/Paris', '2026-07-05T17:00:00Z', '2026-07-06T01:00:00.000Z', 'and 01:00 UTC in summer'],
    ['30 2 * * sun', 'UTC', '2026-12-05T00:00:00Z', '2026-12-06T02:30:00.000Z', 'Saturday 5 December 2026: Sunday the 6th'],
    ['0 0 1 1 *', 'UTC', '2026-12-05T00:00:00Z', '2027-01-01T00:00:00.000Z', 'yearly'],
    ['*/10 * * * * *', 'UTC', '2026-12-05T00:00:01Z', '2026-12-05T00:00:10.000Z', 'a seconds field'],
  ];
  for (const [schedule, timezone, after, next, why] of cases) {
    it(`${schedule} (${timezone}) after ${after} → ${next} (${why})`, () => {
      assert.equal(iso(nextRun(schedule, timezone, at(after))), next);
    });
  }

  it('lists the next runs in order, as `capstan plan` shows them', () => {
    assert.deepEqual(nextRuns('0 */6 * * *', 'UTC', at('2026-12-05T17:00:00Z'), 3).map(iso), [
      '2026-12-05T18:00:00.000Z',
      '2026-12-06T00:00:00.000Z',
      '2026-12-06T06:00:00.000Z',
    ]);
  });

  it('finds the latest time in a window, bounded in steps', () => {
    assert.equal(iso(lastRunIn('*/15 * * * *', 'UTC', at('2026-12-05T17:00:00Z'), at('2026-12-05T17:40:00Z'))!), '2026-12-05T17:30:00.000Z');
    assert.equal(lastRunIn('0 3 * * *', 'UTC', at('2026-12-05T04:00:00Z'), at('2026-12-05T17:00:00Z')), undefined);
    // Every second over a day is 86,400 times: the walk stops after its bound, never hangs.
    const bounded = lastRunIn('* * * * * *', 'UTC', at('2026-12-05T00:00:00Z'), at('2026-12-06T00:00:00Z'), 100);
    assert.equal(iso(bounded!), '2026-12-05T00:01:40.000Z');
  });
});

describe('decideRuns: which runs start at a look', () => {
  const nightly: ScheduledJob = { app: 'shop', service: 'backup', job: { schedule: '0 3 * * *', concurrency: 'forbid', timezone: 'UTC' } };
  const often: ScheduledJob = { app: 'shop', service: 'sweep', job: { schedule: '*/5 * * * *', concurrency: 'allow', timezone: 'UTC' } };
  const none = new Set<string>();
  const summary = (decisions: ReturnType<typeof decideRuns>) =>
    decisions.map((decision) => `${decision.action} ${decision.service} ${iso(decision.scheduledAt)} ${decision.trigger}${decision.action === 'skip' ? ` (${decision.message})` : ''}`);

  it('starts nothing at the first look of a state dir: a new job waits for its next time', () => {
    assert.deepEqual(decideRuns({ jobs: [nightly], checkedAt: undefined, now: at('2026-12-05T03:00:30Z'), startup: true, running: none }), []);
  });
  it('starts a run whose time passed since the last look, once, however many times passed', () => {
    const decisions = decideRuns({ jobs: [nightly, often], checkedAt: at('2026-12-05T02:59:58Z'), now: at('2026-12-05T03:11:00Z'), startup: false, running: none });
    assert.deepEqual(summary(decisions), ['start backup 2026-12-05T03:00:00.000Z schedule', 'start sweep 2026-12-05T03:10:00.000Z schedule']);
  });
  it('starts nothing between times', () => {
    assert.deepEqual(decideRuns({ jobs: [nightly], checkedAt: at('2026-12-05T03:00:00Z'), now: at('2026-12-05T03:00:05Z'), startup: false, running: none }), []);
  });
  it('skips a run while the previous one runs (forbid), starts it beside (allow)', () => {
    const running = new Set(['shop/backup', 'shop/sweep']);
    const decisions = decideRuns({ jobs: [nightly, often], checkedAt: at('2026-12-05T02:59:58Z'), now: at('2026-12-05T03:00:02Z'), startup: false, running });
    assert.deepEqual(summary(decisions), [
      'skip backup 2026-12-05T03:00:00.000Z schedule (the previous run is still running (concurrency: forbid))',
      'start sweep 2026-12-05T03:00:00.000Z schedule',
    ]);
  });
  it('makes up a run missed while the agent was down within the deadline, once, as missed', () => {
    const decisions = decideRuns({ jobs: [nightly], checkedAt: at('2026-12-05T02:50:00Z'), now: at('2026-12-05T03:20:00Z'), startup: true, running: none });
    assert.deepEqual(summary(decisions), ['start backup 2026-12-05T03:00:00.000Z missed']);
  });
  it('records a run missed longer ago than the deadline as skipped, and does not run it', () => {
    assert.equal(STARTING_DEADLINE_MS, 3_600_000);
    const decisions = decideRuns({ jobs: [nightly], checkedAt: at('2026-12-05T02:50:00Z'), now: at('2026-12-05T05:00:00Z'), startup: true, running: none });
    assert.deepEqual(summary(decisions), ['skip backup 2026-12-05T03:00:00.000Z missed (missed while the agent was down, more than an hour ago (starting deadline): not made up)']);
  });
  it('a job\'s own starting_deadline replaces the hour, either way', () => {
    const patient: ScheduledJob = { ...nightly, job: { ...nightly.job, startingDeadlineMs: 6 * 3_600_000 } };
    const strict: ScheduledJob = { ...nightly, service: 'strict', job: { ...nightly.job, startingDeadlineMs: 10 * 60_000 } };
    const decisions = decideRuns({ jobs: [patient, strict], checkedAt: at('2026-12-05T02:50:00Z'), now: at('2026-12-05T05:00:00Z'), startup: true, running: none });
    assert.deepEqual(summary(decisions), [
      'start backup 2026-12-05T03:00:00.000Z missed',
      'skip strict 2026-12-05T03:00:00.000Z missed (missed while the agent was down, more than 10 min ago (starting deadline): not made up)',
    ]);
    const soon = decideRuns({ jobs: [strict], checkedAt: at('2026-12-05T02:50:00Z'), now: at('2026-12-05T03:05:00Z'), startup: true, running: none });
    assert.deepEqual(summary(soon), ['start strict 2026-12-05T03:00:00.000Z missed']);
  });
  it('does nothing when the clock went back', () => {
    assert.deepEqual(decideRuns({ jobs: [nightly], checkedAt: at('2026-12-05T04:00:00Z'), now: at('2026-12-05T03:30:00Z'), startup: false, running: none }), []);
  });
});

describe('loading a scheduled job', () => {
  const ROOT = '/capstan-jobs-checkout';
  const COMMIT = 'd'.repeat(40);
  const hashKey = new TextEncoder().encode('jobs-test-key');
  const load = (entries: Record<string, string>) => loadDesiredState({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, entries) });
  const problems = async (entries: Record<string, string>) =>
    (await validateDir({ root: ROOT, commit: COMMIT, hashKey, files: memoryFiles(ROOT, entries) })).problems.map(formatProblem).join('\n');

  it('a native service with schedule has no replica, never restarts, and keeps its hash when only its schedule changes', async () => {
    const manifest = (schedule: string) => `app: shop\nservices:\n  backup:\n    image: local/busybox:1\n    command: [sh, -c, 'echo ok']\n    schedule: "${schedule}"\n    timezone: Europe/Paris\n`;
    const first = await load({ 'shop.yaml': manifest('0 3 * * *') });
    const backup = first.apps[0].services[0];
    assert.deepEqual(backup.job, { schedule: '0 3 * * *', concurrency: 'forbid', timezone: 'Europe/Paris' });
    assert.equal(backup.replicas, 0);
    assert.equal(backup.restart, 'no');
    const second = await load({ 'shop.yaml': manifest('0 4 * * *') });
    assert.equal(second.apps[0].services[0].configHash, backup.configHash);
  });

  it('starting_deadline: a duration between 1s and 168h, on a job only', async () => {
    const job = (deadline: string, schedule = '    schedule: "0 3 * * *"\n') => `app: app\nservices:\n  backup:\n    image: local/busybox:1\n${schedule}    starting_deadline: ${deadline}\n`;
    assert.equal((await load({ 'app.yaml': job('6h') })).apps[0].services[0].job?.startingDeadlineMs, 6 * 3_600_000);
    assert.match(await problems({ 'app.yaml': job('200h') }), /^app\.yaml:6:24: services\.backup\.starting_deadline: 200h is not between 1s and 168h \(a week\) \[JOB_INVALID\]$/);
    assert.match(await problems({ 'app.yaml': job('soon') }), /^app\.yaml:6:24: services\.backup\.starting_deadline: /);
    assert.match(await problems({ 'app.yaml': job('1h', '') }), /^app\.yaml:5:5: services\.backup\.starting_deadline: starting_deadline applies to a scheduled job only/);
  });

  it('restart_max_retries: only with on-failure; a job retries a failed run only a bounded number of times', async () => {
    const native = (fields: string) => problems({ 'app.yaml': `app: app\nservices:\n  web:\n    image: local/busybox:1\n${fields}` });
    assert.equal(await native('    restart: on-failure\n    restart_max_retries: 3\n'), '');
    assert.match(await native('    restart: always\n    restart_max_retries: 3\n'), /^app\.yaml:6:5: services\.web\.restart_max_retries: Docker limits restarts only with restart: on-failure \(this service has always\).*\[RESTART_INVALID\]$/);
    assert.match(await native('    restart_max_retries: 3\n'), /this service has unless-stopped/);
    assert.match(await native('    restart: on-failure\n    restart_max_retries: 0\n'), /^app\.yaml:6:26: services\.web\.restart_max_retries: /);
    const job = '    schedule: "0 3 * * *"\n';
    assert.equal(await native(`    restart: on-failure\n    restart_max_retries: 2\n${job}`), '');
    assert.match(await native(`    restart: on-failure\n${job}`), /^app\.yaml:5:14: services\.web\.restart: a scheduled job retries a failed run a bounded number of times: add restart_max_retries .*\[JOB_INVALID\]$/);
    assert.match(await native(`    restart: always\n${job}`), /never restarted.*\[JOB_INVALID\]$/);
    const web = (await load({ 'app.yaml': `app: app\nservices:\n  web:\n    image: local/busybox:1\n    restart: on-failure\n    restart_max_retries: 2\n${job}` })).apps[0].services[0];
    assert.deepEqual([web.restart, web.restartMaxRetries, web.replicas], ['on-failure', 2, 0]);
    const compose = (await load({ 'shop/compose.yaml': 'services:\n  sweep:\n    image: local/busybox:1\n    restart: on-failure:2\n    x-capstan: {schedule: "0 3 * * *"}\n' })).apps[0].services[0];
    assert.deepEqual([compose.restart, compose.restartMaxRetries], ['on-failure', 2], 'Compose on-failure:N is a job\'s retries');
  });

  it('Compose: x-capstan: {schedule, concurrency} under a service', async () => {
    const desired = await load({ 'shop/compose.yaml': 'services:\n  sweep:\n    image: local/busybox:1\n    x-capstan:\n      schedule: "*/5 * * * *"\n      concurrency: allow\n' });
    assert.deepEqual(desired.apps[0].services[0].job, { schedule: '*/5 * * * *', concurrency: 'allow' });
  });

  it('refuses a bad schedule, an unknown zone, restart and replicas on a job, and waiting for a job, naming file, line and key', async () => {
    const text = await problems({
      'shop.yaml': [
        'app: shop',
        'services:',
        '  backup:',
        '    image: local/busybox:1',
        '    schedule: "every night"',
        '    timezone: Mars/Olympus',
        '    restart: always',
        '    replicas: 2',
        '  web:',
        '    image: local/busybox:1',
        '    concurrency: allow',
        '    depends_on: [backup]',
        '    timeout: 5m',
        '  sweep:',
        '    image: local/busybox:1',
        '    schedule: "0 * * * *"',
        '    timeout: 25h',
        '',
      ].join('\n'),
    });
    assert.match(text, /shop\.yaml:5:\d+: services\.backup\.schedule: .*not a cron expression/);
    assert.match(text, /shop\.yaml:6:\d+: services\.backup\.timezone: .*IANA/);
    assert.match(text, /shop\.yaml:7:\d+: services\.backup\.restart: .*never restarted/);
    assert.match(text, /shop\.yaml:8:\d+: services\.backup\.replicas: /);
    assert.match(text, /shop\.yaml:11:\d+: services\.web\.concurrency: .*scheduled job only/);
    assert.match(text, /services\.web\.depends_on: .*'backup' is a scheduled job/);
    assert.match(text, /shop\.yaml:13:\d+: services\.web\.timeout: .*scheduled job only/);
    assert.match(text, /shop\.yaml:17:\d+: services\.sweep\.timeout: 25h is not between 1s and 24h/);
  });

  it('reads timeout into the job, outside the config hash', async () => {
    const manifest = (timeout: string) => `app: shop\nservices:\n  backup:\n    image: local/busybox:1\n    schedule: "0 3 * * *"\n${timeout}`;
    const limited = (await load({ 'shop.yaml': manifest('    timeout: 90m\n') })).apps[0].services[0];
    assert.deepEqual(limited.job, { schedule: '0 3 * * *', concurrency: 'forbid', timeoutMs: 5_400_000 });
    assert.equal((await load({ 'shop.yaml': manifest('') })).apps[0].services[0].configHash, limited.configHash);
  });
});

describe('a scheduled job in the containers planner and in `capstan plan`', () => {
  const job = { schedule: '0 3 * * *', concurrency: 'forbid' as const, timezone: 'UTC' };

  it('plans no replica for a job, and removes the replica of a service that became one', () => {
    const backup = service('backup', { job, replicas: 0, restart: 'no' });
    const fresh = plan(desired(app('shop', [service('web'), backup])), observed([container('shop', 'web', 1)]));
    assert.deepEqual(fresh.operations, []);
    assert.match(printPlan(fresh), /in sync, nothing to do/);
    const turned = plan(desired(app('shop', [service('web'), backup])), observed([container('shop', 'web', 1), container('shop', 'backup', 1)]));
    assert.deepEqual(turned.operations.map((operation) => `${operation.kind} ${'container' in operation ? operation.container.name : ''}: ${operation.cause}`), [
      'stop-container shop-backup-1: scaled down to 0',
      'remove-container shop-backup-1: scaled down to 0',
    ]);
  });

  it('shows each job\'s next runs, and whether this commit changes its definition', () => {
    const state = desired(app('shop', [service('web'), service('backup', { job, replicas: 0, restart: 'no', configHash: HASH_B })]));
    const previews = previewJobs(state, at('2026-12-05T17:00:00Z'), new Map([['shop/backup', HASH_A]]));
    assert.equal(
      printJobs(previews),
      [
        'scheduled jobs (never started by a deploy; each run is one container):',
        '  shop/backup  "0 3 * * *" (UTC, concurrency forbid)  definition changed: the next run after this commit is applied uses it',
        '    next runs: 2026-12-06T03:00:00.000Z, 2026-12-07T03:00:00.000Z, 2026-12-08T03:00:00.000Z',
        '',
      ].join('\n'),
    );
    assert.equal(printJobs(previewJobs(desired(app('shop', [service('web')])), 0, new Map())), '');
  });
});

describe('a scheduled job on Swarm', () => {
  it('is refused by name: only the containers target runs jobs', () => {
    const backup = service('backup', { job: { schedule: '0 3 * * *', concurrency: 'forbid' }, replicas: 0, restart: 'no' });
    const problems = unsupportedFields(app('shop', [backup]), backup, new Map());
    assert.deepEqual(problems.map((problem) => problem.message.replace(/ \(.*?\): /, ': ').split(';')[0]), ['service shop/backup: schedule: scheduled jobs run on the containers target, whose agent starts each run']);
  });
});

// Scheduled jobs on the real engine (issue 22): a job runs at the times of an injected clock,
// never beside itself (concurrency: forbid), a failed run is recorded with its output and
// queued as a `job-failed` notification, deploys and drift repair never start it, and a run
// left by an agent killed with -9 is closed at the next start: no orphan, recorded interrupted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../agent/cli/config.js';
import { createJobRunner, createReconciler } from '../../agent/cli/wiring.js';
import type { Clock } from '../../agent/clock.js';
import { JobRunStore, type JobRun } from '../../agent/jobs/store.js';
import type { JobRunner } from '../../agent/jobs/runner.js';
import type { JobDecision } from '../../agent/jobs/decide.js';
import type { DesiredState } from '../../agent/model.js';
import { createLogger } from '../../agent/log.js';
import { SecretRegistry } from '../../agent/secret-registry.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';
import { stopProcess } from '../helpers/cli.js';
import { docker, exec, listManaged, TEST_IMAGE, waitFor } from '../helpers/docker.js';
import { agentFor, type Agent } from '../helpers/fixture.js';

const at = (text: string) => new Date(text).getTime();

/** A clock the test moves by hand; sleeping is real (the runner only sleeps to retry Docker). */
function handClock(start: string): Clock & { set(text: string): void } {
  let now = at(start);
  return { now: () => now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), set: (text) => void (now = at(text)) };
}

function manifest(app: string): string {
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    `    image: ${TEST_IMAGE}`,
    '    command: [sleep, "3600"]',
    '  tick:',
    `    image: ${TEST_IMAGE}`,
    // Runs until the test lets it finish: overlap is decided by the clock, not by a race.
    '    command: [sh, -c, "echo tick started; while [ ! -f /tmp/done ]; do sleep 0.2; done; echo tick done"]',
    '    schedule: "* * * * *"',
    '    timezone: UTC',
    '  broken:',
    `    image: ${TEST_IMAGE}`,
    '    command: [sh, -c, "echo backup failed: disk full >&2; exit 3"]',
    '    schedule: "*/2 * * * *"',
    '    timezone: UTC',
    '',
  ].join('\n');
}

/**
 * An every-minute job's first run: the look at the clock's 10:00:30 marks where the schedule is
 * read from, the one at 10:01:02 finds 10:01 due. Returns that look's decisions.
 */
async function firstMinuteRun(runner: JobRunner, clock: Clock & { set(text: string): void }, desired: DesiredState | undefined): Promise<JobDecision[]> {
  await runner.tick(desired);
  clock.set('2026-12-05T10:01:02Z');
  return runner.tick(desired);
}

/** The run once its row is closed and the runner holds nothing more of it (bounded: 60 s). */
async function recordedRun(runner: JobRunner, runs: JobRunStore, id: number): Promise<JobRun> {
  await waitFor(() => (runs.get(id)?.state === 'running' ? undefined : true), { timeoutMs: 60_000, what: 'the run to be recorded' });
  await runner.settled();
  return runs.get(id)!;
}

async function inProcess(agent: Agent, clock: Clock, env: Record<string, string> = {}) {
  const config = resolveConfig({}, agent.env({ CAPSTAN_NOTIFY: 'webhook+http://127.0.0.1:9/capstan-test', ...env }));
  const db = openDb(join(agent.state.path, 'capstan.db'));
  const store = new StateStore(db);
  const secrets = new SecretRegistry();
  const logger = createLogger({ level: 'warn', destination: 2, pretty: false });
  const reconciler = await createReconciler(config, store, logger, secrets);
  const runner = createJobRunner(config, db, logger, secrets, clock);
  return { db, store, runner, reconciler, runs: new JobRunStore(db) };
}

const summary = (runs: JobRun[]) => runs.map((run) => `${run.service} ${run.scheduledAt} ${run.state}${run.exitCode === null ? '' : ` ${run.exitCode}`}`).sort();

describe('scheduled jobs on the real engine', () => {
  it('runs at the injected clock\'s times, never beside itself, records and notifies a failure; deploys never start it', async (t) => {
    const agent = await agentFor(t, { app: 'jobs' });
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app) });
    const deployed = await agent.capstan('once');
    assert.equal(deployed.code, 0, deployed.stderr);
    // A job has no replica: the deploy ran only web.
    assert.deepEqual((await agent.managed()).map((container) => container.name), [`${agent.app}-web-1`]);

    const clock = handClock('2026-12-05T10:00:30Z');
    const { db, runner, reconciler, runs } = await inProcess(agent, clock);
    try {
      const desired = await reconciler.appliedDesired();
      assert.ok(desired, 'the applied commit loads');
      // First look of this state dir: nothing is due, times are counted from now.
      assert.deepEqual(await runner.tick(desired), []);

      clock.set('2026-12-05T10:01:05Z');
      const first = await runner.tick(desired);
      assert.deepEqual(first.map((decision) => `${decision.action} ${decision.service}`), ['start tick']);
      const [tickRun] = runs.running(agent.node);
      const running = await waitFor(async () => (await listManaged(agent.node)).find((container) => container.name === `${agent.app}-tick-run-${tickRun.id}` && container.state === 'running'), {
        timeoutMs: 60_000,
        what: 'the tick run to be running',
      });
      assert.equal(running.labels['capstan.job-run'], String(tickRun.id));

      // 10:02: tick is due again while its 10:01 run still runs (forbid: skipped); broken is due.
      clock.set('2026-12-05T10:02:03Z');
      const second = await runner.tick(desired);
      assert.deepEqual(second.map((decision) => `${decision.action} ${decision.service}`).sort(), ['skip tick', 'start broken']);
      await waitFor(() => runs.recent(agent.node, 10, { app: agent.app, service: 'broken' }).find((run) => run.state !== 'running'), { timeoutMs: 60_000, what: 'the broken run to be recorded' });
      const tickContainers = (await listManaged(agent.node)).filter((container) => container.service === 'tick');
      assert.equal(tickContainers.length, 1, 'never two runs of tick at once');

      // Drift repair while a run is in flight: the cycle neither starts the job nor touches its run.
      const cycle = await agent.capstan('once');
      assert.equal(cycle.code, 0, cycle.stderr);
      assert.match(cycle.stdout + cycle.stderr, /"result":"in-sync"/);
      assert.equal((await listManaged(agent.node)).filter((container) => container.service === 'tick').length, 1);

      await exec(running.id, ['touch', '/tmp/done']);
      await runner.settled();

      const recorded = runs.recent(agent.node, 20);
      assert.deepEqual(summary(recorded), [
        'broken 2026-12-05T10:02:00.000Z failed 3',
        'tick 2026-12-05T10:01:00.000Z succeeded 0',
        'tick 2026-12-05T10:02:00.000Z skipped',
      ]);
      const broken = recorded.find((run) => run.service === 'broken')!;
      assert.match(broken.output ?? '', /backup failed: disk full/);
      assert.equal(broken.message, 'exited 3');
      const tick = recorded.find((run) => run.service === 'tick' && run.state === 'succeeded')!;
      assert.match(tick.output ?? '', /tick started[\s\S]*tick done/);
      assert.match(recorded.find((run) => run.state === 'skipped')!.message ?? '', /concurrency: forbid/);

      const events = (db.prepare('SELECT event FROM notifications').all() as { event: string }[]).map((row) => JSON.parse(row.event) as { kind: string; app: string; service: string; message: string });
      const failed = events.filter((event) => event.kind === 'job-failed');
      assert.equal(failed.length, 1, JSON.stringify(events));
      assert.equal(failed[0].service, 'broken');
      assert.match(failed[0].message, /exited 3/);

      // Output recorded, containers gone: only web remains.
      assert.deepEqual((await listManaged(agent.node)).map((container) => container.name), [`${agent.app}-web-1`]);

      // status: each job's last run, a failure with its output; history --jobs: every run.
      const status = await agent.capstan('status');
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`scheduled jobs:[\\s\\S]*${agent.app}/broken\\s+2026-12-05T10:02:00.000Z\\s+failed\\s+3`));
      assert.match(status.stdout, new RegExp(`${agent.app}\\s+tick\\s+scheduled job`));
      assert.match(status.stdout, /last output of .*broken run \d+ \(exit code 3\):\n  \| backup failed: disk full/);
      const history = await agent.capstan('history', '--jobs');
      assert.equal(history.code, 0, history.stderr);
      assert.match(history.stdout, new RegExp(`${agent.app}/tick\\s+2026-12-05T10:02:00.000Z\\s+schedule\\s+skipped`));
      const oneJob = JSON.parse((await agent.capstan('history', '--jobs', `${agent.app}/tick`, '--json')).stdout) as JobRun[];
      assert.deepEqual(oneJob.map((run) => run.state), ['skipped', 'succeeded']);
      // plan: nothing to do for the jobs, their next runs shown.
      const plan = await agent.capstan('plan');
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stdout, new RegExp(`scheduled jobs[^\\n]*\\n  ${agent.app}/broken  "\\*/2 \\* \\* \\* \\*" \\(UTC, concurrency forbid\\)\\n    next runs: \\S+Z, \\S+Z, \\S+Z`));

      // Between times nothing starts.
      clock.set('2026-12-05T10:02:40Z');
      assert.deepEqual(await runner.tick(desired), []);
    } finally {
      await runner.stop();
      db.close();
    }
  });

  it('a run past its timeout is stopped, recorded timed-out with its output, and notified', async (t) => {
    const agent = await agentFor(t, { app: 'jobtimeout' });
    await agent.push({
      [`${agent.app}.yaml`]: [
        `app: ${agent.app}`,
        'services:',
        '  slow:',
        `    image: ${TEST_IMAGE}`,
        '    command: [sh, -c, "echo slow started; sleep 3600"]',
        '    schedule: "* * * * *"',
        '    timezone: UTC',
        '    timeout: 30s',
        '    stop_grace_period: 1s',
        '',
      ].join('\n'),
    });
    const deployed = await agent.capstan('once');
    assert.equal(deployed.code, 0, deployed.stderr);
    const clock = handClock('2026-12-05T10:00:30Z');
    const { db, runner, reconciler, runs } = await inProcess(agent, clock);
    try {
      const desired = await reconciler.appliedDesired();
      assert.equal(desired?.apps[0].services[0].job?.timeoutMs, 30_000);
      assert.deepEqual((await firstMinuteRun(runner, clock, desired)).map((decision) => decision.action), ['start']);
      const [run] = runs.running(agent.node);
      await waitFor(async () => (await listManaged(agent.node)).find((container) => container.name === `${agent.app}-slow-run-${run.id}` && container.state === 'running'), {
        timeoutMs: 60_000,
        what: 'the slow run to be running',
      });
      // Within its timeout on the agent's clock: still running.
      clock.set('2026-12-05T10:01:20Z');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(runs.get(run.id)?.state, 'running');
      // Past it: stopped and recorded.
      clock.set('2026-12-05T10:01:33Z');
      const recorded = await recordedRun(runner, runs, run.id);
      assert.equal(recorded.state, 'timed-out');
      assert.equal(recorded.message, 'did not finish within 30 s (timeout): stopped');
      assert.match(recorded.output ?? '', /slow started/);
      assert.deepEqual((await listManaged(agent.node)).filter((container) => container.service === 'slow'), [], 'its container is removed');
      const events = (db.prepare('SELECT event FROM notifications').all() as { event: string }[]).map((row) => JSON.parse(row.event) as { kind: string; reason?: string; message: string });
      const failed = events.filter((event) => event.kind === 'job-failed');
      assert.equal(failed.length, 1, JSON.stringify(events));
      assert.equal(failed[0].reason, 'JOB_TIMED_OUT');
      assert.match(failed[0].message, /did not finish within 30 s/);
      const status = await agent.capstan('status');
      assert.match(status.stdout, new RegExp(`${agent.app}/slow\\s+2026-12-05T10:01:00.000Z\\s+timed-out`));
      assert.match(status.stdout, /slow started/);
    } finally {
      await runner.stop();
      db.close();
    }
  });

  it('a failed run with restart: on-failure and restart_max_retries is retried by Docker that many times, then recorded with every attempt\'s output', async (t) => {
    const agent = await agentFor(t, { app: 'jobretry' });
    await agent.push({
      [`${agent.app}.yaml`]: [
        `app: ${agent.app}`,
        'services:',
        '  flaky:',
        `    image: ${TEST_IMAGE}`,
        '    command: [sh, -c, "echo attempt at $$(date +%s%N); exit 3"]',
        '    schedule: "* * * * *"',
        '    timezone: UTC',
        '    restart: on-failure',
        '    restart_max_retries: 2',
        '',
      ].join('\n'),
    });
    const deployed = await agent.capstan('once');
    assert.equal(deployed.code, 0, deployed.stderr);
    const clock = handClock('2026-12-05T10:00:30Z');
    const { db, runner, reconciler, runs } = await inProcess(agent, clock);
    try {
      const desired = await reconciler.appliedDesired();
      const flaky = desired?.apps[0].services[0];
      assert.equal(flaky?.restart, 'on-failure');
      assert.equal(flaky?.restartMaxRetries, 2);
      assert.deepEqual((await firstMinuteRun(runner, clock, desired)).map((decision) => decision.action), ['start']);
      const [run] = runs.running(agent.node);
      const recorded = await recordedRun(runner, runs, run.id);
      assert.equal(recorded.state, 'failed');
      assert.equal(recorded.exitCode, 3);
      assert.equal(recorded.message, 'exited 3 after 2 retries');
      assert.equal((recorded.output ?? '').match(/attempt at/g)?.length, 3, `one first attempt and two retries: ${recorded.output}`);
      assert.deepEqual((await listManaged(agent.node)).filter((container) => container.service === 'flaky'), [], 'its container is removed');
    } finally {
      await runner.stop();
      db.close();
    }
  });

  it('kill -9 while a job runs: the next start stops its container and records the run interrupted', async (t) => {
    const agent = await agentFor(t, { app: 'jobkill' });
    await agent.push({
      [`${agent.app}.yaml`]: [
        `app: ${agent.app}`,
        'services:',
        '  long:',
        `    image: ${TEST_IMAGE}`,
        '    command: [sh, -c, "echo long started; sleep 3600"]',
        // Every second (a 6th, leading field): the agent's second look at its jobs starts a run.
        '    schedule: "* * * * * *"',
        '',
      ].join('\n'),
    });
    const running = agent.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '0']);
    let container;
    try {
      container = await waitFor(async () => (await listManaged(agent.node)).find((candidate) => candidate.service === 'long' && candidate.state === 'running'), {
        timeoutMs: 90_000,
        what: 'a run of the job to be running',
      });
    } finally {
      await stopProcess(running, { signal: 'SIGKILL', timeoutMs: 10_000 });
    }
    const runId = Number(container.labels['capstan.job-run']);
    const clock = handClock('2026-12-05T12:00:00Z');
    const { db, runner, runs } = await inProcess(agent, clock);
    try {
      assert.equal(runs.get(runId)?.state, 'running', 'the killed agent left its run open');
      await runner.recover();
      assert.deepEqual((await listManaged(agent.node)).filter((candidate) => candidate.service === 'long'), [], 'no orphan run container');
      await assert.rejects(docker.getContainer(container.id).inspect(), /no such container/i);
      const run = runs.get(runId)!;
      assert.equal(run.state, 'interrupted');
      assert.match(run.message ?? '', /agent stopped while it ran/);
      assert.match(run.output ?? '', /long started/);
      assert.deepEqual(runs.running(agent.node), []);
    } finally {
      await runner.stop();
      db.close();
    }
  });

  it('SIGTERM while a job runs: the agent stops the run, records it interrupted and removes its container', async (t) => {
    const agent = await agentFor(t, { app: 'jobterm' });
    await agent.push({
      [`${agent.app}.yaml`]: [`app: ${agent.app}`, 'services:', '  long:', `    image: ${TEST_IMAGE}`, '    command: [sh, -c, "echo long started; sleep 3600"]', '    schedule: "* * * * * *"', ''].join('\n'),
    });
    const running = agent.spawn(['run', '--schedule', '0 0 1 1 *', '--poll-interval', '0']);
    let container;
    try {
      container = await waitFor(async () => (await listManaged(agent.node)).find((candidate) => candidate.service === 'long' && candidate.state === 'running'), {
        timeoutMs: 90_000,
        what: 'a run of the job to be running',
      });
    } finally {
      const stopped = await stopProcess(running, { signal: 'SIGTERM', timeoutMs: 60_000 });
      assert.equal(stopped.killed, false, 'the agent stopped on SIGTERM by itself');
    }
    assert.deepEqual((await listManaged(agent.node)).filter((candidate) => candidate.service === 'long'), [], 'no run container left');
    const db = openDb(join(agent.state.path, 'capstan.db'));
    try {
      const runs = new JobRunStore(db);
      const run = runs.get(Number(container.labels['capstan.job-run']))!;
      assert.equal(run.state, 'interrupted');
      assert.equal(run.message, 'the agent stopped while it ran');
      assert.match(run.output ?? '', /long started/);
      assert.deepEqual(runs.running(agent.node), []);
    } finally {
      db.close();
    }
  });

  it('a run that prints a secret value: its output, message and notification hold it redacted, the state dir nowhere', async (t) => {
    const agent = await agentFor(t, { app: 'jobleak' });
    const SENTINEL = `S3NT1NEL-job-${randomBytes(6).toString('hex')}`;
    const keys = await agent.tempDir('capstan-job-keys');
    const env = { CAPSTAN_KEY_FILE: join(keys.path, 'capstan.keys') };
    assert.equal((await agent.run(['secrets', 'keygen'], { env })).code, 0);
    mkdirSync(join(agent.repo.workDir, 'apps'), { recursive: true });
    assert.equal((await agent.run(['secrets', 'set', join(agent.repo.workDir, 'apps', 'tool.env'), 'TOOL'], { env, stdin: `${SENTINEL}\n` })).code, 0);
    await agent.push({
      [`apps/${agent.app}.yaml`]: [`app: ${agent.app}`, 'env_files: [tool.env]', 'services:', '  leak:', `    image: ${TEST_IMAGE}`, '    environment: { TOOL: "${TOOL}" }', '    command: [sh, -c, "echo token is $$TOOL; exit 1"]', '    schedule: "* * * * *"', '    timezone: UTC', ''].join('\n'),
    });
    const deployed = await agent.run(['once'], { env });
    assert.equal(deployed.code, 0, deployed.stderr);

    const clock = handClock('2026-12-05T10:00:30Z');
    const { db, runner, reconciler, runs } = await inProcess(agent, clock, env);
    try {
      const desired = await reconciler.appliedDesired();
      await firstMinuteRun(runner, clock, desired);
      await runner.settled();
      const [run] = runs.recent(agent.node, 5);
      assert.equal(run.state, 'failed');
      assert.match(run.output ?? '', /token is \[redacted\]/);
      const events = (db.prepare('SELECT event FROM notifications').all() as { event: string }[]).map((row) => row.event).join('\n');
      assert.match(events, /job-failed/);
      assert.ok(!events.includes(SENTINEL));
    } finally {
      await runner.stop();
      db.close();
    }
    const status = await agent.run(['status', '--json'], { env });
    const history = await agent.run(['history', '--jobs', '--json'], { env });
    for (const output of [status, history]) assert.ok(!output.stdout.includes(SENTINEL) && !output.stderr.includes(SENTINEL), 'no command output holds the value');
    for (const file of readdirSync(agent.state.path)) {
      const path = join(agent.state.path, file);
      if (statSync(path).isFile()) assert.ok(!readFileSync(path).includes(SENTINEL), `${file} holds no value`);
    }
  });
});

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { stopProcess } from '../helpers/cli.js';
import { docker, listManaged, waitFor } from '../helpers/docker.js';
import { agentFor, type Agent } from '../helpers/fixture.js';

// Issue 22: depends_on conditions on first deploys and rollouts, `restart: true`, and the app's
// pre_deploy / post_deploy hook jobs, on the real engine.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

/**
 * db (healthy once it has run a second), an init one-shot, web waiting on both, and hooks. web's
 * own command fails unless the pre_deploy job wrote /data/migrated first: its start proves the order.
 */
function stack(app: string, options: { version: string; dbVersion?: string; pre?: string; post?: string; restart?: boolean }): string {
  const hooks = options.pre || options.post ? `hooks:\n${options.pre ? `  pre_deploy:\n    - name: migrate\n      service: web\n      command: ${options.pre}\n      timeout: 60s\n` : ''}${options.post ? `  post_deploy:\n    - name: smoke\n      service: web\n      command: ${options.post}\n` : ''}` : '';
  return `app: ${app}
volumes:
  data: { shared: true }
${hooks}services:
  db:
    image: local/busybox:1
    command: ${SLEEPER}
    environment: { VERSION: "${options.dbVersion ?? '1'}" }
    healthcheck: { test: ["CMD", "true"], interval: 1s, retries: 3 }
  init:
    image: local/busybox:1
    command: ["sh", "-c", "sleep 1; date +%s > /data/init"]
    restart: "no"
    volumes: ["data:/data"]
    update: { monitor: 1s }
  web:
    image: local/busybox:1
    command: ["sh", "-c", "test -f /data/migrated || exit 9; trap 'exit 0' TERM; sleep 3600 & wait"]
    environment: { VERSION: "${options.version}" }
    volumes: ["data:/data"]
    depends_on:
      db: { condition: service_healthy${options.restart ? ', restart: true' : ''} }
      init: { condition: service_completed_successfully }
    update: { monitor: 1s }
`;
}

const MIGRATE = `["sh", "-c", "echo migrating; test -f /data/init && date +%s > /data/migrated"]`;

function hookRuns(agent: Agent): { commit_id: string; phase: string; job: string; result: string; exit_code: number | null }[] {
  const db = new Database(join(agent.state.path, 'capstan.db'), { readonly: true });
  try {
    return db.prepare('SELECT commit_id, phase, job, result, exit_code FROM hook_runs ORDER BY id').all() as never;
  } finally {
    db.close();
  }
}

async function inspect(agent: Agent, name: string) {
  const found = (await listManaged(agent.node)).find((container) => container.name === name);
  assert.ok(found, `container ${name} exists`);
  return docker.getContainer(found.id).inspect();
}

async function status(agent: Agent) {
  const result = await agent.capstan('status', '--json');
  return JSON.parse(result.stdout);
}

function hookContainers(containers: { name: string }[]): string[] {
  return containers.map((container) => container.name).filter((name) => name.includes('.pre_deploy.') || name.includes('.post_deploy.'));
}

describe('ordering and hooks', () => {
  it('first deploy: db healthy and init completed before web; pre_deploy before web, post_deploy after; once per commit', async (t) => {
    const agent = await agentFor(t, { app: 'order' });
    const commit = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE, post: '["sh", "-c", "test -f /data/migrated"]' }) });
    const plan = await agent.capstan('plan');
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /run pre_deploy job migrate \(web: local\/busybox:1\) in .+\.pre_deploy\.migrate/);
    assert.match(plan.stdout, /run post_deploy job smoke/);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);

    const db = await inspect(agent, `${agent.app}-db-1`);
    const init = await inspect(agent, `${agent.app}-init-1`);
    const web = await inspect(agent, `${agent.app}-web-1`);
    assert.equal(init.State.ExitCode, 0);
    assert.equal(web.State.Running, true, 'web started: the migration ran before it');
    assert.ok(Date.parse(web.Created) >= Date.parse(init.State.FinishedAt), `web created ${web.Created} after init finished ${init.State.FinishedAt}`);
    assert.ok(Date.parse(web.Created) > Date.parse(db.State.StartedAt), 'web created after db started');
    assert.equal(db.State.Health?.Status, 'healthy');
    assert.deepEqual(hookRuns(agent).map((run) => [run.commit_id, run.phase, run.job, run.result]), [
      [commit, 'pre_deploy', 'migrate', 'passed'],
      [commit, 'post_deploy', 'smoke', 'passed'],
    ]);
    assert.deepEqual(hookContainers(await agent.managed()), [], 'hook containers are removed');
    // Labelled as Capstan's while they ran (observe lists only those): none left, none unlabelled.
    const stray = await docker.listContainers({ all: true, filters: { name: [`^/${agent.app}\\.`] } });
    assert.deepEqual(stray.map((container) => container.Names[0]), []);

    const again = await agent.capstan('once');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(hookRuns(agent).length, 2, 'an in-sync cycle on the same commit runs no job again');
  });

  it('a failing pre_deploy migration replaces nothing, quarantines the commit and keeps its output', async (t) => {
    const agent = await agentFor(t, { app: 'pre' });
    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const before = (await agent.managed()).map((container) => container.id);

    const bad = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '2', pre: '["sh", "-c", "echo relation users does not exist; exit 3"]' }) });
    const result = await agent.capstan('once');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /pre_deploy job migrate of .+ exited with code 3/);
    // Said as it is: nothing was replaced, so nothing was rolled back.
    assert.match(result.stderr, /PRE_DEPLOY_FAILED/);
    assert.match(result.stderr, /pre_deploy failed, nothing replaced: .+; commit quarantined, [0-9a-f]{12} keeps running/);
    assert.doesNotMatch(result.stderr, /rolled back|ROLLED_BACK/);
    assert.deepEqual((await agent.managed()).map((container) => container.id), before, 'the old version keeps serving: nothing was replaced');
    assert.equal((await inspect(agent, `${agent.app}-web-1`)).State.Running, true);
    assert.deepEqual(hookContainers(await agent.managed()), []);

    const report = await status(agent);
    assert.ok(report.quarantined.some((entry: { commit: string }) => entry.commit === bad), 'the commit is quarantined');
    const text = await agent.capstan('status');
    assert.match(text.stdout, /last output of hook job .+\.pre_deploy\.migrate \(exit code 3\)/);
    assert.match(text.stdout, /relation users does not exist/);
    const history = await agent.capstan('history', bad.slice(0, 12));
    assert.match(history.stdout, /relation users does not exist/);
    assert.match(history.stdout, /PRE_DEPLOY_FAILED/);
    assert.match(history.stdout, /hook .+ pre_deploy migrate: failed \(exit code 3\)/);
    assert.deepEqual(hookRuns(agent).filter((run) => run.commit_id === bad).map((run) => [run.result, run.exit_code]), [['failed', 3]]);

    const next = await agent.capstan('once');
    assert.match(next.stdout + next.stderr, /quarantined/);
    assert.equal(hookRuns(agent).filter((run) => run.commit_id === bad).length, 1, 'a quarantined commit runs no job again');
  });

  it('a commit that changes only a hook job runs the app\'s hooks once, replacing nothing', async (t) => {
    const agent = await agentFor(t, { app: 'hookonly' });
    const smoke = '["sh", "-c", "test -f /data/migrated"]';
    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE, post: smoke }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const before = (await agent.managed()).map((container) => container.id).sort();

    const changed = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE.replace('echo migrating', 'echo migrating to 2'), post: smoke }) });
    const plan = await agent.capstan('plan');
    assert.match(plan.stdout, /run pre_deploy job migrate/);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(hookRuns(agent).filter((run) => run.commit_id === changed).map((run) => [run.phase, run.job, run.result]), [
      ['pre_deploy', 'migrate', 'passed'],
      ['post_deploy', 'smoke', 'passed'],
    ]);
    assert.deepEqual((await agent.managed()).map((container) => container.id).sort(), before, 'no replica is replaced for a hook job');
    assert.equal((await agent.capstan('once')).code, 0);
    assert.equal(hookRuns(agent).filter((run) => run.commit_id === changed).length, 2, 'once per commit');

    // A failing changed job: the commit is quarantined, nothing was replaced, and it says so.
    const bad = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: '["sh", "-c", "echo no such table; exit 4"]', post: smoke }) });
    const failed = await agent.capstan('once');
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /PRE_DEPLOY_FAILED/);
    assert.deepEqual((await agent.managed()).map((container) => container.id).sort(), before);
    assert.ok((await status(agent)).quarantined.some((entry: { commit: string }) => entry.commit === bad));
    // Converging the last applied commit again runs none of its jobs: they are what was applied.
    assert.deepEqual(hookRuns(agent).filter((run) => run.commit_id !== bad).length, 4);
  });

  it('a pre_deploy job past its timeout is killed and fails the first deploy: web is never created', async (t) => {
    const agent = await agentFor(t, { app: 'timeout' });
    const bad = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: '["sh", "-c", "echo still migrating; sleep 600"]' }).replace('timeout: 60s', 'timeout: 2s') });
    const result = await agent.capstan('once');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /pre_deploy job migrate of .+ did not finish within 2 s \(timeout\) and was killed/);
    const names = (await agent.managed()).map((container) => container.name);
    assert.ok(!names.includes(`${agent.app}-web-1`), `web is not created: ${names.join(', ')}`);
    assert.deepEqual(hookContainers(await agent.managed()), []);
    assert.deepEqual(hookRuns(agent).map((run) => [run.commit_id, run.result]), [[bad, 'timed-out']]);
    assert.ok((await status(agent)).quarantined.some((entry: { commit: string }) => entry.commit === bad));
    assert.match((await agent.capstan('status')).stdout, /still migrating/);
  });

  it('a failing post_deploy smoke test rolls the app back', async (t) => {
    const agent = await agentFor(t, { app: 'post' });
    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const good = (await inspect(agent, `${agent.app}-web-1`)).Config.Labels!['capstan.config-hash'];

    const bad = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '2', pre: MIGRATE, post: '["sh", "-c", "echo smoke test: 502 from web; exit 1"]' }) });
    const result = await agent.capstan('once');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /post_deploy job smoke of .+ exited with code 1/);
    const web = await inspect(agent, `${agent.app}-web-1`);
    assert.equal(web.Config.Labels!['capstan.config-hash'], good, 'web runs the last applied config again');
    assert.equal(web.State.Running, true);
    const report = await status(agent);
    assert.ok(report.quarantined.some((entry: { commit: string }) => entry.commit === bad));
    assert.match((await agent.capstan('history', bad.slice(0, 12))).stdout, /smoke test: 502 from web/);
    assert.deepEqual(hookRuns(agent).filter((run) => run.commit_id === bad).map((run) => [run.phase, run.result]), [['pre_deploy', 'passed'], ['post_deploy', 'failed']]);
    assert.deepEqual(hookContainers(await agent.managed()), []);
  });

  it('restart: true restarts a dependent after its dependency was replaced and is healthy again', async (t) => {
    const agent = await agentFor(t, { app: 'restart' });
    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: MIGRATE, restart: true }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const web = await inspect(agent, `${agent.app}-web-1`);

    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', dbVersion: '2', pre: MIGRATE, restart: true }) });
    const plan = await agent.capstan('plan');
    assert.match(plan.stdout, /dependency db replaced \(depends_on restart: true\)/);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const db = await inspect(agent, `${agent.app}-db-1`);
    const after = await inspect(agent, `${agent.app}-web-1`);
    assert.equal(after.Id, web.Id, 'web is restarted, not replaced');
    assert.equal(after.State.Running, true);
    assert.ok(Date.parse(after.State.StartedAt) > Date.parse(db.Created), `web started ${after.State.StartedAt} after the new db was created ${db.Created}`);
    assert.ok(Date.parse(after.State.StartedAt) > Date.parse(web.State.StartedAt));

    // Without restart: true, the same change leaves web running as it was.
    await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', dbVersion: '3', pre: MIGRATE }) });
    assert.equal((await agent.capstan('once')).code, 0);
    assert.equal((await inspect(agent, `${agent.app}-web-1`)).State.StartedAt, after.State.StartedAt);
  });

  it('kill -9 during a pre_deploy job: the next cycle removes its container and runs the job again', async (t) => {
    const agent = await agentFor(t, { app: 'crash' });
    const slow = `["sh", "-c", "sleep 6; test -f /data/init && date +%s > /data/migrated"]`;
    const commit = await agent.push({ [`${agent.app}.yaml`]: stack(agent.app, { version: '1', pre: slow }) });
    const running = agent.spawn(['run', '--schedule', '0 0 1 1 *']);
    try {
      await waitFor(async () => hookContainers(await agent.managed()).length > 0 || undefined, { timeoutMs: 120_000, what: 'the hook job container' });
    } finally {
      await stopProcess(running, { signal: 'SIGKILL', timeoutMs: 10_000 });
    }
    assert.deepEqual(hookRuns(agent).map((run) => run.result), ['running']);
    const recovered = await agent.capstan('once');
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.deepEqual(hookContainers(await agent.managed()), [], 'no orphan hook container');
    assert.deepEqual(hookRuns(agent).map((run) => [run.commit_id, run.result]), [[commit, 'running'], [commit, 'passed']]);
    assert.equal((await inspect(agent, `${agent.app}-web-1`)).State.Running, true);
  });
});

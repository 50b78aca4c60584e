import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import type { HookJob } from '../../agent/model.js';
import { app, container, desired, HASH_A, HASH_B, observed, service } from '../helpers/model.js';

// Golden plans for the app's hook jobs and depends_on restart: true (issue 22).

function golden(actual: string, expected: string): void {
  assert.equal(actual, expected.replace(/^\n/, ''));
}

const job = (phase: HookJob['phase'], name: string, service = 'web'): HookJob => ({ phase, name, service, command: ['./run'], timeoutMs: 60_000, environment: {} });
const hooks = { preDeploy: [job('pre_deploy', 'migrate')], postDeploy: [job('post_deploy', 'smoke')] };
const stack = () =>
  app('shop', [service('db', { healthcheck: { test: ['CMD', 'true'] } }), service('web', { dependsOn: [{ service: 'db', condition: 'service_healthy' }] })], [], { hooks });

describe('plan: hook jobs', () => {
  it('rollout: db (what the job needs) first, then the migration, then web; the smoke test once all are ready', () => {
    const host = observed([container('shop', 'db', 1, { id: 'db1', configHash: HASH_A }), container('shop', 'web', 1, { id: 'web1', configHash: HASH_A })]);
    golden(
      printPlan(plan(desired(stack()), host, { appliedHashes: new Map([['shop/db', HASH_A], ['shop/web', HASH_A]]) })),
      `
plan for commit c0ffee000000 on node n1: 14 operation(s)
    1. create container shop-db-1--next                    config-hash changed (aaaaaaaa → bbbbbbbb)
    2. start container shop-db-1--next                     replacement starts beside the old one  (after 1)
    3. wait until shop-db-1--next is ready                 must report healthy  (after 2)
    4. stop container shop-db-1                            config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3)
    5. remove container shop-db-1                          config-hash changed (aaaaaaaa → bbbbbbbb)  (after 4)
    6. rename container shop-db-1--next → shop-db-1        replacement takes the replica name  (after 3, 5)
    7. run pre_deploy job migrate (web: local/busybox:1) in shop.pre_deploy.migrate, timeout 60 s pre_deploy: before any replica of the app is replaced  (after 3)
    8. create container shop-web-1--next                   config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3, 7)
    9. start container shop-web-1--next                    replacement starts beside the old one  (after 8)
   10. wait until shop-web-1--next is ready                must keep running 5000 ms (update.monitor)  (after 9)
   11. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 10)
   12. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 11)
   13. rename container shop-web-1--next → shop-web-1      replacement takes the replica name  (after 10, 12)
   14. run post_deploy job smoke (web: local/busybox:1) in shop.post_deploy.smoke, timeout 60 s post_deploy: once every replica of the app is ready  (after 6, 7, 13)
`,
    );
  });

  it('runs nothing on drift repair, for a job already passed, or when the app does not roll out', () => {
    const applied = new Map([['shop/db', HASH_B], ['shop/web', HASH_B]]);
    const drift = plan(desired(stack()), observed([container('shop', 'db', 1)]), { appliedHashes: applied });
    assert.ok(!drift.operations.some((operation) => operation.kind === 'run-hook'), 'a missing web replica is drift, not a rollout');
    const host = observed([container('shop', 'db', 1, { configHash: HASH_A }), container('shop', 'web', 1, { configHash: HASH_A })]);
    const passed = plan(desired(stack()), { ...host, hooksDone: ['shop/pre_deploy/migrate'] }, { appliedHashes: new Map([['shop/db', HASH_A]]) });
    assert.deepEqual(passed.operations.filter((operation) => operation.kind === 'run-hook').map((operation) => operation.kind === 'run-hook' && operation.job), ['smoke']);
  });

  it('runs the hooks of an app whose only change is a hook job, replacing nothing; an unknown (null) record is unchanged', () => {
    const applied = new Map([['shop/db', HASH_B], ['shop/web', HASH_B]]);
    const host = observed([container('shop', 'db', 1), container('shop', 'web', 1)]);
    const app = { ...stack(), hooksHash: 'hooks-2' };
    const jobsOf = (appliedHooks: Map<string, string | null>) =>
      plan(desired(app), host, { appliedHashes: applied, appliedHooks }).operations.map((operation) => (operation.kind === 'run-hook' ? operation.job : operation.kind));
    assert.deepEqual(jobsOf(new Map([['shop', 'hooks-1']])), ['migrate', 'smoke']);
    assert.deepEqual(jobsOf(new Map([['shop', 'hooks-2']])), []);
    assert.deepEqual(jobsOf(new Map([['shop', null]])), [], 'a state recorded before hooks hashes were kept runs no hook again');
    assert.deepEqual(jobsOf(new Map([['shop', '']])), ['migrate', 'smoke'], 'hooks added to a running app run');
  });

  it('removes a hook container left by a killed agent before the job runs again', () => {
    const leftover = container('shop', 'web', Number.NaN, { id: 'hook1', name: 'shop.pre_deploy.migrate', state: 'running' });
    const result = plan(desired(app('shop', [service('web')], [], { hooks: { preDeploy: [job('pre_deploy', 'migrate')], postDeploy: [] } })), {
      ...observed([container('shop', 'web', 1, { configHash: HASH_A })]),
      hookContainers: [leftover],
    });
    const text = printPlan(result);
    assert.match(text, /1\. stop container shop\.pre_deploy\.migrate +hook job container left by an interrupted run/);
    assert.match(text, /3\. run pre_deploy job migrate .*\(after 2\)/);
  });
});

describe('plan: depends_on restart: true', () => {
  const restarting = () =>
    app('shop', [service('db'), service('web', { dependsOn: [{ service: 'db', condition: 'service_started', restart: true }] })]);

  it('restarts the kept dependent once its dependency was replaced and started', () => {
    const host = observed([container('shop', 'db', 1, { id: 'db1', configHash: HASH_A }), container('shop', 'web', 1, { id: 'web1', configHash: HASH_B })]);
    const text = printPlan(plan(desired(restarting()), host));
    assert.match(text, /7\. stop container shop-web-1 +dependency db replaced \(depends_on restart: true\)  \(after 2\)/);
    assert.match(text, /8\. start container shop-web-1 +dependency db replaced \(depends_on restart: true\)  \(after 7\)/);
  });

  it('after a crash: restarts a dependent that started before its dependency was created, and only then', () => {
    const db = container('shop', 'db', 1, { id: 'db1', configHash: HASH_B, createdAt: 2_000 });
    const early = plan(desired(restarting()), observed([db, container('shop', 'web', 1, { id: 'web1', configHash: HASH_B, startedAt: 1_000 })]));
    assert.deepEqual(early.operations.map((operation) => operation.kind), ['stop-container', 'start-container']);
    const late = plan(desired(restarting()), observed([db, container('shop', 'web', 1, { id: 'web1', configHash: HASH_B, startedAt: 3_000 })]));
    assert.deepEqual(late.operations, []);
    const without = app('shop', [service('db'), service('web', { dependsOn: [{ service: 'db', condition: 'service_started' }] })]);
    const noRestart = plan(desired(without), observed([container('shop', 'db', 1, { configHash: HASH_A }), container('shop', 'web', 1, { configHash: HASH_B })]));
    assert.ok(!noRestart.operations.some((operation) => 'container' in operation && operation.container.service === 'web'), 'without restart: true web is left alone');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plan } from '../../agent/targets/containers/plan.js';
import { describe as describeOperation, printPlan } from '../../agent/targets/containers/print.js';
import { app, container, desired, HASH_A, HASH_B, observed, service, type DesiredState } from '../helpers/model.js';

// Golden plans, as in docker/compose's reconcile_test.go: build the observed state by hand,
// compare the printed plan. The printer is the one `capstan plan` uses.

function golden(actual: string, expected: string): void {
  assert.equal(actual, expected.replace(/^\n/, ''));
}

describe('plan', () => {
  it('creates network, volume and containers on an empty host', () => {
    const state = desired(
      app('shop', [service('db', { mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: false }] }), service('web', { replicas: 2 })], [
        { name: 'data', dockerName: 'shop_data', labels: {} },
      ]),
    );
    golden(
      printPlan(plan(state, observed([], { networks: [] }))),
      `
plan for commit c0ffee000000 on node n1: 11 operation(s)
    1. create network shop_default                         network missing
    2. create volume shop_data                             volume missing
    3. create container shop-db-1                          container missing  (after 1, 2)
    4. start container shop-db-1                           new container  (after 3)
    5. wait until shop-db-1 is ready                       must keep running 5000 ms (update.monitor)  (after 4)
    6. create container shop-web-1                         container missing  (after 1)
    7. start container shop-web-1                          new container  (after 6)
    8. wait until shop-web-1 is ready                      must keep running 5000 ms (update.monitor)  (after 7)
    9. create container shop-web-2                         container missing  (after 1)
   10. start container shop-web-2                          new container  (after 9)
   11. wait until shop-web-2 is ready                      must keep running 5000 ms (update.monitor)  (after 10)
`,
    );
  });

  it('is empty when everything matches', () => {
    const result = plan(desired(app('shop', [service('web', { replicas: 2 })])), observed([container('shop', 'web', 1), container('shop', 'web', 2)]));
    assert.deepEqual(result.operations, []);
    assert.deepEqual(result.problems, []);
    golden(printPlan(result), '\nplan for commit c0ffee000000 on node n1: in sync, nothing to do\n');
  });

  it('replaces changed replicas one after another, start-first: create next, start, wait ready, stop and remove old, rename', () => {
    const result = plan(
      desired(app('shop', [service('web', { replicas: 2 })])),
      observed([container('shop', 'web', 1, { id: 'old1', configHash: HASH_A }), container('shop', 'web', 2, { id: 'old2', configHash: HASH_A })]),
    );
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 12 operation(s)
    1. create container shop-web-1--next                   config-hash changed (aaaaaaaa → bbbbbbbb)
    2. start container shop-web-1--next                    replacement starts beside the old one  (after 1)
    3. wait until shop-web-1--next is ready                must keep running 5000 ms (update.monitor)  (after 2)
    4. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3)
    5. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 4)
    6. rename container shop-web-1--next → shop-web-1      replacement takes the replica name  (after 3, 5)
    7. create container shop-web-2--next                   config-hash changed (aaaaaaaa → bbbbbbbb)  (after 6)
    8. start container shop-web-2--next                    replacement starts beside the old one  (after 7)
    9. wait until shop-web-2--next is ready                must keep running 5000 ms (update.monitor)  (after 8)
   10. stop container shop-web-2                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 9)
   11. remove container shop-web-2                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 10)
   12. rename container shop-web-2--next → shop-web-2      replacement takes the replica name  (after 9, 11)
`,
    );
    // Existing containers are addressed by id, new ones by name.
    assert.equal(result.operations[3].kind === 'stop-container' && result.operations[3].container.ref, 'old1');
    assert.equal(result.operations[0].kind === 'create-container' && result.operations[0].container.ref, 'shop-web-1--next');
  });

  it('touches only the changed service', () => {
    const result = plan(
      desired(app('shop', [service('api'), service('web', { configHash: HASH_B })])),
      observed([container('shop', 'api', 1), container('shop', 'web', 1, { configHash: HASH_A })]),
    );
    assert.ok(result.operations.length > 0);
    assert.ok(result.operations.every((operation) => !('container' in operation) || operation.container.service === 'web'));
  });

  it('restores drift: starts a stopped container and recreates a removed one', () => {
    golden(
      printPlan(
        plan(desired(app('shop', [service('web', { replicas: 2 })])), observed([container('shop', 'web', 1, { state: 'exited', exitCode: 137 })])),
      ),
      `
plan for commit c0ffee000000 on node n1: 4 operation(s)
    1. start container shop-web-1                          container exited (drift)
    2. create container shop-web-2                         container missing
    3. start container shop-web-2                          new container  (after 2)
    4. wait until shop-web-2 is ready                      must keep running 5000 ms (update.monitor)  (after 3)
`,
    );
  });

  it('leaves a one-shot that exited 0 alone, but restarts one that failed', () => {
    const oneShot = service('migrate', { restart: 'no' });
    assert.deepEqual(plan(desired(app('shop', [oneShot])), observed([container('shop', 'migrate', 1, { state: 'exited', exitCode: 0 })])).operations, []);
    assert.equal(plan(desired(app('shop', [oneShot])), observed([container('shop', 'migrate', 1, { state: 'exited', exitCode: 1 })])).operations.length, 1);
    // A long-running service that exited 0 is still drift.
    assert.equal(plan(desired(app('shop', [service('web')])), observed([container('shop', 'web', 1, { state: 'exited', exitCode: 0 })])).operations.length, 1);
  });

  it('prunes removed services, scaled-down replicas and removed apps, never volumes', () => {
    const state = desired(app('shop', [service('web', { replicas: 1 })]));
    const current = observed(
      [
        container('shop', 'web', 1),
        container('shop', 'web', 2),
        container('shop', 'worker', 1, { state: 'exited', exitCode: 1 }),
        container('blog', 'web', 1),
      ],
      { volumes: [{ name: 'blog_data', app: 'blog' }] },
    );
    golden(
      printPlan(plan(state, current)),
      `
plan for commit c0ffee000000 on node n1: 6 operation(s)
    1. stop container shop-web-2                           scaled down to 1
    2. remove container shop-web-2                         scaled down to 1  (after 1)
    3. remove container shop-worker-1                      service removed from repo
    4. stop container blog-web-1                           app removed from repo
    5. remove container blog-web-1                         app removed from repo  (after 4)
    6. remove network blog_default                         app removed from repo  (after 5)
`,
    );
  });

  it('finishes a replacement interrupted after the old container was stopped', () => {
    const result = plan(
      desired(app('shop', [service('web')])),
      observed([
        container('shop', 'web', 1, { id: 'old', configHash: HASH_A, state: 'exited', exitCode: 0 }),
        container('shop', 'web', 1, { id: 'new', name: 'shop-web-1--next', configHash: HASH_B, state: 'created' }),
      ]),
    );
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 4 operation(s)
    1. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)
    2. rename container shop-web-1--next → shop-web-1      finish interrupted replacement  (after 1)
    3. start container shop-web-1                          container created but not started  (after 1, 2)
    4. wait until shop-web-1 is ready                      interrupted rollout, not proven ready: must keep running 5000 ms (update.monitor)  (after 3)
`,
    );
  });

  it('removes a leftover next container with an old hash before creating over its name', () => {
    const result = plan(
      desired(app('shop', [service('web')])),
      observed([
        container('shop', 'web', 1, { id: 'old', configHash: HASH_A }),
        container('shop', 'web', 1, { id: 'stale', name: 'shop-web-1--next', configHash: 'cccccccc', state: 'created' }),
      ]),
    );
    assert.deepEqual(
      result.operations.map((operation) => [operation.kind, 'container' in operation ? operation.container.ref : '', operation.after]),
      [
        ['remove-container', 'stale', []],
        ['create-container', 'shop-web-1--next', [1]],
        ['start-container', 'shop-web-1--next', [2]],
        ['wait-ready', 'shop-web-1--next', [3]],
        ['stop-container', 'old', [4]],
        ['remove-container', 'old', [5]],
        ['rename-container', 'shop-web-1--next', [4, 6]],
      ],
    );
  });

  it('pulls a missing image before creating, and stops nothing before the pull', () => {
    const result = plan(
      desired(app('shop', [service('web', { image: 'registry.local/web:2' })])),
      observed([container('shop', 'web', 1, { configHash: HASH_A })]),
    );
    assert.equal(result.operations[0].kind, 'pull-image');
    const create = result.operations.find((operation) => operation.kind === 'create-container')!;
    const ready = result.operations.find((operation) => operation.kind === 'wait-ready')!;
    const stop = result.operations.find((operation) => operation.kind === 'stop-container')!;
    assert.deepEqual(create.after, [1]);
    assert.deepEqual(stop.after, [ready.id], 'the old container stops only once the new one is ready');
  });

  it('treats `image` and `image:latest` as the same image', () => {
    const result = plan(desired(app('shop', [service('web', { image: 'busybox' })])), observed([container('shop', 'web', 1)], { images: ['busybox:latest'] }));
    assert.deepEqual(result.operations, []);
  });

  it('refuses to prune everything when a commit renders no services', () => {
    const current = observed([container('shop', 'web', 1)]);
    const refused = plan(desired(), current);
    assert.equal(refused.operations.length, 0);
    assert.equal(refused.problems[0].code, 'EMPTY_DESIRED_STATE');
    assert.match(printPlan(refused), /blocked by 1 problem/);
    const allowed = plan(desired(), current, { allowEmpty: true });
    assert.deepEqual(allowed.problems, []);
    assert.deepEqual(
      allowed.operations.map((operation) => operation.kind),
      ['stop-container', 'remove-container', 'remove-network'],
    );
  });

  it('refuses to create over names held by objects Capstan does not own', () => {
    const result = plan(
      desired(app('shop', [service('web')], [{ name: 'data', dockerName: 'shop_data', labels: {} }])),
      observed([], { networks: [], foreign: { containers: ['shop-web-1'], networks: ['shop_default'], volumes: ['shop_data'] } }),
    );
    assert.deepEqual(result.operations, []);
    assert.deepEqual(
      result.problems.map((problem) => problem.code),
      ['NAME_CONFLICT', 'NAME_CONFLICT', 'NAME_CONFLICT'],
    );
    assert.match(result.problems[2].message, /container 'shop-web-1'/);
  });

  it('removes containers with a garbled replica label', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([container('shop', 'web', 1), container('shop', 'web', Number.NaN, { name: 'x' })]));
    assert.deepEqual(
      result.operations.map((operation) => `${operation.kind} ${operation.cause}`),
      ['stop-container replica label missing', 'remove-container replica label missing'],
    );
  });

  it('rolls out stop-first when a fixed host port cannot be bound twice, and says so', () => {
    const web = service('web', { ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    golden(
      printPlan(plan(desired(app('shop', [web])), observed([container('shop', 'web', 1, { configHash: HASH_A })]))),
      `
plan for commit c0ffee000000 on node n1: 6 operation(s)
    1. create container shop-web-1--next                   config-hash changed (aaaaaaaa → bbbbbbbb); stop-first: host port 8080 cannot be bound twice
    2. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 1)
    3. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 2)
    4. rename container shop-web-1--next → shop-web-1      replacement takes the replica name  (after 1, 3)
    5. start container shop-web-1                          replacement  (after 4)
    6. wait until shop-web-1 is ready                      must keep running 5000 ms (update.monitor)  (after 5)
`,
    );
  });

  it('replaces in batches of `parallelism`, each batch after the previous one is ready plus `delay`', () => {
    const web = service('web', {
      replicas: 3,
      healthcheck: { test: ['CMD', 'true'] },
      update: { order: 'start-first', parallelism: 2, delayMs: 1500, monitorMs: 1000, failureAction: 'rollback', progressDeadlineMs: 60_000 },
    });
    const result = plan(desired(app('shop', [web])), observed([1, 2, 3].map((replica) => container('shop', 'web', replica, { configHash: HASH_A }))));
    const creates = result.operations.filter((operation) => operation.kind === 'create-container');
    const readies = result.operations.filter((operation) => operation.kind === 'wait-ready');
    assert.deepEqual(creates[0].after, []);
    assert.deepEqual(creates[1].after, [], 'replicas 1 and 2 form the first batch');
    assert.equal(creates[2].after.length, 2, 'replica 3 waits for both replicas of the first batch');
    assert.deepEqual(
      readies.map((operation) => operation.kind === 'wait-ready' && [operation.delayMs, operation.cause]),
      [
        [1500, 'must report healthy, then pause 1500 ms (update.delay)'],
        [1500, 'must report healthy, then pause 1500 ms (update.delay)'],
        [0, 'must report healthy'],
      ],
    );
  });
});

describe('plan: networks, volumes, order, sidecars, builds and runtimes (issue 5)', () => {
  const networksOf = (...names: string[]) => names.map((name) => ({ id: `net-${name}`, name, app: name.split(/[._]/)[0] }));

  it('creates each app network and a grant network, and creates containers after the networks they join', () => {
    const state = desired(
      app('api', [service('api', { uses: [{ app: 'db', service: 'postgres' }] })]),
      app('db', [service('admin'), service('postgres')]),
    );
    golden(
      printPlan(plan(state, observed([], { networks: [] }))),
      `
plan for commit c0ffee000000 on node n1: 12 operation(s)
    1. create network api_default                          network missing
    2. create network db.postgres.grant                    network missing (granted: db/postgres)
    3. create network db_default                           network missing
    4. create container api-api-1                          container missing  (after 1, 2)
    5. start container api-api-1                           new container  (after 4)
    6. wait until api-api-1 is ready                       must keep running 5000 ms (update.monitor)  (after 5)
    7. create container db-admin-1                         container missing  (after 3)
    8. start container db-admin-1                          new container  (after 7)
    9. wait until db-admin-1 is ready                      must keep running 5000 ms (update.monitor)  (after 8)
   10. create container db-postgres-1                      container missing  (after 2, 3)
   11. start container db-postgres-1                       new container  (after 10)
   12. wait until db-postgres-1 is ready                   must keep running 5000 ms (update.monitor)  (after 11)
`,
    );
    const grant = plan(state, observed([], { networks: [] })).operations[1];
    assert.equal(grant.kind === 'create-network' && grant.internal, true, 'a grant network is internal');
  });

  it('changes grants live: connects and disconnects running containers, then removes the unused network', () => {
    const state = desired(app('api', [service('api', { uses: [{ app: 'db' }] })]), app('db', [service('admin'), service('postgres')]));
    const current = observed(
      [
        container('api', 'api', 1, { networks: ['api_default', 'db.postgres.grant'] }),
        container('db', 'admin', 1),
        container('db', 'postgres', 1, { networks: ['db.postgres.grant', 'db_default'] }),
      ],
      { networks: networksOf('api_default', 'db.postgres.grant', 'db_default') },
    );
    golden(
      printPlan(plan(state, current)),
      `
plan for commit c0ffee000000 on node n1: 4 operation(s)
    1. connect api-api-1 to db_default                     network missing from the container
    2. disconnect api-api-1 from db.postgres.grant         network no longer granted
    3. disconnect db-postgres-1 from db.postgres.grant     network no longer granted
    4. remove network db.postgres.grant                    network no longer used  (after 2, 3)
`,
    );
  });

  it('never disconnects a container from a network Capstan does not own', () => {
    const current = observed([container('shop', 'web', 1, { networks: ['shop_default', 'monitoring'] })]);
    assert.deepEqual(plan(desired(app('shop', [service('web')])), current).operations, []);
  });

  it('egress: false adds the app an internal network that its other services join too', () => {
    const state = desired(app('sealed', [service('box', { egress: false }), service('peer')]));
    golden(
      printPlan(plan(state, observed([container('sealed', 'peer', 1)]))),
      `
plan for commit c0ffee000000 on node n1: 5 operation(s)
    1. create network sealed_internal                      network missing
    2. create container sealed-box-1                       container missing  (after 1)
    3. start container sealed-box-1                        new container  (after 2)
    4. wait until sealed-box-1 is ready                    must keep running 5000 ms (update.monitor)  (after 3)
    5. connect sealed-peer-1 to sealed_internal            network missing from the container  (after 1)
`,
    );
  });

  it('rolls out a single-writer volume stop-first and says why; a shared one stays start-first', () => {
    const db = service('db', { mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: false }] });
    const current = () => observed([container('shop', 'db', 1, { configHash: HASH_A, volumes: ['shop_data'] })], { volumes: [{ name: 'shop_data', app: 'shop' }] });
    golden(
      printPlan(plan(desired(app('shop', [db], [{ name: 'data', dockerName: 'shop_data', labels: {} }])), current())),
      `
plan for commit c0ffee000000 on node n1: 6 operation(s)
    1. create container shop-db-1--next                    config-hash changed (aaaaaaaa → bbbbbbbb); stop-first: volume data has a single writer (not shared)
    2. stop container shop-db-1                            config-hash changed (aaaaaaaa → bbbbbbbb)  (after 1)
    3. remove container shop-db-1                          config-hash changed (aaaaaaaa → bbbbbbbb)  (after 2)
    4. rename container shop-db-1--next → shop-db-1        replacement takes the replica name  (after 1, 3)
    5. start container shop-db-1                           replacement  (after 4)
    6. wait until shop-db-1 is ready                       must keep running 5000 ms (update.monitor)  (after 5)
`,
    );
    const shared = plan(desired(app('shop', [db], [{ name: 'data', dockerName: 'shop_data', labels: {}, shared: true }])), current());
    assert.equal(shared.operations[1].kind, 'start-container', 'start-first: the new replica starts beside the old one');
    const readOnly = service('db', { mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: true }] });
    assert.equal(plan(desired(app('shop', [readOnly], [{ name: 'data', dockerName: 'shop_data', labels: {} }])), current()).operations[1].kind, 'start-container');
  });

  it('removes a volume marked remove: true once the containers mounting it are gone, and never creates it', () => {
    const volumes = [{ name: 'data', dockerName: 'shop_data', labels: {}, remove: true }];
    const current = observed([container('shop', 'web', 1, { configHash: HASH_A, volumes: ['shop_data'] })], { volumes: [{ name: 'shop_data', app: 'shop' }] });
    const result = plan(desired(app('shop', [service('web')], volumes)), current);
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 7 operation(s)
    1. create container shop-web-1--next                   config-hash changed (aaaaaaaa → bbbbbbbb)
    2. start container shop-web-1--next                    replacement starts beside the old one  (after 1)
    3. wait until shop-web-1--next is ready                must keep running 5000 ms (update.monitor)  (after 2)
    4. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3)
    5. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 4)
    6. rename container shop-web-1--next → shop-web-1      replacement takes the replica name  (after 3, 5)
    7. remove volume shop_data                             manifest says remove: true  (after 5)
`,
    );
    const gone = plan(desired(app('shop', [service('web')], volumes)), observed([container('shop', 'web', 1)]));
    assert.deepEqual(gone.operations, [], 'an absent volume is neither created nor removed');
    const foreign = plan(desired(app('shop', [service('web')], volumes)), observed([container('shop', 'web', 1)], { foreign: { containers: [], networks: [], volumes: ['shop_data'] } }));
    assert.deepEqual([foreign.problems, foreign.operations], [[], []], 'a volume Capstan does not own is never removed');
  });

  it('orders creation by depends_on: healthy and completed dependencies gate on readiness', () => {
    const state = desired(
      app('shop', [
        service('web', {
          dependsOn: [
            { service: 'db', condition: 'service_healthy' },
            { service: 'migrate', condition: 'service_completed_successfully' },
          ],
        }),
        service('db', { healthcheck: { test: ['CMD', 'true'] } }),
        service('migrate', { restart: 'no' }),
      ]),
    );
    const result = plan(state, observed([], { networks: networksOf('shop_default') }));
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 9 operation(s)
    1. create container shop-db-1                          container missing
    2. start container shop-db-1                           new container  (after 1)
    3. wait until shop-db-1 is ready                       must report healthy  (after 2)
    4. create container shop-migrate-1                     container missing
    5. start container shop-migrate-1                      new container  (after 4)
    6. wait until shop-migrate-1 is ready                  must exit 0 (a dependent waits for it to complete)  (after 5)
    7. create container shop-web-1                         container missing  (after 3, 6)
    8. start container shop-web-1                          new container  (after 7)
    9. wait until shop-web-1 is ready                      must keep running 5000 ms (update.monitor)  (after 8)
`,
    );
    const migrateReady = result.operations[5];
    assert.equal(migrateReady.kind === 'wait-ready' && migrateReady.completion, true);
    const started = plan(
      desired(app('shop', [service('web', { dependsOn: [{ service: 'db', condition: 'service_started' }] }), service('db')])),
      observed([], { networks: networksOf('shop_default') }),
    );
    const webCreate = started.operations.find((operation) => operation.kind === 'create-container' && operation.container.service === 'web')!;
    assert.deepEqual(webCreate.after, [2], 'service_started waits for the start only');
    const running = plan(
      desired(app('shop', [service('web', { dependsOn: [{ service: 'db', condition: 'service_healthy' }] }), service('db', { healthcheck: { test: ['CMD', 'true'] } })])),
      observed([container('shop', 'db', 1, { health: 'healthy' })]),
    );
    assert.deepEqual(running.operations.find((operation) => operation.kind === 'create-container')!.after, [], 'a dependency already healthy is not waited for');
    // Issue 22: one that runs but does not meet the condition now is waited for, as Compose
    // waits for running dependencies too: here a one-shot still running.
    const oneShot = () =>
      desired(app('shop', [service('web', { dependsOn: [{ service: 'migrate', condition: 'service_completed_successfully' }] }), service('migrate', { restart: 'no' })]));
    const unfinished = plan(oneShot(), observed([container('shop', 'migrate', 1)]));
    golden(
      printPlan(unfinished),
      `
plan for commit c0ffee000000 on node n1: 4 operation(s)
    1. wait until shop-migrate-1 is ready                  web depends on it: must exit 0 before web is created
    2. create container shop-web-1                         container missing  (after 1)
    3. start container shop-web-1                          new container  (after 2)
    4. wait until shop-web-1 is ready                      must keep running 5000 ms (update.monitor)  (after 3)
`,
    );
    const waited = unfinished.operations[0];
    assert.equal(waited.kind === 'wait-ready' && waited.serving && waited.completion, true, 'its failure is the host\'s, not the commit\'s');
    assert.deepEqual(plan(oneShot(), observed([container('shop', 'migrate', 1), container('shop', 'web', 1)])).operations, [], 'nothing waits when the dependent creates nothing');
    const done = observed([container('shop', 'migrate', 1, { state: 'exited', exitCode: 0 })]);
    assert.deepEqual(plan(oneShot(), done).operations.find((operation) => operation.kind === 'create-container')!.after, [], 'a one-shot that exited 0 is not waited for');
  });

  const sidecarApp = () => app('shop', [service('web'), service('proxy', { networkMode: { kind: 'service', service: 'web' }, configHash: 'dddddddd44444444' })]);

  it('replaces a sidecar after its parent, in the new parent\'s namespace', () => {
    const current = observed([
      container('shop', 'web', 1, { id: 'web1', configHash: HASH_A }),
      container('shop', 'proxy', 1, { configHash: 'cccccccc33333333', networks: [], networkMode: 'container:web1' }),
    ]);
    golden(
      printPlan(plan(desired(sidecarApp()), current)),
      `
plan for commit c0ffee000000 on node n1: 12 operation(s)
    1. create container shop-web-1--next                   config-hash changed (aaaaaaaa → bbbbbbbb)
    2. start container shop-web-1--next                    replacement starts beside the old one  (after 1)
    3. wait until shop-web-1--next is ready                must keep running 5000 ms (update.monitor)  (after 2)
    4. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3)
    5. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 4)
    6. rename container shop-web-1--next → shop-web-1      replacement takes the replica name  (after 3, 5)
    7. create container shop-proxy-1--next                 config-hash changed (cccccccc → dddddddd)  (after 6)
    8. start container shop-proxy-1--next                  replacement starts beside the old one  (after 7)
    9. wait until shop-proxy-1--next is ready              must keep running 5000 ms (update.monitor)  (after 8)
   10. stop container shop-proxy-1                         config-hash changed (cccccccc → dddddddd)  (after 9)
   11. remove container shop-proxy-1                       config-hash changed (cccccccc → dddddddd)  (after 10)
   12. rename container shop-proxy-1--next → shop-proxy-1  replacement takes the replica name  (after 9, 11)
`,
    );
  });

  it('replaces a sidecar whose parent was recreated after drift, and restarts one whose parent was started again', () => {
    const orphan = observed([container('shop', 'proxy', 1, { configHash: 'dddddddd44444444', networks: [], networkMode: 'container:gone' })]);
    const recreated = plan(desired(sidecarApp()), orphan);
    assert.deepEqual(
      recreated.operations.filter((operation) => operation.kind === 'create-container').map((operation) => `${operation.id} ${describeOperation(operation)}: ${operation.cause} after ${operation.after}`),
      ['1 create container shop-web-1: container missing after ', '4 create container shop-proxy-1--next: parent web has a new container after 3'],
    );
    const inSync = observed([
      container('shop', 'web', 1, { id: 'web1' }),
      container('shop', 'proxy', 1, { configHash: 'dddddddd44444444', networks: [], networkMode: 'container:web1' }),
    ]);
    assert.deepEqual(plan(desired(sidecarApp()), inSync).operations, [], 'a sidecar in its parent\'s namespace is kept');
    const stopped = observed([
      container('shop', 'web', 1, { id: 'web1', state: 'exited', exitCode: 137 }),
      container('shop', 'proxy', 1, { configHash: 'dddddddd44444444', networks: [], networkMode: 'container:web1' }),
    ]);
    golden(
      printPlan(plan(desired(sidecarApp()), stopped)),
      `
plan for commit c0ffee000000 on node n1: 3 operation(s)
    1. start container shop-web-1                          container exited (drift)
    2. stop container shop-proxy-1                         parent container started again: follow it into its network namespace  (after 1)
    3. start container shop-proxy-1                        parent container started again: follow it into its network namespace  (after 2)
`,
    );
  });

  it('builds a missing image before creating, and gives stops the service\'s grace period', () => {
    const build = { context: '/state/checkouts/c0ffee/apps/web', contextPath: 'apps/web', contextDigest: 'sha256:1', dockerfile: 'Dockerfile', args: {} };
    const image = 'capstan/shop-web:0123456789abcdef01234567';
    const web = service('web', { image, build, stopGracePeriodMs: 30_000 });
    const result = plan(desired(app('shop', [web])), observed([container('shop', 'web', 1, { configHash: HASH_A })]));
    assert.equal(printPlan(result).split('\n')[1], `    1. build image ${image} image not present (built from apps/web)`);
    assert.deepEqual(result.operations.find((operation) => operation.kind === 'create-container')!.after, [1]);
    const stop = result.operations.find((operation) => operation.kind === 'stop-container')!;
    assert.equal(stop.kind === 'stop-container' && stop.timeoutSeconds, 30);
    const built = plan(desired(app('shop', [web])), observed([container('shop', 'web', 1)], { images: ['local/busybox:1', image] }));
    assert.deepEqual(built.operations, [], 'an image already built for this context is not built again');
  });

  it('blocks the whole plan on a runtime the engine does not have, and on a foreign grant network', () => {
    const runtime = plan(desired(app('shop', [service('web', { runtime: 'runsc' })])), observed([container('shop', 'web', 1, { configHash: HASH_A })]));
    assert.deepEqual(runtime.operations, []);
    assert.equal(runtime.problems[0].code, 'RUNTIME_UNKNOWN');
    assert.match(runtime.problems[0].message, /service shop\/web \(shop\.yaml:3\) asks for runtime 'runsc', which this Docker engine does not have \(it has io\.containerd\.runc\.v2, runc\)/);
    const foreign = plan(
      desired(app('api', [service('api', { uses: [{ app: 'db', service: 'pg' }] })]), app('db', [service('pg')])),
      observed([], { networks: [], foreign: { containers: [], networks: ['db.pg.grant'], volumes: [] } }),
    );
    assert.deepEqual(foreign.problems.map((problem) => problem.code), ['NAME_CONFLICT']);
    assert.match(foreign.problems[0].message, /network 'db\.pg\.grant' needed by app 'db'/);
  });
});

describe('a plan carries everything execution needs', () => {
  it('gives each create its service spec and endpoints, each start its networks, and prints neither', async () => {
    const { planJson } = await import('../../agent/targets/print.js');
    const secret = 's3cr3t-value-never-printed';
    const web = service('web', { environment: { TOKEN: secret }, user: '1000:1000' });
    const result = plan(desired(app('shop', [web])), observed([]));
    const create = result.operations.find((operation) => operation.kind === 'create-container');
    const start = result.operations.find((operation) => operation.kind === 'start-container');
    assert.ok(create?.kind === 'create-container' && start?.kind === 'start-container');
    assert.equal(create.spec.service.environment.TOKEN, secret);
    assert.deepEqual(create.spec.endpoints.map((endpoint) => endpoint.network), ['shop_default']);
    assert.deepEqual(create.spec.secretOwner, { uid: 1000, gid: 1000 });
    assert.deepEqual(start.networks, ['shop_default']);
    assert.doesNotMatch(printPlan(result), new RegExp(secret));
    const json = planJson(result);
    assert.doesNotMatch(json, new RegExp(secret), '`plan --json` leaves the spec out');
    assert.equal((JSON.parse(json) as { operations: object[] }).operations.length, result.operations.length);
  });

  it('names the mirror a pull goes to, and the tag it takes after', () => {
    const mirrored: DesiredState = { ...desired(app('shop', [service('web', { image: 'nginx:1' })])), mirrors: { hosts: { 'docker.io': 'registry.local:5000' }, failClosed: true } };
    const pull = plan(mirrored, observed([])).operations.find((operation) => operation.kind === 'pull-image');
    assert.ok(pull?.kind === 'pull-image');
    assert.deepEqual(pull.mirror, { reference: 'registry.local:5000/library/nginx:1', tagAs: { repo: 'nginx', tag: '1' }, failClosed: true });
  });
});

it('keeps agent/load out of every execute stage file', async () => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { repoRoot } = await import('../helpers/paths.js');
  const targets = join(repoRoot(), 'agent', 'targets');
  for (const folder of readdirSync(targets, { withFileTypes: true }).filter((entry) => entry.isDirectory())) {
    for (const file of readdirSync(join(targets, folder.name)).filter((name) => name.startsWith('execute'))) {
      assert.doesNotMatch(readFileSync(join(targets, folder.name, file), 'utf8'), /from '[./]*load\//, `agent/targets/${folder.name}/${file} imports agent/load`);
    }
  }
});

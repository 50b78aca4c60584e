import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { app, container, desired, HASH_A, HASH_B, observed, service, type ObservedContainer, type Service } from '../helpers/model.js';

// Golden plans for a rollout the agent did not live to finish (kill -9): a container at the
// desired hash that SQLite does not record as applied is watched again before it is promoted.

const OLD = HASH_A;
const NEW = HASH_B;

/** Replica `slot` of shop/web, container id `id`, at the new config hash. */
const replica = (id: string, slot: number, overrides: Partial<ObservedContainer> = {}) => container('shop', 'web', slot, { id, ...overrides });

const appliedOld = new Map([['shop/web', OLD]]);

function golden(actual: string, expected: string): void {
  assert.equal(actual, expected.replace(/^\n/, ''));
}

describe('plan: finishing a rollout interrupted by a crash', () => {
  it('start-first, killed while the new replica was watched: watch it again before the old one goes', () => {
    const result = plan(
      desired(app('shop', [service('web')])),
      observed([replica('old', 1, { configHash: OLD }), replica('new', 1, { name: 'shop-web-1--next' })]),
      { appliedHashes: appliedOld },
    );
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 4 operation(s)
    1. wait until shop-web-1--next is ready                interrupted rollout, not proven ready: must keep running 5000 ms (update.monitor)
    2. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 1)
    3. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 2)
    4. rename container shop-web-1--next → shop-web-1      finish interrupted replacement  (after 1, 3)
`,
    );
    const wait = result.operations[0];
    assert.ok(wait.kind === 'wait-ready' && wait.resumed === true, 'restarts since creation count against it');
  });

  it('stop-first, killed after the start: the replica under its final name is watched again', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([replica('new', 1)]), { appliedHashes: appliedOld });
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 1 operation(s)
    1. wait until shop-web-1 is ready                      interrupted rollout, not proven ready: must keep running 5000 ms (update.monitor)
`,
    );
  });

  it('stop-first, killed before the start: start, then watch', () => {
    const result = plan(
      desired(app('shop', [service('web')])),
      observed([replica('new', 1, { name: 'shop-web-1--next', state: 'created' })]),
      { appliedHashes: appliedOld },
    );
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 3 operation(s)
    1. rename container shop-web-1--next → shop-web-1      finish interrupted replacement
    2. start container shop-web-1                          container created but not started  (after 1)
    3. wait until shop-web-1 is ready                      interrupted rollout, not proven ready: must keep running 5000 ms (update.monitor)  (after 2)
`,
    );
  });

  it('start-first, killed right after the create: the new replica starts beside the old one, which goes only once it is ready', () => {
    const result = plan(
      desired(app('shop', [service('web')])),
      observed([replica('old', 1, { configHash: OLD }), replica('new', 1, { name: 'shop-web-1--next', state: 'created' })]),
      { appliedHashes: appliedOld },
    );
    golden(
      printPlan(result),
      `
plan for commit c0ffee000000 on node n1: 5 operation(s)
    1. start container shop-web-1--next                    interrupted replacement starts beside the old one
    2. wait until shop-web-1--next is ready                interrupted rollout, not proven ready: must keep running 5000 ms (update.monitor)  (after 1)
    3. stop container shop-web-1                           config-hash changed (aaaaaaaa → bbbbbbbb)  (after 2)
    4. remove container shop-web-1                         config-hash changed (aaaaaaaa → bbbbbbbb)  (after 3)
    5. rename container shop-web-1--next → shop-web-1      finish interrupted replacement  (after 2, 4)
`,
    );
  });

  it('a replica at the applied hash whose health check is starting again (a rollback killed during its watch) is watched, its failure not the commit\'s', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([replica('rollback', 1, { health: 'starting' })]), { appliedHashes: new Map([['shop/web', NEW]]) });
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['wait-ready']);
    const wait = result.operations[0];
    assert.ok(wait.kind === 'wait-ready' && wait.serving === true && wait.resumed !== true, printPlan(result));
    assert.match(printPlan(result), /started again, health check starting/);
  });

  it('the first deploy, killed during its wait (nothing applied yet): watched again', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([replica('new', 1)]), { appliedHashes: new Map() });
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['wait-ready']);
  });

  it('a rollback killed between create and start: the container at the applied hash is started, then watched', () => {
    const result = plan(
      desired(app('shop', [service('web', { configHash: OLD })])),
      observed([replica('rollback', 1, { name: 'shop-web-1', configHash: OLD, state: 'created' })]),
      { appliedHashes: appliedOld },
    );
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['start-container', 'wait-ready']);
  });

  it('a replica at the applied hash is not watched again: an in-sync cycle changes nothing', () => {
    const result = plan(desired(app('shop', [service('web')])), observed([replica('new', 1)]), { appliedHashes: new Map([['shop/web', NEW]]) });
    assert.deepEqual(result.operations, []);
  });

  it('a dependent waits for the replica proven again, not only started', () => {
    const result = plan(
      desired(app('shop', [service('web'), service('api', { dependsOn: [{ service: 'web', condition: 'service_healthy' }] } as Partial<Service>)])),
      observed([replica('new', 1)]),
      { appliedHashes: appliedOld },
    );
    const wait = result.operations.find((operation) => operation.kind === 'wait-ready' && operation.container.name === 'shop-web-1');
    const create = result.operations.find((operation) => operation.kind === 'create-container' && operation.container.service === 'api');
    assert.ok(wait && create && create.after.includes(wait.id), printPlan(result));
  });
});

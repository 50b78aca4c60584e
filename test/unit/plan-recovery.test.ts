import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { App, DesiredState, Service } from '../../agent/model.js';
import type { ObservedContainer, ObservedState } from '../../agent/targets/containers/observe.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';

// Golden plans for a rollout the agent did not live to finish (kill -9): a container at the
// desired hash that SQLite does not record as applied is watched again before it is promoted.

const COMMIT = 'c0ffee0000000000000000000000000000000000';
const OLD = 'aaaaaaaa11111111';
const NEW = 'bbbbbbbb22222222';

function service(name: string, overrides: Partial<Service> = {}): Service {
  return {
    app: 'shop',
    name,
    image: 'local/busybox:1',
    command: ['httpd', '-f'],
    environment: {},
    ports: [],
    mounts: [],
    restart: 'unless-stopped',
    labels: {},
    replicas: 1,
    configHash: NEW,
    source: { file: 'shop.yaml', line: 3 },
    ...overrides,
  };
}

function desired(services: Service[]): DesiredState {
  const app: App = { name: 'shop', source: { file: 'shop.yaml', line: 1 }, services, volumes: [] };
  return { commit: COMMIT, apps: [app] };
}

function container(id: string, replica: number, overrides: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id,
    name: `shop-web-${replica}`,
    app: 'shop',
    service: 'web',
    replica,
    configHash: NEW,
    commit: 'old',
    image: 'local/busybox:1',
    state: 'running',
    exitCode: null,
    health: null,
    networks: ['shop_default'],
    networkMode: 'shop_default',
    volumes: [],
    ...overrides,
  };
}

function observed(containers: ObservedContainer[]): ObservedState {
  return {
    node: 'n1',
    containers,
    networks: [{ id: 'net-shop', name: 'shop_default', app: 'shop' }],
    volumes: [],
    images: ['local/busybox:1'],
    runtimes: ['runc'],
    foreign: { containers: [], networks: [], volumes: [] },
  };
}

const appliedOld = new Map([['shop/web', OLD]]);

function golden(actual: string, expected: string): void {
  assert.equal(actual, expected.replace(/^\n/, ''));
}

describe('plan: finishing a rollout interrupted by a crash', () => {
  it('start-first, killed while the new replica was watched: watch it again before the old one goes', () => {
    const result = plan(
      desired([service('web')]),
      observed([container('old', 1, { configHash: OLD }), container('new', 1, { name: 'shop-web-1--next' })]),
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
    const result = plan(desired([service('web')]), observed([container('new', 1)]), { appliedHashes: appliedOld });
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
      desired([service('web')]),
      observed([container('new', 1, { name: 'shop-web-1--next', state: 'created' })]),
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
      desired([service('web')]),
      observed([container('old', 1, { configHash: OLD }), container('new', 1, { name: 'shop-web-1--next', state: 'created' })]),
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
    const result = plan(desired([service('web')]), observed([container('rollback', 1, { health: 'starting' })]), { appliedHashes: new Map([['shop/web', NEW]]) });
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['wait-ready']);
    const wait = result.operations[0];
    assert.ok(wait.kind === 'wait-ready' && wait.serving === true && wait.resumed !== true, printPlan(result));
    assert.match(printPlan(result), /started again, health check starting/);
  });

  it('the first deploy, killed during its wait (nothing applied yet): watched again', () => {
    const result = plan(desired([service('web')]), observed([container('new', 1)]), { appliedHashes: new Map() });
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['wait-ready']);
  });

  it('a rollback killed between create and start: the container at the applied hash is started, then watched', () => {
    const result = plan(
      desired([service('web', { configHash: OLD })]),
      observed([container('rollback', 1, { name: 'shop-web-1', configHash: OLD, state: 'created' })]),
      { appliedHashes: appliedOld },
    );
    assert.deepEqual(result.operations.map((operation) => operation.kind), ['start-container', 'wait-ready']);
  });

  it('a replica at the applied hash is not watched again: an in-sync cycle changes nothing', () => {
    const result = plan(desired([service('web')]), observed([container('new', 1)]), { appliedHashes: new Map([['shop/web', NEW]]) });
    assert.deepEqual(result.operations, []);
  });

  it('a dependent waits for the replica proven again, not only started', () => {
    const result = plan(
      desired([service('web'), service('api', { dependsOn: [{ service: 'web', condition: 'service_healthy' }] } as Partial<Service>)]),
      observed([container('new', 1)]),
      { appliedHashes: appliedOld },
    );
    const wait = result.operations.find((operation) => operation.kind === 'wait-ready' && operation.container.name === 'shop-web-1');
    const create = result.operations.find((operation) => operation.kind === 'create-container' && operation.container.service === 'api');
    assert.ok(wait && create && create.after.includes(wait.id), printPlan(result));
  });
});

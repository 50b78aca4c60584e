import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anonymousVolumeName } from '../../agent/names.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';
import {
  app,
  COMMIT,
  container as observedContainer,
  desired as desiredState,
  HASH_A,
  observed as observedHost,
  service as baseService,
  type App,
  type DesiredState,
  type ObservedContainer,
  type ObservedState,
  type Service,
} from '../helpers/model.js';

// Anonymous volumes (Compose's `- /app/node_modules`): one per replica slot, kept across the
// slot's replacements as Compose's recreate keeps them, removed only when the manifest says so.

const MOUNT = '/app/node_modules';

/** A service of the Compose app `web` with one anonymous volume. */
const service = (name: string, overrides: Partial<Service> = {}) =>
  baseService(name, { app: 'web', mounts: [{ type: 'anonymous', target: MOUNT, readOnly: false }], source: { file: 'web/compose.yaml', line: 3 }, ...overrides });

const desired = (services: Service[], overrides: Partial<App> = {}) =>
  desiredState(app('web', services, [], { source: { file: 'web/compose.yaml', line: 1 }, ...overrides }));

/** An older replica (hash A) mounting its slot's anonymous volume. */
const container = (serviceName: string, replica: number, overrides: Partial<ObservedContainer> = {}) =>
  observedContainer('web', serviceName, replica, { configHash: HASH_A, volumes: [anonymousVolumeName('web', serviceName, replica, MOUNT)], ...overrides });

const observed = (containers: ObservedContainer[], volumes: ObservedState['volumes']) => 
  observedHost(containers, { networks: [{ id: 'net', name: 'web_default', app: 'web' }], volumes, runtimes: [] });

const volumeOf = (serviceName: string, replica: number) => ({
  name: anonymousVolumeName('web', serviceName, replica, '/app/node_modules'),
  app: 'web',
  slot: { service: serviceName, replica },
});

describe('anonymous volumes', () => {
  it('are named per replica slot and target, deterministically', () => {
    const one = anonymousVolumeName('web', 'app', 1, '/app/node_modules');
    assert.match(one, /^web-app-1_[0-9a-f]{12}$/);
    assert.equal(one, anonymousVolumeName('web', 'app', 1, '/app/node_modules'));
    assert.notEqual(one, anonymousVolumeName('web', 'app', 2, '/app/node_modules'));
    assert.notEqual(one, anonymousVolumeName('web', 'app', 1, '/app/vendor'));
  });

  it('creates each slot its volume before its container, and mounts it by name', () => {
    const printed = printPlan(plan(desired([service('app', { replicas: 2 })]), observed([], [])));
    const first = anonymousVolumeName('web', 'app', 1, '/app/node_modules');
    const second = anonymousVolumeName('web', 'app', 2, '/app/node_modules');
    assert.match(printed, new RegExp(`1\\. create volume ${first} +anonymous volume missing \\(replica 1\\)`));
    assert.match(printed, /2\. create container web-app-1 +container missing {2}\(after 1\)/);
    assert.match(printed, new RegExp(`create volume ${second}`));
    const app = desired([service('app')]).apps[0];
    const options = containerCreateOptions(app, app.services[0], 1, { name: 'web-app-1', node: 'n1', commit: COMMIT, endpoints: [] });
    assert.deepEqual(options.HostConfig?.Mounts, [{ Type: 'volume', Source: first, Target: '/app/node_modules', ReadOnly: false }]);
  });

  it('passes the slot\'s volume to the replacement: stop-first, nothing created or removed', () => {
    const printed = printPlan(plan(desired([service('app')]), observed([container('app', 1)], [volumeOf('app', 1)])));
    assert.doesNotMatch(printed, /create volume|remove volume/);
    assert.match(printed, /stop-first: the anonymous volume at \/app\/node_modules passes to the replacement/);
    // stop-first: the old container is removed before the new one starts.
    const lines = printed.split('\n');
    const removeAt = lines.findIndex((line) => line.includes('remove container web-app-1 '));
    const startAt = lines.findIndex((line) => line.includes('start container web-app-1 '));
    assert.ok(removeAt > 0 && startAt > removeAt, printed);
  });

  it('keeps the volumes of a removed service or replica unless the manifest says remove_anonymous_volumes', () => {
    const state = observed([container('app', 1), container('app', 2), container('old', 1)], [volumeOf('app', 1), volumeOf('app', 2), volumeOf('old', 1)]);
    const kept = printPlan(plan(desired([service('app', { configHash: 'aaaaaaaa11111111' })]), state));
    assert.doesNotMatch(kept, /remove volume/);
    const removed = printPlan(plan(desired([service('app', { configHash: 'aaaaaaaa11111111' })], { removeAnonymousVolumes: true }), state));
    assert.match(removed, new RegExp(`remove volume ${volumeOf('app', 2).name} +anonymous volume no replica mounts any more`));
    assert.match(removed, new RegExp(`remove volume ${volumeOf('old', 1).name}`));
    assert.doesNotMatch(removed, new RegExp(`remove volume ${volumeOf('app', 1).name}`));
    // Each removal waits for the container that mounted it.
    const line = removed.split('\n').find((candidate) => candidate.includes(`remove volume ${volumeOf('old', 1).name}`))!;
    assert.match(line, /\(after \d+\)/);
  });

  it('never removes anything of an app removed from the repository', () => {
    const state = observed([container('app', 1)], [volumeOf('app', 1)]);
    const other: DesiredState = { commit: COMMIT, apps: [{ name: 'other', source: { file: 'other.yaml', line: 1 }, services: [service('x', { app: 'other', mounts: [] })], volumes: [], removeAnonymousVolumes: true }] };
    assert.doesNotMatch(printPlan(plan(other, state)), /remove volume/);
  });

  it('refuses a volume name another owner holds', () => {
    const state = observed([], []);
    state.foreign = { containers: [], networks: [], volumes: [anonymousVolumeName('web', 'app', 1, '/app/node_modules')] };
    const result = plan(desired([service('app')]), state);
    assert.equal(result.problems[0]?.code, 'NAME_CONFLICT');
  });
});

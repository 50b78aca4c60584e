import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { App, DesiredState, Service } from '../../agent/model.js';
import { anonymousVolumeName } from '../../agent/names.js';
import type { ObservedContainer, ObservedState } from '../../agent/targets/containers/observe.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { printPlan } from '../../agent/targets/containers/print.js';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';

// Anonymous volumes (Compose's `- /app/node_modules`): one per replica slot, kept across the
// slot's replacements as Compose's recreate keeps them, removed only when the manifest says so.

const COMMIT = 'c0ffee0000000000000000000000000000000000';

function service(name: string, overrides: Partial<Service> = {}): Service {
  return {
    app: 'web',
    name,
    image: 'local/busybox:1',
    environment: {},
    ports: [],
    mounts: [{ type: 'anonymous', target: '/app/node_modules', readOnly: false }],
    restart: 'unless-stopped',
    labels: {},
    replicas: 1,
    configHash: 'bbbbbbbb22222222',
    source: { file: 'web/compose.yaml', line: 3 },
    ...overrides,
  };
}

function desired(services: Service[], extra: Partial<App> = {}): DesiredState {
  return { commit: COMMIT, apps: [{ name: 'web', source: { file: 'web/compose.yaml', line: 1 }, services, volumes: [], ...extra }] };
}

function container(serviceName: string, replica: number, overrides: Partial<ObservedContainer> = {}): ObservedContainer {
  return {
    id: `id-${serviceName}-${replica}`,
    name: `web-${serviceName}-${replica}`,
    app: 'web',
    service: serviceName,
    replica,
    configHash: 'aaaaaaaa11111111',
    commit: 'old',
    image: 'local/busybox:1',
    state: 'running',
    exitCode: null,
    health: null,
    networks: ['web_default'],
    networkMode: 'web_default',
    volumes: [anonymousVolumeName('web', serviceName, replica, '/app/node_modules')],
    ...overrides,
  };
}

function observed(containers: ObservedContainer[], volumes: ObservedState['volumes']): ObservedState {
  return {
    node: 'n1',
    containers,
    networks: [{ id: 'net', name: 'web_default', app: 'web' }],
    volumes,
    images: ['local/busybox:1'],
    runtimes: [],
    foreign: { containers: [], networks: [], volumes: [] },
  };
}

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

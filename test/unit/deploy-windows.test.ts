import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cleanupCheckouts, convertCompose } from './compose-helpers.js';
import { changedApps, decideDeferrals, withDeferrals, type Deferral } from '../../agent/deferral/gate.js';
import { coveringEnd, parseWindowDuration, windowProblem, windowVerdict, type DeployWindow } from '../../agent/deferral/windows.js';
import { parsePolicy } from '../../agent/policy/index.js';
import type { App, DesiredState, Service } from '../../agent/model.js';

// Deploy window arithmetic (agent/deferral/windows.ts) and the deferral gate (gate.ts), as
// tables. Every window here names its zone (UTC), so the host's zone does not matter.

const at = (text: string) => Date.parse(text);
const H = 3_600_000;
const deny = (schedule: string, hours: number, extra: Partial<DeployWindow> = {}): DeployWindow => ({ kind: 'deny', schedule, durationMs: hours * H, timezone: 'UTC', ...extra });
const allow = (schedule: string, hours: number, extra: Partial<DeployWindow> = {}): DeployWindow => ({ kind: 'allow', schedule, durationMs: hours * H, timezone: 'UTC', ...extra });

describe('coveringEnd: the end of the window covering a moment', () => {
  // 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-07 a Monday.
  const cases: [window: DeployWindow, now: string, end: string | undefined, why: string][] = [
    [deny('0 9 * * 1-5', 8), '2026-12-04T12:00:00Z', '2026-12-04T17:00:00Z', 'Friday noon, inside 09:00-17:00'],
    [deny('0 9 * * 1-5', 8), '2026-12-04T09:00:00Z', '2026-12-04T17:00:00Z', 'exactly at the opening'],
    [deny('0 9 * * 1-5', 8), '2026-12-04T17:00:00Z', undefined, 'exactly at the end: closed'],
    [deny('0 9 * * 1-5', 8), '2026-12-05T12:00:00Z', undefined, 'Saturday'],
    [deny('0 * * * *', 1.5), '2026-12-04T09:10:00Z', undefined, 'hourly for 90m chains without end: Infinity'],
    [deny('0 22 * * *', 10), '2026-12-05T03:00:00Z', '2026-12-05T08:00:00Z', 'over midnight: from the previous day\'s 22:00'],
    [deny('0 9 * * 1', 24 * 3), '2026-12-09T08:00:00Z', '2026-12-10T09:00:00Z', 'Monday for 3 days, looked at on Wednesday'],
    [deny('0 9 * * *', 2, { timezone: 'Europe/Berlin' }), '2026-12-04T08:30:00Z', '2026-12-04T10:00:00Z', '09:00 Berlin is 08:00 UTC in winter'],
  ];
  for (const [window, now, end, why] of cases) {
    it(why, () => {
      const result = coveringEnd(window, at(now));
      if (why.includes('Infinity')) assert.equal(result, Infinity);
      else assert.equal(result, end === undefined ? undefined : at(end));
    });
  }
});

describe('windowVerdict: open, or closed until when', () => {
  const cases: [windows: DeployWindow[], app: string, now: string, until: string | null | undefined, why: string][] = [
    [[], 'shop', '2026-12-04T12:00:00Z', null, 'no window: open'],
    [[deny('0 9 * * 1-5', 8)], 'shop', '2026-12-04T12:00:00Z', '2026-12-04T17:00:00Z', 'inside a deny window: until it ends'],
    [[deny('0 9 * * 1-5', 8)], 'shop', '2026-12-05T12:00:00Z', null, 'Saturday: open'],
    [[deny('0 9 * * 1-5', 8, { apps: ['blog'] })], 'shop', '2026-12-04T12:00:00Z', null, 'a window for another app'],
    [[allow('0 22 * * *', 2)], 'shop', '2026-12-04T12:00:00Z', '2026-12-04T22:00:00Z', 'outside the allow window: until it opens'],
    [[allow('0 22 * * *', 2)], 'shop', '2026-12-04T23:00:00Z', null, 'inside the allow window'],
    [[allow('0 22 * * *', 2), deny('0 21 * * 5', 3)], 'shop', '2026-12-04T12:00:00Z', '2026-12-05T22:00:00Z', 'Friday\'s allow window is covered by a deny: the next evening'],
    [[deny('0 9 * * 1-5', 8), deny('0 16 * * 1-5', 2)], 'shop', '2026-12-04T12:00:00Z', '2026-12-04T18:00:00Z', 'overlapping deny windows: the later end'],
    [[deny('0 9 * * 1-5', 8), allow('0 18 * * *', 1)], 'shop', '2026-12-04T12:00:00Z', '2026-12-04T18:00:00Z', 'deny ends 17:00, then outside the allow window until 18:00'],
    [[deny('* * * * *', 1)], 'shop', '2026-12-04T12:00:00Z', undefined, 'a deny window always open: closed, no opening in sight'],
  ];
  for (const [windows, app, now, until, why] of cases) {
    it(why, () => {
      const verdict = windowVerdict(windows, app, at(now));
      if (until === null) return assert.deepEqual(verdict, { open: true });
      assert.equal(verdict.open, false);
      assert.equal(verdict.until, until === undefined ? undefined : at(until));
      assert.match(verdict.because ?? '', /window/);
    });
  }
});

describe('window settings', () => {
  it('parses durations as Compose writes them', () => {
    assert.equal(parseWindowDuration('8h'), 8 * H);
    assert.equal(parseWindowDuration('1h30m'), 1.5 * H);
    assert.equal(parseWindowDuration('90s'), 90_000);
    assert.equal(parseWindowDuration('8 hours'), undefined);
  });

  it('names a bad schedule or zone', () => {
    assert.equal(windowProblem('0 9 * * 1-5', 'Europe/Berlin'), undefined);
    assert.match(windowProblem('0 9 * *', undefined) ?? '', /invalid cron expression '0 9 \* \*'/);
    assert.match(windowProblem('0 9 * * *', 'Mars/Olympus') ?? '', /unknown time zone 'Mars\/Olympus'/);
  });

  it('reads deploy_windows and update_locks from the policy file, and refuses a bad one by key', () => {
    const policy = parsePolicy(
      'deploy_windows:\n  deny:\n    - { schedule: "0 9 * * 1-5", duration: 8h, timezone: UTC, apps: [shop] }\n  drift_repair: false\nupdate_locks: { max_wait: 30m }\n',
      '/etc/capstan/policy.yaml',
    );
    assert.deepEqual(policy.deployWindows, { windows: [deny('0 9 * * 1-5', 8, { apps: ['shop'] })], driftRepair: false });
    assert.equal(policy.updateLockMaxWaitMs, 30 * 60_000);
    assert.equal(parsePolicy('{}', 'p.yaml').updateLockMaxWaitMs, H);
    assert.throws(() => parsePolicy('deploy_windows:\n  deny:\n    - { schedule: "61 * * * *", duration: 1h }\n', 'p.yaml'), /p\.yaml is invalid: deploy_windows\.deny\.0: invalid cron expression/);
    assert.throws(() => parsePolicy('deploy_windows:\n  deny:\n    - { schedule: "0 * * * *", duration: forever }\n', 'p.yaml'), /deploy_windows\.deny\.0\.duration/);
    assert.throws(() => parsePolicy('deploy_windows:\n  deny:\n    - { schedule: "0 * * * *", duration: 0s }\n', 'p.yaml'), /longer than 0s/);
  });
});

const service = (app: string, name: string, configHash: string, extra: Partial<Service> = {}): Service =>
  ({ app, name, image: `local/${name}:1`, configHash, replicas: 1, environment: {}, ports: [], mounts: [], restart: 'unless-stopped', source: { file: `${app}.yaml`, line: 1 }, ...extra }) as Service;
const app = (name: string, services: Service[]): App => ({ name, source: { file: `${name}.yaml`, line: 1 }, services, volumes: [] });
const state = (apps: App[]): DesiredState => ({ commit: 'c'.repeat(40), apps });

describe('the deferral gate', () => {
  const desired = state([app('blog', [service('blog', 'web', 'b1')]), app('shop', [service('shop', 'web', 's2')])]);
  const deployed = [
    { app: 'blog', service: 'web', configHash: 'b1', replicas: 1 },
    { app: 'shop', service: 'web', configHash: 's1', replicas: 1 },
    { app: 'old', service: 'web', configHash: 'o1', replicas: 1 },
  ];
  const base = { desired, deployed, locksHeld: new Set<string>(), lockMaxWaitMs: H, previous: new Map<string, Deferral>(), force: false, now: at('2026-12-04T12:00:00Z') };

  it('finds changed apps: a new hash, a removed app', () => {
    assert.deepEqual(changedApps(desired, deployed), ['old', 'shop']);
  });

  it('defers changed apps in a deny window, and lets --force lift it once', () => {
    const windows = { windows: [deny('0 9 * * 1-5', 8)], driftRepair: true };
    const decision = decideDeferrals({ ...base, windows });
    assert.deepEqual(decision.deferred.map((item) => [item.app, item.cause, item.until]), [
      ['old', 'window', '2026-12-04T17:00:00.000Z'],
      ['shop', 'window', '2026-12-04T17:00:00.000Z'],
    ]);
    assert.equal(decision.freeze, false);
    assert.equal(decideDeferrals({ ...base, windows: { ...windows, driftRepair: false } }).freeze, true);
    const forced = decideDeferrals({ ...base, windows, force: true });
    assert.deepEqual(forced.deferred, []);
    assert.deepEqual(forced.overridden.map((item) => item.app), ['old', 'shop']);
  });

  it('drift_repair: false freezes the host for a host-wide window, only the waiting app for a window of some apps', () => {
    const hostWide = decideDeferrals({ ...base, windows: { windows: [deny('0 9 * * 1-5', 8)], driftRepair: false } });
    assert.equal(hostWide.freeze, true);
    const perApp = decideDeferrals({ ...base, windows: { windows: [deny('0 9 * * 1-5', 8, { apps: ['shop'] })], driftRepair: false } });
    assert.equal(perApp.freeze, false, 'blog and old converge');
    assert.deepEqual(perApp.deferred.map((item) => [item.app, item.frozen]), [['shop', true]]);
    const repaired = decideDeferrals({ ...base, windows: { windows: [deny('0 9 * * 1-5', 8, { apps: ['shop'] })], driftRepair: true } });
    assert.deepEqual(repaired.deferred.map((item) => [item.app, item.frozen]), [['shop', undefined]]);
    // The frozen app is out of what converges and listed with the apps a target never touches.
    const running = new Map([['shop', app('shop', [service('shop', 'web', 's1')])]]);
    const converged = withDeferrals({ ...desired, suspendedApps: ['forum'] }, new Set(['shop']), running, new Set(), new Set(['shop']));
    assert.deepEqual(converged.apps.map((item) => item.name), ['blog']);
    assert.deepEqual(converged.suspendedApps, ['forum', 'shop']);
  });

  it('defers an app whose lock is held, until update_locks.max_wait after it first held it back', () => {
    const first = decideDeferrals({ ...base, locksHeld: new Set(['shop']) });
    assert.deepEqual(first.deferred.map((item) => [item.app, item.cause, item.until]), [['shop', 'lock', '2026-12-04T13:00:00.000Z']]);
    const previous = new Map(first.deferred.map((item) => [item.app, item]));
    const later = decideDeferrals({ ...base, locksHeld: new Set(['shop']), previous, now: at('2026-12-04T12:59:00Z') });
    assert.equal(later.deferred[0].since, '2026-12-04T12:00:00.000Z');
    const expired = decideDeferrals({ ...base, locksHeld: new Set(['shop']), previous, now: at('2026-12-04T13:00:00Z') });
    assert.deepEqual(expired.deferred, []);
    assert.match(expired.overridden[0].message, /past update_locks\.max_wait: deployed anyway/);
  });

  it('converges waiting apps at their running version, and prefetches a locked app\'s images', () => {
    const running = new Map([['shop', app('shop', [service('shop', 'web', 's1')])], ['old', app('old', [service('old', 'web', 'o1')])]]);
    const mixed = withDeferrals(desired, new Set(['shop', 'old']), running, new Set(['shop']));
    assert.deepEqual(mixed.apps.map((item) => `${item.name}:${item.services[0].configHash}`), ['blog:b1', 'old:o1', 'shop:s1']);
    assert.deepEqual(mixed.prefetchImages, ['local/web:1']);
    assert.equal(withDeferrals(desired, new Set(), running, new Set()), desired);
  });
});

describe('update_lock in a Compose file', () => {
  after(cleanupCheckouts);
  const compose = (value: string) => `services:\n  web:\n    image: local/busybox:1\n    x-capstan:\n      update_lock: ${value}\n`;

  it('comes from x-capstan, and a bad value names the Compose line and key', async () => {
    const converted = await convertCompose(compose('true'));
    assert.deepEqual(converted.problems, []);
    assert.equal(converted.app?.services[0].updateLock, true);
    assert.match((await convertCompose(compose('"maybe"'))).problems.join('\n'), /^app\/compose\.yaml:5:20: services\.web\.x-capstan\.update_lock: must be a boolean, not a string \[SCHEMA\]$/);
  });
});

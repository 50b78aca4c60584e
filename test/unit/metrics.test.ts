// The metrics file: rendered, parsed back with a real Prometheus text-format parser, derived from
// SQLite so counters survive restarts, and replaced atomically.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  countRollback,
  countRollout,
  defaultMetricsFile,
  escapeLabelValue,
  incrementCounter,
  metricsSnapshotFromStore,
  renderMetrics,
  writeMetricsFile,
  type MetricsSnapshot,
} from '../../agent/metrics/index.js';
import { NotificationQueue } from '../../agent/notify/index.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';

interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
// The package ships CommonJS without types.
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

const dir = mkdtempSync(join(tmpdir(), 'capstan-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function family(families: ParsedFamily[], name: string): ParsedFamily {
  const found = families.find((candidate) => candidate.name === name);
  assert.ok(found, `no ${name} in ${families.map((candidate) => candidate.name).join(', ')}`);
  return found;
}

/** The sample's value, found by its labels (all of them, node included). */
function value(families: ParsedFamily[], name: string, labels: Record<string, string>): number {
  const sample = family(families, name).metrics.find((metric) => JSON.stringify(metric.labels ?? {}) === JSON.stringify(labels));
  assert.ok(sample, `no ${name}${JSON.stringify(labels)} in ${JSON.stringify(family(families, name).metrics)}`);
  return Number(sample.value);
}

function snapshot(overrides: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    node: 'node-1',
    lastCycle: { result: 'failed', durationSeconds: 2.345, finishedAt: 1767225600.5 },
    lastSuccessTime: 1767225540,
    appliedCommit: 'a1b2c3d4e5f6',
    consecutiveFailures: 2,
    services: [
      { app: 'shop', service: 'web', desiredReplicas: 3, readyReplicas: 2 },
      { app: 'shop', service: 'worker', desiredReplicas: 1, readyReplicas: 1 },
    ],
    counters: {
      cycles: { applied: 5, failed: 2, 'in-sync': 40 },
      failuresByReason: { MANIFEST_INVALID: 1, 'odd\\reason "quoted"\nsecond line': 1 },
      rollouts: [{ labels: { app: 'shop', service: 'web' }, value: 4 }],
      rollbacks: [],
      notifications: [{ labels: { result: 'delivered', target: 'slack:hooks.slack.com#0a1b2c3d' }, value: 7 }],
    },
    notificationsPending: 1,
    ...overrides,
  };
}

describe('renderMetrics', () => {
  const node = { node: 'node-1' };
  const parsed = parsePrometheus(renderMetrics(snapshot()));

  it('writes every family with HELP and TYPE, prefixed capstan_', () => {
    for (const metricFamily of parsed) {
      assert.match(metricFamily.name, /^capstan_[a-z_]+$/);
      assert.ok(metricFamily.help.length > 0, metricFamily.name);
      assert.ok(['GAUGE', 'COUNTER'].includes(metricFamily.type), metricFamily.name);
      assert.equal(metricFamily.type === 'COUNTER', metricFamily.name.endsWith('_total'), metricFamily.name);
    }
  });

  it('gives the last cycle, the last success and the applied commit', () => {
    assert.equal(value(parsed, 'capstan_cycle_duration_seconds', node), 2.345);
    assert.equal(value(parsed, 'capstan_last_cycle_timestamp_seconds', node), 1767225600.5);
    assert.equal(value(parsed, 'capstan_last_cycle_result', { ...node, result: 'failed' }), 1);
    assert.equal(value(parsed, 'capstan_last_cycle_result', { ...node, result: 'applied' }), 0);
    assert.equal(value(parsed, 'capstan_last_success_timestamp_seconds', node), 1767225540);
    assert.equal(value(parsed, 'capstan_applied_commit_info', { ...node, commit: 'a1b2c3d4e5f6' }), 1);
    assert.equal(value(parsed, 'capstan_consecutive_failures', node), 2);
    assert.equal(value(parsed, 'capstan_notifications_pending', node), 1);
  });

  it('gives desired and ready replicas per service', () => {
    assert.equal(value(parsed, 'capstan_service_desired_replicas', { ...node, app: 'shop', service: 'web' }), 3);
    assert.equal(value(parsed, 'capstan_service_ready_replicas', { ...node, app: 'shop', service: 'web' }), 2);
    assert.equal(value(parsed, 'capstan_service_ready_replicas', { ...node, app: 'shop', service: 'worker' }), 1);
  });

  it('counts cycles by result, with a zero for results not seen yet', () => {
    assert.equal(value(parsed, 'capstan_cycles_total', { ...node, result: 'in-sync' }), 40);
    assert.equal(value(parsed, 'capstan_cycles_total', { ...node, result: 'interrupted' }), 0);
  });

  it('counts rollouts and rollbacks per service, zero for every known service', () => {
    assert.equal(value(parsed, 'capstan_rollouts_total', { ...node, app: 'shop', service: 'web' }), 4);
    assert.equal(value(parsed, 'capstan_rollouts_total', { ...node, app: 'shop', service: 'worker' }), 0);
    assert.equal(value(parsed, 'capstan_rollbacks_total', { ...node, app: 'shop', service: 'web' }), 0);
    assert.equal(value(parsed, 'capstan_notifications_total', { ...node, result: 'delivered', target: 'slack:hooks.slack.com#0a1b2c3d' }), 7);
  });

  it('escapes backslash, double quote and line feed in label values', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(value(parsed, 'capstan_failures_total', { ...node, reason: 'odd\\reason "quoted"\nsecond line' }), 1);
    assert.equal(value(parsed, 'capstan_failures_total', { ...node, reason: 'MANIFEST_INVALID' }), 1);
  });

  it('leaves out what is not known yet instead of inventing values', () => {
    const fresh = parsePrometheus(
      renderMetrics(
        snapshot({
          lastCycle: null,
          lastSuccessTime: null,
          appliedCommit: null,
          consecutiveFailures: 0,
          services: [],
          counters: { cycles: {}, failuresByReason: {}, rollouts: [], rollbacks: [], notifications: [] },
          notificationsPending: 0,
        }),
      ),
    );
    const names = fresh.map((metricFamily) => metricFamily.name).sort();
    assert.deepEqual(names, ['capstan_consecutive_failures', 'capstan_cycles_total', 'capstan_notifications_pending']);
    assert.equal(value(fresh, 'capstan_cycles_total', { ...node, result: 'applied' }), 0);
  });
});

describe('metricsSnapshotFromStore', () => {
  it('derives counters from SQLite, for this node only, and keeps them across a reopen', () => {
    const file = join(dir, 'state.db');
    let now = new Date('2026-01-01T00:00:00Z');
    const store = new StateStore(openDb(file), () => now);
    const finish = (node: string, result: 'applied' | 'in-sync' | 'failed', reason?: string, durationMs = 1000) => {
      const cycleId = store.startCycle('schedule', node);
      store.setCycleCommit(cycleId, { id: `commit-${result}`, author: 'a', message: 'm' });
      now = new Date(now.getTime() + 60_000);
      store.finishCycle(cycleId, { result, reason, durationMs });
    };
    finish('node-1', 'applied');
    finish('node-1', 'in-sync');
    finish('node-2', 'failed', 'OTHER_NODE');
    finish('node-1', 'failed', 'MANIFEST_INVALID');
    finish('node-1', 'failed', 'MANIFEST_INVALID', 2500);
    // A cycle left running by a killed process counts as interrupted.
    store.startCycle('schedule', 'node-1');
    store.markInterrupted();
    const lastFailureAt = now.getTime() / 1000;
    const db = openDb(file);
    countRollout(db, 'shop', 'web');
    countRollout(db, 'shop', 'web');
    countRollback(db, 'shop', 'web');
    incrementCounter(db, 'notifications', { target: 'ntfy:n.example#00000000', result: 'failed' });
    new NotificationQueue(db).enqueue(['ntfy:n.example#00000000'], { kind: 'rollback', node: 'node-1', commit: null, message: 'm', at: now.toISOString() }, now.getTime());
    db.close();
    store.close();

    const services = [{ app: 'shop', service: 'web', desiredReplicas: 2, readyReplicas: 2 }];
    const expected: MetricsSnapshot = {
      node: 'node-1',
      lastCycle: { result: 'interrupted', durationSeconds: 0, finishedAt: lastFailureAt },
      lastSuccessTime: Date.parse('2026-01-01T00:02:00Z') / 1000,
      appliedCommit: 'commit-in-sync',
      consecutiveFailures: 2,
      services,
      counters: {
        cycles: { applied: 1, failed: 2, 'in-sync': 1, interrupted: 1 },
        failuresByReason: { MANIFEST_INVALID: 2, ProcessKilled: 1 },
        rollouts: [{ labels: { app: 'shop', service: 'web' }, value: 2 }],
        rollbacks: [{ labels: { app: 'shop', service: 'web' }, value: 1 }],
        notifications: [{ labels: { result: 'failed', target: 'ntfy:n.example#00000000' }, value: 1 }],
      },
      notificationsPending: 1,
    };
    const reopened = openDb(file);
    try {
      assert.deepEqual(metricsSnapshotFromStore(reopened, 'node-1', services), expected);
    } finally {
      reopened.close();
    }
  });
});

describe('writeMetricsFile', () => {
  it('defaults to metrics.prom in the state directory', () => {
    assert.equal(defaultMetricsFile('/var/lib/capstan'), '/var/lib/capstan/metrics.prom');
  });

  it('writes a file readable by the collector (0644) whatever the umask', async () => {
    const file = join(dir, 'mode', 'metrics.prom');
    mkdirSync(join(dir, 'mode'));
    const previous = process.umask(0o077);
    try {
      await writeMetricsFile(file, snapshot());
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.equal(value(parsePrometheus(await readFile(file, 'utf8')), 'capstan_consecutive_failures', { node: 'node-1' }), 2);
  });

  it('never shows a reader a partial file', async () => {
    const folder = join(dir, 'atomic');
    mkdirSync(folder);
    const file = join(folder, 'metrics.prom');
    // Two versions of very different sizes (a few hundred bytes and ~100 KB), so a torn read shows.
    const many = Array.from({ length: 600 }, (_, index) => ({ app: `app${index}`, service: 'web', desiredReplicas: 1, readyReplicas: 1 }));
    const versions = [snapshot({ services: [] }), snapshot({ services: many })];
    const texts = versions.map(renderMetrics);
    await writeMetricsFile(file, versions[0]);

    const writes = 150;
    let writing = true;
    const writer = (async () => {
      try {
        for (let index = 0; index < writes; index++) await writeMetricsFile(file, versions[index % 2]);
      } finally {
        writing = false;
      }
    })();
    let reads = 0;
    const seen = new Set<number>();
    while (writing && reads < 5000) {
      const text = await readFile(file, 'utf8');
      const version = texts.indexOf(text);
      assert.notEqual(version, -1, `read ${text.length} bytes that are neither version (${texts.map((t) => t.length).join(' or ')})`);
      seen.add(version);
      reads++;
    }
    await writer;
    assert.ok(reads > 10, `only ${reads} reads overlapped the writes`);
    assert.equal(seen.size, 2, 'the reader saw only one version');
    assert.deepEqual(readdirSync(folder), ['metrics.prom'], 'temporary files were left behind');
  });

  it('leaves no temporary file when the rename fails', async () => {
    const folder = join(dir, 'failing');
    const target = join(folder, 'metrics.prom');
    // A non-empty directory where the file should be: rename over it fails.
    mkdirSync(target, { recursive: true });
    writeFileSync(join(target, 'keep'), '');
    await assert.rejects(writeMetricsFile(target, snapshot()));
    assert.deepEqual(readdirSync(folder), ['metrics.prom']);
  });
});

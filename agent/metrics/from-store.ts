import type { Db } from '../state/db.js';
import { StateStore } from '../state/store.js';
import { readDeferrals } from '../deferral/store.js';
import { readCounter, type CounterSample } from './counters.js';
import type { MetricsSnapshot, ServiceReplicas } from './snapshot.js';

const SUCCESS_RESULTS = "('applied', 'in-sync', 'deferred')";

/**
 * Builds the snapshot from SQLite, so counters survive restarts: cycle counts come from the
 * `cycles` table, the rest from `counters`. `services` are desired and ready replicas, which
 * only the caller knows (from the desired state and the last observation).
 */
export function metricsSnapshotFromStore(db: Db, node: string, services: ServiceReplicas[]): MetricsSnapshot {
  const last = db
    .prepare("SELECT result, duration_ms, finished_at FROM cycles WHERE node = ? AND result != 'running' ORDER BY id DESC LIMIT 1")
    .get(node) as { result: string; duration_ms: number | null; finished_at: string | null } | undefined;
  const lastSuccess = db
    .prepare(`SELECT finished_at FROM cycles WHERE node = ? AND result IN ${SUCCESS_RESULTS} ORDER BY id DESC LIMIT 1`)
    .get(node) as { finished_at: string | null } | undefined;
  const consecutiveFailures = (
    db
      .prepare(
        `SELECT COUNT(*) AS count FROM cycles WHERE node = ? AND result = 'failed'
           AND id > COALESCE((SELECT MAX(id) FROM cycles WHERE node = ? AND result IN ${SUCCESS_RESULTS}), 0)`,
      )
      .get(node, node) as { count: number }
  ).count;
  const cycles = db
    .prepare("SELECT result, COUNT(*) AS count FROM cycles WHERE node = ? AND result != 'running' GROUP BY result")
    .all(node) as { result: string; count: number }[];
  const failures = db
    .prepare(
      "SELECT COALESCE(reason, 'UNKNOWN') AS reason, COUNT(*) AS count FROM cycles WHERE node = ? AND result IN ('failed', 'interrupted') GROUP BY 1",
    )
    .all(node) as { reason: string; count: number }[];
  const pending = (db.prepare("SELECT COUNT(*) AS count FROM notifications WHERE state = 'pending'").get() as { count: number }).count;

  return {
    node,
    lastCycle:
      last && last.finished_at !== null
        ? { result: last.result, durationSeconds: (last.duration_ms ?? 0) / 1000, finishedAt: unixSeconds(last.finished_at) }
        : null,
    lastSuccessTime: lastSuccess?.finished_at ? unixSeconds(lastSuccess.finished_at) : null,
    appliedCommit: new StateStore(db).lastAppliedCommit,
    consecutiveFailures,
    services,
    counters: {
      cycles: Object.fromEntries(cycles.map((row) => [row.result, row.count])),
      failuresByReason: Object.fromEntries(failures.map((row) => [row.reason, row.count])),
      rollouts: readCounter(db, 'rollouts'),
      rollbacks: readCounter(db, 'rollbacks'),
      notifications: readCounter(db, 'notifications'),
      ...volumeCounters(db),
      ...jobCounters(db),
    },
    notificationsPending: pending,
    ...imageUpdates(db, node),
    ...deferralsOf(db, node),
  };
}

/** Per service with `update.image`: an update served that is neither running nor quarantined. */
function imageUpdates(db: Db, node: string): Pick<MetricsSnapshot, 'imageUpdates'> {
  const rows = db
    .prepare(
      `SELECT app, service, available_digest IS NOT NULL AND available_digest IS NOT COALESCE(deployed_digest, '')
         AND NOT EXISTS (SELECT 1 FROM image_quarantine q WHERE q.node = u.node AND q.app = u.app AND q.service = u.service AND q.digest = u.available_digest) AS available
       FROM image_updates u WHERE node = ? ORDER BY app, service`,
    )
    .all(node) as { app: string; service: string; available: number }[];
  return rows.length === 0 ? {} : { imageUpdates: rows.map((row) => ({ app: row.app, service: row.service, available: row.available === 1 })) };
}

/** Changes waiting for a deploy window or an update lock, present while any waits. */
function deferralsOf(db: Db, node: string): Pick<MetricsSnapshot, 'deferrals'> {
  const waiting = [...readDeferrals(new StateStore(db), node).values()];
  if (waiting.length === 0) return {};
  return { deferrals: waiting.map((item) => ({ app: item.app, cause: item.cause, ...(item.until ? { until: unixSeconds(item.until) } : {}) })) };
}

function unixSeconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** Scheduled job failures (agent/jobs), present once a job run has failed here. */
function jobCounters(db: Db): { jobFailures?: CounterSample[] } {
  const jobFailures = readCounter(db, 'job_failures');
  return jobFailures.length === 0 ? {} : { jobFailures };
}

/** Volume snapshot counters (agent/storage), present once a snapshot volume has run here. */
function volumeCounters(db: Db): { volumeSnapshots?: CounterSample[]; volumeFailures?: CounterSample[] } {
  const volumeSnapshots = readCounter(db, 'volume_snapshots');
  const volumeFailures = readCounter(db, 'volume_failures');
  return volumeSnapshots.length + volumeFailures.length === 0 ? {} : { volumeSnapshots, volumeFailures };
}

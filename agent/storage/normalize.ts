import cron from 'node-cron';
import { durationMs } from '../load/normalize/rollout.js';
import type { PathProblem } from '../load/problems.js';
import type { SnapshotSpec } from '../model.js';
import type { SnapshotManifest } from './schema.js';

/** Ten minutes: long enough for the old node's next cycle (every minute by default) and a final snapshot. */
export const DEFAULT_HANDOFF_TIMEOUT_MS = 600_000;

/** A volume's `snapshot:` as the model holds it; the schema has checked its shape. */
export function normalizeSnapshot(spec: SnapshotManifest, path: (string | number)[], volume: { remove?: boolean }): { snapshot: SnapshotSpec; problems: PathProblem[] } {
  const problems: PathProblem[] = [];
  if (!cron.validate(spec.schedule)) {
    problems.push({ code: 'SNAPSHOT_SCHEDULE_INVALID', path: [...path, 'schedule'], message: `'${spec.schedule}' is not a cron expression (minute hour day-of-month month day-of-week, e.g. "0 */6 * * *")` });
  }
  if (volume.remove) {
    problems.push({ code: 'SNAPSHOT_CONFLICT', path, message: 'a volume with remove: true is deleted once no container uses it; it cannot have snapshots too' });
  }
  const snapshot: SnapshotSpec = {
    schedule: spec.schedule,
    keep: { ...spec.keep },
    repository: spec.repository,
    handoffTimeoutMs: spec.handoff_timeout === undefined ? DEFAULT_HANDOFF_TIMEOUT_MS : durationMs(spec.handoff_timeout),
  };
  if (spec.pre_snapshot !== undefined) snapshot.preSnapshot = typeof spec.pre_snapshot === 'string' ? ['sh', '-c', spec.pre_snapshot] : spec.pre_snapshot;
  if (spec.stop === true) snapshot.stop = true;
  return { snapshot, problems };
}

import type { CounterSample } from './counters.js';

export interface ServiceReplicas {
  app: string;
  service: string;
  desiredReplicas: number;
  /** Running, and healthy when the service has a health check. */
  readyReplicas: number;
}

export interface LastCycle {
  /** `applied`, `in-sync`, `failed`, `interrupted`. */
  result: string;
  durationSeconds: number;
  /** Unix time in seconds. */
  finishedAt: number;
}

/** Everything the metrics file says, as plain data: rendering it needs no I/O. */
export interface MetricsSnapshot {
  node: string;
  lastCycle: LastCycle | null;
  /** Unix seconds of the last cycle that ended applied or in sync. */
  lastSuccessTime: number | null;
  appliedCommit: string | null;
  /** Failed cycles since the last success; what "repeated failure" alerts watch. */
  consecutiveFailures: number;
  services: ServiceReplicas[];
  counters: {
    /** Finished cycles by result. */
    cycles: Record<string, number>;
    /** Cycles that did not converge (failed or interrupted), by reason code. */
    failuresByReason: Record<string, number>;
    rollouts: CounterSample[];
    rollbacks: CounterSample[];
    /** By target key and result: delivered, failed, dropped. */
    notifications: CounterSample[];
    /** Volume snapshots taken, and storage failures by reason (agent/storage), per app and volume. */
    volumeSnapshots?: CounterSample[];
    volumeFailures?: CounterSample[];
    /** Scheduled job runs that failed or were interrupted (agent/jobs), per app and service. */
    jobFailures?: CounterSample[];
  };
  notificationsPending: number;
  /** Services with `update.image` (agent/image-updates): whether the registry serves an update not yet running (quarantined ones excluded). */
  imageUpdates?: { app: string; service: string; available: boolean }[];
  /** Apps whose change waits for a deploy window or an update lock (agent/deferral/); `until` in Unix seconds. */
  deferrals?: { app: string; cause: string; until?: number }[];
}

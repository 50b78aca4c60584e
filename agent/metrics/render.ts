import type { Labels } from './counters.js';
import type { MetricsSnapshot } from './snapshot.js';

export interface Sample {
  labels: Labels;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: Sample[];
}

// Every cycle result gets a series from the first write, so `increase()` sees the first failure.
const CYCLE_RESULTS = ['applied', 'in-sync', 'failed', 'blocked', 'interrupted', 'deferred'];

/** The Prometheus text exposition format (0.0.4), as node_exporter's textfile collector reads it. */
export function renderMetrics(snapshot: MetricsSnapshot): string {
  return renderFamilies(metricFamilies(snapshot).map((family) => withLabel(family, 'node', snapshot.node)));
}

export function metricFamilies(snapshot: MetricsSnapshot): MetricFamily[] {
  const { lastCycle, counters, services } = snapshot;
  const perService = (samples: Sample[]): Sample[] => {
    // A zero for every known service, so the first rollout is an increase and not a new series.
    const merged = new Map<string, Sample>(services.map((service) => [`${service.app}/${service.service}`, { labels: { app: service.app, service: service.service }, value: 0 }]));
    for (const sample of samples) merged.set(`${sample.labels.app}/${sample.labels.service}`, sample);
    return [...merged.values()];
  };
  const families: MetricFamily[] = [
    gauge('capstan_cycle_duration_seconds', 'Duration of the last finished cycle.', lastCycle ? [{ labels: {}, value: lastCycle.durationSeconds }] : []),
    gauge('capstan_last_cycle_timestamp_seconds', 'Unix time the last cycle finished.', lastCycle ? [{ labels: {}, value: lastCycle.finishedAt }] : []),
    gauge(
      'capstan_last_cycle_result',
      'Result of the last finished cycle: 1 for its result, 0 for the others.',
      lastCycle ? union(CYCLE_RESULTS, [lastCycle.result]).map((result) => ({ labels: { result }, value: result === lastCycle.result ? 1 : 0 })) : [],
    ),
    gauge(
      'capstan_last_success_timestamp_seconds',
      'Unix time of the last cycle that ended applied or in sync.',
      snapshot.lastSuccessTime === null ? [] : [{ labels: {}, value: snapshot.lastSuccessTime }],
    ),
    gauge('capstan_applied_commit_info', 'The last applied commit, as a label; the value is always 1.', snapshot.appliedCommit ? [{ labels: { commit: snapshot.appliedCommit }, value: 1 }] : []),
    gauge('capstan_consecutive_failures', 'Failed cycles since the last successful one.', [{ labels: {}, value: snapshot.consecutiveFailures }]),
    gauge(
      'capstan_service_desired_replicas',
      'Replicas the manifests ask for, per service.',
      services.map((service) => ({ labels: { app: service.app, service: service.service }, value: service.desiredReplicas })),
    ),
    gauge(
      'capstan_service_ready_replicas',
      'Replicas running (and healthy, when the service has a health check), per service.',
      services.map((service) => ({ labels: { app: service.app, service: service.service }, value: service.readyReplicas })),
    ),
    counter(
      'capstan_cycles_total',
      'Finished cycles, by result.',
      union(CYCLE_RESULTS, Object.keys(counters.cycles)).map((result) => ({ labels: { result }, value: counters.cycles[result] ?? 0 })),
    ),
    counter(
      'capstan_failures_total',
      'Cycles that did not converge, by reason code.',
      Object.entries(counters.failuresByReason).map(([reason, value]) => ({ labels: { reason }, value })),
    ),
    counter('capstan_rollouts_total', 'Services rolled out to a new configuration.', perService(counters.rollouts)),
    counter('capstan_rollbacks_total', 'Rollouts undone, back to the previous configuration.', perService(counters.rollbacks)),
    counter('capstan_notifications_total', 'Notifications by target and result (delivered, failed, dropped).', counters.notifications),
    counter('capstan_volume_snapshots_total', 'Volume snapshots taken, per app and volume.', counters.volumeSnapshots ?? []),
    counter('capstan_volume_failures_total', 'Volume snapshots, restores, hand-offs and leases that failed, per app, volume and reason.', counters.volumeFailures ?? []),
    counter('capstan_job_failures_total', 'Scheduled job runs that failed or were interrupted, per app and service.', counters.jobFailures ?? []),
    gauge(
      'capstan_deferred_apps',
      'Apps whose change waits, by cause (window: a deploy window, lock: an update lock); 1 while it waits.',
      (snapshot.deferrals ?? []).map((item) => ({ labels: { app: item.app, cause: item.cause }, value: 1 })),
    ),
    gauge(
      'capstan_deferred_until_timestamp_seconds',
      'Unix time a waiting change may go out: its deploy window opens, or its update lock reaches update_locks.max_wait.',
      (snapshot.deferrals ?? []).flatMap((item) => (item.until === undefined ? [] : [{ labels: { app: item.app, cause: item.cause }, value: item.until }])),
    ),
    gauge('capstan_notifications_pending', 'Notifications waiting to be sent or retried.', [{ labels: {}, value: snapshot.notificationsPending }]),
    gauge(
      'capstan_image_update_available',
      'Services with update.image: 1 when the registry serves a newer image than the one running (and it is not quarantined), else 0.',
      (snapshot.imageUpdates ?? []).map((entry) => ({ labels: { app: entry.app, service: entry.service }, value: entry.available ? 1 : 0 })),
    ),
  ];
  return families.filter((family) => family.samples.length > 0);
}

export function renderFamilies(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) lines.push(`${family.name}${renderLabels(sample.labels)} ${formatValue(sample.value)}`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Label values escape backslash, double quote and line feed, and nothing else. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed (a double quote stays as it is). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function renderLabels(labels: Labels): string {
  const pairs = Object.entries(labels);
  if (pairs.length === 0) return '';
  return `{${pairs.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

function withLabel(family: MetricFamily, name: string, value: string): MetricFamily {
  return { ...family, samples: family.samples.map((sample) => ({ ...sample, labels: { [name]: value, ...sample.labels } })) };
}

function gauge(name: string, help: string, samples: Sample[]): MetricFamily {
  return { name, help, type: 'gauge', samples };
}

function counter(name: string, help: string, samples: Sample[]): MetricFamily {
  return { name, help, type: 'counter', samples };
}

function union(first: string[], second: string[]): string[] {
  return [...new Set([...first, ...second])];
}

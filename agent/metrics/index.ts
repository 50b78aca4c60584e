import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { renderMetrics } from './render.js';
import type { MetricsSnapshot } from './snapshot.js';

export { countRollback, countRollout, incrementCounter, readCounter } from './counters.js';
export { metricsSnapshotFromStore } from './from-store.js';
export { escapeLabelValue, renderMetrics } from './render.js';
export type { MetricsSnapshot } from './snapshot.js';

/** `--metrics-file` / `CAPSTAN_METRICS_FILE` default: beside the SQLite file in the state directory. */
export function defaultMetricsFile(stateDir: string): string {
  return join(stateDir, 'metrics.prom');
}

/** Renders and atomically replaces the file node_exporter's textfile collector reads. */
export async function writeMetricsFile(file: string, snapshot: MetricsSnapshot): Promise<void> {
  await writeFileAtomic(file, renderMetrics(snapshot));
}

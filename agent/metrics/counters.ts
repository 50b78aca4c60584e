import type { Db } from '../state/db.js';

export type Labels = Record<string, string>;

export interface CounterSample {
  labels: Labels;
  value: number;
}

/**
 * Counters that no other table can answer, kept in SQLite so they survive restarts (Prometheus
 * would otherwise see a reset at every upgrade). Names are the metric names without the
 * `capstan_` prefix and `_total` suffix: `rollouts`, `rollbacks`, `notifications`.
 */
export function incrementCounter(db: Db, name: string, labels: Labels = {}, by = 1): void {
  db.prepare(
    'INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT(name, labels) DO UPDATE SET value = value + excluded.value',
  ).run(name, canonicalLabels(labels), by);
}

export function readCounter(db: Db, name: string): CounterSample[] {
  const rows = db.prepare('SELECT labels, value FROM counters WHERE name = ? ORDER BY labels').all(name) as { labels: string; value: number }[];
  return rows.map((row) => ({ labels: JSON.parse(row.labels) as Labels, value: row.value }));
}

/** A service's containers were replaced with a new config (one per service and cycle). */
export function countRollout(db: Db, app: string, service: string): void {
  incrementCounter(db, 'rollouts', { app, service });
}

/** A rollout was undone and the service put back on its previous config. */
export function countRollback(db: Db, app: string, service: string): void {
  incrementCounter(db, 'rollbacks', { app, service });
}

/** Sorted by name, so `{a, b}` and `{b, a}` are one row. */
function canonicalLabels(labels: Labels): string {
  return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))));
}

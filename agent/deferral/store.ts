// The waits of the last cycle, kept in the state database's `meta` table (one JSON row per
// node), for `status`, the metrics and the update lock's maximum, which counts from the first
// cycle a lock held a change back.
import type { StateStore } from '../state/store.js';
import type { Deferral } from './gate.js';

const key = (node: string) => `deferrals:${node}`;

export function readDeferrals(store: Pick<StateStore, 'getMeta'>, node: string): Map<string, Deferral> {
  const raw = store.getMeta(key(node));
  const list = raw ? (JSON.parse(raw) as Deferral[]) : [];
  return new Map(list.map((item) => [item.app, item]));
}

/** Written only when it changed: an in-sync cycle with nothing waiting (every minute, for years) writes nothing. */
export function writeDeferrals(store: Pick<StateStore, 'getMeta' | 'setMeta'>, node: string, deferrals: readonly (Deferral & { started?: boolean })[]): void {
  const list: Deferral[] = deferrals.map(({ started: _started, ...item }) => item);
  const value = list.length === 0 ? null : JSON.stringify(list);
  if (store.getMeta(key(node)) !== value) store.setMeta(key(node), value);
}

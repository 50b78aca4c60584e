// The storage decisions, pure: when a snapshot is due, what restic forgets, and who holds a
// volume's lease given the records in the repository. Table-tested in test/unit/storage.test.ts.
import cron from 'node-cron';
import type { SnapshotSpec } from '../model.js';

/** restic's `forget --keep-*` policies, in its order; each at most MAX_KEEP snapshots. */
export const KEEP_KINDS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export const MAX_KEEP = 10_000;

const MINUTE = 60_000;
/** A schedule rarer than this (or a first snapshot) is simply due: no walk longer than a year of minutes. */
const LONGEST_WALK = 366 * 24 * 60 * MINUTE;

/**
 * Whether a tick of `schedule` (node-cron syntax, local time, day-of-month AND day-of-week as
 * node-cron matches them) fell in (lastAt, now]. No snapshot yet: due at once, so a volume has
 * a snapshot to hand over from its first cycle. A tick missed while the agent was down is
 * made up at the next cycle, as anacron would. Example: "0 *\/6 * * *", last 05:59, now 06:01 → due;
 * last 06:00:30, now 11:59 → not due.
 */
export function isDue(schedule: string, lastAt: number | undefined, now: number): boolean {
  if (lastAt === undefined || now - lastAt > LONGEST_WALK) return true;
  if (now <= lastAt) return false;
  const fields = cron.parse(schedule);
  const sets = {
    minute: new Set(fields.minute),
    hour: new Set(fields.hour),
    dayOfMonth: new Set(fields.dayOfMonth.map(Number)),
    month: new Set(fields.month),
    dayOfWeek: new Set(fields.dayOfWeek.map(Number)),
  };
  const seconds = [...new Set(fields.second)].sort((left, right) => left - right);
  for (let minute = Math.floor(lastAt / MINUTE) * MINUTE; minute <= now; minute += MINUTE) {
    const date = new Date(minute);
    if (
      !sets.minute.has(date.getMinutes()) ||
      !sets.hour.has(date.getHours()) ||
      !sets.dayOfMonth.has(date.getDate()) ||
      !sets.month.has(date.getMonth() + 1) ||
      !sets.dayOfWeek.has(date.getDay())
    ) {
      continue;
    }
    if (seconds.some((second) => minute + second * 1000 > lastAt && minute + second * 1000 <= now)) return true;
  }
  return false;
}

/** `keep: {daily: 7, weekly: 4}` → `--keep-daily 7 --keep-weekly 4`, in restic's order. */
export function forgetArgs(keep: SnapshotSpec['keep']): string[] {
  return KEEP_KINDS.flatMap((kind) => (keep[kind] === undefined ? [] : [`--keep-${kind}`, String(keep[kind])]));
}

/** What a record in the repository says; each is a tiny restic snapshot with tags (lease.ts). */
export interface LeaseRecord {
  id: string;
  kind: 'lease' | 'handoff' | 'takeover';
  node: string;
  /** ISO time the record was written (restic's snapshot time). */
  at: string;
  /** handoff: the final snapshot the next node restores. */
  snapshot?: string;
}

export interface LeaseState {
  /** Nodes with a lease record no hand-off or takeover has closed, and those records. */
  holders: { node: string; records: string[] }[];
  /** The last hand-off or takeover, if any. */
  lastRelease?: LeaseRecord;
}

/**
 * Replays the records in order (time, then id, so every node reads the same order): a lease
 * record opens its node's lease; a hand-off closes its node's; a takeover closes every lease.
 * Example: lease a, handoff a (snapshot s1), lease b → holders [b], lastRelease the hand-off.
 */
export function leaseState(records: LeaseRecord[]): LeaseState {
  const sorted = [...records].sort((left, right) => (left.at < right.at ? -1 : left.at > right.at ? 1 : left.id < right.id ? -1 : left.id > right.id ? 1 : 0));
  const open = new Map<string, string[]>();
  let lastRelease: LeaseRecord | undefined;
  for (const record of sorted) {
    if (record.kind === 'lease') open.set(record.node, [...(open.get(record.node) ?? []), record.id]);
    else if (record.kind === 'handoff') {
      open.delete(record.node);
      lastRelease = record;
    } else {
      open.clear();
      lastRelease = record;
    }
  }
  return { holders: [...open.entries()].map(([node, ids]) => ({ node, records: ids })), ...(lastRelease ? { lastRelease } : {}) };
}

export type LeaseDecision =
  | { kind: 'held' }
  | { kind: 'free' }
  | { kind: 'held-elsewhere'; nodes: string[] };

/**
 * Whether `node` may write the volume. After writing its own lease record a node reads the
 * records again and keeps the lease only when it is the sole holder; two nodes racing both
 * see each other and both step back (and try again next cycle): never two writers, at the
 * price of a retry.
 */
export function leaseDecision(state: LeaseState, node: string): LeaseDecision {
  const others = state.holders.filter((holder) => holder.node !== node).map((holder) => holder.node);
  if (others.length > 0) return { kind: 'held-elsewhere', nodes: others };
  return state.holders.some((holder) => holder.node === node) ? { kind: 'held' } : { kind: 'free' };
}

/**
 * What a node waiting for a volume reports: within the manifest's `handoff_timeout` it waits
 * (the old node's next cycle hands off); after it, it fails with VOLUME_HANDOFF_TIMEOUT and
 * names `capstan volumes takeover`.
 */
export function waitVerdict(waitingSince: number, now: number, timeoutMs: number): 'waiting' | 'timed-out' {
  return now - waitingSince >= timeoutMs ? 'timed-out' : 'waiting';
}

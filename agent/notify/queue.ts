import { randomUUID } from 'node:crypto';
import type { Db } from '../state/db.js';
import type { NotificationEvent } from './events.js';

export type QueueState = 'pending' | 'delivered' | 'failed' | 'dropped';

export interface QueuedNotification {
  id: number;
  targetKey: string;
  /** Stays the same across retries, so a receiver can drop duplicates. */
  deliveryId: string;
  event: NotificationEvent;
  state: QueueState;
  attempts: number;
  /** Epoch milliseconds. */
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

interface Row {
  id: number;
  target_key: string;
  delivery_id: string;
  event: string;
  state: QueueState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

/** The `notifications` table: every write is one short synchronous statement, safe inside a cycle. */
export class NotificationQueue {
  constructor(private readonly db: Db) {}

  /** One row per target, due at once. */
  enqueue(targetKeys: readonly string[], event: NotificationEvent, nowMs: number): void {
    const insert = this.db.prepare(
      "INSERT INTO notifications (target_key, delivery_id, event, state, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', 0, ?, ?)",
    );
    const createdAt = new Date(nowMs).toISOString();
    const json = JSON.stringify(event);
    this.db.transaction(() => {
      for (const targetKey of targetKeys) insert.run(targetKey, randomUUID(), json, nowMs, createdAt);
    })();
  }

  /** Oldest first, so a receiver that recovers hears events in the order they happened. */
  due(nowMs: number, limit: number): QueuedNotification[] {
    const rows = this.db
      .prepare("SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?")
      .all(nowMs, limit) as Row[];
    return rows.map(toQueued);
  }

  markDelivered(id: number, nowMs: number): void {
    this.db
      .prepare("UPDATE notifications SET state = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = NULL WHERE id = ?")
      .run(new Date(nowMs).toISOString(), id);
  }

  scheduleRetry(id: number, nextAttemptAt: number, error: string): void {
    this.db.prepare('UPDATE notifications SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?').run(nextAttemptAt, error, id);
  }

  /** `countAttempt` is false when nothing was sent (the target is no longer configured). */
  markFailed(id: number, error: string, countAttempt = true): void {
    this.db
      .prepare(`UPDATE notifications SET state = 'failed', attempts = attempts + ${countAttempt ? 1 : 0}, last_error = ? WHERE id = ?`)
      .run(error, id);
  }

  /** Marks the oldest pending rows beyond `maxPending` as dropped; returns their target keys. */
  dropOverflow(maxPending: number): string[] {
    return this.db.transaction(() => {
      const rows = this.db
        .prepare("SELECT id, target_key FROM notifications WHERE state = 'pending' ORDER BY id DESC LIMIT -1 OFFSET ?")
        .all(maxPending) as { id: number; target_key: string }[];
      const drop = this.db.prepare("UPDATE notifications SET state = 'dropped', last_error = 'queue full' WHERE id = ?");
      for (const row of rows) drop.run(row.id);
      return rows.map((row) => row.target_key);
    })();
  }

  /** Keeps the newest `keep` finished rows (delivered, failed, dropped) for inspection. */
  pruneFinished(keep: number): number {
    return this.db
      .prepare(
        `DELETE FROM notifications WHERE id IN
           (SELECT id FROM notifications WHERE state != 'pending' ORDER BY id DESC LIMIT -1 OFFSET ?)`,
      )
      .run(keep).changes;
  }

  pendingCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS count FROM notifications WHERE state = 'pending'").get() as { count: number }).count;
  }

  /** Newest first; for `status`, tests and debugging. */
  list(limit = 100): QueuedNotification[] {
    return (this.db.prepare('SELECT * FROM notifications ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(toQueued);
  }
}

function toQueued(row: Row): QueuedNotification {
  return {
    id: row.id,
    targetKey: row.target_key,
    deliveryId: row.delivery_id,
    event: JSON.parse(row.event) as NotificationEvent,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    deliveredAt: row.delivered_at,
  };
}

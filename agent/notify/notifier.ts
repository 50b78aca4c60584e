import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { incrementCounter } from '../metrics/counters.js';
import type { Db } from '../state/db.js';
import { defaultRetryPolicy, retryDelayMs, type RetryPolicy } from './backoff.js';
import { deliver, type FetchFn } from './deliver.js';
import { redactEvent, type NotificationEvent } from './events.js';
import { formatRequest } from './format.js';
import { NotificationQueue, type QueuedNotification } from './queue.js';
import { targetKey, wantsEvent, type NotifyTarget } from './targets.js';

export interface NotifierDeps {
  db: Db;
  targets: readonly NotifyTarget[];
  clock: Clock;
  logger: Logger;
  fetch?: FetchFn;
  /** In [0, 1); spreads retry times. */
  random?: () => number;
  /** Known secret values (decrypted env values, tokens), redacted from every event before it is stored. */
  secrets?: () => readonly string[];
  policy?: RetryPolicy;
  /** Per send; a receiver that accepts the connection and never answers costs at most this. */
  timeoutMs?: number;
  /** Pending rows kept at most; beyond it the oldest are dropped (a receiver down for days). */
  maxPending?: number;
  /** Rows sent per pump at most, across targets. */
  batchSize?: number;
  /** Finished rows kept for inspection. */
  keepFinished?: number;
}

export interface PumpSummary {
  delivered: number;
  retried: number;
  failed: number;
}

/**
 * Notifications go out, never in. `notify` only writes rows to SQLite and returns, so a cycle
 * never waits for a receiver; `pump` sends what is due, on a timer started by `start`. Rows
 * survive restarts, and each keeps its delivery id across retries.
 */
export class Notifier {
  private readonly queue: NotificationQueue;
  private readonly targetsByKey: Map<string, NotifyTarget>;
  private readonly fetchFn: FetchFn;
  private readonly random: () => number;
  private readonly secrets: () => readonly string[];
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly batchSize: number;
  private readonly keepFinished: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PumpSummary> | undefined;
  private pumpRequested = false;

  constructor(private readonly deps: NotifierDeps) {
    this.queue = new NotificationQueue(deps.db);
    this.targetsByKey = new Map(deps.targets.map((target) => [targetKey(target), target]));
    this.fetchFn = deps.fetch ?? fetch;
    this.random = deps.random ?? Math.random;
    this.secrets = deps.secrets ?? (() => []);
    this.policy = deps.policy ?? defaultRetryPolicy;
    this.timeoutMs = deps.timeoutMs ?? 10_000;
    this.maxPending = deps.maxPending ?? 1000;
    this.batchSize = deps.batchSize ?? 50;
    this.keepFinished = deps.keepFinished ?? 1000;
  }

  /** Queues the event for each target that wants it. Synchronous, and never throws into the cycle. */
  notify(event: NotificationEvent): void {
    const { logger, targets, clock } = this.deps;
    const clean = redactEvent(event, this.secrets());
    const keys = targets.filter((target) => wantsEvent(target, clean.kind)).map(targetKey);
    if (keys.length === 0) return;
    try {
      this.queue.enqueue(keys, clean, clock.now());
      const droppedTargets = this.queue.dropOverflow(this.maxPending);
      if (droppedTargets.length > 0) {
        logger.warn({ dropped: droppedTargets.length, maxPending: this.maxPending }, 'notification queue full, dropped the oldest');
        for (const key of droppedTargets) incrementCounter(this.deps.db, 'notifications', { target: key, result: 'dropped' });
      }
    } catch (error) {
      logger.error({ event: clean.kind, error: String(error) }, 'could not queue a notification');
      return;
    }
    if (this.timer !== undefined) setImmediate(() => this.pumpInBackground());
  }

  /** Sends what is due now. Concurrent calls share one run. */
  pump(): Promise<PumpSummary> {
    if (this.running) {
      this.pumpRequested = true;
      return this.running;
    }
    this.running = this.pumpOnce().finally(() => {
      this.running = undefined;
      if (this.pumpRequested && this.timer !== undefined) {
        this.pumpRequested = false;
        setImmediate(() => this.pumpInBackground());
      }
    });
    return this.running;
  }

  /** Pumps now (rows left by a previous process) and then every `intervalMs`; never keeps the process alive. */
  start(intervalMs = 5_000): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.pumpInBackground(), intervalMs);
    this.timer.unref();
    setImmediate(() => this.pumpInBackground());
  }

  /** Stops the timer and waits for a send in flight (at most `timeoutMs`). */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.pumpRequested = false;
    await this.running?.catch(() => undefined);
  }

  pendingCount(): number {
    return this.queue.pendingCount();
  }

  private pumpInBackground(): void {
    this.pump().catch((error: unknown) => this.deps.logger.error({ error: String(error) }, 'notification pump failed'));
  }

  private async pumpOnce(): Promise<PumpSummary> {
    const summary: PumpSummary = { delivered: 0, retried: 0, failed: 0 };
    const byTarget = new Map<string, QueuedNotification[]>();
    for (const row of this.queue.due(this.deps.clock.now(), this.batchSize)) {
      byTarget.set(row.targetKey, [...(byTarget.get(row.targetKey) ?? []), row]);
    }
    // Targets in parallel, so one slow receiver does not hold up the others; each target's
    // rows in order, and a target that fails is left alone until its next retry time.
    await Promise.all([...byTarget].map(([key, rows]) => this.sendToTarget(key, rows, summary)));
    this.queue.pruneFinished(this.keepFinished);
    return summary;
  }

  private async sendToTarget(key: string, rows: QueuedNotification[], summary: PumpSummary): Promise<void> {
    const { logger, clock, db } = this.deps;
    const target = this.targetsByKey.get(key);
    if (target === undefined) {
      for (const row of rows) this.queue.markFailed(row.id, 'target no longer configured', false);
      logger.warn({ target: key, count: rows.length }, 'dropping notifications for a target no longer configured');
      summary.failed += rows.length;
      return;
    }
    for (const row of rows) {
      const result = await deliver(this.fetchFn, target.url, formatRequest(target, row.event, row.deliveryId), this.timeoutMs);
      const attempts = row.attempts + 1;
      const log = { target: key, event: row.event.kind, delivery: row.deliveryId, attempts };
      if (result.outcome === 'delivered') {
        this.queue.markDelivered(row.id, clock.now());
        incrementCounter(db, 'notifications', { target: key, result: 'delivered' });
        summary.delivered++;
        continue;
      }
      if (result.outcome === 'retry' && attempts < this.policy.maxAttempts) {
        const retryInMs = retryDelayMs(attempts, this.policy, this.random());
        this.queue.scheduleRetry(row.id, clock.now() + retryInMs, result.error);
        logger.warn({ ...log, retryInMs, error: result.error }, 'notification not delivered, will retry');
        summary.retried++;
        return;
      }
      this.queue.markFailed(row.id, result.error);
      incrementCounter(db, 'notifications', { target: key, result: 'failed' });
      const message = result.outcome === 'permanent' ? 'notification refused by the receiver, not retried' : 'notification given up after the last attempt';
      logger.error({ ...log, error: result.error }, message);
      summary.failed++;
      if (result.outcome === 'retry') return;
    }
  }
}

import { readFileSync } from 'node:fs';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { countRollback, countRollout, metricsSnapshotFromStore, writeMetricsFile } from '../metrics/index.js';
import { eventsForOutcome } from '../notify/from-outcome.js';
import { newEvent, Notifier, parseNotifyTargets } from '../notify/index.js';
import type { CycleOutcome, ServiceReadiness } from '../reconcile.js';
import type { Db } from '../state/db.js';
import type { StateStore } from '../state/store.js';
import type { AgentConfig } from './config.js';

/**
 * What happens after each cycle, outside the cycle: notifications are queued (never sent
 * inline, so a slow receiver cannot hold a cycle up) and the metrics file is rewritten.
 * Neither may fail a cycle: their errors are logged.
 */
export interface CycleHooks {
  afterCycle(outcome: CycleOutcome): Promise<void>;
  /** Starts sending queued notifications in the background (`capstan run`). */
  start(): void;
  /** Sends what is due now and waits (`capstan once`, before exiting). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function createCycleHooks(deps: { config: AgentConfig; db: Db; store: StateStore; logger: Logger; clock: Clock }): CycleHooks {
  const { config, db, store, logger, clock } = deps;
  const targets = parseNotifyTargets(config.notify, { env: process.env, readFile: (path) => readFileSync(path, 'utf8') });
  const notifier = new Notifier({ db, targets, clock, logger: logger.child({ stage: 'notify' }) });
  // A cycle that fails before observing (git unreachable) still rewrites the file, with the
  // replicas last seen rather than none.
  let lastServices: ServiceReadiness[] = [];

  return {
    async afterCycle(outcome) {
      try {
        for (const name of outcome.rollouts) countRollout(db, ...splitService(name));
        for (const name of outcome.rollbacks) countRollback(db, ...splitService(name));
        if (outcome.services) lastServices = outcome.services;
        const snapshot = metricsSnapshotFromStore(db, config.node, lastServices);
        const [, previous] = store.cycles(2);
        const context = {
          node: config.node,
          previous: previous ? { commit: previous.commit, reason: previous.reason } : null,
          consecutiveFailures: snapshot.consecutiveFailures,
        };
        for (const event of eventsForOutcome(outcome, context)) notifier.notify(newEvent(clock, event));
        await writeMetricsFile(config.metricsFile, snapshot);
      } catch (error) {
        logger.error({ error: String(error) }, 'after-cycle hooks failed');
      }
    },
    start: () => notifier.start(),
    flush: async () => {
      await notifier.pump();
    },
    stop: () => notifier.stop(),
  };
}

function splitService(name: string): [string, string] {
  const slash = name.indexOf('/');
  return [name.slice(0, slash), name.slice(slash + 1)];
}

import { Command } from 'commander';
import cron from 'node-cron';
import { createLogger } from '../../log.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { systemClock } from '../../clock.js';
import { createCycleHooks } from '../hooks.js';
import { createReconciler, openState } from '../wiring.js';

export function runCommand(): Command {
  return withConfigOptions(new Command('run'))
    .description('the agent: a cycle at start and then on the schedule, never two at once')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const logger = createLogger();
      const { db, store } = openState(config);
      const hooks = createCycleHooks({ config, db, store, logger, clock: systemClock });
      hooks.start();
      const interrupted = store.markInterrupted();
      if (interrupted > 0) logger.warn({ cycles: interrupted }, 'previous run was interrupted; converging from what Docker shows');
      const reconciler = createReconciler(config, store, logger);

      let inFlight: Promise<unknown> | undefined;
      const runCycle = (trigger: string) => {
        if (inFlight) {
          logger.warn({ trigger }, 'previous cycle still running, skipping this one');
          return inFlight;
        }
        inFlight = reconciler
          .cycle(trigger)
          .then((outcome) => hooks.afterCycle(outcome))
          .catch((error: unknown) => logger.error({ error: String(error) }, 'cycle crashed'))
          .finally(() => {
            inFlight = undefined;
            const next = task.getNextRun();
            store.setMeta('next_cycle_at', next ? next.toISOString() : null);
          });
        return inFlight;
      };

      const task = cron.schedule(config.schedule, () => void runCycle('schedule'), { name: 'capstan-cycle', noOverlap: true });
      logger.info({ repo: redactUrl(config.repo), branch: config.branch, path: config.path, schedule: config.schedule, node: config.node }, 'agent started');
      void runCycle('startup');

      await new Promise<void>((resolve) => {
        const stop = async (signal: string) => {
          logger.info({ signal }, 'stopping: waiting for the cycle in flight');
          await task.stop();
          await inFlight;
          await hooks.stop();
          store.setMeta('next_cycle_at', null);
          store.close();
          logger.info('agent stopped');
          resolve();
        };
        process.once('SIGTERM', () => void stop('SIGTERM'));
        process.once('SIGINT', () => void stop('SIGINT'));
      });
    });
}

/** A URL may carry credentials (`https://user:token@host/…`); never log them. */
export function redactUrl(repo: string): string {
  return repo.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

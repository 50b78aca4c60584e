import { Command } from 'commander';
import { createLogger } from '../../log.js';
import { SecretRegistry } from '../../secret-registry.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { systemClock } from '../../clock.js';
import { createCycleHooks } from '../hooks.js';
import { createReconciler, openState, operatorControl } from '../wiring.js';
import { everythingSuspended } from '../../control/decide.js';
import { ControlStore } from '../../control/store.js';
import { reasonCode } from '../../reasons.js';
import { acquireCycleLock, lockTimeoutMs } from '../../state/cycle-lock.js';

export function onceCommand(): Command {
  return withConfigOptions(new Command('once'))
    .description('run one cycle now; exit 0 when converged, 1 with the reason otherwise')
    .option('--force', 'deploy changes a deploy window or an update lock holds back, this cycle only (recorded in history)')
    .option('--lock-timeout <duration>', 'how long to wait for a cycle in flight on the same state dir, e.g. 30s, 10m, 0 to refuse at once (CAPSTAN_LOCK_TIMEOUT, default 10m)')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const secrets = new SecretRegistry();
      const logger = createLogger({ destination: 2, redact: (line) => secrets.redact(line) });
      const timeoutMs = lockTimeoutMs(options.lockTimeout as string | undefined, process.env);
      // Waits for `capstan run`'s cycle in flight (if any) before reading any state.
      const lock = await acquireCycleLock(config.stateDir, 'once', timeoutMs, { clock: systemClock }).catch((error: unknown) => {
        process.stderr.write(`capstan: ${(error as Error).message}\n`);
        process.exit(75);
      });
      const { db, store } = openState(config);
      const hooks = createCycleHooks({ config, db, store, logger, clock: systemClock });
      try {
        store.markInterrupted();
        // `capstan suspend` without apps: nothing is done until `capstan resume`.
        const suspended = everythingSuspended(new ControlStore(db, config.node).suspensions());
        if (suspended) {
          process.stdout.write(`everything is suspended since ${suspended.at} by ${suspended.user}${suspended.reason ? ` (${suspended.reason})` : ''}; nothing done (\`capstan resume\`)\n`);
          return;
        }
        const outcome = await (await createReconciler(config, store, logger, secrets, operatorControl(db, config.node))).cycle(options.force ? 'once --force' : 'once', { force: options.force === true });
        await hooks.afterCycle(outcome);
        await hooks.flush();
        if (outcome.result === 'failed' || outcome.result === 'blocked') {
          // Blocked: the head is quarantined, invalid or refused; the last applied commit runs on.
          process.stderr.write(`capstan: cycle ${outcome.result}: ${reasonCode(outcome)}: ${outcome.message}\n`);
          process.exitCode = 1;
        } else {
          // Deferred: converged, but changed apps wait for a deploy window or an update lock.
          const waits = outcome.result === 'deferred' ? `: ${outcome.message}` : '';
          process.stdout.write(`${outcome.result} at ${outcome.commit?.slice(0, 12)} (${outcome.changes.length} change(s))${waits}\n`);
        }
      } finally {
        store.close();
        lock.release();
      }
    });
}

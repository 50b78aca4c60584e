import { Command } from 'commander';
import { createLogger } from '../../log.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { createReconciler, openStore } from '../wiring.js';

export function planCommand(): Command {
  return withConfigOptions(new Command('plan'))
    .description('show what `once` would do, changing nothing; exit 0 in sync, 2 when changes are pending, 1 on error')
    .option('--json', 'print the plan as JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const logger = createLogger({ destination: 2, level: process.env.CAPSTAN_LOG_LEVEL ?? 'warn' });
      const store = openStore(config);
      try {
        const { plan, text } = await createReconciler(config, store, logger).preview();
        process.stdout.write(options.json ? JSON.stringify(plan, null, 2) + '\n' : text);
        if (plan.problems.length > 0) process.exitCode = 1;
        else if (plan.operations.length > 0) process.exitCode = 2;
      } finally {
        store.close();
      }
    });
}

import type { Command } from 'commander';
import { reasonOption } from '../apps-argument.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';

/** `capstan unpin`: follow the branch head again; the running agent starts a cycle at once. */
export function unpinCommand(): Command {
  return operatorCommand('unpin', 'follow the branch head again (after `capstan pin` or `capstan rollback`); the running agent starts a cycle at once')
    .option('--reason <text>', 'why, for history and the notification')
    .action((options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        const reason = reasonOption(options.reason);
        const previous = operator.control.unpin();
        if (previous === null) {
          process.stdout.write('nothing is pinned\n');
          return;
        }
        const recorded = await recordCommand(operator, 'unpin', { commit: previous, ...(reason ? { reason } : {}) });
        process.stdout.write(`unpinned ${previous}; following the branch head\n`);
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

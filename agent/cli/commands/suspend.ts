import type { Command } from 'commander';
import { appsArgument, reasonOption } from '../apps-argument.js';
import { operatorCommand, recordCommand, withOperator } from '../operator.js';

/**
 * `capstan suspend [APP...]`: as `flux suspend`, the apps (or everything) are left exactly as
 * they are, no drift repair and no prune, until `capstan resume`. A cycle in flight finishes.
 */
export function suspendCommand(): Command {
  return operatorCommand('suspend', 'leave these apps (or, with none named, everything) exactly as they are: no drift repair, no prune, until `capstan resume`', false)
    .argument('[apps...]', 'apps to suspend; none: everything')
    .option('--reason <text>', 'why, for status, history and the notification')
    .action((apps: string[], options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        const names = appsArgument(apps);
        const reason = reasonOption(options.reason);
        operator.control.suspend(names, operator.user, reason);
        await recordCommand(operator, 'suspend', { apps: names, ...(reason ? { reason } : {}) }, false);
        const what = names.length > 0 ? names.join(', ') : 'everything';
        process.stdout.write(`suspended ${what} (by ${operator.user}); from the next cycle on it is left as it is, until \`capstan resume\`\n`);
      }),
    );
}

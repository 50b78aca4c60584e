import type { Command } from 'commander';
import { reasonOption } from '../apps-argument.js';
import { resolveCommit } from '../commit-argument.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';

/**
 * `capstan pin COMMIT`: deploy this commit of the branch's history and stay on it while new
 * commits arrive (it still has to pass signature policy), until `capstan unpin`.
 */
export function pinCommand(): Command {
  return operatorCommand('pin', 'deploy COMMIT of the branch\'s history and stay on it while new commits arrive, until `capstan unpin`; signature policy still applies')
    .argument('<commit>', 'commit id or prefix (4 to 40 hex digits)')
    .option('--reason <text>', 'why, for status, history and the notification')
    .action((text: string, options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        const commit = await resolveCommit(operator, text);
        const reason = reasonOption(options.reason);
        operator.control.pin(commit, operator.user, reason);
        const recorded = await recordCommand(operator, 'pin', { commit, ...(reason ? { reason } : {}) });
        process.stdout.write(`pinned ${commit}\n`);
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

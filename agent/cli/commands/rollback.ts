import type { Command } from 'commander';
import { CapstanError } from '../../errors.js';
import { reasonOption } from '../apps-argument.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';

/**
 * `capstan rollback`: as `kamal rollback`, back to what ran before: pins the commit applied
 * before the current one was first applied (asked again, it goes one further back).
 */
export function rollbackCommand(): Command {
  return operatorCommand('rollback', 'pin the commit applied before the current one (`capstan unpin` returns to the branch head)')
    .option('--reason <text>', 'why, for status, history and the notification')
    .action((options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        const current = operator.store.lastAppliedCommit;
        if (current === null) throw new CapstanError('NOTHING_TO_ROLL_BACK', 'terminal', 'no commit has been applied on this node yet');
        const previous = operator.control.appliedBefore(current);
        if (previous === null) throw new CapstanError('NOTHING_TO_ROLL_BACK', 'terminal', `no commit was applied on this node before ${current.slice(0, 12)}`);
        const reason = reasonOption(options.reason);
        operator.control.pin(previous, operator.user, reason ?? `rollback from ${current.slice(0, 12)}`);
        const recorded = await recordCommand(operator, 'rollback', { commit: previous, ...(reason ? { reason } : {}) });
        process.stdout.write(`pinned ${previous} (applied before ${current.slice(0, 12)}); \`capstan unpin\` follows the branch head again\n`);
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

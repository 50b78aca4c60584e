import type { Command } from 'commander';
import { CapstanError } from '../../errors.js';
import { EVERYTHING } from '../../control/store.js';
import { appsArgument, reasonOption } from '../apps-argument.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';

/** `capstan resume [APP...]`: lifts `capstan suspend`; the agent runs a cycle at once, repairing what drifted meanwhile. */
export function resumeCommand(): Command {
  return operatorCommand('resume', 'reconcile these apps (or, with none named, everything) again; the running agent starts a cycle at once')
    .argument('[apps...]', 'apps to resume; none: every suspension')
    .option('--reason <text>', 'why, for history and the notification')
    .action((apps: string[], options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        const names = appsArgument(apps);
        const reason = reasonOption(options.reason);
        const suspended = operator.control.suspensions().map((row) => row.app);
        const unknown = names.filter((name) => !suspended.includes(name));
        if (unknown.length > 0) {
          const everything = suspended.includes(EVERYTHING) ? '; everything is suspended: `capstan resume` without apps lifts it' : '';
          throw new CapstanError('NOT_SUSPENDED', 'terminal', `not suspended: ${unknown.join(', ')} (suspended: ${suspended.filter((app) => app !== EVERYTHING).join(', ') || 'no app by name'})${everything}`);
        }
        const lifted = operator.control.resume(names);
        if (lifted.length === 0) {
          process.stdout.write('nothing is suspended\n');
          return;
        }
        const recorded = await recordCommand(operator, 'resume', { apps: names, ...(reason ? { reason } : {}) });
        process.stdout.write(`resumed ${lifted.map((app) => (app === EVERYTHING ? 'everything' : app)).join(', ')}\n`);
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

import type { Command } from 'commander';
import { everythingSuspended } from '../../control/decide.js';
import { CapstanError } from '../../errors.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';

/** `capstan sync`: as `flux reconcile`, the running agent starts a cycle now instead of waiting for the schedule. */
export function syncCommand(): Command {
  return operatorCommand('sync', 'the running agent starts a cycle within a second (after the cycle in flight, if one runs) and this prints its outcome')
    .option('--force', 'the cycle overrides what would defer a change (deploy windows), once; recorded in history')
    .action((options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        if (!operator.agentAlive()) {
          throw new CapstanError('AGENT_NOT_RUNNING', 'terminal', `no agent is running on state dir ${operator.config.stateDir}: start \`capstan run\`, or run one cycle with \`capstan once\``);
        }
        const all = everythingSuspended(operator.control.suspensions());
        if (all) {
          throw new CapstanError('SUSPENDED', 'terminal', `everything is suspended since ${all.at} by ${all.user}${all.reason ? ` (${all.reason})` : ''}: \`capstan resume\` first`);
        }
        const recorded = await recordCommand(operator, 'sync', options.force === true ? { force: true } : {});
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

import type { Command } from 'commander';
import { expandPrefix, isCommitPrefix } from '../../control/decide.js';
import { CapstanError } from '../../errors.js';
import { reasonOption } from '../apps-argument.js';
import { awaitCycle, operatorCommand, recordCommand, withOperator } from '../operator.js';
import { ImageUpdateStore } from '../../image-updates/store.js';

/**
 * `capstan retry [COMMIT]`: lifts a quarantine, so the commit is tried again at the next cycle
 * (the running agent starts one at once). Without COMMIT: the quarantined commit the agent
 * last attempted, or the only one. `--image APP/SERVICE`: lifts the quarantine of the images
 * whose update failed for that service (agent/image-updates), so they are rolled out again.
 */
export function retryCommand(): Command {
  return operatorCommand('retry', 'lift the quarantine of COMMIT (default: the one last attempted) so it is tried again; the running agent starts a cycle at once')
    .argument('[commit]', 'quarantined commit id or prefix (4 to 40 hex digits)')
    .option('--image <app/service>', 'lift the quarantine of the image updates that failed for this service instead (update.image)')
    .option('--reason <text>', 'why, for history and the notification')
    .action((text: string | undefined, options: Record<string, unknown>) =>
      withOperator(options, async (operator) => {
        if (options.image !== undefined) {
          const image = String(options.image);
          const [app, service, ...rest] = image.split('/');
          if (!app || !service || rest.length > 0 || text !== undefined) throw new CapstanError('CONFIG_INVALID', 'terminal', `--image takes APP/SERVICE and no commit, not '${image.slice(0, 80)}'`);
          const lifted = new ImageUpdateStore(operator.store.database, operator.config.node).liftQuarantine(app, service);
          if (lifted === 0) throw new CapstanError('NOT_QUARANTINED', 'terminal', `no image update of ${app}/${service} is quarantined on this node (\`capstan status\` lists them)`);
          const reason = reasonOption(options.reason);
          const recorded = await recordCommand(operator, 'retry', { image: `${app}/${service}`, ...(reason ? { reason } : {}) });
          process.stdout.write(`quarantine of ${lifted} image update(s) of ${app}/${service} lifted; the update is tried again at the next cycle\n`);
          process.exitCode = await awaitCycle(operator, recorded, options);
          return;
        }
        const quarantined = operator.store.quarantined(operator.config.node).map((entry) => entry.commit);
        if (quarantined.length === 0) throw new CapstanError('NOT_QUARANTINED', 'terminal', 'no commit is quarantined on this node');
        let commit: string;
        if (text !== undefined) {
          if (!isCommitPrefix(text)) throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `'${text.slice(0, 80)}' is not a commit id: give 4 to 40 hex digits`);
          const found = expandPrefix(text, quarantined);
          if (found === 'unknown' || found === 'ambiguous') {
            throw new CapstanError('NOT_QUARANTINED', 'terminal', `${found === 'ambiguous' ? `${text} names more than one quarantined commit` : `commit ${text} is not quarantined`} (\`capstan history --quarantined\` lists them)`);
          }
          commit = found;
        } else {
          const attempted = operator.store.lastAttemptedCommit;
          if (attempted !== null && quarantined.includes(attempted)) commit = attempted;
          else if (quarantined.length === 1) commit = quarantined[0];
          else throw new CapstanError('NOT_QUARANTINED', 'terminal', `${quarantined.length} commits are quarantined: name one (\`capstan history --quarantined\`)`);
        }
        const reason = reasonOption(options.reason);
        operator.control.liftQuarantine(commit);
        const recorded = await recordCommand(operator, 'retry', { commit, ...(reason ? { reason } : {}) });
        process.stdout.write(`quarantine of ${commit} lifted; it is tried again at the next cycle\n`);
        process.exitCode = await awaitCycle(operator, recorded, options);
      }),
    );
}

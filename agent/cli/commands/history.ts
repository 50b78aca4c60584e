import { Command } from 'commander';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { renderTable } from '../table.js';
import { openStore } from '../wiring.js';

export function historyCommand(): Command {
  return withConfigOptions(new Command('history'))
    .description('past cycles: commit, result, what changed; with COMMIT, the cycles of that commit in full')
    .argument('[commit]', 'commit id or prefix')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many cycles', '50')
    .action((commit: string | undefined, options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const store = openStore(config);
      try {
        const cycles = commit ? store.cyclesForCommit(commit) : store.cycles(Number(options.limit));
        if (options.json) {
          process.stdout.write(JSON.stringify(cycles, null, 2) + '\n');
          return;
        }
        if (commit) {
          for (const cycle of cycles) {
            process.stdout.write(
              [
                `cycle ${cycle.id} (${cycle.trigger}) ${cycle.startedAt} → ${cycle.result}${cycle.reason ? ` [${cycle.reason}]` : ''} in ${cycle.durationMs ?? '?'} ms`,
                `  commit ${cycle.commit} by ${cycle.commitAuthor ?? '?'}: ${cycle.commitMessage ?? ''}`,
                ...(cycle.message ? [`  ${cycle.message.replace(/\n/g, '\n  ')}`] : []),
                ...cycle.changes.map((change) => `  - ${change}`),
              ].join('\n') + '\n',
            );
          }
          return;
        }
        process.stdout.write(
          renderTable(
            ['CYCLE', 'STARTED', 'COMMIT', 'RESULT', 'CHANGES', 'MS', 'MESSAGE'],
            cycles.map((cycle) => [
              String(cycle.id),
              cycle.startedAt,
              cycle.commit?.slice(0, 12) ?? '-',
              cycle.reason ? `${cycle.result} [${cycle.reason}]` : cycle.result,
              String(cycle.changes.length),
              String(cycle.durationMs ?? ''),
              (cycle.commitMessage ?? '').slice(0, 50),
            ]),
          ),
        );
      } finally {
        store.close();
      }
    });
}

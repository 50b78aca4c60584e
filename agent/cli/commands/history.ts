import { Command } from 'commander';
import { CapstanError } from '../../errors.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { outputLines } from '../status-report.js';
import { renderTable } from '../table.js';
import { openState } from '../../state/open.js';
import { JobRunStore } from '../../jobs/store.js';
import { renderJobHistory } from '../job-report.js';
import { ControlStore } from '../../control/store.js';
import { describeCommand } from '../../control/decide.js';

export function historyCommand(): Command {
  return withConfigOptions(new Command('history'))
    .description('past cycles: commit, author, subject, result, what changed; with COMMIT, the cycles of that commit in full, with what failed replicas printed last')
    .argument('[commit]', 'commit id or prefix (at least 4 hex digits); an unknown one is an error')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'how many cycles', '50')
    .option('--quarantined', 'list every quarantined commit (status shows only recent ones)')
    .option('--jobs [job]', 'the runs of scheduled jobs (or of one, APP/SERVICE), newest first, with their exit codes and last output')
    .option('--commands', 'list the operator commands (sync, suspend, pin, rollback, retry…) with who ran them and when')
    .action((commit: string | undefined, options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
        throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --limit '${String(options.limit)}': a whole number from 1 to 100000`);
      }
      if (commit !== undefined && !/^[0-9a-f]{4,40}$/i.test(commit)) {
        throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `'${commit.slice(0, 80)}' is not a commit id: give 4 to 40 hex digits`);
      }
      const { db, store } = openState(config);
      const control = new ControlStore(db, config.node);
      const commandRows = () =>
        control.commands(limit).map((row) => [String(row.id), row.at, row.user, describeCommand(row.command, row.args).slice(0, 60), row.cycleId === null ? '-' : String(row.cycleId), row.result ?? (row.wantsCycle ? 'waiting' : '-')]);
      const commandHeader = ['#', 'AT', 'USER', 'COMMAND', 'CYCLE', 'RESULT'];
      try {
        if (options.commands) {
          if (options.json) process.stdout.write(JSON.stringify(control.commands(limit), null, 2) + '\n');
          else process.stdout.write(renderTable(commandHeader, commandRows()));
          return;
        }
        if (options.jobs !== undefined) {
          const job = typeof options.jobs === 'string' ? options.jobs : undefined;
          const [app, service] = job?.split('/') ?? [];
          if (job !== undefined && (!app || !service)) throw new CapstanError('CONFIG_INVALID', 'terminal', `--jobs takes APP/SERVICE, not '${job.slice(0, 80)}'`);
          const runs = new JobRunStore(db).recent(config.node, limit, job === undefined ? undefined : { app, service });
          if (options.json) process.stdout.write(JSON.stringify(runs, null, 2) + '\n');
          else process.stdout.write(renderJobHistory(runs, job !== undefined));
          return;
        }
        if (options.quarantined) {
          const entries = store.quarantined(config.node);
          if (options.json) process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
          else process.stdout.write(renderTable(['COMMIT', 'SINCE', 'REASON', 'MESSAGE'], entries.map((entry) => [entry.commit.slice(0, 12), entry.at, entry.reason, entry.message.slice(0, 80)])));
          return;
        }
        if (commit !== undefined && !store.knowsCommit(commit.toLowerCase())) {
          throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `no cycle of commit ${commit} is recorded on this state dir (capstan history lists them)`);
        }
        const cycles = commit ? store.cyclesForCommit(commit.toLowerCase()) : store.cycles(limit);
        const outputs = store.failureOutputsOf(cycles.map((cycle) => cycle.id));
        if (options.json) {
          const rows = cycles.map((cycle) => ({ ...cycle, failureOutputs: outputs.get(cycle.id) ?? [] }));
          process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
          return;
        }
        if (commit) {
          const hookRuns = cycles[0]?.commit ? store.hookRuns(config.node, cycles[0].commit) : [];
          const quarantine = cycles[0]?.commit ? store.quarantineOf(config.node, cycles[0].commit) : null;
          if (quarantine) process.stdout.write(`commit ${quarantine.commit} is quarantined since ${quarantine.at}: ${quarantine.reason}: ${quarantine.message}\n`);
          for (const cycle of cycles) {
            process.stdout.write(
              [
                `cycle ${cycle.id} (${cycle.trigger}) ${cycle.startedAt} → ${cycle.result}${cycle.reason ? ` [${cycle.reason}]` : ''} in ${cycle.durationMs ?? '?'} ms`,
                `  commit ${cycle.commit} by ${cycle.commitAuthor || '?'}: ${cycle.commitMessage ?? ''}`,
                ...(cycle.message ? [`  ${cycle.message.replace(/\n/g, '\n  ')}`] : []),
                ...cycle.changes.map((change) => `  - ${change}`),
                ...hookRuns
                  .filter((run) => run.cycleId === cycle.id)
                  .map((run) => `  hook ${run.app} ${run.phase} ${run.job}: ${run.result}${run.exitCode === null ? '' : ` (exit code ${run.exitCode})`}, ${run.startedAt} → ${run.finishedAt ?? '?'}`),
                ...(outputs.get(cycle.id) ?? []).flatMap((kept) => outputLines(kept).map((line) => `  ${line.replace(/\n/g, '\n  ')}`)),
              ].join('\n') + '\n',
            );
          }
          return;
        }
        process.stdout.write(
          renderTable(
            ['CYCLE', 'STARTED', 'COMMIT', 'AUTHOR', 'RESULT', 'CHANGES', 'MS', 'SUBJECT'],
            cycles.map((cycle) => [
              String(cycle.id),
              cycle.startedAt,
              cycle.commit?.slice(0, 12) ?? '-',
              (cycle.commitAuthor ?? '').replace(/\s*<[^>]*>$/, '').slice(0, 24),
              (cycle.reason ? `${cycle.result} [${cycle.reason}]` : cycle.result) + ((outputs.get(cycle.id)?.length ?? 0) > 0 ? ' (output kept)' : ''),
              String(cycle.changes.length),
              String(cycle.durationMs ?? ''),
              (cycle.commitMessage ?? '').slice(0, 50),
            ]),
          ),
        );
        const commands = commandRows();
        if (commands.length > 0) process.stdout.write('\noperator commands:\n' + renderTable(commandHeader, commands));
      } finally {
        store.close();
      }
    });
}

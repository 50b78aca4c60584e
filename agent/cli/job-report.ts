// Scheduled jobs' runs as `status` and `history --jobs` print them. Pure.
import type { JobRun } from '../jobs/store.js';
import { renderTable } from './table.js';

/** `status`: the last run of each job, and the output of those that did not succeed. */
export function renderJobStatus(lastRuns: JobRun[]): string {
  if (lastRuns.length === 0) return '';
  const table = renderTable(
    ['JOB', 'LAST RUN (SCHEDULED)', 'RESULT', 'EXIT', 'FINISHED', 'MESSAGE'],
    lastRuns.map((run) => [`${run.app}/${run.service}`, run.scheduledAt, resultCell(run), run.exitCode === null ? '-' : String(run.exitCode), run.finishedAt ?? '-', (run.message ?? '').slice(0, 80)]),
  );
  const outputs = lastRuns.filter((run) => run.state === 'failed' || run.state === 'timed-out' || run.state === 'interrupted').flatMap((run) => runOutputLines(run));
  return `\nscheduled jobs:\n${table}${outputs.length > 0 ? outputs.join('\n') + '\n' : ''}`;
}

/** `history --jobs`: the latest runs, newest first. */
export function renderJobHistory(runs: JobRun[], withOutput: boolean): string {
  const table = renderTable(
    ['RUN', 'JOB', 'SCHEDULED', 'TRIGGER', 'RESULT', 'EXIT', 'STARTED', 'FINISHED', 'COMMIT', 'MESSAGE'],
    runs.map((run) => [
      String(run.id),
      `${run.app}/${run.service}`,
      run.scheduledAt,
      run.trigger,
      resultCell(run),
      run.exitCode === null ? '-' : String(run.exitCode),
      run.startedAt,
      run.finishedAt ?? '-',
      run.commit?.slice(0, 12) ?? '-',
      (run.message ?? '').slice(0, 60),
    ]),
  );
  if (!withOutput) return table;
  return table + runs.flatMap((run) => (run.output ? runOutputLines(run) : [])).join('\n') + '\n';
}

function resultCell(run: JobRun): string {
  return run.trigger === 'missed' && run.state !== 'skipped' ? `${run.state} (missed, made up)` : run.state;
}

function runOutputLines(run: JobRun): string[] {
  const head = `last output of ${run.app}/${run.service} run ${run.id}${run.exitCode === null ? '' : ` (exit code ${run.exitCode})`}:`;
  return [head, (run.output || '(nothing printed)').split('\n').map((line) => `  | ${line}`).join('\n')];
}

import type { DesiredState } from '../model.js';
import { nextRuns } from './cron.js';
import { scheduledJobs } from './decide.js';

/** How many next runs `capstan plan` shows per job. */
export const SHOWN_RUNS = 3;

export interface JobPreview {
  job: string;
  schedule: string;
  timezone: string;
  concurrency: 'forbid' | 'allow';
  nextRuns: string[];
  /** The commit changes what runs: recorded when applied, used from the next run on. */
  changed: boolean;
}

/**
 * The scheduled jobs of a desired state with their next runs after `now`, for `capstan plan`.
 * `applied`: config hash last recorded per `app/service`, to say which definitions change.
 */
export function previewJobs(desired: DesiredState, now: number, applied: ReadonlyMap<string, string>): JobPreview[] {
  const hashes = new Map<string, string>(desired.apps.flatMap((app) => app.services.map((service): [string, string] => [`${app.name}/${service.name}`, service.configHash])));
  return scheduledJobs(desired).map(({ app, service, job }) => {
    const key = `${app}/${service}`;
    return {
      job: key,
      schedule: job.schedule,
      timezone: job.timezone ?? 'host',
      concurrency: job.concurrency,
      nextRuns: nextRuns(job.schedule, job.timezone, now, SHOWN_RUNS).map((time) => new Date(time).toISOString()),
      changed: applied.has(key) && applied.get(key) !== hashes.get(key),
    };
  });
}

/** `capstan plan`'s section; empty when the commit has no scheduled job. */
export function printJobs(previews: JobPreview[]): string {
  if (previews.length === 0) return '';
  const lines = previews.map(
    (preview) =>
      `  ${preview.job}  "${preview.schedule}" (${preview.timezone}, concurrency ${preview.concurrency})${preview.changed ? '  definition changed: the next run after this commit is applied uses it' : ''}\n` +
      `    next runs: ${preview.nextRuns.join(', ')}`,
  );
  return `scheduled jobs (never started by a deploy; each run is one container):\n${lines.join('\n')}\n`;
}

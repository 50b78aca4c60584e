// Which scheduled jobs start now: pure, from the jobs, what runs, and the clock. Table-tested
// in test/unit/jobs-decide.test.ts.
import type { JobSpec } from '../model.js';
import { lastRunIn, nextRun } from './cron.js';

/**
 * How late a run may start, unless the job sets `starting_deadline`. A time that passed while the
 * agent was down (or busy) is made up once, at the next look, if it is at most this old; older
 * ones are recorded as skipped. An hour: a nightly backup still runs after a quick reboot, not at
 * noon after a night-long outage. (Kubernetes CronJob's startingDeadlineSeconds, which it leaves
 * unset by default.)
 */
export const STARTING_DEADLINE_MS = 60 * 60_000;

export interface ScheduledJob {
  app: string;
  service: string;
  job: JobSpec;
}

export type JobDecision =
  | { action: 'start'; app: string; service: string; scheduledAt: number; trigger: 'schedule' | 'missed' }
  | { action: 'skip'; app: string; service: string; scheduledAt: number; trigger: 'schedule' | 'missed'; message: string };

/**
 * The runs due in (checkedAt, now], at most one per job: the latest time in the window, as a
 * cron daemon starts one run per time and Kubernetes one per look. `checkedAt` undefined (the
 * first look of a state dir) makes nothing due: a job added today first runs at its next time.
 * `startup`: this look is the first since the agent started, so a due time is a missed one.
 * `running`: `app/service` of the jobs with a run in flight (`concurrency: forbid` skips them).
 *
 * `0 3 * * *`, agent down from 02:50 to 03:20: at 03:20 one `missed` run for 03:00. Down from
 * 02:50 to 05:00: 03:00 is more than an hour ago, one `skipped` row says so.
 */
export function decideRuns(input: { jobs: ScheduledJob[]; checkedAt: number | undefined; now: number; startup: boolean; running: ReadonlySet<string> }): JobDecision[] {
  const { jobs, checkedAt, now, startup, running } = input;
  if (checkedAt === undefined || now <= checkedAt) return [];
  const decisions: JobDecision[] = [];
  for (const { app, service, job } of jobs) {
    const allowedMs = job.startingDeadlineMs ?? STARTING_DEADLINE_MS;
    const deadline = now - allowedMs;
    const from = Math.max(checkedAt, deadline);
    const due = safely(() => lastRunIn(job.schedule, job.timezone, from, now));
    const trigger = startup ? 'missed' : 'schedule';
    if (due === undefined) {
      // Times between the last look and the deadline: missed for good.
      if (checkedAt < deadline) {
        const first = safely(() => nextRun(job.schedule, job.timezone, checkedAt));
        if (first !== undefined && first <= deadline) decisions.push({ action: 'skip', app, service, scheduledAt: first, trigger: 'missed', message: `missed while the agent was down, more than ${formatAge(allowedMs)} ago (starting deadline): not made up` });
      }
      continue;
    }
    if (job.concurrency === 'forbid' && running.has(`${app}/${service}`)) {
      decisions.push({ action: 'skip', app, service, scheduledAt: due, trigger, message: 'the previous run is still running (concurrency: forbid)' });
      continue;
    }
    decisions.push({ action: 'start', app, service, scheduledAt: due, trigger });
  }
  return decisions;
}

/** Every scheduled job of a desired state, by app and service name. */
export function scheduledJobs(desired: { apps: { name: string; services: { name: string; job?: JobSpec }[] }[] }): ScheduledJob[] {
  return desired.apps.flatMap((app) => app.services.flatMap((service) => (service.job ? [{ app: app.name, service: service.name, job: service.job }] : [])));
}

/** `90 s`, `30 min`, `2 h`: a timeout or a deadline as people wrote it, roughly. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** The default deadline reads as prose: `an hour`. */
function formatAge(ms: number): string {
  return ms === STARTING_DEADLINE_MS ? 'an hour' : formatDuration(ms);
}

/** The loader refuses a schedule with no time; should one come through, it never blocks the other jobs. */
function safely(compute: () => number | undefined): number | undefined {
  try {
    return compute();
  } catch {
    return undefined;
  }
}

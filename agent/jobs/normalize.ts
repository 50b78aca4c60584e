import type { PathProblem } from '../load/problems.js';
import type { JobSpec } from '../model.js';
import { durationMs } from '../load/normalize/rollout.js';
import { isValidSchedule, isValidTimezone, nextRun } from './cron.js';

/** A day, as a hook job's: a run longer than that has no limit at all (leave `timeout` out). */
const MAX_TIMEOUT_MS = 86_400_000;
/** A week: a weekly job missed for longer than its own period is not made up. */
const MAX_STARTING_DEADLINE_MS = 7 * 86_400_000;

interface JobManifest {
  schedule?: string;
  concurrency?: 'forbid' | 'allow';
  timezone?: string;
  timeout?: string;
  starting_deadline?: string;
  restart?: string;
  restart_max_retries?: number;
  replicas?: number;
}

/**
 * A service's `schedule`, `concurrency`, `timezone` and `timeout` as the model holds them; undefined when
 * the service is no scheduled job. A job runs to completion, once per time: its `restart` may
 * only be `no` (its default) or `on-failure` with `restart_max_retries` (a failed run retried by
 * Docker in the same container), and `replicas` only 1.
 */
export function normalizeJob(spec: JobManifest, path: (string | number)[], problems: PathProblem[]): JobSpec | undefined {
  if (spec.schedule === undefined) {
    for (const key of ['concurrency', 'timezone', 'timeout', 'starting_deadline'] as const) {
      if (spec[key] !== undefined) problems.push({ code: 'JOB_INVALID', path: [...path, key], atKey: true, message: `${key} applies to a scheduled job only: add schedule, or remove ${key}` });
    }
    return undefined;
  }
  const validSchedule = isValidSchedule(spec.schedule);
  const validZone = spec.timezone === undefined || isValidTimezone(spec.timezone);
  if (!validSchedule) {
    problems.push({ code: 'JOB_SCHEDULE_INVALID', path: [...path, 'schedule'], message: 'not a cron expression (minute hour day-of-month month day-of-week, e.g. "0 3 * * *"; a 6th leading field is seconds)' });
  } else if (validZone && !hasNextTime(spec.schedule, spec.timezone)) {
    problems.push({ code: 'JOB_SCHEDULE_INVALID', path: [...path, 'schedule'], message: 'this cron expression never comes round: no time matches it' });
  }
  if (!validZone) {
    problems.push({ code: 'JOB_TIMEZONE_INVALID', path: [...path, 'timezone'], message: 'not a time zone this host knows: give an IANA name such as UTC or Europe/Paris' });
  }
  // A failed run may be retried by Docker (on-failure:N), a bounded number of times only.
  if (spec.restart === 'on-failure' && spec.restart_max_retries === undefined) {
    problems.push({ code: 'JOB_INVALID', path: [...path, 'restart'], message: 'a scheduled job retries a failed run a bounded number of times: add restart_max_retries (1 to 1000), or leave restart out' });
  } else if (spec.restart !== undefined && spec.restart !== 'no' && spec.restart !== 'on-failure') {
    problems.push({ code: 'JOB_INVALID', path: [...path, 'restart'], message: 'a scheduled job runs once per time and is never restarted: leave restart out (or write no); restart: on-failure with restart_max_retries retries a failed run' });
  }
  if (spec.replicas !== undefined && spec.replicas !== 1) {
    problems.push({ code: 'JOB_INVALID', path: [...path, 'replicas'], message: 'a scheduled job runs one container per time: leave replicas out (concurrency: allow lets runs overlap)' });
  }
  const timeoutMs = spec.timeout === undefined ? undefined : durationMs(spec.timeout);
  if (timeoutMs !== undefined && !(timeoutMs >= 1_000 && timeoutMs <= MAX_TIMEOUT_MS)) {
    problems.push({ code: 'JOB_INVALID', path: [...path, 'timeout'], message: `${spec.timeout} is not between 1s and 24h (leave timeout out for no limit)` });
  }
  const startingDeadlineMs = spec.starting_deadline === undefined ? undefined : durationMs(spec.starting_deadline);
  if (startingDeadlineMs !== undefined && !(startingDeadlineMs >= 1_000 && startingDeadlineMs <= MAX_STARTING_DEADLINE_MS)) {
    problems.push({ code: 'JOB_INVALID', path: [...path, 'starting_deadline'], message: `${spec.starting_deadline} is not between 1s and 168h (a week)` });
  }
  const job: JobSpec = { schedule: spec.schedule, concurrency: spec.concurrency ?? 'forbid' };
  if (spec.timezone !== undefined) job.timezone = spec.timezone;
  if (timeoutMs !== undefined) job.timeoutMs = timeoutMs;
  if (startingDeadlineMs !== undefined) job.startingDeadlineMs = startingDeadlineMs;
  return job;
}

/** Whether the schedule has a time at all (node-cron walks at most a century of days). */
function hasNextTime(schedule: string, timezone: string | undefined): boolean {
  try {
    nextRun(schedule, timezone, 0);
    return true;
  } catch {
    return false;
  }
}

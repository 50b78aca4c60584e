// A service's `schedule:` and its companions (native manifests; `x-capstan: {schedule: …}` under
// a Compose service). Defined once here and spread into the service's schema, as the volume's
// `snapshot:` is (agent/storage/schema.ts).
import { Type } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../load/schema/patterns.js';

export const JOB_CONCURRENCY = ['forbid', 'allow'] as const;

export const jobFields = {
  schedule: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'Makes the service a scheduled job: no replica runs between its times; at each time of this cron expression (node-cron: minute hour day-of-month month day-of-week, a 6th leading field is seconds; e.g. `0 3 * * *`) one container runs to completion with the image and configuration last applied, and is removed once its exit code and output are recorded (`capstan status`, `capstan history --jobs`). A failed run is notified (`job-failed`). A run missed while the agent was down is made up once at start if its time is at most `starting_deadline` (default an hour) ago. Compose: `x-capstan: {schedule: "0 3 * * *"}`.',
    }),
  ),
  concurrency: Type.Optional(
    Type.Unsafe<(typeof JOB_CONCURRENCY)[number]>({
      type: 'string',
      enum: [...JOB_CONCURRENCY],
      default: 'forbid',
      description:
        'With `schedule`: what happens when a run is due while the previous one still runs. `forbid` (the default, as Kubernetes CronJob) skips the new run and records it as skipped; `allow` starts it beside the running one.',
    }),
  ),
  timeout: Type.Optional(
    Type.String({
      pattern: DURATION_PATTERN,
      description:
        'With `schedule`: how long one run may take (`30m`, `2h`; at most 24h). A run still going then is stopped (SIGTERM, then SIGKILL after `stop_grace_period`), recorded as `timed-out` with its output, and notified (`job-failed`), as Kubernetes CronJob\'s `activeDeadlineSeconds`. Default: no limit.',
    }),
  ),
  starting_deadline: Type.Optional(
    Type.String({
      pattern: DURATION_PATTERN,
      description:
        'With `schedule`: how late a time missed while the agent was down (or busy) is still made up, once, at the next look (`10m`, `6h`; 1s to 168h, a week); an older one is recorded as skipped. Kubernetes CronJob\'s `startingDeadlineSeconds`. Default: an hour.',
    }),
  ),
  timezone: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'With `schedule`: the IANA time zone its times are read in (`Europe/Paris`, `UTC`). Default: the host\'s.',
    }),
  ),
};

// When a scheduled job's runs fall, read with node-cron's own matcher so `schedule:` means
// exactly what node-cron (and the agent's `--schedule`) means, time zones and DST included.
// Pure apart from node-cron's task registry, which each matcher leaves at once.
import cron from 'node-cron';

interface Matcher {
  getNextMatch(after: Date): Date;
}

const matchers = new Map<string, Matcher>();
/** Distinct (schedule, zone) pairs kept; a commit holds at most a few hundred jobs. */
const MAX_MATCHERS = 1_000;

/**
 * node-cron 4.6 exposes its `TimeMatcher` only through a task (`timeMatcher`, undeclared in its
 * types); `createTask` does not start the task, and `destroy` takes it out of the registry.
 * The package is pinned exactly (package.json); test/unit/jobs-cron.test.ts fails if this moves.
 */
function matcherOf(schedule: string, timezone: string | undefined): Matcher {
  const key = `${timezone ?? ''}\u0000${schedule}`;
  const known = matchers.get(key);
  if (known) return known;
  const task = cron.createTask(schedule, () => undefined, timezone === undefined ? {} : { timezone });
  const matcher = (task as unknown as { timeMatcher?: Matcher }).timeMatcher;
  void task.destroy();
  if (!matcher || typeof matcher.getNextMatch !== 'function') throw new Error('node-cron no longer exposes its time matcher: check agent/jobs/cron.ts against the installed version');
  if (matchers.size >= MAX_MATCHERS) matchers.clear();
  matchers.set(key, matcher);
  return matcher;
}

/** The first time of `schedule` strictly after `after` (ms since the epoch). */
export function nextRun(schedule: string, timezone: string | undefined, after: number): number {
  return matcherOf(schedule, timezone).getNextMatch(new Date(after)).getTime();
}

/** The next `count` times strictly after `after`: what `capstan plan` shows. */
export function nextRuns(schedule: string, timezone: string | undefined, after: number, count: number): number[] {
  const runs: number[] = [];
  let from = after;
  for (let index = 0; index < count; index++) {
    from = nextRun(schedule, timezone, from);
    runs.push(from);
  }
  return runs;
}

/**
 * The latest time of `schedule` in (from, to], or undefined. Walks forward from `from`, at most
 * `maxSteps` times, so a schedule every second over a long window cannot hang the agent: callers
 * bound the window (decide.ts: the missed-run deadline). `0 3 * * *`, from 02:00 to 04:00 → 03:00.
 */
export function lastRunIn(schedule: string, timezone: string | undefined, from: number, to: number, maxSteps = 10_000): number | undefined {
  let latest: number | undefined;
  let cursor = from;
  for (let step = 0; step < maxSteps; step++) {
    const next = nextRun(schedule, timezone, cursor);
    if (next > to) return latest;
    latest = next;
    cursor = next;
  }
  return latest;
}

export function isValidSchedule(schedule: string): boolean {
  return cron.validate(schedule);
}

/** An IANA zone name this Node knows (`Europe/Paris`); `Intl` refuses the others. */
export function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

// Deploy windows, as Argo CD's sync windows: the host's owner (policy file `deploy_windows:`,
// never git, so a commit cannot lift them) says when changed apps may be rolled out. A window is
// a cron expression (when it opens) and a duration (how long it stays open). Pure arithmetic over
// an injected `now`, table-tested in test/unit/deploy-windows.test.ts; cron-parser computes the
// ticks (previous and next, in the window's time zone, daylight saving included).
import { createRequire } from 'node:module';
import type { CronExpressionParser } from 'cron-parser';
import { validate as validateCron } from 'node-cron';

// cron-parser brings Luxon (~1 MB of JavaScript, ~20 ms to load): required on first use, so that
// `capstan status` and a `capstan run` whose policy has no window never load it (BENCHMARKS.md,
// figures 4 and 7). It is CommonJS, so this is the same instance an import would give.
let parser: typeof CronExpressionParser | undefined;
function cronParser(): typeof CronExpressionParser {
  parser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
  return parser;
}

export interface DeployWindow {
  kind: 'allow' | 'deny';
  /** Five fields (or six, with seconds first), as cron writes them: `0 22 * * 1-5`. */
  schedule: string;
  durationMs: number;
  /** IANA zone the schedule is read in (`Europe/Berlin`); absent, the host's own, as cron does. */
  timezone?: string;
  /** The apps it governs; absent, every app of the host. */
  apps?: string[];
}

export interface DeployWindows {
  windows: DeployWindow[];
  /**
   * While a window keeps a change waiting, drift of what runs is still repaired (default). False:
   * while a window for every app (one without `apps`) keeps a change waiting, the cycle changes
   * nothing at all on the host (a change freeze).
   */
  driftRepair: boolean;
}

/** Whether `app` may be rolled out at `now`, and if not, why and until when. */
export interface WindowVerdict {
  open: boolean;
  /** Closed: when it opens next (ms); absent when no opening was found within the horizon. */
  until?: number;
  /** Closed: the window that closes it now, as `deny "0 9 * * 1-5" for 8h`. */
  because?: string;
  /** Closed by a window without `apps` (one that governs the whole host). */
  hostWide?: boolean;
}

/** Ticks followed when chaining overlapping windows or looking for the next opening. */
const MAX_STEPS = 1_000;
/** Beyond this, a window is treated as never ending (a deny window longer than its period). */
const HORIZON_MS = 400 * 24 * 3_600_000;

/** Go-style durations, as Compose and the manifests write them: `8h`, `1h30m`, `90s`. */
const DURATION = /^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/** `1h30m` → 5400000; undefined when it is not a duration. */
export function parseWindowDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(h|ms|m|s)/g)) total += Number(amount) * UNIT_MS[unit];
  return Math.round(total);
}

/** A problem with a window's schedule or zone, as a sentence; undefined when it is usable. */
export function windowProblem(schedule: string, timezone: string | undefined): string | undefined {
  if (timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      return `unknown time zone '${timezone}' (an IANA name such as Europe/Berlin or UTC)`;
    }
  }
  // The syntax `--schedule` accepts (node-cron's: five fields, or six with seconds first).
  if (!validateCron(schedule)) return `invalid cron expression '${schedule}': five fields (minute hour day month weekday), or six with seconds first`;
  try {
    cronParser().parse(schedule, { tz: timezone, currentDate: new Date(0) }).next();
  } catch (error) {
    return `invalid cron expression '${schedule}': ${(error as Error).message}`;
  }
  return undefined;
}

/** `deny "0 9 * * 1-5" for 8h (Europe/Berlin)`: how status and history name a window. */
export function describeWindow(window: DeployWindow): string {
  const zone = window.timezone ? ` (${window.timezone})` : '';
  return `${window.kind} "${window.schedule}" for ${formatDuration(window.durationMs)}${zone}`;
}

function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const amount = Math.floor(rest / size);
    if (amount > 0) parts.push(`${amount}${unit}`);
    rest -= amount * size;
  }
  return parts.join('') || '0s';
}

function ticks(window: DeployWindow, from: number) {
  return cronParser().parse(window.schedule, { tz: window.timezone, currentDate: new Date(from) });
}

/**
 * The end of the window covering `at`, or undefined when none covers it. The latest opening at
 * or before `at` decides (every opening lasts as long, so a later one ends later), and openings
 * that start before the previous one ends are chained: "every hour for 90m" covers 09:00 to
 * 11:30 when looked at 09:10 and nothing stops it at 10:30. `Infinity` when the chain runs past
 * the horizon (a window always open).
 */
export function coveringEnd(window: DeployWindow, at: number): number | undefined {
  let start: number;
  try {
    // prev() is strict: from 1 ms later, an opening exactly at `at` counts.
    start = ticks(window, at + 1).prev().getTime();
  } catch {
    return undefined;
  }
  let end = start + window.durationMs;
  if (end <= at) return undefined;
  const following = ticks(window, start);
  for (let step = 0; step < MAX_STEPS; step++) {
    let next: number;
    try {
      next = following.next().getTime();
    } catch {
      return end;
    }
    if (next > end) return end;
    end = Math.max(end, next + window.durationMs);
    if (end - at > HORIZON_MS) return Infinity;
  }
  return Infinity;
}

/** The next opening strictly after `at`, or undefined when there is none. */
export function nextOpening(window: DeployWindow, at: number): number | undefined {
  try {
    return ticks(window, at).next().getTime();
  } catch {
    return undefined;
  }
}

/** The windows that govern `app`: those without `apps`, and those naming it. */
export function windowsOf(windows: readonly DeployWindow[], app: string): DeployWindow[] {
  return windows.filter((window) => window.apps === undefined || window.apps.includes(app));
}

/**
 * Whether `app` may be rolled out at `now`, as Argo CD decides: any covering deny window closes
 * it; when allow windows govern the app, one of them must cover `now`. Closed, `until` is the
 * first moment both hold, found by stepping from one window edge to the next: denied until
 * 17:00, then outside every allow window until 22:00 → until 22:00.
 *
 * Worked example: deny "0 9 * * 1-5" for 8h, Friday 2026-12-04 12:00 UTC → closed until 17:00;
 * Saturday 12:00 → open.
 */
export function windowVerdict(windows: readonly DeployWindow[], app: string, now: number): WindowVerdict {
  const governing = windowsOf(windows, app);
  const denies = governing.filter((window) => window.kind === 'deny');
  const allows = governing.filter((window) => window.kind === 'allow');
  let at = now;
  let because: { text: string; hostWide: boolean } | undefined;
  for (let step = 0; step < MAX_STEPS && at - now <= HORIZON_MS; step++) {
    const covering = denies.flatMap((window) => {
      const end = coveringEnd(window, at);
      return end === undefined ? [] : [{ window, end }];
    });
    if (covering.length > 0) {
      const { window } = covering[0];
      because ??= { text: `deny window ${describeWindow(window).slice('deny '.length)}`, hostWide: window.apps === undefined };
      at = Math.max(...covering.map((item) => item.end));
      continue;
    }
    if (allows.length > 0 && !allows.some((window) => coveringEnd(window, at) !== undefined)) {
      const openings = allows.flatMap((window) => {
        const next = nextOpening(window, at);
        return next === undefined ? [] : [{ window, next }];
      });
      because ??= {
        text: allows.length === 1 ? `outside allow window ${describeWindow(allows[0]).slice('allow '.length)}` : `outside its ${allows.length} allow windows`,
        hostWide: allows.every((window) => window.apps === undefined),
      };
      if (openings.length === 0) break;
      at = Math.min(...openings.map((item) => item.next));
      continue;
    }
    if (at === now) return { open: true };
    return { open: false, until: at, because: because!.text, hostWide: because!.hostWide };
  }
  return { open: false, because: because!.text, hostWide: because!.hostWide };
}

// When `capstan run` looks again at changes that wait (agent/deferral/gate.ts), instead of at
// its next scheduled cycle only: at the earliest `until` of the waits (a deploy window opens, an
// update lock's `max_wait` runs out), and every few seconds at the lock files of the apps whose
// update lock holds them back, so a change goes out when it may. The clock and the timers are
// seams: test/unit/deferral-wake.test.ts drives them by hand.
import type { Clock } from '../clock.js';
import type { Deferral } from './gate.js';

/** How often the lock files of apps an update lock holds back are looked at (one lstat each). */
export const LOCK_RECHECK_MS = 2_000;
/** A wait is looked at again this long after its `until`, so the cycle's clock is surely past it. */
export const WAKE_MARGIN_MS = 1_000;
/** setTimeout's longest delay (about 24.8 days); a later wake is armed again when this one fires. */
const MAX_TIMER_MS = 2_147_483_647;

export interface WakePlan {
  /** When a cycle should run (ms), or undefined when no wait has an end. */
  at?: number;
  /** Apps whose update lock holds their change back: a cycle runs as soon as one is released. */
  lockApps: string[];
}

/**
 * Worked example: at 12:00, app `a` waits for a deny window until 17:00 and app `b` for its
 * lock until 12:10 (max_wait 10m) → a cycle at 12:10:01, and `b`'s lock looked at meanwhile.
 */
export function wakePlan(deferrals: readonly Pick<Deferral, 'app' | 'cause' | 'until'>[]): WakePlan {
  const ends = deferrals.flatMap((item) => (item.until === undefined ? [] : [Date.parse(item.until)])).filter((end) => Number.isFinite(end));
  const lockApps = [...new Set(deferrals.filter((item) => item.cause === 'lock').map((item) => item.app))].sort();
  return { ...(ends.length > 0 ? { at: Math.min(...ends) + WAKE_MARGIN_MS } : {}), lockApps };
}

export interface WakeTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const nodeTimers: WakeTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface DeferralWakeDeps {
  clock: Clock;
  /** Whether the app's update lock is held now (UpdateLocks.held). */
  held(app: string): Promise<boolean>;
  /** Start a cycle: `wait-over` (a wait's `until` came) or `lock-released`. */
  wake(trigger: 'wait-over' | 'lock-released'): void;
  timers?: WakeTimers;
  recheckMs?: number;
}

/**
 * Armed after each cycle with the waits it left, disarmed when the next cycle starts (that cycle
 * decides again). At most one timer for the earliest `until` and one lock look in flight.
 */
export class DeferralWake {
  private untilTimer: unknown;
  private lockTimer: unknown;
  /** Bumped by each disarm: a timer or a lock look of an earlier arming does nothing. */
  private generation = 0;
  private readonly timers: WakeTimers;

  constructor(private readonly deps: DeferralWakeDeps) {
    this.timers = deps.timers ?? nodeTimers;
  }

  /** Arms the wakes for these waits (replacing earlier ones); returns when a cycle is due, if a wait has an end. */
  arm(deferrals: readonly Pick<Deferral, 'app' | 'cause' | 'until'>[]): number | undefined {
    this.disarm();
    const plan = wakePlan(deferrals);
    if (plan.at === undefined && plan.lockApps.length === 0) return undefined;
    if (plan.at !== undefined) this.armUntil(plan.at, this.generation);
    if (plan.lockApps.length > 0) this.armLockLook(plan.lockApps, this.generation);
    return plan.at;
  }

  disarm(): void {
    this.generation++;
    if (this.untilTimer !== undefined) this.timers.clearTimeout(this.untilTimer);
    if (this.lockTimer !== undefined) this.timers.clearTimeout(this.lockTimer);
    this.untilTimer = undefined;
    this.lockTimer = undefined;
  }

  private armUntil(at: number, generation: number): void {
    const delay = Math.max(0, at - this.deps.clock.now());
    this.untilTimer = this.timers.setTimeout(() => {
      if (generation !== this.generation) return;
      this.untilTimer = undefined;
      // A wake further away than one timer can wait: wait again.
      if (this.deps.clock.now() < at) return this.armUntil(at, generation);
      this.disarm();
      this.deps.wake('wait-over');
    }, Math.min(delay, MAX_TIMER_MS));
  }

  /** One look at a time, the next one `recheckMs` after the last one ended. */
  private armLockLook(apps: readonly string[], generation: number): void {
    this.lockTimer = this.timers.setTimeout(() => {
      if (generation !== this.generation) return;
      this.lockTimer = undefined;
      void this.lookAtLocks(apps, generation);
    }, this.deps.recheckMs ?? LOCK_RECHECK_MS);
  }

  private async lookAtLocks(apps: readonly string[], generation: number): Promise<void> {
    let released = false;
    for (const app of apps) {
      // An unreadable lock folder counts as held: the schedule and max_wait still come.
      if (!(await this.deps.held(app).catch(() => true))) released = true;
    }
    if (generation !== this.generation) return;
    if (!released) return this.armLockLook(apps, generation);
    this.disarm();
    this.deps.wake('lock-released');
  }
}

// The deferral gate: which changed apps wait this cycle, for a deploy window or an update lock.
// Pure (the reconciler gathers the facts: what runs, which locks are held, the clock), tested in
// test/unit/deferral-gate.test.ts. A waiting app keeps running the version it runs now, and that
// version's drift is still repaired; apps that did not change are converged as always.
import type { App, DesiredState } from '../model.js';
import { windowVerdict, type DeployWindows } from './windows.js';

/** An app whose change waits, as `status`, metrics and notifications show it. */
export interface Deferral {
  app: string;
  cause: 'window' | 'lock';
  /** The commit whose change waits. */
  commit: string;
  /** `deny window "0 9 * * 1-5" for 8h`, `update lock held (/capstan/lock/updates.lock)`. */
  message: string;
  /** ISO time it may proceed: the window's opening, or when the lock's maximum runs out. */
  until?: string;
  /** ISO time this app started waiting. */
  since: string;
  /** ISO time its update lock started holding it back (for `update_locks.max_wait`). */
  lockSince?: string;
  /**
   * `deploy_windows.drift_repair: false`: what runs of this app is left exactly as it is while
   * it waits (no drift repair, as a suspended app); a host-wide window freezes the whole host.
   */
  frozen?: boolean;
}

/** A wait lifted this cycle by `--force` or by the lock's maximum: said in history and notified. */
export interface Override {
  app: string;
  cause: 'window' | 'lock';
  message: string;
}

export interface GateInput {
  desired: DesiredState;
  /** What runs now, per service (the deployments table). */
  deployed: { app: string; service: string; configHash: string; replicas: number; hooksHash?: string | null }[];
  windows?: DeployWindows;
  /** Apps whose running version asks for an update lock and whose lock file exists now. */
  locksHeld: ReadonlySet<string>;
  lockMaxWaitMs: number;
  /** Waits recorded by earlier cycles, by app. */
  previous: ReadonlyMap<string, Deferral>;
  /** `capstan once --force` / `capstan sync --force`: lift every wait, this cycle only. */
  force: boolean;
  now: number;
}

export interface GateDecision {
  deferred: Deferral[];
  overridden: Override[];
  /**
   * `drift_repair: false` and a host-wide window keeps a change waiting: change nothing at all.
   * A window of some apps (`apps:`) freezes only the apps it keeps waiting (`Deferral.frozen`).
   */
  freeze: boolean;
}

/**
 * Apps whose desired services differ from what runs: a service added, removed, with another
 * config hash or replica count, or the whole app added or removed.
 */
export function changedApps(desired: DesiredState, deployed: GateInput['deployed']): string[] {
  const running = new Map<string, Map<string, { configHash: string; replicas: number; hooksHash?: string | null }>>();
  for (const row of deployed) {
    const services = running.get(row.app) ?? new Map();
    services.set(row.service, row);
    running.set(row.app, services);
  }
  const changed = new Set<string>();
  for (const app of desired.apps) {
    const services = running.get(app.name);
    const same =
      services !== undefined &&
      services.size === app.services.length &&
      app.services.every((service) => services.get(service.name)?.configHash === service.configHash && services.get(service.name)?.replicas === service.replicas) &&
      // A changed hook job is a change too (it runs the app's hooks); null: recorded before hooks were kept.
      [...services.values()].every((row) => row.hooksHash === undefined || row.hooksHash === null || row.hooksHash === (app.hooksHash ?? ''));
    if (!same) changed.add(app.name);
  }
  for (const app of running.keys()) if (!desired.apps.some((candidate) => candidate.name === app)) changed.add(app);
  return [...changed].sort();
}

export function decideDeferrals(input: GateInput): GateDecision {
  const { desired, windows, now, previous } = input;
  const nowIso = new Date(now).toISOString();
  const deferred: Deferral[] = [];
  const overridden: Override[] = [];
  let freeze = false;
  for (const app of changedApps(desired, input.deployed)) {
    const before = previous.get(app);
    const since = before?.since ?? nowIso;
    const verdict = windows && windows.windows.length > 0 ? windowVerdict(windows.windows, app, now) : { open: true as const };
    if (!verdict.open) {
      const message = `${verdict.because}${verdict.until === undefined ? ', no opening in sight' : ''}`;
      if (input.force) {
        overridden.push({ app, cause: 'window', message: `forced: ${app} deployed though ${message}` });
        continue;
      }
      const frozen = windows !== undefined && !windows.driftRepair;
      if (frozen && verdict.hostWide) freeze = true;
      const until = verdict.until === undefined ? {} : { until: new Date(verdict.until).toISOString() };
      deferred.push({ app, cause: 'window', commit: desired.commit, message, ...until, since, ...(frozen ? { frozen } : {}) });
      continue;
    }
    if (!input.locksHeld.has(app)) continue;
    const lockSince = before?.lockSince ?? nowIso;
    const deadline = Date.parse(lockSince) + input.lockMaxWaitMs;
    if (input.force) {
      overridden.push({ app, cause: 'lock', message: `forced: ${app} deployed though its update lock is held` });
      continue;
    }
    if (now >= deadline) {
      overridden.push({ app, cause: 'lock', message: `update lock of ${app} held since ${lockSince}, past update_locks.max_wait: deployed anyway` });
      continue;
    }
    deferred.push({ app, cause: 'lock', commit: desired.commit, message: 'update lock held (/capstan/lock/updates.lock)', until: new Date(deadline).toISOString(), since, lockSince });
  }
  return { deferred, overridden, freeze };
}

/**
 * The desired state this cycle converges: the new version of every app that may proceed, and
 * the running version (`running`, loaded from the commit it was deployed from) of every app that
 * waits. A waiting new app is left out (nothing of it runs yet); a waiting removal keeps the app.
 * `prefetch`: images of the waiting new versions pulled now all the same (update locks), so the
 * rollout is quick once it may go. `frozen`: waiting apps left exactly as they are (drift repair
 * off), out of `apps` and listed with the suspended apps, which a target never touches.
 */
export function withDeferrals(desired: DesiredState, waiting: ReadonlySet<string>, running: ReadonlyMap<string, App>, prefetch: ReadonlySet<string>, frozen: ReadonlySet<string> = new Set()): DesiredState {
  if (waiting.size === 0) return desired;
  const names = new Set([...desired.apps.map((app) => app.name), ...running.keys()]);
  const apps: App[] = [];
  for (const name of [...names].sort()) {
    if (frozen.has(name)) continue;
    const chosen = waiting.has(name) ? running.get(name) : desired.apps.find((app) => app.name === name);
    if (chosen) apps.push(chosen);
  }
  const images = desired.apps
    .filter((app) => prefetch.has(app.name))
    .flatMap((app) => app.services.filter((service) => !service.build).map((service) => service.image));
  const untouched = frozen.size === 0 ? {} : { suspendedApps: [...new Set([...(desired.suspendedApps ?? []), ...frozen])].sort() };
  return { ...desired, apps, ...untouched, ...(images.length > 0 ? { prefetchImages: [...new Set(images)].sort() } : {}) };
}

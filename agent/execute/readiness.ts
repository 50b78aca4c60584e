// Whether a freshly started replica is ready, from one `docker inspect`. Pure, so the rules are
// table-tested and the clock is a parameter.

export interface ContainerStateView {
  Status: string;
  Running: boolean;
  Restarting: boolean;
  ExitCode: number;
  StartedAt: string;
  Health?: { Status: string; FailingStreak?: number };
}

export interface ReadinessRule {
  /** Without a healthcheck: how long it must have been running. */
  monitorMs: number;
  /** A one-shot that exited 0 is done, which counts as ready. */
  oneShot: boolean;
  /** Absolute time (ms) after which a still-pending replica has failed. */
  deadline: number;
  /** Ready only once exited 0 (a dependency with `service_completed_successfully`). */
  completion?: boolean;
}

export type Readiness = { state: 'ready' } | { state: 'pending'; why: string } | { state: 'failed'; reason: string };

export function readiness(view: ContainerStateView, rule: ReadinessRule, now: number): Readiness {
  if (view.Restarting) return { state: 'failed', reason: `restarting after exit code ${view.ExitCode} (crash loop)` };
  if (rule.completion) {
    if (view.Status === 'exited') return view.ExitCode === 0 ? { state: 'ready' } : { state: 'failed', reason: `exited with exit code ${view.ExitCode}` };
    return pendingOrLate(view.Running ? 'running, not yet completed' : view.Status, rule, now);
  }
  if (!view.Running) {
    if (view.Status === 'exited' && view.ExitCode === 0 && rule.oneShot) return { state: 'ready' };
    if (view.Status === 'created') return pendingOrLate('not started yet', rule, now);
    return { state: 'failed', reason: `${view.Status} with exit code ${view.ExitCode}` };
  }
  if (view.Health && view.Health.Status !== 'none') {
    if (view.Health.Status === 'healthy') return { state: 'ready' };
    if (view.Health.Status === 'unhealthy') return { state: 'failed', reason: `unhealthy (${view.Health.FailingStreak ?? '?'} failed checks in a row)` };
    return pendingOrLate('health check starting', rule, now);
  }
  const runningForMs = now - Date.parse(view.StartedAt);
  if (runningForMs >= rule.monitorMs) return { state: 'ready' };
  return pendingOrLate(`running for ${Math.max(0, runningForMs)} of ${rule.monitorMs} ms`, rule, now);
}

function pendingOrLate(why: string, rule: ReadinessRule, now: number): Readiness {
  if (now > rule.deadline) return { state: 'failed', reason: `not ready within the progress deadline (${why})` };
  return { state: 'pending', why };
}

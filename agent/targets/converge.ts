// What every target's `converge` does the same way: observe and plan, stop before changing
// anything when the plan is blocked, carry the plan out, then observe again instead of assuming.
// A target supplies its stages (`TargetStages`); the order and the outcome's shape live here once.
import type { Logger } from '../log.js';
import type { DesiredState, Service } from '../model.js';
import { REASON } from '../reasons.js';
import type { Convergence, RolloutFailure, ServiceReadiness, TargetPlan } from './target.js';
import { notStarted } from './target.js';

/** What a target's executor reports back: the change lines for history, and what failed. */
export interface Executed {
  changes: string[];
  /** Set when an operation failed: the message names the operation. */
  failure?: { message: string; errorClass: 'transient' | 'terminal' };
  /** Failures of the new configuration itself (they quarantine the commit). */
  rolloutFailures: RolloutFailure[];
}

export interface TargetStages<Observed, Plan extends TargetPlan> {
  /**
   * Observes what this node owns and plans. `provenNow`: called right after an execute in which
   * every wait succeeded, so the desired config hashes count as proven though not yet recorded.
   */
  observeAndPlan(desired: DesiredState, provenNow: boolean): Promise<{ observed: Observed; plan: Plan }>;
  /** Carries the plan out; nothing but the plan and the cycle's context. */
  execute(plan: Plan, context: { logger: Logger; cycleId: number }): Promise<Executed>;
  /** One line per pending operation, for the "still pending after apply" message. */
  pending(plan: Plan): string[];
  /** Replicas of the service that serve its desired config, as observed. */
  readyReplicas(observed: Observed, app: string, service: Service): number;
  /** Commits whose checkouts running workloads still bind-mount. */
  inUseCommits(observed: Observed): string[];
}

/** Observe → plan → execute → observe again, for any target. Never throws. */
export async function convergeWith<Observed, Plan extends TargetPlan>(
  stages: TargetStages<Observed, Plan>,
  desired: DesiredState,
  context: { logger: Logger; cycleId: number },
): Promise<Convergence> {
  const base = { commit: desired.commit, rolloutFailures: [] as RolloutFailure[], inUseCommits: [] as string[] };
  let observed: Observed;
  let plan: Plan;
  try {
    ({ observed, plan } = await stages.observeAndPlan(desired, false));
  } catch (error) {
    return notStarted(desired.commit, { error });
  }
  if (plan.problems.length > 0) return notStarted(desired.commit, { problems: plan.problems });
  const readiness = (state: Observed) => readinessOf(desired, (app, service) => stages.readyReplicas(state, app, service));
  if (plan.operations.length === 0) {
    return { ...base, result: 'in-sync', changes: [], inUseCommits: stages.inUseCommits(observed), services: readiness(observed) };
  }

  context.logger.info({ operations: plan.operations.length }, 'applying plan');
  let executed: Executed;
  try {
    executed = await stages.execute(plan, context);
  } catch (error) {
    // An executor reports failures in its result; one that throws met something unforeseen
    // (Docker gone mid-plan): the next cycle observes and tries again.
    const message = error instanceof Error ? error.message : String(error);
    return { ...base, result: 'failed', reason: REASON.applyFailed, errorClass: 'transient', message, changes: [] };
  }
  const { changes } = executed;
  if (executed.failure) {
    return {
      ...base,
      result: 'failed',
      reason: REASON.applyFailed,
      errorClass: executed.rolloutFailures.length > 0 ? 'terminal' : executed.failure.errorClass,
      message: executed.failure.message,
      changes,
      rolloutFailures: executed.rolloutFailures,
    };
  }
  const after = await stages.observeAndPlan(desired, true);
  if (after.plan.operations.length > 0) {
    const message = `still pending after apply: ${stages.pending(after.plan).slice(0, 5).join('; ')}`;
    return { ...base, result: 'failed', reason: REASON.notConverged, errorClass: 'not-ready', message, changes, services: readiness(after.observed) };
  }
  return { ...base, result: 'applied', changes, inUseCommits: stages.inUseCommits(after.observed), services: readiness(after.observed) };
}

/** Desired and ready replicas of every desired service. */
function readinessOf(desired: DesiredState, readyReplicas: (app: string, service: Service) => number): ServiceReadiness[] {
  return desired.apps.flatMap((app) =>
    app.services.map((service) => ({ app: app.name, service: service.name, desiredReplicas: service.replicas, readyReplicas: readyReplicas(app.name, service) })),
  );
}

/**
 * The empty-state guard: a commit that renders no services while this node runs some is refused
 * (a path typo must not wipe a host) unless CAPSTAN_ALLOW_EMPTY is set. A node whose whole share
 * moved to other nodes has nothing to run on purpose, so it is not guarded.
 */
export function emptyStateProblem(
  desired: DesiredState,
  running: { count: number; what: string; verb: string },
  allowEmpty: boolean | undefined,
): { code: string; message: string } | undefined {
  const services = desired.apps.reduce((count, app) => count + app.services.length, 0);
  const placedElsewhere = (desired.placedElsewhere ?? 0) > 0;
  if (services > 0 || running.count === 0 || allowEmpty || placedElsewhere) return undefined;
  return {
    code: 'EMPTY_DESIRED_STATE',
    message:
      `commit renders no services while this node runs ${running.count} ${running.what}; ` +
      `refusing to ${running.verb} them all (is the configured path right?). Set CAPSTAN_ALLOW_EMPTY=true to allow it`,
  };
}

import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { DesiredState } from '../../model.js';
import type { StateStore } from '../../state/store.js';
import type { Convergence, RolloutFailure, ServiceReadiness, Target, TargetPlan } from '../target.js';
import { journalOf, notStarted } from '../target.js';
import { executeSwarm, type SwarmExecuteDeps } from './execute.js';
import { swarmServiceName } from './names.js';
import { observeRepoFiles, observeSwarm } from './observe.js';
import { planSwarm } from './plan.js';
import { describeSwarm, printSwarmPlan, swarmChangeSummary } from './print.js';
import type { SwarmObservedState, SwarmPlan } from './types.js';

export type { SwarmPlan } from './types.js';

export interface SwarmTargetDeps {
  docker: Docker;
  store: StateStore;
  clock: Clock;
  node: string;
  allowEmpty: boolean;
  /** The state dir's hash key: secret version names are keyed with it. */
  hashKey: Uint8Array;
  readFile: SwarmExecuteDeps['readFile'];
  stat: Parameters<typeof observeRepoFiles>[1];
  pollIntervalMs?: number;
  /** Scrubs decrypted values from what the journal keeps. */
  redact?: (text: string) => string;
}

/**
 * Docker Swarm as the scheduler (`--target swarm`): the same manifests become Swarm services,
 * which Swarm places, fails over, rolls out and rolls back. Observe → plan → execute, as for
 * containers; what Swarm's own rollback already undid is in sync for the cycle's rollback.
 */
export class SwarmTarget implements Target {
  constructor(private readonly deps: SwarmTargetDeps) {}

  async plan(desired: DesiredState): Promise<SwarmPlan> {
    return (await this.observeAndPlan(desired)).plan;
  }

  print(plan: TargetPlan): string {
    return printSwarmPlan(plan as SwarmPlan);
  }

  /** Unused secret versions and configs go with the plan that stops using them; Swarm nodes pull their own images. */
  async afterApplied(): Promise<void> {}

  async converge(desired: DesiredState, { logger, cycleId }: { logger: Logger; cycleId: number }): Promise<Convergence> {
    const { docker, store, clock, node } = this.deps;
    const base = { commit: desired.commit, rolloutFailures: [] as RolloutFailure[], inUseCommits: [] as string[] };
    let observed: SwarmObservedState;
    let plan: SwarmPlan;
    try {
      ({ observed, plan } = await this.observeAndPlan(desired));
    } catch (error) {
      return notStarted(desired.commit, { error });
    }
    if (plan.problems.length > 0) return notStarted(desired.commit, { problems: plan.problems });
    if (plan.operations.length === 0) return { ...base, result: 'in-sync', changes: [], services: readiness(desired, observed) };

    logger.info({ operations: plan.operations.length }, 'applying swarm plan');
    const { done, failure } = await executeSwarm(plan, desired, {
      docker,
      clock,
      node,
      logger,
      hashKey: this.deps.hashKey,
      readFile: this.deps.readFile,
      pollIntervalMs: this.deps.pollIntervalMs,
      journal: journalOf(store, cycleId, describeSwarm, this.deps.redact),
    });
    const changes = swarmChangeSummary(done);
    if (failure) {
      const rolloutFailures: RolloutFailure[] =
        failure.rollout && 'service' in failure.operation && typeof failure.operation.service === 'object'
          ? [{ app: failure.operation.service.app, service: failure.operation.service.service, message: `${failure.operation.service.app}/${failure.operation.service.service}: ${failure.message}` }]
          : [];
      return { ...base, result: 'failed', reason: 'APPLY_FAILED', message: `${describeSwarm(failure.operation)}: ${failure.message}`, changes, rolloutFailures };
    }
    // Observe again instead of assuming: what Swarm shows now is the truth.
    const after = await this.observeAndPlan(desired);
    if (after.plan.operations.length > 0) {
      const message = `still pending after apply: ${swarmChangeSummary(after.plan.operations).slice(0, 5).join('; ')}`;
      return { ...base, result: 'failed', reason: 'NOT_CONVERGED', message, changes, services: readiness(desired, after.observed) };
    }
    return { ...base, result: 'applied', changes, services: readiness(desired, after.observed) };
  }

  private async observeAndPlan(desired: DesiredState): Promise<{ observed: SwarmObservedState; plan: SwarmPlan }> {
    const [observed, repoFiles] = await Promise.all([observeSwarm(this.deps.docker, this.deps.node), observeRepoFiles(desired, this.deps.stat)]);
    const plan = planSwarm(desired, observed, { hashKey: this.deps.hashKey, repoFiles, allowEmpty: this.deps.allowEmpty });
    return { observed, plan };
  }
}

function readiness(desired: DesiredState, observed: SwarmObservedState): ServiceReadiness[] {
  const byName = new Map(observed.services.map((service) => [service.name, service]));
  return desired.apps.flatMap((app) =>
    app.services.map((service) => {
      const current = byName.get(swarmServiceName(app.name, service.name));
      return {
        app: app.name,
        service: service.name,
        desiredReplicas: service.replicas,
        readyReplicas: current && current.configHash === service.configHash ? current.readyTasks : 0,
      };
    }),
  );
}

import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import { dockerConfigReader, registryAuth } from '../registry-auth.js';
import { notSuspended } from '../../control/decide.js';
import type { Logger } from '../../log.js';
import type { DesiredState } from '../../model.js';
import type { StateStore } from '../../state/store.js';
import { convergeWith, type TargetStages } from '../converge.js';
import type { Convergence, RolloutFailure, Target, TargetContext, TargetPlan } from '../target.js';
import { journalOf } from '../target.js';
import { executeSwarm, type SwarmExecuteDeps } from './execute.js';
import { swarmServiceName } from './names.js';
import { observeRepoFiles, observeSwarm } from './observe.js';
import { planSwarm } from './plan.js';
import { describeSwarm, printSwarmPlan, swarmChangeSummary } from './print.js';
import type { SwarmObservedState, SwarmPlan } from './types.js';

export type { SwarmPlan } from './types.js';

/** `--target swarm`: Swarm services, on a manager, given the real engine and files. */
export function createSwarmTarget(context: TargetContext): Target {
  return new SwarmTarget({
    docker: context.docker,
    store: context.store,
    clock: context.clock,
    node: context.node,
    allowEmpty: context.allowEmpty,
    redact: context.redact,
    hashKey: context.hashKey,
    readFile: (path) => context.fs.promises.readFile(path),
    stat: (path) => context.fs.promises.stat(path),
  });
}

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

  converge(desired: DesiredState, context: { logger: Logger; cycleId: number }): Promise<Convergence> {
    return convergeWith(this.stages(desired), desired, context);
  }

  /** This target's stages, for the order every target shares (converge.ts). */
  private stages(desired: DesiredState): TargetStages<SwarmObservedState, SwarmPlan> {
    const { docker, store, clock, node } = this.deps;
    return {
      observeAndPlan: (wanted) => this.observeAndPlan(wanted),
      pending: (plan) => swarmChangeSummary(plan.operations),
      readyReplicas: (observed, app, service) => {
        const current = observed.services.find((candidate) => candidate.name === swarmServiceName(app, service.name));
        return current && current.configHash === service.configHash ? current.readyTasks : 0;
      },
      // Swarm's nodes mount no checkout of this one.
      inUseCommits: () => [],
      execute: async (plan, { logger, cycleId }) => {
        const readConfig = dockerConfigReader();
        const { done, failure } = await executeSwarm(plan, {
          docker,
          clock,
          node,
          logger,
          readFile: this.deps.readFile,
          // Credentials stay out of the plan, which `capstan plan` prints.
          registryAuth: (image) => registryAuth(image, desired.registries, readConfig),
          pollIntervalMs: this.deps.pollIntervalMs,
          journal: journalOf(store, cycleId, describeSwarm, this.deps.redact),
        });
        const changes = swarmChangeSummary(done);
        if (!failure) return { changes, rolloutFailures: [] };
        const rolloutFailures: RolloutFailure[] =
          failure.rollout && 'service' in failure.operation && typeof failure.operation.service === 'object'
            ? [{ app: failure.operation.service.app, service: failure.operation.service.service, message: `${failure.operation.service.app}/${failure.operation.service.service}: ${failure.message}` }]
            : [];
        return { changes, failure: { message: `${describeSwarm(failure.operation)}: ${failure.message}`, errorClass: failure.rollout ? 'terminal' : 'transient' }, rolloutFailures };
      },
    };
  }

  private async observeAndPlan(desired: DesiredState): Promise<{ observed: SwarmObservedState; plan: SwarmPlan }> {
    const [all, repoFiles] = await Promise.all([observeSwarm(this.deps.docker, this.deps.node), observeRepoFiles(desired, this.deps.stat)]);
    // What of a suspended app runs is not planned for: never updated, repaired or removed.
    const suspended = new Set(desired.suspendedApps ?? []);
    const observed: SwarmObservedState = suspended.size === 0 ? all : {
      ...all,
      services: notSuspended(all.services, suspended),
      networks: notSuspended(all.networks, suspended),
      secrets: notSuspended(all.secrets, suspended),
      configs: notSuspended(all.configs, suspended),
      legacy: { containers: notSuspended(all.legacy.containers, suspended), networks: notSuspended(all.legacy.networks, suspended) },
    };
    const plan = planSwarm(desired, observed, { hashKey: this.deps.hashKey, repoFiles, allowEmpty: this.deps.allowEmpty });
    return { observed, plan };
  }
}

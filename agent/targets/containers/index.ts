import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import { listContext } from '../../load/files/build-context.js';
import { dockerConfigReader, registryAuth } from '../registry-auth.js';
import { execute, type Journal, type OperationFailure } from './execute.js';
import { collectImages } from './images.js';
import type { IsolationCheck } from './execute-isolation.js';
import type { Logger } from '../../log.js';
import { createHostPathCheck, type HostPathCheck } from '../../policy/host-paths.js';
import type { DesiredState } from '../../model.js';
import { isReadyReplica } from '../status.js';
import { observe, observeForeignNames, type ObservedState } from './observe.js';
import { plan as makePlan } from './plan.js';
import { changeSummary, describe, printPlan } from './print.js';
import type { Plan } from './types.js';
import { createMountCopies, type MountCopies } from '../../source/mount-copies.js';
import { notSuspended } from '../../control/decide.js';
import type { StateStore } from '../../state/store.js';
import { convergeWith, type TargetStages } from '../converge.js';
import type { Convergence, RolloutFailure, Target, TargetContext, TargetPlan } from '../target.js';
import { journalOf } from '../target.js';
import { createUpdateLocks, type UpdateLocks } from '../../deferral/locks.js';

/** `--target containers` (the default): this engine's containers, given the real engine and files. */
export function createContainerTarget(context: TargetContext): Target {
  return new ContainerTarget({
    docker: context.docker,
    store: context.store,
    clock: context.clock,
    node: context.node,
    allowEmpty: context.allowEmpty,
    redact: context.redact,
    mountCopies: createMountCopies({ fs: context.fs, stateDir: context.stateDir }),
    isolation: context.isolation(),
    hostPaths: createHostPathCheck(context.policy),
    updateLocks: createUpdateLocks(context.stateDir),
  });
}

export interface ContainerTargetDeps {
  docker: Docker;
  store: StateStore;
  clock: Clock;
  node: string;
  allowEmpty: boolean;
  /** Copies of the repository files containers mount; absent, they mount the checkout (tests of the planner only). */
  mountCopies?: MountCopies;
  /** Verifies the engine isolates a network before a replica starts on it; absent where its rules cannot be read. */
  isolation?: IsolationCheck;
  /** Scrubs decrypted values from what the journal keeps (an operation naming an image built from a secret). */
  redact?: (text: string) => string;
  /** Checks host bind mounts against the host policy right before a container is created. */
  hostPaths?: HostPathCheck;
  /** The update lock folders of the apps whose services ask for one (deferral/locks.ts). */
  updateLocks?: UpdateLocks;
}

/** Containers on the local Docker engine, converged by observe → plan → execute. */
export class ContainerTarget implements Target {
  constructor(private readonly deps: ContainerTargetDeps) {}

  async plan(desired: DesiredState): Promise<Plan> {
    return (await this.observeAndPlan(desired)).plan;
  }

  /**
   * Observes what this node owns and plans. The names others hold are listed (every container
   * on the host) only when the plan is about to create or take a name, so an in-sync cycle
   * does not pay for the host's other containers; `docker info` only when a service names a
   * runtime.
   */
  private async observeAndPlan(desired: DesiredState, provenNow = false): Promise<{ observed: ObservedState; plan: Plan }> {
    const { docker, node, allowEmpty, store } = this.deps;
    const runtimes = desired.apps.some((app) => app.services.some((service) => service.runtime !== undefined));
    const engineNetworks = desired.apps.some((app) => (app.networks ?? []).some((network) => network.external || network.ipam));
    const engineVolumes = desired.apps.some((app) => app.volumes.some((volume) => volume.external));
    const all = await observe(docker, node, { runtimes, engineNetworks, engineVolumes, times: restartTimes(desired) });
    // What of a suspended app runs is not planned for (never repaired or pruned); the whole
    // observation still counts for the checkouts in use.
    const suspended = new Set(desired.suspendedApps ?? []);
    const owned: ObservedState = suspended.size === 0 ? all : {
      ...all,
      containers: notSuspended(all.containers, suspended),
      networks: notSuspended(all.networks, suspended),
      volumes: notSuspended(all.volumes, suspended),
    };
    if (desired.apps.some((app) => app.hooks !== undefined)) owned.hooksDone = store.hooksPassed(node, desired.commit);
    if (desired.apps.some((app) => app.services.some((service) => (service.postStart?.length ?? 0) > 0))) owned.postStartDone = store.postStartDone(node);
    // What SQLite records as applied is what passed readiness; a container at another hash is
    // watched again before it is promoted (see plan.ts). Right after an execute in which every
    // wait succeeded, the desired hashes are proven too (`provenNow`), though not yet recorded.
    const deployed = store.deployments(node);
    const appliedHashes = new Map(deployed.map((row) => [`${row.app}/${row.service}`, row.configHash]));
    const appliedHooks = new Map(deployed.map((row) => [row.app, row.hooksHash ?? null]));
    if (provenNow) for (const app of desired.apps) for (const service of app.services) appliedHashes.set(`${app.name}/${service.name}`, service.configHash);
    if (provenNow) for (const app of desired.apps) appliedHooks.set(app.name, app.hooksHash ?? '');
    const options = { allowEmpty, appliedHashes, appliedHooks };
    const plan = makePlan(desired, owned, options);
    if (!plan.operations.some(takesName)) return { observed: all, plan };
    const foreign = await observeForeignNames(docker, node);
    return { observed: { ...all, foreign }, plan: makePlan(desired, { ...owned, foreign }, options) };
  }

  print(plan: TargetPlan): string {
    return printPlan(plan as Plan);
  }

  async afterApplied(desired: DesiredState, logger: Logger): Promise<void> {
    const { docker, store, node } = this.deps;
    await collectImages({ docker, store, node, logger }, desired);
  }

  converge(desired: DesiredState, context: { logger: Logger; cycleId: number }): Promise<Convergence> {
    return convergeWith(this.stages(desired), desired, context);
  }

  /** This target's stages, for the order every target shares (converge.ts). */
  private stages(desired: DesiredState): TargetStages<ObservedState, Plan> {
    const { docker, node, store, clock } = this.deps;
    return {
      observeAndPlan: (wanted, provenNow) => this.observeAndPlan(wanted, provenNow),
      pending: (plan) => changeSummary(plan),
      readyReplicas: (observed, app, service) =>
        observed.containers.filter((container) => container.app === app && container.service === service.name && isReadyReplica(container, service.configHash)).length,
      inUseCommits: commitsInUse,
      execute: async (plan, { logger, cycleId }) => {
        // The rollout in flight, for `status`: each service's replicas to prove ready, and its phase.
        store.startRollout(node, cycleId, desired.commit, rolloutTotals(plan));
        let executed;
        try {
          const readConfig = dockerConfigReader();
          executed = await execute(plan, {
            docker,
            journal: this.journal(cycleId),
            logger,
            clock,
            // Credentials stay out of the plan, which `capstan plan` prints.
            registryAuth: (image) => registryAuth(image, desired.registries, readConfig),
            listContext,
            secrets: desired.sensitiveValues ?? [],
            mountCopies: this.deps.mountCopies,
            isolation: this.deps.isolation,
            hostPaths: this.deps.hostPaths,
            hookRuns: {
              started: (run) => store.hookRunStarted(node, { ...run, cycleId }),
              finished: (id, result, exitCode) => store.hookRunFinished(id, result, exitCode),
            },
            updateLocks: this.deps.updateLocks,
            postStartDone: (containerId) => store.recordPostStartDone(node, containerId),
          });
        } finally {
          store.finishRollout(node);
        }
        const { failures, done } = executed;
        // Built images are collected like pulled ones: the current and the rollback one stay.
        for (const operation of done) if (operation.kind === 'pull-image' || operation.kind === 'build-image') store.recordPulledImage(node, operation.image);
        const changes = changeSummary({ ...plan, operations: done });
        if (failures.length === 0) return { changes, rolloutFailures: [] };
        const message = failures.map((item) => `${describe(item.operation)}: ${item.message}`).join('; ');
        const errorClass = failures.some((item) => item.errorClass === 'terminal') ? 'terminal' : 'transient';
        return { changes, failure: { message, errorClass }, rolloutFailures: failures.flatMap(toRolloutFailure) };
      },
    };
  }

  /** The journal rows of a cycle, and the rollout progress `status` shows, as each operation starts and ends. */
  private journal(cycleId: number): Journal {
    const { store, node } = this.deps;
    const operations = new Map<number, Plan['operations'][number]>();
    const journalRows = journalOf(store, cycleId, describe, this.deps.redact);
    return {
      start: (operation) => {
        const entryId = journalRows.start(operation);
        operations.set(entryId, operation);
        const step = rolloutStep(operation, 'started');
        if (step) store.rolloutStep(node, step.app, step.service, step.phase);
        return entryId;
      },
      finish: (entryId, error) => {
        journalRows.finish(entryId, error);
        const operation = operations.get(entryId);
        const step = operation && rolloutStep(operation, error ? 'failed' : 'done');
        if (step) store.rolloutStep(node, step.app, step.service, step.phase, step.readyOne);
      },
    };
  }
}

/** Operations that give a Docker object a name, which someone else may already hold. */
function takesName(operation: Plan['operations'][number]): boolean {
  return ['create-container', 'create-network', 'create-volume', 'rename-container'].includes(operation.kind);
}

function toRolloutFailure(failure: OperationFailure): RolloutFailure[] {
  if (!failure.rollout) return [];
  // A Dockerfile that does not build fails the commit like a replica that never gets ready.
  const output = failure.output ? { output: failure.output } : {};
  if (failure.operation.kind === 'build-image') return [{ app: failure.operation.app, service: failure.operation.service, message: failure.message, ...output }];
  if (!('container' in failure.operation)) return [];
  const hook = failure.operation.kind === 'run-hook' ? { hook: failure.operation.phase } : {};
  return [{ app: failure.operation.container.app, service: failure.operation.container.service, message: failure.message, ...output, ...hook }];
}

/** Replicas each service must prove ready in this plan (one wait-ready each): the rollout's total. */
export function rolloutTotals(plan: Plan): { app: string; service: string; total: number }[] {
  const totals = new Map<string, { app: string; service: string; total: number }>();
  for (const operation of plan.operations) {
    if (operation.kind !== 'wait-ready') continue;
    const key = `${operation.container.app}/${operation.container.service}`;
    const entry = totals.get(key) ?? { app: operation.container.app, service: operation.container.service, total: 0 };
    entry.total++;
    totals.set(key, entry);
  }
  return [...totals.values()];
}

const PHASES: Partial<Record<Plan['operations'][number]['kind'], string>> = {
  'create-container': 'creating',
  'start-container': 'starting',
  'wait-ready': 'waiting for readiness of',
  'stop-container': 'stopping',
  'remove-container': 'removing',
  'rename-container': 'renaming',
};

/** The phase an operation puts its service's rollout in: `waiting for readiness of shop-web-2--next`. */
export function rolloutStep(
  operation: Plan['operations'][number],
  stage: 'started' | 'done' | 'failed',
): { app: string; service: string; phase: string; readyOne: boolean } | undefined {
  if (!('container' in operation) || PHASES[operation.kind] === undefined) return undefined;
  const { app, service, name } = operation.container;
  const readyOne = operation.kind === 'wait-ready' && stage === 'done';
  const phase = stage === 'failed' ? `failed: ${PHASES[operation.kind]} ${name}` : readyOne ? `${name} ready` : `${PHASES[operation.kind]} ${name}`;
  return { app, service, phase, readyOne };
}

/**
 * The services whose containers' creation and start times the plan needs: those with a
 * `depends_on` that has `restart: true`, and those dependencies (plan-hooks.ts).
 */
function restartTimes(desired: DesiredState): Set<string> {
  const services = new Set<string>();
  for (const app of desired.apps) {
    for (const service of app.services) {
      for (const dependency of service.dependsOn ?? []) {
        if (dependency.restart !== true) continue;
        services.add(`${app.name}/${service.name}`);
        services.add(`${app.name}/${dependency.service}`);
      }
    }
  }
  return services;
}

function commitsInUse(observed: ObservedState): string[] {
  return [...new Set(observed.containers.map((container) => container.commit).filter(Boolean))];
}

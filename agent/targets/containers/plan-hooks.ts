// The planner's part for the app's hook jobs (`hooks:`) and for `depends_on: {restart: true}`.
// Pure, as plan.ts: what runs is decided from the desired app, the observed containers and the
// runs SQLite records as passed (observed.hooksDone).
import type { App, HookJob, Service } from '../../model.js';
import { hookContainerName } from '../../names.js';
import type { EndpointSpec } from '../networks.js';
import type { ObservedContainer } from './observe.js';
import type { PlanBuilder } from './plan-builder.js';
import type { ContainerSpec } from './types.js';
import { numericUser } from '../../load/normalize/spec.js';

/**
 * Whether the app rolls out in this plan: a service whose config hash is not the one recorded as
 * applied (its first deploy included), or hook jobs that are not the ones recorded as applied (a
 * commit that changes only a migration runs it, as Argo's hooks run on any sync of the app).
 * Drift repair and a rollback to the applied commit are not rollouts, so they run no hook.
 * Absent `appliedHashes` (planner unit tests): every service is new. A hooks hash recorded as
 * null (a state from before it was kept) is taken as unchanged: an upgrade runs no hook again.
 */
export function rollsOut(app: App, appliedHashes: ReadonlyMap<string, string> | undefined, appliedHooks?: ReadonlyMap<string, string | null>): boolean {
  if (app.services.some((service) => appliedHashes?.get(`${app.name}/${service.name}`) !== service.configHash)) return true;
  const recorded = appliedHooks?.get(app.name);
  return recorded !== undefined && recorded !== null && recorded !== (app.hooksHash ?? '');
}

/** The jobs still to run for this commit: those not recorded as passed. */
export function pendingJobs(app: App, jobs: HookJob[], done: readonly string[] | undefined): HookJob[] {
  const passed = new Set(done ?? []);
  return jobs.filter((job) => !passed.has(`${app.name}/${job.phase}/${job.name}`));
}

/**
 * The services the pre_deploy jobs need before they run: everything their services depend on,
 * transitively (a migration needs its database). They are created or replaced before the jobs;
 * every other service of the app only after. Closed under depends_on, so the order has no cycle.
 */
export function preDeployNeeds(app: App, jobs: HookJob[]): Set<string> {
  const byName = new Map(app.services.map((service) => [service.name, service]));
  const needs = new Set<string>();
  const visit = (name: string) => {
    for (const dependency of byName.get(name)?.dependsOn ?? []) {
      if (needs.has(dependency.service) || !byName.has(dependency.service)) continue;
      needs.add(dependency.service);
      visit(dependency.service);
    }
  };
  for (const job of jobs) visit(job.service);
  return needs;
}

/**
 * What a job's container is made from: its service with the job's command and environment, run
 * once (`restart: no`), without the service's ports (the replicas hold them), health check,
 * anonymous volumes (a replica slot's own) or DNS aliases and fixed addresses on its networks
 * (a smoke test must reach the replicas under the service's name, not itself).
 */
export function jobSpec(app: App, service: Service, job: HookJob, endpoints: EndpointSpec[]): ContainerSpec {
  const jobService: Service = {
    ...service,
    command: job.command,
    environment: { ...service.environment, ...job.environment },
    restart: 'no',
    ports: [],
    healthcheck: { test: ['NONE'] },
    mounts: service.mounts.filter((mount) => mount.type !== 'anonymous'),
    replicas: 1,
  };
  delete jobService.macAddress;
  delete jobService.hostname;
  return {
    app,
    service: jobService,
    endpoints: endpoints.map((endpoint) => ({ network: endpoint.network, aliases: [] })),
    secretOwner: numericUser(service.user) ?? { uid: 0, gid: 0 },
  };
}

/** Adds the run of each job, one after the other; returns the last one's id (or `after`'s last). */
export function planJobs(
  builder: PlanBuilder,
  app: App,
  jobs: HookJob[],
  prerequisites: (job: HookJob) => number[],
  endpoints: (service: string) => EndpointSpec[],
  cause: string,
): number | undefined {
  let previous: number | undefined;
  for (const job of jobs) {
    const service = app.services.find((candidate) => candidate.name === job.service)!;
    const name = hookContainerName(app.name, job.phase, job.name);
    previous = builder.add({
      kind: 'run-hook',
      container: { ref: name, name, app: app.name, service: job.service, replica: 0 },
      phase: job.phase,
      job: job.name,
      timeoutMs: job.timeoutMs,
      spec: jobSpec(app, service, job, endpoints(job.service)),
      after: [...new Set([...prerequisites(job), ...(previous === undefined ? [] : [previous])])].sort((left, right) => left - right),
      cause,
    });
  }
  return previous;
}

/**
 * `depends_on: {restart: true}`: the dependent's running containers that started before a
 * container of the dependency was created. Read from Docker's own times, so a restart the agent
 * did not live to make is made by the next plan; Docker restarting the dependency (its restart
 * policy) changes no creation time, so it restarts nothing, as in Compose.
 */
export function startedBeforeDependency(container: ObservedContainer, dependencies: ObservedContainer[]): ObservedContainer | undefined {
  if (container.startedAt === undefined) return undefined;
  return dependencies.find((dependency) => dependency.createdAt !== undefined && dependency.createdAt > container.startedAt!);
}

import type { App, DependencySpec, DesiredState, Service } from '../../model.js';
import { anonymousVolumeName, containerName, nextContainerName } from '../../names.js';
import type { ObservedContainer, ObservedState } from './observe.js';
import { emptyStateProblem } from '../converge.js';
import { PlanBuilder, type NewOperation } from './plan-builder.js';
import { networkLayout, type EndpointSpec, type NetworkLayout } from '../networks.js';
import { findConflicts, networkProblems, volumeProblems, planImages, planNetworkRemovals, planNetworks, planVolumeRemovals, runtimeProblems } from './plan-objects.js';
import { batches, effectiveOrder, isOneShot, updateOf, type EffectiveOrder } from '../rollout.js';
import type { ContainerRef, ContainerSpec, Plan, PlanProblem } from './types.js';
import { numericUser } from '../../load/normalize/spec.js';
import { pendingJobs, planJobs, preDeployNeeds, rollsOut, startedBeforeDependency } from './plan-hooks.js';

export interface PlanOptions {
  /** Allow a commit that renders no services to prune everything this node runs. */
  allowEmpty?: boolean;
  /**
   * The config hash last recorded as applied, by `app/service` (SQLite's deployments). A
   * container at the desired hash that is not in this map was created by a rollout that never
   * finished (the agent died during it): it is proven ready again before it is promoted or the
   * commit recorded. Absent: every container at the desired hash counts as proven (unit tests
   * that are not about recovery).
   */
  appliedHashes?: ReadonlyMap<string, string>;
  /** Per app, its `hooks:` hash as recorded applied (null: recorded before it was kept). */
  appliedHooks?: ReadonlyMap<string, string | null>;
}

/**
 * The pure heart of Capstan: what must change so that Docker matches the desired state.
 * No I/O; the same inputs always give the same plan, so golden tests pin its behaviour.
 *
 * Invariant for a replica slot (app, service, n): at the end of the plan exactly one
 * container carries its labels, with the desired config hash, under `containerName(...)`,
 * and running unless it is a finished one-shot. A replacement creates the new container
 * first (under the `--next` name, so a failed create or pull leaves the old one serving);
 * start-first then waits for it to be ready before the old one stops, stop-first stops the
 * old one first to free its host ports (see planSlot). Every intermediate state after a
 * crash is one the next plan recognises from labels and finishes: the keeper is the
 * container with the desired hash, whatever its name or state. A keeper whose hash is not the
 * one recorded as applied (`appliedHashes`) may never have passed readiness (the agent was
 * killed while it was being watched), so it is watched again, with the service's rules and a
 * fresh deadline, before anything it replaces is removed or it takes the replica name; if it
 * fails, the cycle fails as the interrupted rollout would have. Its `post_start` hooks, which the
 * killed agent may not have finished, run again before that watch (at least once).
 *
 * The same holds for what this plan adds around the slots. Network membership is observed
 * (each container's networks are listed), so a crash between connects is finished by the next
 * plan's connects; a container created but not yet connected to all its networks is a keeper
 * that gets its connects before its start. A sidecar's keeper must also share the network
 * namespace of its parent's keeper (observed as `container:<id>`), so a sidecar left in the
 * namespace of a replaced parent is replaced next. Builds and pulls only add images, network and
 * volume creations are idempotent by name, and removals wait for everything using the object.
 */
export function plan(desired: DesiredState, observed: ObservedState, options: PlanOptions = {}): Plan {
  const builder = new PlanBuilder();
  const problems: PlanProblem[] = [];
  const empty = emptyStateProblem(desired, { count: observed.containers.length, what: 'managed container(s)', verb: 'prune' }, options.allowEmpty);
  if (empty) return { commit: desired.commit, node: observed.node, operations: [], problems: [empty] };

  const layout = networkLayout(desired);
  problems.push(...findConflicts(desired, observed, layout), ...runtimeProblems(desired, observed), ...networkProblems(layout, observed), ...volumeProblems(desired, observed));
  if (problems.length > 0) return { commit: desired.commit, node: observed.node, operations: [], problems };

  const context: PlanContext = {
    observed,
    layout,
    images: planImages(builder, desired, observed),
    networkOps: planNetworks(builder, layout, observed),
    ownedNetworks: new Set(observed.networks.map((network) => network.name)),
    ownedVolumes: new Set(observed.volumes.map((volume) => volume.name)),
    appliedHashes: options.appliedHashes,
    appliedHooks: options.appliedHooks,
    hookRemovals: new Map(),
  };
  // A job's container left by an agent killed during the job: removed, and the job run again
  // (its run is recorded as passed only once it exited 0).
  for (const container of observed.hookContainers ?? []) {
    builder.record(context.hookRemovals, container.app, removeContainer(builder, container, 'hook job container left by an interrupted run', []));
  }
  const desiredApps = new Set(desired.apps.map((app) => app.name));
  for (const app of desired.apps) planApp(builder, app, context);
  for (const appName of unique(observed.containers.map((container) => container.app))) {
    if (!desiredApps.has(appName)) planAppRemoval(builder, appName, observed);
  }
  planNetworkRemovals(builder, layout, observed, desiredApps);
  planVolumeRemovals(builder, desired, observed);
  return { commit: desired.commit, node: observed.node, operations: builder.operations, problems };
}

interface PlanContext {
  observed: ObservedState;
  layout: NetworkLayout;
  /** Pull or build operation by image. */
  images: Map<string, number>;
  /** Create operation by network name. */
  networkOps: Map<string, number>;
  /** Networks this node created: the only ones a container is ever disconnected from. */
  ownedNetworks: Set<string>;
  ownedVolumes: Set<string>;
  appliedHashes?: ReadonlyMap<string, string>;
  appliedHooks?: ReadonlyMap<string, string | null>;
  /** Removals of hook job containers left by an interrupted run, by app: the app's jobs run after them. */
  hookRemovals: Map<string, number[]>;
}

/** What a replica slot ended up as, for the slots that wait on it (next batch, sidecar, dependents). */
interface SlotResult {
  /** The existing container that keeps serving the slot; undefined when the plan creates one. */
  keeperId?: string;
  /** For a container this plan creates: its start and its wait-ready. */
  started?: number;
  ready?: number;
  /** The keeper is started again (it was stopped): its sidecar must follow it into the new namespace. */
  restarted?: number;
  /** The last operation on the slot's final container. */
  end?: number;
}

function planApp(builder: PlanBuilder, app: App, context: PlanContext): void {
  const { observed } = context;
  const volumeOps = new Map<string, number>();
  for (const volume of app.volumes) {
    // An external volume exists (volumeProblems stops the plan otherwise) and is never created.
    if (volume.remove || volume.external) continue;
    if (!observed.volumes.some((candidate) => candidate.name === volume.dockerName)) {
      volumeOps.set(
        volume.name,
        builder.add({
          kind: 'create-volume',
          app: app.name,
          volume: volume.name,
          dockerName: volume.dockerName,
          ...(volume.labels === undefined ? {} : { labels: volume.labels }),
          after: [],
          cause: 'volume missing',
        }),
      );
    }
  }

  const appContainers = observed.containers.filter((container) => container.app === app.name);
  const completionTargets = new Set(
    app.services.flatMap((service) => (service.dependsOn ?? []).filter((dependency) => dependency.condition === 'service_completed_successfully').map((dependency) => dependency.service)),
  );
  const results = new Map<string, SlotResult[]>();
  // Hook jobs run when the app rolls out (a service or a hook job changed), once per commit
  // (those recorded as passed are done).
  const rollout = app.hooks !== undefined && rollsOut(app, context.appliedHashes, context.appliedHooks);
  const preJobs = rollout ? pendingJobs(app, app.hooks!.preDeploy, observed.hooksDone) : [];
  const postJobs = rollout ? pendingJobs(app, app.hooks!.postDeploy, observed.hooksDone) : [];
  const leftovers = context.hookRemovals.get(app.name) ?? [];
  const needs = preDeployNeeds(app, preJobs);
  let preDone: number | undefined;
  const keeperWaits = new Map<string, number>();

  /** What a container of `service` waits for: its networks, volumes, image and depends_on conditions. */
  const prerequisitesOf = (service: Service): number[] => {
    const endpoints = context.layout.endpoints(app.name, service.name);
    const prerequisites = endpoints.flatMap((endpoint) => (context.networkOps.has(endpoint.network) ? [context.networkOps.get(endpoint.network)!] : []));
    for (const mount of service.mounts) {
      if (mount.type === 'volume' && volumeOps.has(mount.volume)) prerequisites.push(volumeOps.get(mount.volume)!);
    }
    const image = context.images.get(service.image);
    if (image !== undefined) prerequisites.push(image);
    // Compose's depends_on, for containers created together: 2 replicas of db, healthy: web's creates wait for both.
    // A dependency kept as it runs is waited for only when it does not meet the condition now
    // (health starting, a one-shot still running), and only by a service that creates containers.
    const creates = willCreate(service, appContainers);
    for (const dependency of service.dependsOn ?? []) {
      const target = app.services.find((candidate) => candidate.name === dependency.service);
      for (const slot of results.get(dependency.service) ?? []) {
        const gate = dependency.condition === 'service_started' ? slot.started : slot.ready;
        if (gate !== undefined) prerequisites.push(gate);
        else if (creates && target && slot.keeperId !== undefined) {
          const keeper = appContainers.find((container) => container.id === slot.keeperId);
          const wait = keeper && keeperGate(builder, keeperWaits, target, keeper, dependency.condition, service.name);
          if (wait !== undefined) prerequisites.push(wait);
        }
      }
    }
    return prerequisites;
  };
  const runPreJobs = () => {
    const byName = new Map(app.services.map((service) => [service.name, service]));
    preDone = planJobs(builder, app, preJobs, (job) => [...prerequisitesOf(byName.get(job.service)!), ...leftovers], (service) => context.layout.endpoints(app.name, service), 'pre_deploy: before any replica of the app is replaced');
  };

  // The services the pre_deploy jobs need come first, then the jobs, then the rest.
  const ordered = serviceOrder(app.services);
  const services = [...ordered.filter((service) => needs.has(service.name)), ...ordered.filter((service) => !needs.has(service.name))];
  for (const service of services) {
    if (preJobs.length > 0 && preDone === undefined && !needs.has(service.name)) runPreJobs();
    const endpoints = context.layout.endpoints(app.name, service.name);
    const prerequisites = prerequisitesOf(service);
    if (preDone !== undefined && !needs.has(service.name)) prerequisites.push(preDone);
    const parent = service.networkMode?.kind === 'service' ? results.get(service.networkMode.service) : undefined;
    const containers = appContainers.filter((container) => container.service === service.name);
    const slots = planService(builder, app, service, containers, {
      app,
      prerequisites: unique(prerequisites).sort((left, right) => left - right),
      endpoints,
      parent,
      completion: completionTargets.has(service.name),
      ownedNetworks: context.ownedNetworks,
      keepersProven: context.appliedHashes === undefined || context.appliedHashes.get(`${app.name}/${service.name}`) === service.configHash,
      postStartDone: context.observed.postStartDone,
      volumeNames: context.ownedVolumes,
    });
    planDependencyRestarts(builder, service, slots, containers, results, appContainers, endpoints);
    results.set(service.name, slots);
  }
  if (preJobs.length > 0 && preDone === undefined) runPreJobs();
  const desiredServices = new Set(app.services.map((service) => service.name));
  const removals: number[] = [];
  for (const container of appContainers) {
    if (!desiredServices.has(container.service)) removals.push(removeContainer(builder, container, 'service removed from repo', preDone === undefined ? [] : [preDone]));
  }
  if (postJobs.length > 0) {
    const ends = [...results.values()].flatMap((slots) => slots.flatMap((slot) => (slot.end === undefined ? [] : [slot.end])));
    const after = [...ends, ...removals, ...leftovers, ...(preDone === undefined ? [] : [preDone])];
    planJobs(builder, app, postJobs, () => after, (service) => context.layout.endpoints(app.name, service), 'post_deploy: once every replica of the app is ready');
  }
}

/** Whether a replica slot of the service gets a new container in this plan (no container at its hash). */
function willCreate(service: Service, appContainers: ObservedContainer[]): boolean {
  if (service.networkMode?.kind === 'service') return false;
  const current = appContainers.filter((container) => container.service === service.name && container.configHash === service.configHash && container.state !== 'dead' && container.state !== 'removing');
  return Array.from({ length: service.replicas }, (_, index) => index + 1).some((replica) => !current.some((container) => container.replica === replica));
}

/**
 * A wait on a kept dependency that does not meet the condition yet (Compose waits for running
 * dependencies too): healthy for `service_healthy`, exited 0 for `service_completed_successfully`.
 * Its failure is the host's (`serving`), not the commit's: the dependent is not created.
 */
function keeperGate(
  builder: PlanBuilder,
  waits: Map<string, number>,
  dependency: Service,
  keeper: ObservedContainer,
  condition: DependencySpec['condition'],
  dependent: string,
): number | undefined {
  const met =
    condition === 'service_started' ||
    (condition === 'service_healthy' && keeper.health === 'healthy') ||
    (condition === 'service_completed_successfully' && keeper.state === 'exited' && keeper.exitCode === 0);
  if (met) return undefined;
  const known = waits.get(keeper.id);
  if (known !== undefined) return known;
  const completion = condition === 'service_completed_successfully';
  const id = builder.add({
    kind: 'wait-ready',
    container: refOf(keeper),
    after: [],
    cause: `${dependent} depends on it: ${completion ? 'must exit 0' : 'must report healthy'} before ${dependent} is created`,
    monitorMs: updateOf(dependency).monitorMs,
    progressDeadlineMs: updateOf(dependency).progressDeadlineMs,
    oneShot: isOneShot(dependency),
    delayMs: 0,
    serving: true,
    ...(completion ? { completion: true } : {}),
  });
  waits.set(keeper.id, id);
  return id;
}

/**
 * `depends_on: {restart: true}`, as in Compose: a running container of `service` kept by this
 * plan is stopped and started again once a dependency with `restart: true` was replaced (in this
 * plan, after its new containers meet the condition; or before, by a plan the agent did not live
 * to finish: it started before the dependency's container was created).
 */
function planDependencyRestarts(
  builder: PlanBuilder,
  service: Service,
  slots: SlotResult[],
  containers: ObservedContainer[],
  results: Map<string, SlotResult[]>,
  appContainers: ObservedContainer[],
  endpoints: EndpointSpec[],
): void {
  const restartOn = (service.dependsOn ?? []).filter((dependency) => dependency.restart === true);
  if (restartOn.length === 0) return;
  for (const slot of slots) {
    if (slot.keeperId === undefined || slot.restarted !== undefined) continue;
    const keeper = containers.find((container) => container.id === slot.keeperId);
    if (keeper?.state !== 'running') continue;
    const gates: number[] = [];
    const replaced: string[] = [];
    for (const dependency of restartOn) {
      const dependencySlots = results.get(dependency.service) ?? [];
      const created = dependencySlots.filter((candidate) => candidate.keeperId === undefined && candidate.ready !== undefined);
      const kept = appContainers.filter((container) => dependencySlots.some((candidate) => candidate.keeperId === container.id));
      if (created.length === 0 && !startedBeforeDependency(keeper, kept)) continue;
      replaced.push(dependency.service);
      for (const candidate of dependencySlots) {
        const gate = dependency.condition === 'service_started' ? (candidate.started ?? candidate.end) : (candidate.ready ?? candidate.end);
        if (gate !== undefined) gates.push(gate);
      }
    }
    if (replaced.length === 0) continue;
    const ref = refOf(keeper);
    const cause = `dependency ${replaced.join(', ')} replaced (depends_on restart: true)`;
    const after = unique([...gates, ...(slot.end === undefined ? [] : [slot.end])]).sort((left, right) => left - right);
    const stopped = builder.add({ kind: 'stop-container', container: ref, after, cause, ...stopFields(service) });
    const started = builder.add({ kind: 'start-container', container: ref, networks: endpoints.map((endpoint) => endpoint.network), after: [stopped], cause, ...postStartField(service) });
    // Its sidecars follow it into its new network namespace, as after any start.
    slot.restarted = started;
    slot.end = started;
  }
}

/** Dependencies and sidecar parents first; otherwise by name, so plans stay stable. */
function serviceOrder(services: Service[]): Service[] {
  const names = new Set(services.map((service) => service.name));
  const needs = new Map(
    services.map((service) => {
      const before = (service.dependsOn ?? []).map((dependency) => dependency.service);
      if (service.networkMode?.kind === 'service') before.push(service.networkMode.service);
      return [service.name, new Set(before.filter((name) => names.has(name) && name !== service.name))];
    }),
  );
  const ordered: Service[] = [];
  const placed = new Set<string>();
  while (ordered.length < services.length) {
    const next =
      services.find((service) => !placed.has(service.name) && [...needs.get(service.name)!].every((name) => placed.has(name))) ??
      // A cycle (refused by the loader) cannot block the plan: take the rest by name.
      services.find((service) => !placed.has(service.name))!;
    ordered.push(next);
    placed.add(next.name);
  }
  return ordered;
}

interface ServiceContext {
  app: App;
  prerequisites: number[];
  endpoints: EndpointSpec[];
  /** For a sidecar, its parent's slots. */
  parent?: SlotResult[];
  /** A dependent waits for this service to complete: ready means exited 0. */
  completion: boolean;
  ownedNetworks: Set<string>;
  /** Containers already at the desired hash passed readiness (the hash is the applied one). */
  keepersProven: boolean;
  postStartDone?: readonly string[];
  /** Names of the volumes this node owns. */
  volumeNames: Set<string>;
}

/**
 * The slot's anonymous volumes it lacks, created before any container of the slot (idempotent
 * by name, so a crash after a create is finished by the next plan). Returns the creates.
 */
function planAnonymousVolumes(builder: PlanBuilder, service: Service, replica: number, owned: Set<string>): number[] {
  const creates: number[] = [];
  for (const mount of service.mounts) {
    if (mount.type !== 'anonymous') continue;
    const dockerName = anonymousVolumeName(service.app, service.name, replica, mount.target);
    if (owned.has(dockerName)) continue;
    const slot = { service: service.name, replica };
    creates.push(builder.add({ kind: 'create-volume', app: service.app, volume: mount.target, dockerName, slot, after: [], cause: `anonymous volume missing (replica ${replica})` }));
  }
  return creates;
}

function planService(builder: PlanBuilder, app: App, service: Service, containers: ObservedContainer[], context: ServiceContext): SlotResult[] {
  const update = updateOf(service);
  const order = effectiveOrder(service, app.volumes);
  const slots = Array.from({ length: service.replicas }, (_, index) => index + 1);
  const slotContainers = new Map(slots.map((replica) => [replica, containers.filter((container) => container.replica === replica)]));
  const keepers = new Map(slots.map((replica) => [replica, pickKeeper(slotContainers.get(replica)!, service, containerName(service.app, service.name, replica), context.parent?.[replica - 1])]));
  // Only replacements are batched: a missing replica has nothing to keep serving, so it
  // never waits. 4 replicas to replace, parallelism 2: slots 3 and 4 start when 1 and 2 are ready.
  const replacing = slots.filter((replica) => slotContainers.get(replica)!.length > 0 && !keepers.get(replica));
  const replacementBatches = batches(replacing, update.parallelism);
  const batchOf = new Map(replacementBatches.flatMap((batch, index) => batch.map((replica) => [replica, index] as const)));
  const batchEnds: number[][] = replacementBatches.map(() => []);

  const results: SlotResult[] = [];
  for (const replica of slots) {
    const batch = batchOf.get(replica);
    const gate = batch !== undefined && batch > 0 ? batchEnds[batch - 1] : [];
    const isLastBatch = batch === undefined || batch === replacementBatches.length - 1;
    const parentSlot = context.parent?.[replica - 1];
    const volumes = planAnonymousVolumes(builder, service, replica, context.volumeNames);
    const after = unique([...context.prerequisites, ...(parentSlot?.end !== undefined ? [parentSlot.end] : []), ...volumes]);
    const result = planSlot(builder, service, replica, slotContainers.get(replica)!, {
      app: context.app,
      keeper: keepers.get(replica),
      after,
      gate,
      delayMs: isLastBatch ? 0 : update.delayMs,
      order,
      endpoints: context.endpoints,
      ownedNetworks: context.ownedNetworks,
      completion: context.completion,
      parentRestarted: parentSlot?.restarted,
      keeperProven: context.keepersProven,
      postStartDone: context.postStartDone,
    });
    if (batch !== undefined && result.end !== undefined) batchEnds[batch].push(result.end);
    results.push(result);
  }
  for (const container of containers) {
    if (!(container.replica >= 1 && container.replica <= service.replicas)) {
      const cause = Number.isNaN(container.replica) ? 'replica label missing' : `scaled down to ${service.replicas}`;
      removeContainer(builder, container, cause, [], service);
    }
  }
  return results;
}

interface SlotContext {
  app: App;
  keeper: ObservedContainer | undefined;
  after: number[];
  /** The previous batch's ends, for a replacement. */
  gate: number[];
  delayMs: number;
  order: EffectiveOrder;
  endpoints: EndpointSpec[];
  ownedNetworks: Set<string>;
  completion: boolean;
  /** The sidecar's parent was started again in this plan. */
  parentRestarted?: number;
  /** The keeper, if any, passed readiness; otherwise it is watched again before it is promoted. */
  keeperProven: boolean;
  /** Ids of the containers whose post_start hooks finished; undefined: not known. */
  postStartDone?: readonly string[];
}

/**
 * Plans one replica slot.
 *
 * start-first: create next → start → wait ready → stop and remove old → rename.
 * stop-first:  create next → stop and remove old → rename → start → wait ready.
 * Either way the new container exists before the old one stops, so a failed pull or create
 * leaves the old one serving; with start-first a replica that never gets ready does too.
 */
function planSlot(builder: PlanBuilder, service: Service, replica: number, slot: ObservedContainer[], context: SlotContext): SlotResult {
  const { after, keeper: keep } = context;
  const name = containerName(service.app, service.name, replica);
  const outdated = slot.filter((container) => container !== keep);

  const waitReady = (container: ContainerRef, afterIds: number[], resumed: WatchAgain = false, hooksAgain = false) => {
    const why = resumed === 'serving' ? 'started again, health check starting: ' : resumed ? 'interrupted rollout, not proven ready: ' : '';
    const cause = why + readinessCause(service, context.completion);
    const operation: NewOperation = {
      kind: 'wait-ready',
      container,
      after: afterIds,
      cause: cause + (context.delayMs > 0 ? `, then pause ${context.delayMs} ms (update.delay)` : ''),
      monitorMs: updateOf(service).monitorMs,
      progressDeadlineMs: updateOf(service).progressDeadlineMs,
      oneShot: isOneShot(service),
      delayMs: context.delayMs,
    };
    if (context.completion) operation.completion = true;
    if (resumed === true) operation.resumed = true;
    if (resumed === 'serving') operation.serving = true;
    if (hooksAgain) Object.assign(operation, postStartField(service));
    return builder.add(operation);
  };

  if (keep) return planKeeper(builder, service, keep, outdated, name, context, waitReady);

  const replacing = slot.length > 0;
  const order = context.order;
  const nameTaken = slot.some((container) => container.name === name);
  const createName = nameTaken ? nextContainerName(service.app, service.name, replica) : name;
  const created: ContainerRef = { ref: createName, name: createName, app: service.app, service: service.name, replica };
  const final: ContainerRef = { ...created, ref: name, name };
  const createAfter = unique([...after, ...(replacing ? context.gate : [])]);
  // A leftover `--next` container with an old hash would block the create: remove it first.
  const blockers = slot.filter((container) => container.name === createName);
  const cleared = blockers.map((container) => removeContainer(builder, container, 'leftover from an interrupted replacement', createAfter, service));
  const oldOnes = outdated.filter((container) => !blockers.includes(container));
  let createCause = replacing ? describeOutdated(slot[0], service) : 'container missing';
  if (replacing && order.reason) createCause += `; ${order.reason}`;
  const spec: ContainerSpec = { app: context.app, service, endpoints: context.endpoints, secretOwner: numericUser(service.user) ?? { uid: 0, gid: 0 } };
  const createId = builder.add({ kind: 'create-container', container: created, spec, after: [...createAfter, ...cleared], cause: createCause });
  const networks = networksOf(context);

  const rename = (afterIds: number[]) =>
    builder.add({ kind: 'rename-container', container: created, to: name, after: afterIds, cause: 'replacement takes the replica name' });

  if (!replacing || order.order === 'stop-first') {
    const removals = oldOnes.map((container) => removeContainer(builder, container, describeOutdated(container, service), [createId], service));
    const startAfter = createName !== name ? [rename([createId, ...removals])] : [createId, ...removals];
    const started = builder.add({ kind: 'start-container', container: final, networks, after: startAfter, cause: replacing ? 'replacement' : 'new container', ...postStartField(service) });
    const ready = waitReady(final, [started]);
    return { started, ready, end: ready };
  }
  const started = builder.add({ kind: 'start-container', container: created, networks, after: [createId], cause: 'replacement starts beside the old one', ...postStartField(service) });
  const ready = waitReady(created, [started]);
  const removals = oldOnes.map((container) => removeContainer(builder, container, describeOutdated(container, service), [ready], service));
  return { started, ready, end: createName !== name ? rename([ready, ...removals]) : (removals.at(-1) ?? ready) };
}


/**
 * How a keeper is watched again: `true`, it was left by an interrupted rollout and never proven
 * (restarts since its creation count); `serving`, it runs the applied config but its health check
 * is starting again (a rollback the agent did not live to watch, or a restart by Docker): it is
 * watched, but a failure is the host's, not the commit's.
 */
type WatchAgain = boolean | 'serving';

/**
 * A slot whose keeper exists: remove the others, give it the replica name, start it if needed.
 * An unproven keeper (left by an interrupted rollout) is watched first: a running one before
 * anything it replaces is removed or it is renamed; a stopped one right after its start, and,
 * with start-first, under its `--next` name beside the old one, which is removed only once the
 * keeper is ready (kill -9 right after the create: the old replica never stops for a replica
 * that then fails).
 */
function planKeeper(
  builder: PlanBuilder,
  service: Service,
  keep: ObservedContainer,
  outdated: ObservedContainer[],
  name: string,
  context: SlotContext,
  waitReady: (container: ContainerRef, afterIds: number[], resumed?: WatchAgain, hooksAgain?: boolean) => number,
): SlotResult {
  const { after } = context;
  // A container never started is never proven, whatever its hash: the rollback the agent did
  // not live to finish leaves one at the applied hash.
  const proven = context.keeperProven && keep.state !== 'created';
  const removeOutdated = (afterIds: number[]) =>
    outdated.map((container) => removeContainer(builder, container, describeOutdated(container, service), afterIds, service));

  if (!proven && needsStart(keep, service) && keep.name !== name && outdated.some((container) => container.state === 'running') && context.order.order === 'start-first') {
    const current = refOf(keep);
    const connects = planMembership(builder, keep, current, context, after);
    const started = builder.add({ kind: 'start-container', container: current, networks: networksOf(context), after: [...after, ...connects], cause: 'interrupted replacement starts beside the old one', ...postStartField(service) });
    const ready = waitReady(current, [started], true);
    const removals = removeOutdated([ready]);
    const renamed = builder.add({ kind: 'rename-container', container: current, to: name, after: [ready, ...removals], cause: 'finish interrupted replacement' });
    return { keeperId: keep.id, restarted: started, ready, end: renamed };
  }

  const watchAgain: WatchAgain = !proven ? true : keep.state === 'running' && keep.health === 'starting' ? 'serving' : false;
  const watchFirst = watchAgain !== false && !needsStart(keep, service);
  // An unproven keeper already running was started by the interrupted rollout, which may have
  // died during its post_start hooks: unless SQLite records them finished for this container,
  // they run again before the watch (at least once).
  const hooksAgain = watchAgain === true && keep.state === 'running' && !(context.postStartDone?.includes(keep.id) ?? false);
  const watched = watchFirst ? [waitReady(refOf(keep), after, watchAgain, hooksAgain)] : [];
  const removalAfter = [...after, ...watched];
  const removals = removeOutdated(removalAfter);
  let renamed: number[] = [];
  if (keep.name !== name) {
    renamed = [builder.add({ kind: 'rename-container', container: refOf(keep), to: name, after: [...removalAfter, ...removals], cause: 'finish interrupted replacement' })];
  }
  const ref: ContainerRef = { ...refOf(keep), name };
  const connects = planMembership(builder, keep, ref, context, [...after, ...renamed]);
  let end = renamed.at(-1) ?? watched.at(-1);
  let restarted: number | undefined;
  let ready = watched.at(-1);
  if (needsStart(keep, service)) {
    const cause = keep.state === 'created' ? 'container created but not started' : `container ${keep.state} (drift)`;
    restarted = builder.add({ kind: 'start-container', container: ref, networks: networksOf(context), after: [...after, ...removals, ...renamed, ...connects], cause, ...postStartField(service) });
    end = restarted;
    if (!proven) end = ready = waitReady(ref, [restarted], true);
  } else if (context.parentRestarted !== undefined) {
    // A sidecar stays in the network namespace of its parent's previous start, now gone.
    const cause = 'parent container started again: follow it into its network namespace';
    const stopped = builder.add({ kind: 'stop-container', container: ref, after: unique([...after, ...renamed, context.parentRestarted]), cause, ...stopFields(service) });
    restarted = builder.add({ kind: 'start-container', container: ref, networks: networksOf(context), after: [stopped, ...connects], cause, ...postStartField(service) });
    end = restarted;
  }
  return { keeperId: keep.id, restarted, ready, end };
}

/**
 * Grants are joined and left live: a keeper missing one of its networks is connected to it, and
 * one on a network of ours it should not be on is disconnected. Networks we did not create
 * are left alone. Returns the connects, which a start must wait for.
 */
function planMembership(builder: PlanBuilder, keep: ObservedContainer, ref: ContainerRef, context: SlotContext, after: number[]): number[] {
  const wanted = new Set(context.endpoints.map((endpoint) => endpoint.network));
  const connects = context.endpoints
    .filter((endpoint) => !keep.networks.includes(endpoint.network))
    .map((endpoint) =>
      builder.add({
        kind: 'connect-network',
        container: ref,
        network: endpoint.network,
        aliases: endpoint.aliases,
        ...(endpoint.ipv4Address === undefined ? {} : { ipv4Address: endpoint.ipv4Address }),
        after,
        cause: 'network missing from the container',
      }),
    );
  for (const network of keep.networks) {
    if (wanted.has(network) || !context.ownedNetworks.has(network)) continue;
    builder.record(builder.detached, network, builder.add({ kind: 'disconnect-network', container: ref, network, after, cause: 'network no longer granted' }));
  }
  return connects;
}

/** The networks a replica is on, each checked for isolation before it starts. */
function networksOf(context: SlotContext): string[] {
  return context.endpoints.map((endpoint) => endpoint.network);
}

function readinessCause(service: Service, completion: boolean): string {
  if (completion) return 'must exit 0 (a dependent waits for it to complete)';
  if (service.healthcheck && service.healthcheck.test[0] !== 'NONE') return 'must report healthy';
  if (isOneShot(service)) return `must exit 0 or keep running ${updateOf(service).monitorMs} ms`;
  return `must keep running ${updateOf(service).monitorMs} ms (update.monitor)`;
}

/**
 * Among containers already at the desired hash, keep a running one, preferring the proper name.
 * A sidecar's container must also be in the network namespace of its parent's keeper.
 */
function pickKeeper(slot: ObservedContainer[], service: Service, name: string, parent: SlotResult | undefined): ObservedContainer | undefined {
  const sidecar = service.networkMode?.kind === 'service';
  const parentMode = parent?.keeperId !== undefined ? `container:${parent.keeperId}` : undefined;
  const current = slot.filter(
    (container) =>
      container.configHash === service.configHash &&
      container.state !== 'dead' &&
      container.state !== 'removing' &&
      (!sidecar || (parentMode !== undefined && container.networkMode === parentMode)),
  );
  const score = (container: ObservedContainer) => (isUp(container) ? 2 : 0) + (container.name === name ? 1 : 0);
  return current.sort((a, b) => score(b) - score(a))[0];
}

function isUp(container: ObservedContainer): boolean {
  return container.state === 'running' || container.state === 'restarting' || container.state === 'paused';
}

function needsStart(container: ObservedContainer, service: Service): boolean {
  if (isUp(container)) return false;
  // A one-shot that finished successfully is done, not drifted: starting it every cycle
  // would re-run a migration or a backup each minute.
  const finishedOneShot = container.state === 'exited' && container.exitCode === 0 && isOneShot(service);
  return !finishedOneShot;
}

function describeOutdated(container: ObservedContainer, service: Service): string {
  if (container.configHash === service.configHash) {
    return service.networkMode?.kind === 'service' ? `parent ${service.networkMode.service} has a new container` : 'duplicate of the replica';
  }
  return `config-hash changed (${short(container.configHash)} → ${short(service.configHash)})`;
}

/** `stop_grace_period` in whole seconds, as Docker's stop takes it. */
function stopTimeout(service: Service): number | undefined {
  return service.stopGracePeriodMs === undefined ? undefined : Math.ceil(service.stopGracePeriodMs / 1000);
}

/** Docker's default stop grace period, which also bounds `pre_stop` hooks when the service sets none. */
const DEFAULT_STOP_GRACE_MS = 10_000;

/** A stop's grace period and `pre_stop` hooks (bounded by the grace period), from its service. */
function stopFields(service: Service | undefined): { timeoutSeconds?: number; spec?: { preStop: Service['preStop'] & {}; timeoutMs: number } } {
  if (service === undefined) return {};
  const timeoutSeconds = stopTimeout(service);
  const fields: ReturnType<typeof stopFields> = timeoutSeconds === undefined ? {} : { timeoutSeconds };
  if (service.preStop && service.preStop.length > 0) fields.spec = { preStop: service.preStop, timeoutMs: service.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_MS };
  return fields;
}

/** A start's `post_start` hooks, bounded by the progress deadline (a replica must be ready within it anyway). */
function postStartField(service: Service): { spec?: { postStart: Service['postStart'] & {}; timeoutMs: number } } {
  if (!service.postStart || service.postStart.length === 0) return {};
  return { spec: { postStart: service.postStart, timeoutMs: updateOf(service).progressDeadlineMs } };
}

/** `service`: the desired service of the container, whose stop grace period and `pre_stop` hooks its stop takes. */
function removeContainer(builder: PlanBuilder, container: ObservedContainer, cause: string, after: number[], service?: Service): number {
  const ref = refOf(container);
  let removeAfter = after;
  if (isUp(container)) removeAfter = [builder.add({ kind: 'stop-container', container: ref, after, cause, ...stopFields(service) })];
  const removed = builder.add({ kind: 'remove-container', container: ref, after: removeAfter, cause });
  for (const network of container.networks) builder.record(builder.detached, network, removed);
  for (const volume of container.volumes) builder.record(builder.unmounted, volume, removed);
  return removed;
}

function planAppRemoval(builder: PlanBuilder, app: string, observed: ObservedState): void {
  for (const container of observed.containers.filter((candidate) => candidate.app === app)) removeContainer(builder, container, 'app removed from repo', []);
  // Volumes are never pruned: data outlives the manifest that declared it.
}

function refOf(container: ObservedContainer): ContainerRef {
  return { ref: container.id, name: container.name, app: container.app, service: container.service, replica: container.replica };
}

function short(hash: string): string {
  return hash ? hash.slice(0, 8) : 'none';
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

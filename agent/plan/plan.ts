import type { App, DesiredState, Service } from '../model.js';
import { appNetworkName, containerName, nextContainerName } from '../names.js';
import type { ObservedContainer, ObservedState } from '../observe/observe.js';
import { batches, effectiveOrder, isOneShot, updateOf } from './rollout.js';
import type { ContainerRef, Operation, Plan, PlanProblem } from './types.js';

export interface PlanOptions {
  /** Allow a commit that renders no services to prune everything this node runs. */
  allowEmpty?: boolean;
}

type NewOperation = Operation extends infer O ? (O extends Operation ? Omit<O, 'id'> : never) : never;

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
 * container with the desired hash, whatever its name or state.
 */
export function plan(desired: DesiredState, observed: ObservedState, options: PlanOptions = {}): Plan {
  const builder = new PlanBuilder();
  const problems: PlanProblem[] = [];
  const serviceCount = desired.apps.reduce((count, app) => count + app.services.length, 0);

  if (serviceCount === 0 && observed.containers.length > 0 && !options.allowEmpty) {
    problems.push({
      code: 'EMPTY_DESIRED_STATE',
      message:
        `commit renders no services while this node runs ${observed.containers.length} managed container(s); ` +
        'refusing to prune them all (is the configured path right?). Set CAPSTAN_ALLOW_EMPTY=true to allow it',
    });
    return { commit: desired.commit, node: observed.node, operations: [], problems };
  }

  problems.push(...findConflicts(desired, observed));
  if (problems.length > 0) return { commit: desired.commit, node: observed.node, operations: [], problems };

  const pulls = planPulls(builder, desired, observed);
  const desiredApps = new Set(desired.apps.map((app) => app.name));
  for (const app of desired.apps) planApp(builder, app, observed, pulls);
  for (const appName of unique(observed.containers.map((container) => container.app).concat(observed.networks.map((network) => network.app)))) {
    if (!desiredApps.has(appName)) planAppRemoval(builder, appName, observed);
  }
  return { commit: desired.commit, node: observed.node, operations: builder.operations, problems };
}

class PlanBuilder {
  readonly operations: Operation[] = [];

  add(operation: NewOperation): number {
    const id = this.operations.length + 1;
    this.operations.push({ ...operation, id } as Operation);
    return id;
  }
}

/** Pull every image a container to be created needs and the host lacks, before anything stops. */
function planPulls(builder: PlanBuilder, desired: DesiredState, observed: ObservedState): Map<string, number> {
  const present = new Set(observed.images);
  const pulls = new Map<string, number>();
  for (const image of unique(desired.apps.flatMap((app) => app.services.map((service) => service.image))).sort()) {
    if (!present.has(normalizeImageRef(image))) pulls.set(image, builder.add({ kind: 'pull-image', image, after: [], cause: 'image not present' }));
  }
  return pulls;
}

function planApp(builder: PlanBuilder, app: App, observed: ObservedState, pulls: Map<string, number>): void {
  const network = appNetworkName(app.name);
  const setup: number[] = [];
  if (!observed.networks.some((candidate) => candidate.name === network)) {
    setup.push(builder.add({ kind: 'create-network', app: app.name, network, after: [], cause: 'network missing' }));
  }
  const volumeOps = new Map<string, number>();
  for (const volume of app.volumes) {
    if (!observed.volumes.some((candidate) => candidate.name === volume.dockerName)) {
      volumeOps.set(
        volume.name,
        builder.add({ kind: 'create-volume', app: app.name, volume: volume.name, dockerName: volume.dockerName, after: [], cause: 'volume missing' }),
      );
    }
  }

  const appContainers = observed.containers.filter((container) => container.app === app.name);
  const desiredServices = new Set(app.services.map((service) => service.name));
  for (const service of app.services) {
    const prerequisites = [...setup];
    for (const mount of service.mounts) {
      if (mount.type === 'volume' && volumeOps.has(mount.volume)) prerequisites.push(volumeOps.get(mount.volume)!);
    }
    const pull = pulls.get(service.image);
    if (pull !== undefined) prerequisites.push(pull);
    planService(builder, service, appContainers.filter((container) => container.service === service.name), prerequisites);
  }
  for (const container of appContainers) {
    if (!desiredServices.has(container.service)) removeContainer(builder, container, 'service removed from repo', []);
  }
}

function planService(builder: PlanBuilder, service: Service, containers: ObservedContainer[], prerequisites: number[]): void {
  const update = updateOf(service);
  const slots = Array.from({ length: service.replicas }, (_, index) => index + 1);
  const slotContainers = new Map(slots.map((replica) => [replica, containers.filter((container) => container.replica === replica)]));
  // Only replacements are batched: a missing replica has nothing to keep serving, so it
  // never waits. 4 replicas to replace, parallelism 2: slots 3 and 4 start when 1 and 2 are ready.
  const replacing = slots.filter((replica) => {
    const slot = slotContainers.get(replica)!;
    return slot.length > 0 && !pickKeeper(slot, service.configHash, containerName(service.app, service.name, replica));
  });
  const replacementBatches = batches(replacing, update.parallelism);
  const batchOf = new Map(replacementBatches.flatMap((batch, index) => batch.map((replica) => [replica, index] as const)));
  const batchEnds: number[][] = replacementBatches.map(() => []);

  for (const replica of slots) {
    const batch = batchOf.get(replica);
    const gate = batch !== undefined && batch > 0 ? batchEnds[batch - 1] : [];
    const isLastBatch = batch === undefined || batch === replacementBatches.length - 1;
    const end = planSlot(builder, service, replica, slotContainers.get(replica)!, prerequisites, gate, isLastBatch ? 0 : update.delayMs);
    if (batch !== undefined && end !== undefined) batchEnds[batch].push(end);
  }
  for (const container of containers) {
    if (!(container.replica >= 1 && container.replica <= service.replicas)) {
      const cause = Number.isNaN(container.replica) ? 'replica label missing' : `scaled down to ${service.replicas}`;
      removeContainer(builder, container, cause, []);
    }
  }
}

/**
 * Plans one replica slot and returns the id of its final operation when it replaces a
 * container (the next batch waits for it).
 *
 * start-first: create next → start → wait ready → stop and remove old → rename.
 * stop-first:  create next → stop and remove old → rename → start → wait ready.
 * Either way the new container exists before the old one stops, so a failed pull or create
 * leaves the old one serving; with start-first a replica that never gets ready does too.
 */
function planSlot(
  builder: PlanBuilder,
  service: Service,
  replica: number,
  slot: ObservedContainer[],
  after: number[],
  gate: number[],
  delayMs: number,
): number | undefined {
  const name = containerName(service.app, service.name, replica);
  const keep = pickKeeper(slot, service.configHash, name);
  const outdated = slot.filter((container) => container !== keep);

  if (keep) {
    const removals = outdated.map((container) => removeContainer(builder, container, describeOutdated(container, service), after));
    let renamed: number[] = [];
    if (keep.name !== name) {
      renamed = [builder.add({ kind: 'rename-container', container: refOf(keep), to: name, after: [...after, ...removals], cause: 'finish interrupted replacement' })];
    }
    if (needsStart(keep, service)) {
      const cause = keep.state === 'created' ? 'container created but not started' : `container ${keep.state} (drift)`;
      builder.add({ kind: 'start-container', container: { ...refOf(keep), name }, after: [...after, ...removals, ...renamed], cause });
    }
    return undefined;
  }

  const replacing = slot.length > 0;
  const order = effectiveOrder(service);
  const nameTaken = slot.some((container) => container.name === name);
  const createName = nameTaken ? nextContainerName(service.app, service.name, replica) : name;
  const created: ContainerRef = { ref: createName, name: createName, app: service.app, service: service.name, replica };
  const final: ContainerRef = { ...created, ref: name, name };
  const createAfter = [...after, ...(replacing ? gate : [])];
  // A leftover `--next` container with an old hash would block the create: remove it first.
  const blockers = slot.filter((container) => container.name === createName);
  const cleared = blockers.map((container) => removeContainer(builder, container, 'leftover from an interrupted replacement', createAfter));
  const oldOnes = outdated.filter((container) => !blockers.includes(container));
  let createCause = replacing ? describeOutdated(slot[0], service) : 'container missing';
  if (replacing && order.reason) createCause += `; ${order.reason}`;
  const createId = builder.add({ kind: 'create-container', container: created, after: [...createAfter, ...cleared], cause: createCause });

  const waitReady = (container: ContainerRef, afterIds: number[]) =>
    builder.add({
      kind: 'wait-ready',
      container,
      after: afterIds,
      cause: readinessCause(service) + (delayMs > 0 ? `, then pause ${delayMs} ms (update.delay)` : ''),
      monitorMs: updateOf(service).monitorMs,
      progressDeadlineMs: updateOf(service).progressDeadlineMs,
      oneShot: isOneShot(service),
      delayMs,
    });
  const rename = (afterIds: number[]) =>
    builder.add({ kind: 'rename-container', container: created, to: name, after: afterIds, cause: 'replacement takes the replica name' });

  if (!replacing || order.order === 'stop-first') {
    const removals = oldOnes.map((container) => removeContainer(builder, container, describeOutdated(container, service), [createId]));
    const startAfter = createName !== name ? [rename([createId, ...removals])] : [createId, ...removals];
    const started = builder.add({ kind: 'start-container', container: final, after: startAfter, cause: replacing ? 'replacement' : 'new container' });
    const ready = waitReady(final, [started]);
    return replacing ? ready : undefined;
  }
  const started = builder.add({ kind: 'start-container', container: created, after: [createId], cause: 'replacement starts beside the old one' });
  const ready = waitReady(created, [started]);
  const removals = oldOnes.map((container) => removeContainer(builder, container, describeOutdated(container, service), [ready]));
  return createName !== name ? rename([ready, ...removals]) : (removals.at(-1) ?? ready);
}

function readinessCause(service: Service): string {
  if (service.healthcheck && service.healthcheck.test[0] !== 'NONE') return 'must report healthy';
  if (isOneShot(service)) return `must exit 0 or keep running ${updateOf(service).monitorMs} ms`;
  return `must keep running ${updateOf(service).monitorMs} ms (update.monitor)`;
}

/** Among containers already at the desired hash, keep a running one, preferring the proper name. */
function pickKeeper(slot: ObservedContainer[], configHash: string, name: string): ObservedContainer | undefined {
  const current = slot.filter((container) => container.configHash === configHash && container.state !== 'dead' && container.state !== 'removing');
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
  if (container.configHash === service.configHash) return 'duplicate of the replica';
  return `config-hash changed (${short(container.configHash)} → ${short(service.configHash)})`;
}

function removeContainer(builder: PlanBuilder, container: ObservedContainer, cause: string, after: number[]): number {
  const ref = refOf(container);
  let removeAfter = after;
  if (isUp(container)) removeAfter = [builder.add({ kind: 'stop-container', container: ref, after, cause })];
  return builder.add({ kind: 'remove-container', container: ref, after: removeAfter, cause });
}

function planAppRemoval(builder: PlanBuilder, app: string, observed: ObservedState): void {
  const removals = observed.containers
    .filter((container) => container.app === app)
    .map((container) => removeContainer(builder, container, 'app removed from repo', []));
  for (const network of observed.networks.filter((candidate) => candidate.app === app)) {
    builder.add({ kind: 'remove-network', app, network: network.name, networkId: network.id, after: removals, cause: 'app removed from repo' });
  }
  // Volumes are never pruned: data outlives the manifest that declared it.
}

function findConflicts(desired: DesiredState, observed: ObservedState): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const foreignContainers = new Set(observed.foreign.containers);
  const foreignNetworks = new Set(observed.foreign.networks);
  const foreignVolumes = new Set(observed.foreign.volumes);
  for (const app of desired.apps) {
    const network = appNetworkName(app.name);
    if (foreignNetworks.has(network)) problems.push(conflict('network', network, app.name));
    for (const volume of app.volumes) {
      if (foreignVolumes.has(volume.dockerName)) problems.push(conflict('volume', volume.dockerName, app.name));
    }
    for (const service of app.services) {
      for (let replica = 1; replica <= service.replicas; replica++) {
        for (const name of [containerName(app.name, service.name, replica), nextContainerName(app.name, service.name, replica)]) {
          if (foreignContainers.has(name)) problems.push(conflict('container', name, app.name));
        }
      }
    }
  }
  return problems;
}

function conflict(kind: string, name: string, app: string): PlanProblem {
  return {
    code: 'NAME_CONFLICT',
    message: `${kind} '${name}' needed by app '${app}' exists but was not created by this Capstan node; rename or remove it by hand (Capstan never touches objects it does not own)`,
  };
}

function refOf(container: ObservedContainer): ContainerRef {
  return { ref: container.id, name: container.name, app: container.app, service: container.service, replica: container.replica };
}

/** Docker lists `busybox` as `busybox:latest`; compare like with like. */
export function normalizeImageRef(image: string): string {
  if (image.includes('@')) return image;
  const lastSlash = image.lastIndexOf('/');
  return image.slice(lastSlash + 1).includes(':') ? image : `${image}:latest`;
}

function short(hash: string): string {
  return hash ? hash.slice(0, 8) : 'none';
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

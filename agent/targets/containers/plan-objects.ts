// The plan's objects around the containers: images to pull or build and networks to create
// first; networks and volumes to remove last; and the problems that block a plan before it
// starts (names held by others, runtimes the engine lacks). Pure, like plan.ts.
import type { DesiredState, Service } from '../../model.js';
import { anonymousVolumeName, containerName, nextContainerName } from '../../names.js';
import type { ObservedState } from './observe.js';
import type { PlanBuilder, NewOperation } from './plan-builder.js';
import type { NetworkLayout } from '../networks.js';
import { mirrorReference, splitReference } from './plan-mirrors.js';
import type { Operation, PlanProblem } from './types.js';
import { withinSubnet } from '../../load/normalize/networks.js';

/**
 * Pull every image a container to be created needs and the host lacks, and build every built
 * image whose tag is missing (the tag changes with the context), before anything stops.
 */
export function planImages(builder: PlanBuilder, desired: DesiredState, observed: ObservedState): Map<string, number> {
  const present = new Set(observed.images);
  const operations = new Map<string, number>();
  const services = desired.apps.flatMap((app) => app.services);
  const wanted = [...services.filter((service) => !service.build).map((service) => service.image), ...(desired.prefetchImages ?? [])];
  for (const image of unique(wanted).sort()) {
    if (present.has(normalizeImageRef(image))) continue;
    // `platform:` pulls that platform's image, as `docker compose pull` does.
    const platform = services.find((service) => service.image === image && service.platform !== undefined)?.platform;
    const operation: NewOperation = { kind: 'pull-image', image, after: [], cause: 'image not present' };
    if (platform !== undefined && operation.kind === 'pull-image') operation.platform = platform;
    const mirror = mirrorOf(image, desired.mirrors);
    if (mirror !== undefined && operation.kind === 'pull-image') operation.mirror = mirror;
    operations.set(image, builder.add(operation));
  }
  for (const service of services.filter((candidate) => candidate.build).sort((left, right) => (left.image < right.image ? -1 : 1))) {
    if (present.has(service.image) || operations.has(service.image)) continue;
    const cause = `image not present (built from ${service.build!.contextPath})`;
    operations.set(service.image, builder.add({ kind: 'build-image', image: service.image, app: service.app, service: service.name, spec: service.build!, after: [], cause }));
  }
  return operations;
}

/**
 * Where a mirrored registry's image is pulled from (host policy `mirrors:`) and the name it is
 * tagged with after. A digest reference cannot be tagged back to its own name: it goes to the
 * original registry, unless `mirrors_fail_closed` forbids that (then the pull fails).
 */
function mirrorOf(image: string, mirrors: DesiredState['mirrors']): Extract<Operation, { kind: 'pull-image' }>['mirror'] {
  const reference = mirrors ? mirrorReference(image, mirrors.hosts) : undefined;
  if (!mirrors || reference === undefined) return undefined;
  const own = splitReference(image);
  return own.tag === undefined ? { reference, failClosed: mirrors.failClosed } : { reference, tagAs: { repo: own.repo, tag: own.tag }, failClosed: mirrors.failClosed };
}

export function planNetworks(builder: PlanBuilder, layout: NetworkLayout, observed: ObservedState): Map<string, number> {
  const existing = new Set(observed.networks.map((network) => network.name));
  const operations = new Map<string, number>();
  for (const network of layout.networks) {
    if (existing.has(network.name)) continue;
    const cause = network.service !== undefined ? `network missing (granted: ${network.app}/${network.service})` : 'network missing';
    const operation: NewOperation = { kind: 'create-network', app: network.app, network: network.name, internal: network.internal, after: [], cause };
    if (network.service !== undefined) operation.service = network.service;
    if (network.ipam !== undefined && operation.kind === 'create-network') operation.ipam = network.ipam;
    operations.set(network.name, builder.add(operation));
  }
  // A network shared by name (Compose's `name:`) that the host lacks: created once, for every app
  // that names it, and never removed (it carries none of Capstan's ownership labels).
  const onEngine = new Set((observed.engineNetworks ?? []).map((network) => network.name));
  for (const shared of layout.external) {
    if (!shared.create || !observed.engineNetworks || onEngine.has(shared.name) || operations.has(shared.name)) continue;
    const cause = `network missing (shared by name, ${shared.file}:${shared.line})`;
    operations.set(shared.name, builder.add({ kind: 'create-network', app: shared.app, network: shared.name, internal: false, shared: true, after: [], cause }));
  }
  return operations;
}

/** Our networks that nothing desired uses any more, once every container of ours has left them. */
export function planNetworkRemovals(builder: PlanBuilder, layout: NetworkLayout, observed: ObservedState, desiredApps: Set<string>): void {
  const wanted = new Set(layout.networks.map((network) => network.name));
  for (const network of observed.networks) {
    if (wanted.has(network.name)) continue;
    const cause = desiredApps.has(network.app) ? 'network no longer used' : 'app removed from repo';
    builder.add({ kind: 'remove-network', app: network.app, network: network.name, networkId: network.id, after: builder.detached.get(network.name) ?? [], cause });
  }
}

/**
 * Only a manifest deletes a volume, after every container of ours that mounts it is gone: a named
 * one with `remove: true`; an anonymous one that no desired replica mounts any more when its app
 * says `remove_anonymous_volumes: true`. An app removed from the repository keeps them all.
 */
export function planVolumeRemovals(builder: PlanBuilder, desired: DesiredState, observed: ObservedState): void {
  const owned = new Set(observed.volumes.map((volume) => volume.name));
  for (const app of desired.apps) {
    if (app.removeAnonymousVolumes) {
      const wanted = new Set(app.services.flatMap((service) => anonymousVolumeNames(service)));
      for (const volume of observed.volumes) {
        if (volume.app !== app.name || !volume.slot || wanted.has(volume.name)) continue;
        const cause = 'anonymous volume no replica mounts any more (remove_anonymous_volumes: true)';
        builder.add({ kind: 'remove-volume', app: app.name, volume: volume.name, dockerName: volume.name, after: builder.unmounted.get(volume.name) ?? [], cause });
      }
    }
    for (const volume of app.volumes) {
      if (!volume.remove || !owned.has(volume.dockerName)) continue;
      builder.add({
        kind: 'remove-volume',
        app: app.name,
        volume: volume.name,
        dockerName: volume.dockerName,
        after: builder.unmounted.get(volume.dockerName) ?? [],
        cause: 'manifest says remove: true',
      });
    }
  }
}

export function findConflicts(desired: DesiredState, observed: ObservedState, layout: NetworkLayout): PlanProblem[] {
  const problems: PlanProblem[] = [];
  // Not listed means the plan creates no name (see containers/index.ts), so nothing can clash.
  const foreignContainers = new Set(observed.foreign?.containers);
  const foreignNetworks = new Set(observed.foreign?.networks);
  const foreignVolumes = new Set(observed.foreign?.volumes);
  for (const network of layout.networks) {
    if (foreignNetworks.has(network.name)) problems.push(conflict('network', network.name, network.app));
  }
  for (const app of desired.apps) {
    for (const volume of app.volumes) {
      // An external volume is someone else's by definition: mounted, never created.
      if (!volume.remove && !volume.external && foreignVolumes.has(volume.dockerName)) problems.push(conflict('volume', volume.dockerName, app.name));
    }
    for (const service of app.services) {
      for (const name of anonymousVolumeNames(service)) {
        if (foreignVolumes.has(name)) problems.push(conflict('volume', name, app.name));
      }
      for (let replica = 1; replica <= service.replicas; replica++) {
        for (const name of [containerName(app.name, service.name, replica), nextContainerName(app.name, service.name, replica)]) {
          if (foreignContainers.has(name)) problems.push(conflict('container', name, app.name));
        }
      }
    }
  }
  return problems;
}

/**
 * External volumes the engine lacks: Docker would create one (unlabelled, empty) when a container
 * mounts it, where Compose refuses to start; the commit stops before anything changes instead.
 * Only when the engine's volumes were listed (observe's `engineVolumes`).
 */
export function volumeProblems(desired: DesiredState, observed: ObservedState): PlanProblem[] {
  if (!observed.engineVolumes) return [];
  const present = new Set(observed.engineVolumes);
  return desired.apps.flatMap((app) =>
    app.volumes
      .filter((volume) => volume.external && !present.has(volume.dockerName))
      .map((volume) => ({
        code: 'VOLUME_EXTERNAL_MISSING',
        message: `${app.source.file}:${volume.external!.line}: volumes.${volume.name}.external: volume '${volume.dockerName}' does not exist on this host; Capstan never creates an external volume: create it (docker volume create ${volume.dockerName}), or declare the volume without external to let Capstan create and own it`,
      })),
  );
}

/**
 * Networks the plan relies on that the engine contradicts: an external network that does not
 * exist, a subnet that overlaps one the engine (or another network of the commit) already has.
 * Only when the engine's networks were listed (observe's `engineNetworks`).
 */
export function networkProblems(layout: NetworkLayout, observed: ObservedState): PlanProblem[] {
  const engine = observed.engineNetworks;
  if (!engine) return [];
  const problems: PlanProblem[] = [];
  const present = new Set(engine.map((network) => network.name));
  for (const external of layout.external) {
    if (present.has(external.name) || external.create) continue;
    problems.push({
      code: 'NETWORK_EXTERNAL_MISSING',
      message: `${external.file}:${external.line}: ${external.key}: network '${external.name}' does not exist on this host; Capstan never creates an external network: create it (docker network create ${external.name}) or declare the network without external`,
    });
  }
  const taken = engine.flatMap((network) => network.subnets.map((subnet) => ({ name: network.name, subnet })));
  for (const network of layout.networks) {
    if (!network.ipam) continue;
    const clash = taken.find((other) => other.name !== network.name && overlaps(other.subnet, network.ipam!.subnet));
    if (clash) {
      const key = `networks.${network.name.slice(network.app.length + 1)}.ipam.config[0].subnet`;
      problems.push({
        code: 'IPAM_CONFLICT',
        message: `${network.file ?? network.app}:${network.ipam.line}: ${key}: subnet ${network.ipam.subnet} overlaps ${clash.subnet} of network '${clash.name}' on this host; choose a free subnet`,
      });
    }
    if (!present.has(network.name)) taken.push({ name: network.name, subnet: network.ipam.subnet });
  }
  return problems;
}

function overlaps(left: string, right: string): boolean {
  return withinSubnet(left.split('/')[0], right) || withinSubnet(right.split('/')[0], left);
}

/** A runtime the engine lacks would fail at create, after other replicas were already replaced. */
export function runtimeProblems(desired: DesiredState, observed: ObservedState): PlanProblem[] {
  const known = new Set(observed.runtimes);
  return desired.apps.flatMap((app) =>
    app.services
      .filter((service) => service.runtime !== undefined && !known.has(service.runtime))
      .map((service) => ({
        code: 'RUNTIME_UNKNOWN',
        message:
          `service ${app.name}/${service.name} (${service.source.file}:${service.source.line}) asks for runtime '${service.runtime}', which this Docker engine does not have ` +
          `(it has ${observed.runtimes.join(', ') || 'none listed'}); install it and register it in /etc/docker/daemon.json "runtimes", or remove runtime:`,
      })),
  );
}

function conflict(kind: string, name: string, app: string): PlanProblem {
  return {
    code: 'NAME_CONFLICT',
    message: `${kind} '${name}' needed by app '${app}' exists but was not created by this Capstan node; rename or remove it by hand (Capstan never touches objects it does not own)`,
  };
}

/** Docker lists `busybox` as `busybox:latest`; compare like with like. */
export function normalizeImageRef(image: string): string {
  if (image.includes('@')) return image;
  const lastSlash = image.lastIndexOf('/');
  return image.slice(lastSlash + 1).includes(':') ? image : `${image}:latest`;
}

/** The anonymous volumes every desired replica of the service mounts. */
function anonymousVolumeNames(service: Service): string[] {
  const names: string[] = [];
  for (const mount of service.mounts) {
    if (mount.type !== 'anonymous') continue;
    for (let replica = 1; replica <= service.replicas; replica++) names.push(anonymousVolumeName(service.app, service.name, replica, mount.target));
  }
  return names;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}

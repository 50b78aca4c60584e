import type Docker from 'dockerode';
import { LABEL, isOwnedBy, ownerLabels } from '../../labels.js';

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ObservedContainer {
  id: string;
  name: string;
  app: string;
  service: string;
  /** NaN when the label is missing or garbled: such a container is pruned. */
  replica: number;
  configHash: string;
  commit: string;
  image: string;
  state: ContainerState;
  /** From Docker's status text; null unless exited. */
  exitCode: number | null;
  /** Docker's health status when the image or service defines a healthcheck. */
  health: 'starting' | 'healthy' | 'unhealthy' | null;
  /** Names of the networks it is attached to, sorted. */
  networks: string[];
  /** HostConfig.NetworkMode: a network name, `host`, `none`, or `container:<id>` for a sidecar. */
  networkMode: string;
  /** Names of the Docker volumes it mounts, sorted. */
  volumes: string[];
  /**
   * When it was created and last started (ms, from `docker inspect`), for the services whose
   * dependents restart after it is replaced (`depends_on: {restart: true}`); absent otherwise.
   */
  createdAt?: number;
  startedAt?: number;
}

export interface ObservedNetwork {
  id: string;
  name: string;
  app: string;
}

export interface ObservedVolume {
  name: string;
  app: string;
  /** For an anonymous volume, the replica slot that owns it (its `capstan.service` and `capstan.replica` labels). */
  slot?: { service: string; replica: number };
}

/** Names of containers, networks and volumes that others own on the engine. */
export interface ForeignNames {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/**
 * What this node's agent owns in Docker, and, when asked, the names other owners hold (so the
 * plan never creates over them). Taken in one pass of read-only calls, so planning needs no
 * further I/O.
 */
export interface ObservedState {
  node: string;
  containers: ObservedContainer[];
  networks: ObservedNetwork[];
  volumes: ObservedVolume[];
  /** Image references present locally (`repo:tag` and `repo@sha256:…`). */
  images: string[];
  /** Runtimes the engine has (`runc`, `runsc`, …), from `docker info`; empty unless asked for. */
  runtimes: string[];
  /** Undefined unless listed (observeForeignNames): only a plan that creates a name needs them. */
  foreign?: ForeignNames;
  /**
   * Every network on the engine, whoever made it, with its IPv4 subnets; listed only when the
   * desired state joins external networks or asks for subnets (`ObserveOptions.engineNetworks`).
   */
  engineNetworks?: EngineNetwork[];
  /**
   * Names of every volume on the engine, whoever made it; listed only when the desired state
   * mounts external volumes (`ObserveOptions.engineVolumes`), to tell a missing one apart.
   */
  engineVolumes?: string[];
  /** Containers of hook jobs (`capstan.hook`) still there: left by an agent killed during a job. */
  hookContainers?: ObservedContainer[];
  /** Hook jobs SQLite records as passed for the planned commit, as `app/phase/job`. */
  hooksDone?: string[];
  /**
   * Ids of the containers whose post_start hooks finished (SQLite's post_start_done). Absent:
   * unknown, so an unproven keeper runs its hooks again.
   */
  postStartDone?: string[];
}

export interface EngineNetwork {
  name: string;
  subnets: string[];
}

export interface ObserveOptions {
  /** Ask `docker info` for the engine's runtimes (only a service that names one needs them). */
  runtimes?: boolean;
  /** List every network of the engine with its subnets (external networks, ipam). */
  engineNetworks?: boolean;
  /** List the names of every volume of the engine (external volumes). */
  engineVolumes?: boolean;
  /** `app/service` whose containers are inspected for their creation and start times (depends_on restart). */
  times?: ReadonlySet<string>;
}

/**
 * Lists only what carries this node's label, so a cycle costs the same however many containers
 * others run on the host (bench figure 2: listing ~120 containers took 39 ms of a 72 ms cycle).
 */
export async function observe(docker: Docker, node: string, options: ObserveOptions = {}): Promise<ObservedState> {
  // Docker ANDs label filters: the same two labels as isOwnedBy, checked again below anyway.
  const ours = { filters: { label: Object.entries(ownerLabels(node)).map(([key, value]) => `${key}=${value}`) } };
  const [containers, networks, volumes, images, info] = await Promise.all([
    docker.listContainers({ all: true, ...ours }),
    docker.listNetworks(ours),
    docker.listVolumes(ours),
    docker.listImages(),
    options.runtimes ? (docker.info() as Promise<{ Runtimes?: Record<string, unknown> }>) : Promise.resolve(undefined),
  ]);
  const engineNetworks = options.engineNetworks ? await docker.listNetworks() : undefined;
  const engineVolumes = options.engineVolumes ? await docker.listVolumes() : undefined;
  const observed: ObservedState = {
    node,
    containers: [],
    networks: [],
    volumes: [],
    images: images
      .flatMap((image) => [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])])
      .filter((reference) => !reference.startsWith('<none>'))
      .sort(),
    runtimes: Object.keys(info?.Runtimes ?? {}).sort(),
  };
  if (engineVolumes) observed.engineVolumes = (engineVolumes.Volumes ?? []).map((volume) => volume.Name).sort();
  if (engineNetworks) {
    observed.engineNetworks = engineNetworks
      .map((network) => ({ name: network.Name, subnets: (network.IPAM?.Config ?? []).flatMap((config) => (config.Subnet && !config.Subnet.includes(':') ? [config.Subnet] : [])) }))
      .sort((left, right) => left.name.localeCompare(right.name));
  }
  for (const info of containers) {
    if (!isOwnedBy(info.Labels, node)) continue;
    // A scheduled job's run is the job runner's (agent/jobs), never a replica to plan for.
    if (info.Labels[LABEL.jobRun] !== undefined) continue;
    const name = containerNameOf(info);
    const list = info.Labels[LABEL.hook] === undefined ? observed.containers : (observed.hookContainers ??= []);
    list.push({
      id: info.Id,
      name,
      app: info.Labels[LABEL.app] ?? '',
      service: info.Labels[LABEL.service] ?? '',
      replica: parseReplica(info.Labels[LABEL.replica]),
      configHash: info.Labels[LABEL.configHash] ?? '',
      commit: info.Labels[LABEL.commit] ?? '',
      image: info.Image,
      state: info.State as ContainerState,
      exitCode: parseExitCode(info.Status),
      health: parseHealth(info.Status),
      networks: Object.keys(info.NetworkSettings?.Networks ?? {}).sort(),
      networkMode: info.HostConfig?.NetworkMode ?? '',
      volumes: (info.Mounts ?? []).flatMap((mount) => (mount.Type === 'volume' && mount.Name ? [mount.Name] : [])).sort(),
    });
  }
  for (const network of networks) {
    if (isOwnedBy(network.Labels, node)) observed.networks.push({ id: network.Id, name: network.Name, app: network.Labels?.[LABEL.app] ?? '' });
  }
  for (const volume of volumes.Volumes ?? []) {
    if (!isOwnedBy(volume.Labels, node)) continue;
    const observedVolume: ObservedVolume = { name: volume.Name, app: volume.Labels?.[LABEL.app] ?? '' };
    const service = volume.Labels?.[LABEL.service];
    if (service !== undefined) observedVolume.slot = { service, replica: parseReplica(volume.Labels?.[LABEL.replica]) };
    observed.volumes.push(observedVolume);
  }
  if (options.times && options.times.size > 0) await inspectTimes(docker, observed.containers, options.times);
  observed.containers.sort((a, b) => a.name.localeCompare(b.name));
  observed.networks.sort((a, b) => a.name.localeCompare(b.name));
  observed.volumes.sort((a, b) => a.name.localeCompare(b.name));
  return observed;
}

/** Every name on the engine that is not this node's own: three unfiltered lists. */
export async function observeForeignNames(docker: Docker, node: string): Promise<ForeignNames> {
  const [containers, networks, volumes] = await Promise.all([docker.listContainers({ all: true }), docker.listNetworks(), docker.listVolumes()]);
  return {
    containers: containers.filter((info) => !isOwnedBy(info.Labels, node)).map(containerNameOf).sort(),
    networks: networks.filter((network) => !isOwnedBy(network.Labels, node)).map((network) => network.Name).sort(),
    volumes: (volumes.Volumes ?? []).filter((volume) => !isOwnedBy(volume.Labels, node)).map((volume) => volume.Name).sort(),
  };
}

/** Creation and start times of the containers of `services`; a container gone meanwhile is left without. */
async function inspectTimes(docker: Docker, containers: ObservedContainer[], services: ReadonlySet<string>): Promise<void> {
  await Promise.all(
    containers
      .filter((container) => services.has(`${container.app}/${container.service}`))
      .map(async (container) => {
        const inspected = await docker.getContainer(container.id).inspect().catch(() => undefined);
        if (!inspected) return;
        const created = Date.parse(inspected.Created);
        const started = Date.parse(inspected.State.StartedAt);
        if (Number.isFinite(created)) container.createdAt = created;
        // Docker says 0001-01-01T00:00:00Z for a container never started.
        if (Number.isFinite(started) && started > 0) container.startedAt = started;
      }),
  );
}

function containerNameOf(info: Docker.ContainerInfo): string {
  return (info.Names[0] ?? '').replace(/^\//, '');
}

function parseReplica(value: string | undefined): number {
  return value !== undefined && /^[1-9][0-9]*$/.test(value) ? Number(value) : Number.NaN;
}

// Docker's list API reports the exit code only inside the status text: "Exited (137) 5 seconds ago".
function parseExitCode(status: string): number | null {
  const match = /^Exited \((-?\d+)\)/.exec(status);
  return match ? Number(match[1]) : null;
}

function parseHealth(status: string): ObservedContainer['health'] {
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return null;
}

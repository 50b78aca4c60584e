import type Docker from 'dockerode';
import { LABEL, isOwnedBy } from '../labels.js';

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
}

/** A replica that serves: running the current config, and healthy when Docker runs a check. */
export function isReadyReplica(container: { state: string; configHash: string; health: string | null }, configHash: string): boolean {
  return container.state === 'running' && container.configHash === configHash && container.health !== 'starting' && container.health !== 'unhealthy';
}

export interface ObservedNetwork {
  id: string;
  name: string;
  app: string;
}

export interface ObservedVolume {
  name: string;
  app: string;
}

/**
 * What this node's agent owns in Docker, plus the names other owners hold (so the plan never
 * creates over them). Taken in one pass of read-only calls, so planning needs no further I/O.
 */
export interface ObservedState {
  node: string;
  containers: ObservedContainer[];
  networks: ObservedNetwork[];
  volumes: ObservedVolume[];
  /** Image references present locally (`repo:tag` and `repo@sha256:…`). */
  images: string[];
  /** Runtimes the engine has (`runc`, `runsc`, …), from `docker info`. */
  runtimes: string[];
  foreign: { containers: string[]; networks: string[]; volumes: string[] };
}

export async function observe(docker: Docker, node: string): Promise<ObservedState> {
  const [containers, networks, volumes, images, info] = await Promise.all([
    docker.listContainers({ all: true }),
    docker.listNetworks(),
    docker.listVolumes(),
    docker.listImages(),
    docker.info() as Promise<{ Runtimes?: Record<string, unknown> }>,
  ]);
  const observed: ObservedState = {
    node,
    containers: [],
    networks: [],
    volumes: [],
    images: images
      .flatMap((image) => [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])])
      .filter((reference) => !reference.startsWith('<none>'))
      .sort(),
    runtimes: Object.keys(info.Runtimes ?? {}).sort(),
    foreign: { containers: [], networks: [], volumes: [] },
  };
  for (const info of containers) {
    const name = (info.Names[0] ?? '').replace(/^\//, '');
    if (!isOwnedBy(info.Labels, node)) {
      observed.foreign.containers.push(name);
      continue;
    }
    observed.containers.push({
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
    else observed.foreign.networks.push(network.Name);
  }
  for (const volume of volumes.Volumes ?? []) {
    if (isOwnedBy(volume.Labels, node)) observed.volumes.push({ name: volume.Name, app: volume.Labels?.[LABEL.app] ?? '' });
    else observed.foreign.volumes.push(volume.Name);
  }
  observed.containers.sort((a, b) => a.name.localeCompare(b.name));
  observed.networks.sort((a, b) => a.name.localeCompare(b.name));
  observed.volumes.sort((a, b) => a.name.localeCompare(b.name));
  return observed;
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

import { DEFAULT_UPDATE, type Service, type UpdateSpec, type VolumeSpec } from '../model.js';

// Rollout arithmetic in small pure functions, as in Kubernetes' deployment controller.

export function updateOf(service: Service): UpdateSpec {
  return service.update ?? DEFAULT_UPDATE;
}

export interface EffectiveOrder {
  order: 'start-first' | 'stop-first';
  /** Why start-first was not possible; shown in `plan`. */
  reason?: string;
}

/**
 * start-first runs old and new side by side for a moment, which a fixed host port forbids (the
 * new container could not bind it), and so does a single-writer volume mounted read-write (two
 * writers, even for seconds, can corrupt a database). Such a service rolls out stop-first, and
 * says so. `volumes` are the app's, to tell shared volumes from single-writer ones.
 */
export function effectiveOrder(service: Service, volumes: VolumeSpec[] = []): EffectiveOrder {
  const update = updateOf(service);
  if (update.order === 'stop-first') return { order: 'stop-first' };
  const fixed = service.ports.find((port) => port.hostPort !== undefined);
  if (fixed) return { order: 'stop-first', reason: `stop-first: host port ${fixed.hostPort} cannot be bound twice` };
  const shared = new Set(volumes.filter((volume) => volume.shared).map((volume) => volume.name));
  const writer = (service.mounts ?? []).find((mount) => mount.type === 'volume' && !mount.readOnly && !shared.has(mount.volume));
  if (writer?.type === 'volume') return { order: 'stop-first', reason: `stop-first: volume ${writer.volume} has a single writer (not shared)` };
  // The replacement mounts the slot's own anonymous volume, as Compose's recreate does: one writer at a time.
  const anonymous = (service.mounts ?? []).find((mount) => mount.type === 'anonymous' && !mount.readOnly);
  if (anonymous) return { order: 'stop-first', reason: `stop-first: the anonymous volume at ${anonymous.target} passes to the replacement` };
  return { order: 'start-first' };
}

/**
 * Groups the slots being replaced into batches of `parallelism`, in slot order; 0 means all at
 * once (Swarm's meaning). 5 slots, parallelism 2: [[1, 2], [3, 4], [5]].
 */
export function batches(slots: number[], parallelism: number): number[][] {
  const size = parallelism <= 0 ? Math.max(slots.length, 1) : parallelism;
  const result: number[][] = [];
  for (let start = 0; start < slots.length; start += size) result.push(slots.slice(start, start + size));
  return result;
}

/**
 * What a rollout guarantees while it runs. 3 replicas, parallelism 1, start-first: never fewer
 * than 3 ready and never more than 4 containers. Stop-first: never more than 3 containers,
 * and 2 ready while one is being replaced.
 */
export function rolloutBounds(replicas: number, parallelism: number, order: 'start-first' | 'stop-first'): { minReady: number; maxContainers: number } {
  const batch = parallelism <= 0 ? replicas : Math.min(parallelism, replicas);
  return order === 'start-first' ? { minReady: replicas, maxContainers: replicas + batch } : { minReady: replicas - batch, maxContainers: replicas };
}

/** A service whose containers are meant to run to completion (migrations, backups). */
export function isOneShot(service: Service): boolean {
  return service.restart === 'no' || service.restart === 'on-failure';
}

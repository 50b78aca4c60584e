// Compose's `volumes_from`: a service mounts what another service of the app mounts. Docker's
// VolumesFrom ties one container to another's (replica 1's); Capstan replaces containers one
// slot at a time, so the mounts are copied instead, once every service is converted: the same
// named volumes and binds at the same targets, read-only with `:ro`. What cannot be shared that
// way is refused: another replica's anonymous volume, a container that is not the app's.
import type { KeyPath } from '../problems.js';
import { note, peek, problem, refuse, type ConvertContext } from './context.js';
import type { MapEntry, Origin } from './located.js';

export interface VolumesFromUse {
  /** The native key of the service that mounts them. */
  service: string;
  entry: MapEntry;
}

const MAX_CHAIN = 16;

/** Copies each listed service's mounts into its consumer (sources first, so chains carry through). */
export function applyVolumesFrom(context: ConvertContext, uses: VolumesFromUse[], serviceKeyOf: (composeName: string) => string | undefined): void {
  const byService = new Map(uses.map((use) => [use.service, use]));
  const done = new Set<string>();
  const visit = (service: string, chain: string[]): void => {
    const use = byService.get(service);
    if (!use || done.has(service)) return;
    if (chain.includes(service) || chain.length > MAX_CHAIN) {
      problem(context, use.entry.keyAt, 'COMPOSE_INVALID', `volumes_from forms a cycle: ${[...chain, service].join(' -> ')}`);
      done.add(service);
      return;
    }
    const items = use.entry.value.kind === 'seq' ? use.entry.value.items : [];
    if (use.entry.value.kind !== 'seq') problem(context, use.entry.value.at, 'COMPOSE_INVALID', 'volumes_from must be a list');
    for (const item of items) {
      const written = peek(context, item);
      if (written === undefined) {
        problem(context, item.at, 'COMPOSE_INVALID', 'a volumes_from entry is SERVICE[:ro|:rw] or container:NAME[:ro|:rw]');
        continue;
      }
      const source = parseSource(context, written, item.at, serviceKeyOf);
      if (!source) continue;
      if (source.service === service) {
        problem(context, item.at, 'COMPOSE_INVALID', 'a service cannot take volumes from itself');
        continue;
      }
      visit(source.service, [...chain, service]);
      copyMounts(context, service, source.service, source.readOnly, item.at);
    }
    done.add(service);
    note(context, use.entry.keyAt, 'the mounts the other service declares are mounted here too (its image\'s own VOLUME folders are not: mount a named volume there to share them)');
  };
  for (const use of uses) visit(use.service, []);
}

function parseSource(context: ConvertContext, written: string, at: Origin, serviceKeyOf: (composeName: string) => string | undefined): { service: string; readOnly: boolean } | undefined {
  const parts = written.split(':');
  let mode: string | undefined;
  if (parts.length > 1 && ['ro', 'rw'].includes(parts[parts.length - 1])) mode = parts.pop();
  let service: string | undefined;
  if (parts[0] === 'container' && parts.length === 2) {
    // Only a container of this app (its container_name, or <app>-<service>-1) is Capstan's to share.
    const composeName = context.containerNames?.get(parts[1]);
    if (composeName === undefined) {
      refuse(context, at, `volumes_from a container that is not one of this app's services (${parts[1]}); Capstan only uses Docker objects it created itself: mount the same named volume in both services instead`);
      return undefined;
    }
    service = serviceKeyOf(composeName);
  } else if (parts.length === 1 || (parts[0] === 'service' && parts.length === 2)) {
    service = serviceKeyOf(parts[parts.length - 1]);
    if (service === undefined) {
      problem(context, at, 'COMPOSE_INVALID', `volumes_from names '${parts[parts.length - 1]}', which is not a service of this file`);
      return undefined;
    }
  } else {
    problem(context, at, 'COMPOSE_INVALID', 'a volumes_from entry is SERVICE[:ro|:rw] or container:NAME[:ro|:rw]');
    return undefined;
  }
  if (service === undefined) return undefined;
  return { service, readOnly: mode === 'ro' };
}

function copyMounts(context: ConvertContext, consumer: string, source: string, readOnly: boolean, at: Origin): void {
  const sourceMounts = context.doc.get(['services', source, 'volumes']);
  if (!Array.isArray(sourceMounts)) return;
  const path: KeyPath = ['services', consumer, 'volumes'];
  const targets = new Set(((context.doc.get(path) as unknown[] | undefined) ?? []).map(targetOf));
  for (const mount of sourceMounts) {
    const target = targetOf(mount);
    // A mount of the service's own at the same target wins, as in Docker.
    if (target === undefined || targets.has(target)) continue;
    if (isAnonymous(mount)) {
      refuse(context, at, `volumes_from '${source}', whose anonymous volume ${target} belongs to each of its replicas; give it a name (a top-level volume) and mount it in both services`);
      continue;
    }
    if (context.doc.get(path) === undefined) context.doc.set(path, [], { at });
    context.doc.push(path, readOnly ? asReadOnly(mount) : mount, { at });
    targets.add(target);
    const volume = volumeOf(mount);
    if (volume !== undefined && !readOnly && !isReadOnly(mount)) {
      const writers = context.writers.get(volume) ?? [];
      writers.push({ service: consumer, at });
      context.writers.set(volume, writers);
    }
  }
}

function targetOf(mount: unknown): string | undefined {
  if (typeof mount === 'string') {
    const parts = mount.split(':');
    return parts.length === 1 ? parts[0] : parts[1];
  }
  if (mount !== null && typeof mount === 'object' && typeof (mount as { target?: unknown }).target === 'string') return (mount as { target: string }).target;
  return undefined;
}

function isAnonymous(mount: unknown): boolean {
  if (typeof mount === 'string') return !mount.includes(':');
  const fields = mount as { type?: string; source?: unknown };
  return fields.type === 'volume' && fields.source === undefined;
}

function volumeOf(mount: unknown): string | undefined {
  const source = typeof mount === 'string' ? mount.split(':')[0] : (mount as { type?: string; source?: unknown }).type === 'volume' ? (mount as { source?: unknown }).source : undefined;
  return typeof source === 'string' && source !== '' && !/^[./~]/.test(source) && !source.includes('/') ? source : undefined;
}

function isReadOnly(mount: unknown): boolean {
  if (typeof mount === 'string') return (mount.split(':')[2] ?? '').split(',').includes('ro');
  return (mount as { read_only?: unknown }).read_only === true;
}

function asReadOnly(mount: unknown): unknown {
  if (typeof mount !== 'string') return { ...(mount as object), read_only: true };
  const [source, target, options] = mount.split(':');
  const kept = (options ?? '').split(',').filter((option) => option !== '' && option !== 'rw' && option !== 'ro');
  return `${source}:${target}:${['ro', ...kept].join(',')}`;
}

// The runtime fields of a service (../schema/spec.ts) → the model's shape: units converted, lists
// sorted so that writing them in another order changes no config hash, and only the fields the
// manifest sets are present, so services without them keep the hash they had before.
import type { DependencySpec, DeviceSpec, GrantSpec, NetworkModeSpec, ResourcesSpec, Service, UlimitSpec } from '../../model.js';
import { byteSize } from '../../spelling.js';
import { durationMs } from './rollout.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { ServiceManifest } from '../schema/schema.js';
import { LIMITS } from '../schema/patterns.js';

export type SpecFields = Pick<
  Service,
  | 'egress'
  | 'networkMode'
  | 'dependsOn'
  | 'resources'
  | 'ulimits'
  | 'user'
  | 'readOnly'
  | 'tmpfs'
  | 'capAdd'
  | 'capDrop'
  | 'init'
  | 'stopSignal'
  | 'stopGracePeriodMs'
  | 'runtime'
  | 'privileged'
  | 'pid'
  | 'devices'
  | 'cdiDevices'
  | 'groupAdd'
  | 'workingDir'
>;

/** `db` → the whole app, `db/postgres` → one service. */
export function parseGrant(text: string): GrantSpec {
  const [app, service] = text.split('/');
  return service === undefined ? { app } : { app, service };
}

export function grantText(grant: GrantSpec): string {
  return grant.service === undefined ? grant.app : `${grant.app}/${grant.service}`;
}

/** `net_admin`, `CAP_NET_ADMIN` → `NET_ADMIN`; sorted, without duplicates. */
export function capabilityNames(names: string[]): string[] {
  return [...new Set(names.map((name) => name.toUpperCase().replace(/^CAP_/, '')))].sort();
}

function parseNetworkMode(text: string): NetworkModeSpec {
  if (text === 'host' || text === 'none') return { kind: text };
  return { kind: 'service', service: text.slice('service:'.length) };
}

function dependencies(spec: NonNullable<ServiceManifest['depends_on']>): DependencySpec[] {
  const entries: DependencySpec[] = Array.isArray(spec)
    ? spec.map((service) => ({ service, condition: 'service_started' }))
    : Object.entries(spec).map(([service, options]) => ({ service, condition: options.condition ?? 'service_started', ...(options.restart === true ? { restart: true as const } : {}) }));
  const byService = new Map(entries.map((entry) => [entry.service, entry]));
  return [...byService.values()].sort((left, right) => (left.service < right.service ? -1 : 1));
}

function resources(spec: NonNullable<ServiceManifest['resources']>, path: KeyPath, problems: PathProblem[]): ResourcesSpec {
  const result: ResourcesSpec = {};
  for (const key of ['memory', 'memory_reservation', 'shm_size'] as const) {
    const value = spec[key];
    if (value !== undefined && !(byteSize(value) <= LIMITS.bytes)) {
      problems.push({ code: 'SIZE_TOO_LARGE', path: [...path, key], message: `${String(value)} is more than the largest size allowed, 1 PiB` });
    }
  }
  if (spec.cpus !== undefined) result.nanoCpus = Math.round(Number(spec.cpus) * 1e9);
  if (spec.memory !== undefined) result.memoryBytes = byteSize(spec.memory);
  if (spec.memory_reservation !== undefined) result.memoryReservationBytes = byteSize(spec.memory_reservation);
  if (spec.pids_limit !== undefined) result.pidsLimit = spec.pids_limit;
  if (spec.shm_size !== undefined) result.shmSizeBytes = byteSize(spec.shm_size);
  if (spec.cpuset !== undefined) result.cpuset = spec.cpuset;
  if (spec.memory_swap !== undefined) result.memorySwapBytes = spec.memory_swap === -1 ? -1 : byteSize(spec.memory_swap);
  if (spec.memory_swappiness !== undefined) result.memorySwappiness = spec.memory_swappiness;
  if (spec.cpu_shares !== undefined) result.cpuShares = spec.cpu_shares;
  if (spec.cpu_period !== undefined) result.cpuPeriod = spec.cpu_period;
  if (spec.cpu_quota !== undefined) result.cpuQuota = spec.cpu_quota;
  return result;
}

function ulimits(spec: NonNullable<ServiceManifest['ulimits']>, path: KeyPath, problems: PathProblem[]): UlimitSpec[] {
  return Object.entries(spec)
    .map(([name, value]) => {
      const limit = typeof value === 'number' ? { name, soft: value, hard: value } : { name, soft: value.soft, hard: value.hard };
      if (limit.hard !== -1 && (limit.soft === -1 || limit.soft > limit.hard)) {
        problems.push({ code: 'ULIMIT_INVALID', path: [...path, name], message: 'the soft limit cannot exceed the hard limit' });
      }
      return limit;
    })
    .sort((left, right) => (left.name < right.name ? -1 : 1));
}

function tmpfs(spec: string | string[], path: KeyPath, problems: PathProblem[]): Record<string, string> {
  const result: Record<string, string> = {};
  (Array.isArray(spec) ? spec : [spec]).forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const target = colon < 0 ? entry : entry.slice(0, colon);
    if (target in result) problems.push({ code: 'TMPFS_DUPLICATE', path: Array.isArray(spec) ? [...path, index] : path, message: `${target} is listed twice` });
    result[target] = colon < 0 ? '' : entry.slice(colon + 1);
  });
  return Object.fromEntries(Object.entries(result).sort(([left], [right]) => (left < right ? -1 : 1)));
}

/** Host devices; CDI names (`vendor.com/class=name`) go to `cdiDevices`. */
function devices(spec: NonNullable<ServiceManifest['devices']>): DeviceSpec[] {
  return spec.filter((entry) => typeof entry !== 'string' || entry.startsWith('/')).map((entry) => {
    if (typeof entry !== 'string') return { host: entry.source, container: entry.target ?? entry.source, permissions: entry.permissions ?? 'rwm' };
    const [host, second, third] = entry.split(':');
    // `/dev/x:rw` is HOST:PERMISSIONS, as in Docker's --device.
    if (second !== undefined && !second.startsWith('/')) return { host, container: host, permissions: second };
    return { host, container: second ?? host, permissions: third ?? 'rwm' };
  });
}

export function normalizeSpecFields(spec: ServiceManifest, path: KeyPath, problems: PathProblem[]): SpecFields {
  const fields: SpecFields = {};
  if (spec.egress === false) fields.egress = false;
  if (spec.network_mode !== undefined) fields.networkMode = parseNetworkMode(spec.network_mode);
  if (spec.depends_on !== undefined) fields.dependsOn = dependencies(spec.depends_on);
  if (spec.resources !== undefined && Object.keys(spec.resources).length > 0) fields.resources = resources(spec.resources, [...path, 'resources'], problems);
  if (spec.ulimits !== undefined) fields.ulimits = ulimits(spec.ulimits, [...path, 'ulimits'], problems);
  if (spec.user !== undefined) fields.user = spec.user;
  if (spec.read_only) fields.readOnly = true;
  if (spec.tmpfs !== undefined) fields.tmpfs = tmpfs(spec.tmpfs, [...path, 'tmpfs'], problems);
  if (spec.cap_add !== undefined) fields.capAdd = capabilityNames(spec.cap_add);
  if (spec.cap_drop !== undefined) fields.capDrop = capabilityNames(spec.cap_drop);
  if (spec.group_add !== undefined) fields.groupAdd = spec.group_add.map(String);
  if (spec.init !== undefined) fields.init = spec.init;
  if (spec.stop_signal !== undefined) fields.stopSignal = spec.stop_signal;
  if (spec.stop_grace_period !== undefined) fields.stopGracePeriodMs = durationMs(spec.stop_grace_period);
  if (spec.runtime !== undefined) fields.runtime = spec.runtime;
  if (spec.privileged) fields.privileged = true;
  if (spec.pid !== undefined) fields.pid = spec.pid;
  const hostDevices = spec.devices === undefined ? [] : devices(spec.devices);
  const cdiDevices = (spec.devices ?? []).filter((entry): entry is string => typeof entry === 'string' && !entry.startsWith('/'));
  // `devices: []` keeps the hash it had before CDI names existed.
  if (spec.devices !== undefined && (hostDevices.length > 0 || cdiDevices.length === 0)) fields.devices = hostDevices;
  if (cdiDevices.length > 0) fields.cdiDevices = [...new Set(cdiDevices)].sort();
  if (spec.working_dir !== undefined) fields.workingDir = spec.working_dir;
  return fields;
}

/**
 * A numeric `user:` (`1000` or `1000:100`), for the owner of secret files; undefined for names,
 * whose ids only the image's /etc/passwd knows. Without a group the files get group 0.
 */
export function numericUser(user: string | undefined): { uid: number; gid: number } | undefined {
  const match = user === undefined ? null : /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) return undefined;
  return { uid: Number(match[1]), gid: match[2] === undefined ? 0 : Number(match[2]) };
}

// The container's own settings (../schema/container.ts) → the model's shape, in Docker's spelling:
// extra_hosts as `host:ip` lines, sysctls and logging options as string maps, security options
// as `name=value`. Only what the manifest sets is present, so services without these fields keep
// the config hash they had before the fields existed.
import type { BlkioSpec, GpuRequest, LoggingSpec, Service } from '../../model.js';
import { byteSize, securityOption } from '../../spelling.js';
import { durationMs } from './rollout.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { ServiceManifest } from '../schema/schema.js';

export type ContainerFields = Pick<
  Service,
  | 'hostname'
  | 'domainname'
  | 'extraHosts'
  | 'dns'
  | 'dnsSearch'
  | 'dnsOptions'
  | 'stdinOpen'
  | 'tty'
  | 'platform'
  | 'oomScoreAdj'
  | 'macAddress'
  | 'logging'
  | 'sysctls'
  | 'securityOpt'
  | 'ipc'
  | 'uts'
  | 'usernsMode'
  | 'cgroup'
  | 'cgroupParent'
  | 'oomKillDisable'
  | 'storageOpt'
  | 'gpus'
  | 'blkio'
  | 'deviceCgroupRules'
  | 'cpuRtRuntime'
  | 'cpuRtPeriod'
>;

type Scalar = string | number | boolean | null;

const asList = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);
const scalarText = (value: Scalar): string => (value === null ? '' : String(value));

/**
 * Compose's three spellings, `host:ip`, `host=ip` and `{host: ip | [ip]}`, → Docker's `host:ip`.
 * The split is at the first separator, so `myhost:::1` is `myhost` → `::1`. Sorted by host
 * (stably: for one host, the first address is the one resolved), so reordering replaces nothing.
 */
export function extraHosts(spec: NonNullable<ServiceManifest['extra_hosts']>): string[] {
  const pairs: [string, string][] = Array.isArray(spec)
    ? spec.map((item) => {
        const equals = item.indexOf('=');
        const separator = equals >= 0 ? equals : item.indexOf(':');
        return [item.slice(0, separator), item.slice(separator + 1)];
      })
    : Object.entries(spec).flatMap(([host, addresses]) => asList(addresses).map((address): [string, string] => [host, address]));
  return pairs
    .map(([host, address], index) => ({ host, address, index }))
    .sort((left, right) => (left.host < right.host ? -1 : left.host > right.host ? 1 : left.index - right.index))
    .map(({ host, address }) => `${host}:${address}`);
}

/** `{a: 1}` or `[a=1]` → `{a: '1'}`, sorted by name; a name given twice is a problem. */
export function sysctls(spec: NonNullable<ServiceManifest['sysctls']>, path: KeyPath, problems: PathProblem[]): Record<string, string> {
  const entries: [string, string][] = [];
  if (Array.isArray(spec)) {
    const seen = new Map<string, number>();
    spec.forEach((item, index) => {
      const equals = item.indexOf('=');
      const name = item.slice(0, equals);
      if (seen.has(name)) problems.push({ code: 'DUPLICATE_KEY', path: [...path, index], message: `this sysctl is already set by item ${seen.get(name)}; keep one` });
      seen.set(name, index);
      entries.push([name, item.slice(equals + 1)]);
    });
  } else entries.push(...Object.entries(spec).map(([name, value]): [string, string] => [name, scalarText(value)]));
  return Object.fromEntries(entries.sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)));
}

function logging(spec: NonNullable<ServiceManifest['logging']>): LoggingSpec {
  const options = Object.entries(spec.options ?? {})
    .map(([name, value]): [string, string] => [name, scalarText(value)])
    .sort(([left], [right]) => (left < right ? -1 : 1));
  const result: LoggingSpec = { options: Object.fromEntries(options) };
  if (spec.driver !== undefined) result.driver = spec.driver;
  return result;
}

/** `net.*` sysctls belong to the network namespace: with `host` it is the host's, with `service:` the parent's. */
function sharedNetworkSysctls(spec: ServiceManifest, values: Record<string, string>, path: KeyPath, problems: PathProblem[]): void {
  const mode = spec.network_mode;
  if (mode === undefined || mode === 'none') return;
  const whose = mode === 'host' ? "network_mode: host shares the host's network namespace" : `${mode} shares that service's network namespace`;
  Object.keys(values)
    .filter((name) => name.replace(/\//g, '.').startsWith('net.'))
    .forEach((name) => {
      const index = Array.isArray(spec.sysctls) ? spec.sysctls.findIndex((item) => item.startsWith(`${name}=`)) : -1;
      const at = index >= 0 ? [...path, index] : [...path, name];
      problems.push({ code: 'SYSCTL_HOST_NETWORK', path: at, message: `${whose}, whose net.* sysctls this container cannot set; set them on ${mode === 'host' ? 'the host' : 'that service'}, or remove them` });
    });
}

/** `gpus: all`, or Compose's long syntax, → Docker's DeviceRequests (what `docker run --gpus` sends). */
function gpus(spec: NonNullable<ServiceManifest['gpus']>): GpuRequest[] {
  const requests = spec === 'all' ? [{}] : spec;
  return requests.map((request: { driver?: string; count?: number | 'all'; device_ids?: string[]; capabilities?: string[]; options?: Record<string, string> }) => ({
    driver: request.driver ?? 'nvidia',
    count: request.count === undefined || request.count === 'all' ? (request.device_ids ? 0 : -1) : request.count,
    deviceIds: request.device_ids ?? [],
    capabilities: request.capabilities ?? ['gpu'],
    options: Object.fromEntries(Object.entries(request.options ?? {}).sort(([left], [right]) => (left < right ? -1 : 1))),
  }));
}

function blkio(spec: NonNullable<ServiceManifest['blkio_config']>): BlkioSpec {
  const rates = (list: { path: string; rate: number | string }[] | undefined) => list?.map(({ path, rate }) => ({ path, rate: byteSize(rate) }));
  const result: BlkioSpec = {};
  if (spec.weight !== undefined) result.weight = spec.weight;
  if (spec.weight_device !== undefined) result.weightDevice = spec.weight_device;
  const [readBps, writeBps, readIops, writeIops] = [spec.device_read_bps, spec.device_write_bps, spec.device_read_iops, spec.device_write_iops].map(rates);
  if (readBps) result.readBps = readBps;
  if (writeBps) result.writeBps = writeBps;
  if (readIops) result.readIops = readIops;
  if (writeIops) result.writeIops = writeIops;
  return result;
}

/** Microseconds, written as a number of them or as a duration (`400ms`). */
function microseconds(value: number | string): number {
  return typeof value === 'number' ? value : Math.round(durationMs(value) * 1000);
}

export function normalizeContainerFields(spec: ServiceManifest, path: KeyPath, problems: PathProblem[]): ContainerFields {
  const fields: ContainerFields = {};
  if (spec.hostname !== undefined) fields.hostname = spec.hostname;
  if (spec.domainname !== undefined) fields.domainname = spec.domainname;
  if (spec.extra_hosts !== undefined) fields.extraHosts = extraHosts(spec.extra_hosts);
  if (spec.dns !== undefined) fields.dns = asList(spec.dns);
  if (spec.dns_search !== undefined) fields.dnsSearch = asList(spec.dns_search);
  if (spec.dns_opt !== undefined) fields.dnsOptions = spec.dns_opt;
  if (spec.stdin_open !== undefined) fields.stdinOpen = spec.stdin_open;
  if (spec.tty !== undefined) fields.tty = spec.tty;
  if (spec.platform !== undefined) fields.platform = spec.platform;
  if (spec.oom_score_adj !== undefined) fields.oomScoreAdj = spec.oom_score_adj;
  if (spec.mac_address !== undefined) fields.macAddress = spec.mac_address.replace(/-/g, ':').toLowerCase();
  if (spec.logging !== undefined) fields.logging = logging(spec.logging);
  if (spec.sysctls !== undefined) {
    fields.sysctls = sysctls(spec.sysctls, [...path, 'sysctls'], problems);
    sharedNetworkSysctls(spec, fields.sysctls, [...path, 'sysctls'], problems);
  }
  if (spec.ipc !== undefined) fields.ipc = spec.ipc;
  if (spec.uts !== undefined) fields.uts = spec.uts;
  if (spec.userns_mode !== undefined) fields.usernsMode = spec.userns_mode;
  if (spec.cgroup !== undefined) fields.cgroup = spec.cgroup;
  if (spec.cgroup_parent !== undefined) fields.cgroupParent = spec.cgroup_parent;
  if (spec.oom_kill_disable !== undefined) fields.oomKillDisable = spec.oom_kill_disable;
  if (spec.storage_opt !== undefined) fields.storageOpt = Object.fromEntries(Object.entries(spec.storage_opt).sort(([left], [right]) => (left < right ? -1 : 1)));
  if (spec.gpus !== undefined) fields.gpus = gpus(spec.gpus);
  if (spec.blkio_config !== undefined) fields.blkio = blkio(spec.blkio_config);
  if (spec.device_cgroup_rules !== undefined) fields.deviceCgroupRules = spec.device_cgroup_rules;
  if (spec.cpu_rt_runtime !== undefined) fields.cpuRtRuntime = microseconds(spec.cpu_rt_runtime);
  if (spec.cpu_rt_period !== undefined) fields.cpuRtPeriod = microseconds(spec.cpu_rt_period);
  if (spec.security_opt !== undefined) fields.securityOpt = [...new Set(spec.security_opt.map(securityOption))].sort();
  return fields;
}

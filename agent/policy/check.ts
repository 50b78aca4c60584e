// Checks one normalized service against the host policy. Pure; each refusal names the policy
// setting that would allow it, and is located by the loader at the manifest key that asks.
import { posix } from 'node:path';
import type { MountSpec, Service } from '../model.js';
import { DEFAULT_CAPABILITIES, type HostPolicy } from './schema.js';

export interface PolicyRefusal {
  /** Key path below the service: `['privileged']`, `['volumes', 2]`. */
  key: (string | number)[];
  message: string;
}

type PolicyService = Pick<Service, 'privileged' | 'networkMode' | 'pid' | 'devices' | 'capAdd' | 'runtime' | 'mounts'>;

const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
const SETTING_HINT = 'in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it';

function refused(what: string, setting: string): string {
  return `${what} is refused by host policy; set ${setting} ${SETTING_HINT}`;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : root + '/');
}

/**
 * `mountIndexes[i]` is where `service.mounts[i]` is written in the manifest's `volumes` list
 * (mounts that failed to parse are left out of `mounts`).
 */
export function policyRefusals(service: PolicyService, policy: HostPolicy, mountIndexes: number[]): PolicyRefusal[] {
  const refusals: PolicyRefusal[] = [];
  if (service.privileged && !policy.allowPrivileged) refusals.push({ key: ['privileged'], message: refused('privileged mode', 'allow_privileged: true') });
  if (service.networkMode?.kind === 'host' && !policy.allowHostNetwork) {
    refusals.push({ key: ['network_mode'], message: refused("the host's network (network_mode: host)", 'allow_host_network: true') });
  }
  if (service.pid === 'host' && !policy.allowHostPid) refusals.push({ key: ['pid'], message: refused("the host's PID namespace (pid: host)", 'allow_host_pid: true') });
  if ((service.devices ?? []).length > 0 && !policy.allowDevices) refusals.push({ key: ['devices'], message: refused('access to host devices', 'allow_devices: true') });
  const allowedCapabilities = new Set([...DEFAULT_CAPABILITIES, ...policy.allowedCapabilities]);
  const extraCapabilities = (service.capAdd ?? []).filter((name) => !allowedCapabilities.has(name));
  if (extraCapabilities.length > 0) {
    const names = extraCapabilities.join(', ');
    refusals.push({ key: ['cap_add'], message: refused(`adding capabilities beyond Docker's default set (${names})`, `allowed_capabilities: [${names}]`) });
  }
  if (service.runtime !== undefined && !policy.allowedRuntimes.includes(service.runtime)) {
    refusals.push({ key: ['runtime'], message: refused(`runtime '${service.runtime}'`, `allowed_runtimes: [${service.runtime}] (the list replaces the default one)`) });
  }
  service.mounts.forEach((mount, index) => {
    const message = bindRefusal(mount, policy);
    if (message) refusals.push({ key: ['volumes', mountIndexes[index] ?? index], message });
  });
  return refusals;
}

function bindRefusal(mount: MountSpec, policy: HostPolicy): string | undefined {
  if (mount.type !== 'bind' || mount.repo) return undefined;
  const source = posix.normalize(mount.source);
  const socket = DOCKER_SOCKETS.find((path) => isUnder(path, source));
  if (socket === source && policy.allowDockerSocket) return undefined;
  if (socket && !policy.allowDockerSocket) {
    const what = socket === source ? `the Docker socket (${source})` : `host path ${source}, which holds the Docker socket,`;
    return refused(`mounting ${what}`, 'allow_docker_socket: true');
  }
  if (policy.bindRoots.some((root) => isUnder(source, root))) return undefined;
  const parent = posix.dirname(source);
  return refused(`mounting host path ${source}`, `bind_roots: [${parent === '/' ? source : parent}] (folders under which host paths may be mounted)`);
}

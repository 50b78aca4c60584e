// Checks one normalized service against the host policy. Pure; each refusal names the policy
// setting that would allow it, and is located by the loader at the manifest key that asks. Each
// also carries that setting as data (`grant`), from which the loader writes the policy-file
// snippet that would admit the whole app (policy/snippet.ts).
import { posix } from 'node:path';
import type { MountSpec, Service } from '../model.js';
import { DEFAULT_CAPABILITIES, READ_ONLY_HOST_FILES, type HostPolicy } from './schema.js';
import type { PolicyFile } from './file-schema.js';
import { isNetSysctl, sysctlAllowed, sysctlName } from './sysctls.js';

/** Policy-file settings that would lift a refusal, as written in the file. */
export type PolicyGrant = Partial<PolicyFile>;

export interface PolicyRefusal {
  /**
   * Key path below the service: `['privileged']`, `['volumes', 2]`; `['security_opt', option]`
   * and `['sysctls', name]` name the entry, which the loader finds in the list as written.
   */
  key: (string | number)[];
  message: string;
  grant: PolicyGrant;
}

type PolicyService = Pick<
  Service,
  'privileged' | 'networkMode' | 'pid' | 'devices' | 'cdiDevices' | 'gpus' | 'deviceCgroupRules' | 'capAdd' | 'runtime' | 'mounts' | 'sysctls' | 'securityOpt' | 'ipc' | 'uts' | 'usernsMode' | 'cgroup'
>;

const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
const SETTING_HINT = 'in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it';

function refused(what: string, setting: string): string {
  return `${what} is refused by host policy; set ${setting} ${SETTING_HINT}`;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : root + '/');
}

/**
 * `no-new-privileges=true` only takes rights away. (`=false` is not: it undoes a daemon's
 * `no-new-privileges` default, so the host policy decides it like any other option.)
 */
function alwaysAllowedSecurityOption(option: string): boolean {
  return option === 'no-new-privileges=true';
}

/**
 * `mountIndexes[i]` is where `service.mounts[i]` is written in the manifest's `volumes` list
 * (mounts that failed to parse are left out of `mounts`).
 */
export function policyRefusals(service: PolicyService, policy: HostPolicy, mountIndexes: number[]): PolicyRefusal[] {
  const refusals: PolicyRefusal[] = [];
  if (service.privileged && !policy.allowPrivileged) refusals.push({ key: ['privileged'], message: refused('privileged mode', 'allow_privileged: true'), grant: { allow_privileged: true } });
  if (service.networkMode?.kind === 'host' && !policy.allowHostNetwork) {
    refusals.push({ key: ['network_mode'], message: refused("the host's network (network_mode: host)", 'allow_host_network: true'), grant: { allow_host_network: true } });
  }
  if (service.pid === 'host' && !policy.allowHostPid) {
    refusals.push({ key: ['pid'], message: refused("the host's PID namespace (pid: host)", 'allow_host_pid: true'), grant: { allow_host_pid: true } });
  }
  const namespaces: [boolean, string, string, PolicyGrant][] = [
    [service.ipc === 'host' && !policy.allowHostIpc, 'ipc', "the host's IPC namespace (ipc: host)", { allow_host_ipc: true }],
    [service.uts === 'host' && !policy.allowHostUts, 'uts', "the host's UTS namespace (uts: host)", { allow_host_uts: true }],
    [service.usernsMode === 'host' && !policy.allowHostUserns, 'userns_mode', "the host's user namespace (userns_mode: host)", { allow_host_userns: true }],
    [service.cgroup === 'host' && !policy.allowHostCgroup, 'cgroup', "the host's cgroup namespace (cgroup: host)", { allow_host_cgroup: true }],
  ];
  for (const [asked, key, what, grant] of namespaces) {
    if (asked) refusals.push({ key: [key], message: refused(what, `${Object.keys(grant)[0]}: true`), grant });
  }
  if ((service.gpus ?? []).length > 0 && !policy.allowDevices) {
    refusals.push({ key: ['gpus'], message: refused('access to the host\'s GPUs', 'allow_devices: true'), grant: { allow_devices: true } });
  }
  if ((service.deviceCgroupRules ?? []).length > 0 && !policy.allowDevices) {
    refusals.push({ key: ['device_cgroup_rules'], message: refused('device cgroup rules (access to host devices)', 'allow_devices: true'), grant: { allow_devices: true } });
  }
  if ((service.devices ?? []).length + (service.cdiDevices ?? []).length > 0 && !policy.allowDevices) {
    refusals.push({ key: ['devices'], message: refused('access to host devices', 'allow_devices: true'), grant: { allow_devices: true } });
  }
  const allowedCapabilities = new Set([...DEFAULT_CAPABILITIES, ...policy.allowedCapabilities]);
  const extraCapabilities = (service.capAdd ?? []).filter((name) => !allowedCapabilities.has(name));
  if (extraCapabilities.length > 0) {
    const names = extraCapabilities.join(', ');
    refusals.push({
      key: ['cap_add'],
      message: refused(`adding capabilities beyond Docker's default set (${names})`, `allowed_capabilities: [${names}]`),
      grant: { allowed_capabilities: extraCapabilities },
    });
  }
  if (service.runtime !== undefined && !policy.allowedRuntimes.includes(service.runtime)) {
    refusals.push({
      key: ['runtime'],
      message: refused(`runtime '${service.runtime}'`, `allowed_runtimes: [${service.runtime}] (the list replaces the default one)`),
      grant: { allowed_runtimes: [service.runtime] },
    });
  }
  for (const name of Object.keys(service.sysctls ?? {})) {
    if (isNetSysctl(name) || sysctlAllowed(name, policy.allowedSysctls)) continue;
    const what = `sysctl ${name}, which Docker does not give each container its own copy of (only net.* ones)`;
    refusals.push({ key: ['sysctls', name], message: refused(what, `allowed_sysctls: [${sysctlName(name)}]`), grant: { allowed_sysctls: [sysctlName(name)] } });
  }
  for (const option of service.securityOpt ?? []) {
    if (alwaysAllowedSecurityOption(option) || policy.allowedSecurityOpts.includes(option)) continue;
    refusals.push({ key: ['security_opt', option], message: refused(`security option ${option}`, `allowed_security_opts: [${option}]`), grant: { allowed_security_opts: [option] } });
  }
  service.mounts.forEach((mount, index) => {
    const refusal = bindRefusal(mount, policy);
    if (refusal) refusals.push({ key: ['volumes', mountIndexes[index] ?? index], ...refusal });
  });
  return refusals;
}

function bindRefusal(mount: MountSpec, policy: HostPolicy): { message: string; grant: PolicyGrant } | undefined {
  if (mount.type !== 'bind' || mount.repo) return undefined;
  const source = posix.normalize(mount.source);
  if (mount.readOnly && READ_ONLY_HOST_FILES.includes(source)) return undefined;
  const socket = DOCKER_SOCKETS.find((path) => isUnder(path, source));
  if (socket === source && policy.allowDockerSocket) return undefined;
  if (socket && !policy.allowDockerSocket) {
    const what = socket === source ? `the Docker socket (${source})` : `host path ${source}, which holds the Docker socket,`;
    return { message: refused(`mounting ${what}`, 'allow_docker_socket: true'), grant: { allow_docker_socket: true } };
  }
  if (policy.bindRoots.some((root) => isUnder(source, root))) return undefined;
  const parent = posix.dirname(source);
  const root = parent === '/' ? source : parent;
  return { message: refused(`mounting host path ${source}`, `bind_roots: [${root}] (folders under which host paths may be mounted)`), grant: { bind_roots: [root] } };
}

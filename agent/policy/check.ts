// Checks one normalized service against the host policy: its fields (pure), and its host paths
// as they resolve on this host (host-paths.ts). Each refusal names the policy setting that would
// allow it, and is located by the loader at the manifest key that asks. Each also carries that
// setting as data (`grant`), from which the loader writes the policy-file snippet that would
// admit the whole app (policy/snippet.ts).
import type { Service } from '../model.js';
import { byteSize } from '../spelling.js';
import { hostPathRefusals, type HostFs } from './host-paths.js';
import { DEFAULT_CAPABILITIES, type HostPolicy } from './schema.js';
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
  /** Absent when no setting would lift the refusal (a malformed size). */
  grant?: PolicyGrant;
}

type PolicyService = Pick<
  Service,
  'privileged' | 'postStart' | 'preStop' | 'cgroupParent' | 'networkMode' | 'pid' | 'devices' | 'cdiDevices' | 'gpus' | 'deviceCgroupRules' | 'capAdd' | 'runtime' | 'mounts' | 'sysctls' | 'securityOpt' | 'ipc' | 'uts' | 'usernsMode' | 'cgroup' | 'tmpfs'
>;

const SETTING_HINT = 'in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it';

function refused(what: string, setting: string): string {
  return `${what} is refused by host policy; set ${setting} ${SETTING_HINT}`;
}

/**
 * `no-new-privileges=true` only takes rights away. (`=false` is not: it undoes a daemon's
 * `no-new-privileges` default, so the host policy decides it like any other option.)
 */
function alwaysAllowedSecurityOption(option: string): boolean {
  return option === 'no-new-privileges=true';
}

/**
 * Every refusal of `service`: those of its fields, then those of its host bind mounts, resolved
 * on this host (host-paths.ts). `mountIndexes[i]` is where `service.mounts[i]` is written in the
 * manifest's `volumes` list (mounts that failed to parse are left out of `mounts`).
 */
export async function policyRefusals(service: PolicyService, policy: HostPolicy, mountIndexes: number[], fs?: HostFs): Promise<PolicyRefusal[]> {
  const paths = await hostPathRefusals(service.mounts, policy, mountIndexes, fs);
  return [...fieldRefusals(service, policy), ...paths.map((refusal) => ({ ...refusal, grant: grantIn(refusal.message) }))];
}

/** The refusals that need nothing but the service: privileges, namespaces, devices, capabilities, runtime, sysctls, tmpfs. */
export function fieldRefusals(service: Omit<PolicyService, 'mounts'>, policy: HostPolicy): PolicyRefusal[] {
  const refusals: PolicyRefusal[] = [];
  if (service.privileged && !policy.allowPrivileged) refusals.push({ key: ['privileged'], message: refused('privileged mode', 'allow_privileged: true'), grant: { allow_privileged: true } });
  for (const kind of ['post_start', 'pre_stop'] as const) {
    (kind === 'post_start' ? service.postStart : service.preStop)?.forEach((hook, index) => {
      if (!hook.privileged || policy.allowPrivileged) return;
      refusals.push({ key: [kind, index, 'privileged'], message: refused(`a privileged ${kind} hook`, 'allow_privileged: true'), grant: { allow_privileged: true } });
    });
  }
  if (service.cgroupParent !== undefined && !policy.allowedCgroupParents.includes(cgroupParentName(service.cgroupParent))) {
    const parent = cgroupParentName(service.cgroupParent);
    refusals.push({
      key: ['cgroup_parent'],
      message: refused(`cgroup parent ${parent} (the container is placed in a host cgroup of its choosing, outside the limits Docker gives it)`, `allowed_cgroup_parents: [${parent}]`),
      grant: { allowed_cgroup_parents: [parent] },
    });
  }
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
  for (const [target, options] of Object.entries(service.tmpfs ?? {})) {
    const refusal = tmpfsRefusal(target, options, policy);
    if (refusal) refusals.push({ key: ['tmpfs'], ...refusal });
  }
  return refusals;
}

/** A cgroup parent as the policy lists it: without a trailing slash (`/capstan/` is `/capstan`). */
export function cgroupParentName(parent: string): string {
  return parent.length > 1 ? parent.replace(/\/+$/, '') : parent;
}

/** The setting a host-path refusal names (`set allow_docker_socket: true`, `set bind_roots: [/srv]`), as a grant. */
function grantIn(message: string): PolicyGrant | undefined {
  if (message.includes('set allow_docker_socket: true')) return { allow_docker_socket: true };
  const root = /set bind_roots: \[([^\]]+)\]/.exec(message)?.[1];
  return root !== undefined ? { bind_roots: [root] } : undefined;
}

/** Docker mounts a tmpfs `noexec,nosuid,nodev`; `exec`, `suid`, `dev` and sizes beyond the policy's are refused. */
function tmpfsRefusal(target: string, options: string, policy: HostPolicy): { message: string; grant?: PolicyGrant } | undefined {
  const words = options.split(',').map((word) => word.trim()).filter((word) => word !== '');
  const extra = [...new Set(words.filter((word) => ['exec', 'suid', 'dev'].includes(word) && !policy.allowedTmpfsOptions.includes(word)))];
  if (extra.length > 0) return { message: refused(`tmpfs ${target} with ${extra.join(', ')}`, `allowed_tmpfs_options: [${extra.join(', ')}]`), grant: { allowed_tmpfs_options: extra as ('exec' | 'suid' | 'dev')[] } };
  const size = words.find((word) => word.startsWith('size='))?.slice('size='.length);
  if (size === undefined) return undefined;
  const bytes = /^[0-9]+(\.[0-9]+)?\s*([bkmgt]([i]?b)?)?$/i.test(size) ? byteSize(size) : Number.NaN;
  if (Number.isNaN(bytes)) return { message: `tmpfs ${target}: size=${size} is not a size; write it as 64m, 1g or a number of bytes` };
  if (bytes > policy.maxTmpfsBytes) return { message: refused(`tmpfs ${target} of size ${size}, more than ${policy.maxTmpfsBytes} bytes,`, `max_tmpfs_size: ${size}`), grant: { max_tmpfs_size: size } };
  return undefined;
}

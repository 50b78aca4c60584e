// Checks one normalized service against the host policy: its fields (pure), and its host paths
// as they resolve on this host (host-paths.ts). Each refusal names the policy setting that would
// allow it, and is located by the loader at the manifest key that asks.
import type { Service } from '../model.js';
import { hostPathRefusals, type HostFs } from './host-paths.js';
import { DEFAULT_CAPABILITIES, type HostPolicy } from './schema.js';
import { byteSize } from '../load/normalize-spec.js';

export interface PolicyRefusal {
  /** Key path below the service: `['privileged']`, `['volumes', 2]`. */
  key: (string | number)[];
  message: string;
}

type PolicyService = Pick<Service, 'privileged' | 'networkMode' | 'pid' | 'devices' | 'capAdd' | 'runtime' | 'mounts' | 'tmpfs'>;

const SETTING_HINT = 'in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it';

function refused(what: string, setting: string): string {
  return `${what} is refused by host policy; set ${setting} ${SETTING_HINT}`;
}

/**
 * Every refusal of `service`: those of its fields, then those of its host bind mounts, resolved
 * on this host (host-paths.ts). `mountIndexes[i]` is where `service.mounts[i]` is written in the
 * manifest's `volumes` list (mounts that failed to parse are left out of `mounts`).
 */
export async function policyRefusals(service: PolicyService, policy: HostPolicy, mountIndexes: number[], fs?: HostFs): Promise<PolicyRefusal[]> {
  return [...fieldRefusals(service, policy), ...(await hostPathRefusals(service.mounts, policy, mountIndexes, fs))];
}

/** The refusals that need nothing but the service: privileges, namespaces, devices, capabilities, runtime. */
export function fieldRefusals(service: Omit<PolicyService, 'mounts'>, policy: HostPolicy): PolicyRefusal[] {
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
  for (const [target, options] of Object.entries(service.tmpfs ?? {})) {
    const message = tmpfsRefusal(target, options, policy);
    if (message) refusals.push({ key: ['tmpfs'], message });
  }
  return refusals;
}

/** Docker mounts a tmpfs `noexec,nosuid,nodev`; `exec`, `suid`, `dev` and sizes beyond the policy's are refused. */
function tmpfsRefusal(target: string, options: string, policy: HostPolicy): string | undefined {
  const words = options.split(',').map((word) => word.trim()).filter((word) => word !== '');
  const extra = [...new Set(words.filter((word) => ['exec', 'suid', 'dev'].includes(word) && !policy.allowedTmpfsOptions.includes(word)))];
  if (extra.length > 0) return refused(`tmpfs ${target} with ${extra.join(', ')}`, `allowed_tmpfs_options: [${extra.join(', ')}]`);
  const size = words.find((word) => word.startsWith('size='))?.slice('size='.length);
  if (size === undefined) return undefined;
  const bytes = /^[0-9]+(\.[0-9]+)?\s*([bkmgt]([i]?b)?)?$/i.test(size) ? byteSize(size) : Number.NaN;
  if (Number.isNaN(bytes)) return `tmpfs ${target}: size=${size} is not a size; write it as 64m, 1g or a number of bytes`;
  if (bytes > policy.maxTmpfsBytes) return refused(`tmpfs ${target} of size ${size}, more than ${policy.maxTmpfsBytes} bytes,`, `max_tmpfs_size: ${size}`);
  return undefined;
}

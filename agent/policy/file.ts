// Reads the host policy file: YAML, validated against PolicyFile (as generated into
// manifests-schema/). A broken policy is a configuration error at start, never a silent fall back
// to the defaults.
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { CapstanError } from '../errors.js';
import { POLICY_SCHEMA_FILE, schemaValidator } from '../schema-file.js';
import type { PolicyFile } from './file-schema.js';
import { securityOption } from '../spelling.js';
import { sysctlName } from './sysctls.js';
import { cgroupParentName } from './check.js';
import { DEFAULT_POLICY, type HostPolicy } from './schema.js';
import { byteSize } from '../spelling.js';
import { parseRepositories } from '../storage/repositories.js';
import { parseWindowDuration, windowProblem, type DeployWindow, type DeployWindows } from '../deferral/windows.js';

let compiled: ValidateFunction | undefined;

export function parsePolicy(text: string, file: string): HostPolicy {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw invalid(file, doc.errors[0].message);
  const data: unknown = doc.toJS() ?? {};
  compiled ??= schemaValidator(POLICY_SCHEMA_FILE);
  if (!compiled(data)) {
    const error = compiled.errors![0];
    const where = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : 'the file';
    const extra = error.keyword === 'additionalProperties' ? ` '${String((error.params as { additionalProperty: string }).additionalProperty)}'` : '';
    throw invalid(file, `${where}: ${error.message}${extra}`);
  }
  const policy = data as PolicyFile;
  const { repositories, problem } = parseRepositories(policy.repositories);
  if (problem) throw invalid(file, problem);
  const deployWindows = parseDeployWindows(policy.deploy_windows, file);
  const maxWait = policy.update_locks?.max_wait;
  return {
    ...(Object.keys(repositories).length > 0 ? { repositories } : {}),
    ...(deployWindows ? { deployWindows } : {}),
    updateLockMaxWaitMs: maxWait === undefined ? DEFAULT_POLICY.updateLockMaxWaitMs : parseWindowDuration(maxWait)!,
    allowPrivileged: policy.allow_privileged ?? DEFAULT_POLICY.allowPrivileged,
    allowHostNetwork: policy.allow_host_network ?? DEFAULT_POLICY.allowHostNetwork,
    allowHostPid: policy.allow_host_pid ?? DEFAULT_POLICY.allowHostPid,
    allowHostIpc: policy.allow_host_ipc ?? DEFAULT_POLICY.allowHostIpc,
    allowHostUts: policy.allow_host_uts ?? DEFAULT_POLICY.allowHostUts,
    allowHostUserns: policy.allow_host_userns ?? DEFAULT_POLICY.allowHostUserns,
    allowHostCgroup: policy.allow_host_cgroup ?? DEFAULT_POLICY.allowHostCgroup,
    allowDockerSocket: policy.allow_docker_socket ?? DEFAULT_POLICY.allowDockerSocket,
    allowDevices: policy.allow_devices ?? DEFAULT_POLICY.allowDevices,
    allowUnsetVariables: policy.allow_unset_variables ?? DEFAULT_POLICY.allowUnsetVariables,
    allowedCapabilities: (policy.allowed_capabilities ?? []).map((name) => name.toUpperCase().replace(/^CAP_/, '')),
    bindRoots: (policy.bind_roots ?? []).map((root) => posix.normalize(root).replace(/(.)\/+$/, '$1')),
    allowedRuntimes: policy.allowed_runtimes ?? DEFAULT_POLICY.allowedRuntimes,
    allowedVolumeNames: policy.allowed_volume_names ?? [],
    allowedTmpfsOptions: policy.allowed_tmpfs_options ?? [],
    maxTmpfsBytes: policy.max_tmpfs_size === undefined ? DEFAULT_POLICY.maxTmpfsBytes : byteSize(policy.max_tmpfs_size),
    allowedSysctls: (policy.allowed_sysctls ?? []).map(sysctlName),
    allowedSecurityOpts: (policy.allowed_security_opts ?? []).map(securityOption),
    allowedCgroupParents: (policy.allowed_cgroup_parents ?? []).map(cgroupParentName),
    mirrors: Object.fromEntries(Object.entries(policy.mirrors ?? {}).map(([host, mirror]) => [host === 'index.docker.io' ? 'docker.io' : host, mirror.replace(/\/+$/, '')])),
    mirrorsFailClosed: policy.mirrors_fail_closed ?? false,
  };
}

export async function readPolicyFile(file: string): Promise<HostPolicy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CapstanError('POLICY_INVALID', 'terminal', `cannot read the policy file ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { file }, { cause: error });
  }
  return parsePolicy(text, file);
}

/** `deploy_windows:`, each schedule and zone checked now, so a typo is an error at its key and not a window that never opens. */
function parseDeployWindows(section: PolicyFile['deploy_windows'], file: string): DeployWindows | undefined {
  if (!section) return undefined;
  const windows: DeployWindow[] = [];
  for (const kind of ['deny', 'allow'] as const) {
    for (const [index, entry] of (section[kind] ?? []).entries()) {
      const problem = windowProblem(entry.schedule, entry.timezone);
      if (problem) throw invalid(file, `deploy_windows.${kind}.${index}: ${problem}`);
      const durationMs = parseWindowDuration(entry.duration)!;
      if (durationMs <= 0) throw invalid(file, `deploy_windows.${kind}.${index}.duration: must be longer than 0s`);
      windows.push({ kind, schedule: entry.schedule, durationMs, ...(entry.timezone ? { timezone: entry.timezone } : {}), ...(entry.apps ? { apps: entry.apps } : {}) });
    }
  }
  return { windows, driftRepair: section.drift_repair ?? true };
}

function invalid(file: string, detail: string): CapstanError {
  return new CapstanError('POLICY_INVALID', 'terminal', `policy file ${file} is invalid: ${detail}`, { file });
}

// The policy-file lines that would admit what the host policy refused, so the host's owner can
// decide and copy them. Lists are written whole, with what the current policy already allows,
// because a key written in the file replaces the one there: `allowed_capabilities: [SYS_ADMIN]`
// pasted over `[NET_ADMIN]` would refuse what was admitted before.
import { Document, isSeq } from 'yaml';
import type { ManifestProblem } from '../errors.js';
import { byteSize } from '../spelling.js';
import type { PolicyGrant } from './check.js';
import { DEFAULT_RUNTIMES, type HostPolicy } from './schema.js';

const ORDER: (keyof PolicyGrant)[] = [
  'allow_privileged', 'allow_host_network', 'allow_host_pid', 'allow_host_ipc', 'allow_host_uts', 'allow_host_userns', 'allow_host_cgroup', 'allow_docker_socket', 'allow_devices',
  'allowed_capabilities', 'bind_roots', 'allowed_runtimes', 'allowed_sysctls', 'allowed_security_opts', 'allowed_cgroup_parents',
  'allowed_volume_names', 'allowed_tmpfs_options', 'max_tmpfs_size',
];

type ListKey = 'allowed_capabilities' | 'bind_roots' | 'allowed_runtimes' | 'allowed_sysctls' | 'allowed_security_opts' | 'allowed_cgroup_parents' | 'allowed_volume_names' | 'allowed_tmpfs_options';

function current(policy: HostPolicy): Record<ListKey, string[]> {
  return {
    allowed_capabilities: policy.allowedCapabilities,
    bind_roots: policy.bindRoots,
    // The default list is in effect until the file names one: keep it, or the defaults go.
    allowed_runtimes: policy.allowedRuntimes.length > 0 ? policy.allowedRuntimes : DEFAULT_RUNTIMES,
    allowed_sysctls: policy.allowedSysctls,
    allowed_security_opts: policy.allowedSecurityOpts,
    allowed_cgroup_parents: policy.allowedCgroupParents,
    allowed_volume_names: policy.allowedVolumeNames,
    allowed_tmpfs_options: policy.allowedTmpfsOptions,
  };
}

/** The settings of every refusal merged: booleans set, lists joined with the current ones; undefined when nothing was refused. */
export function mergedGrant(grants: PolicyGrant[], policy: HostPolicy): PolicyGrant | undefined {
  if (grants.length === 0) return undefined;
  const merged: Record<string, unknown> = {};
  const lists = current(policy);
  for (const key of ORDER) {
    const asked = grants.map((grant) => grant[key]).filter((value) => value !== undefined);
    if (asked.length === 0) continue;
    if (typeof asked[0] === 'boolean') merged[key] = true;
    // A size (max_tmpfs_size): the largest asked.
    else if (typeof asked[0] === 'string') merged[key] = (asked as string[]).reduce((largest, size) => (byteSize(size) > byteSize(largest) ? size : largest));
    else merged[key] = [...new Set([...lists[key as ListKey], ...(asked as string[][]).flat()])];
  }
  return Object.keys(merged).length > 0 ? (merged as PolicyGrant) : undefined;
}

/** YAML as the policy file takes it, lists in flow style: `allowed_capabilities: [NET_ADMIN]`. */
export function renderGrant(grant: PolicyGrant): string {
  const document = new Document(grant);
  const contents = document.contents as { items?: { value?: unknown }[] } | null;
  for (const pair of contents?.items ?? []) if (isSeq(pair.value)) pair.value.flow = true;
  return document.toString({ lineWidth: 0, flowCollectionPadding: false }).trimEnd();
}

/** The problem that ends a load refused by host policy: the snippet to copy, after every refusal. */
export function policySnippetProblem(problems: ManifestProblem[], policy: HostPolicy): ManifestProblem | undefined {
  const refusals = problems.filter((problem) => problem.grant !== undefined);
  const grant = mergedGrant(refusals.map((problem) => problem.grant as PolicyGrant), policy);
  if (!grant) return undefined;
  const files = [...new Set(refusals.map((problem) => problem.file))];
  const yaml = renderGrant(grant)
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
  return {
    code: 'POLICY_SNIPPET',
    file: files.join(', '),
    line: 0,
    column: 0,
    key: '',
    message: `to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them:\n${yaml}`,
  };
}

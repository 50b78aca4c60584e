// The host policy: what manifests may ask of this host. The manifests repository is a trust
// boundary (anyone who can push can deploy), so the host's owner, not the repository, decides
// whether a container may be privileged, share host namespaces, reach the Docker socket, use
// devices, add capabilities, mount host paths or pick a runtime. The file is YAML, read with
// `--policy-file` / CAPSTAN_POLICY_FILE (its format: file-schema.ts); without one everything
// below is refused.

import type { RepositoryConfig } from '../storage/repositories.js';
import { DEFAULT_LOCK_MAX_WAIT_MS } from '../deferral/locks.js';
import type { DeployWindows } from '../deferral/windows.js';

export interface HostPolicy {
  allowPrivileged: boolean;
  allowHostNetwork: boolean;
  allowHostPid: boolean;
  allowHostIpc: boolean;
  allowHostUts: boolean;
  allowHostUserns: boolean;
  allowHostCgroup: boolean;
  allowDockerSocket: boolean;
  allowDevices: boolean;
  /** In a Compose file, an unset `${VAR}` without default is empty, as Compose does, with a note; otherwise refused. */
  allowUnsetVariables: boolean;
  /** Upper case, without `CAP_`. */
  allowedCapabilities: string[];
  /** Normalized absolute paths, without a trailing slash. */
  bindRoots: string[];
  allowedRuntimes: string[];
  /** Docker volume names a manifest's `volumes.X.name` may give (another app's, or one Capstan did not create). */
  allowedVolumeNames: string[];
  /** Of `exec`, `suid`, `dev`: tmpfs mount options allowed. */
  allowedTmpfsOptions: string[];
  /** Largest `size=` of a tmpfs, bytes. */
  maxTmpfsBytes: number;
  /** Sysctl names (dotted) or `prefix.*` beyond the `net.*` ones Docker namespaces per container. */
  allowedSysctls: string[];
  /** Host cgroups (`cgroup_parent`) containers may be placed under, as written (no trailing slash). */
  allowedCgroupParents: string[];
  /** security_opt values beyond `no-new-privileges`, spelled `name=value` (agent/spelling.ts). */
  allowedSecurityOpts: string[];
  /** Registry host (`docker.io`, `ghcr.io`, `host:port`) → mirror (`host[:port][/prefix]`). */
  mirrors: Record<string, string>;
  /** A pull that the mirror cannot serve fails instead of reaching the original registry. */
  mirrorsFailClosed: boolean;
  /** Restic repositories volume snapshots may name (agent/storage/repositories.ts); absent, none. */
  repositories?: Record<string, RepositoryConfig>;
  /** When changed apps may be rolled out (agent/deferral/windows.ts); absent, at any time. */
  deployWindows?: DeployWindows;
  /** Longest a held update lock delays a rollout, ms (`update_locks.max_wait`). */
  updateLockMaxWaitMs: number;
}

/** Default largest tmpfs: 1 GiB. */
export const DEFAULT_MAX_TMPFS_BYTES = 1024 ** 3;

/** Docker's default capabilities: keeping or re-adding them (after `cap_drop: [ALL]`) grants nothing new. */
export const DEFAULT_CAPABILITIES = [
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'NET_RAW', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
];

/** runc, and the runtimes that isolate more than it does; a GPU or custom runtime must be listed. */
export const DEFAULT_RUNTIMES = [
  'runc', 'io.containerd.runc.v2', 'runsc', 'io.containerd.runsc.v1', 'kata', 'kata-runtime', 'kata-qemu', 'kata-clh', 'kata-fc', 'io.containerd.kata.v2',
];

/** What a host without a policy file allows. */
export const DEFAULT_POLICY: HostPolicy = {
  allowPrivileged: false,
  allowHostNetwork: false,
  allowHostPid: false,
  allowHostIpc: false,
  allowHostUts: false,
  allowHostUserns: false,
  allowHostCgroup: false,
  allowDockerSocket: false,
  allowDevices: false,
  allowUnsetVariables: false,
  allowedCapabilities: [],
  bindRoots: [],
  allowedRuntimes: DEFAULT_RUNTIMES,
  allowedVolumeNames: [],
  allowedTmpfsOptions: [],
  maxTmpfsBytes: DEFAULT_MAX_TMPFS_BYTES,
  allowedSysctls: [],
  allowedSecurityOpts: [],
  allowedCgroupParents: [],
  mirrors: {},
  mirrorsFailClosed: false,
  updateLockMaxWaitMs: DEFAULT_LOCK_MAX_WAIT_MS,
};

/**
 * Host files any manifest may bind-mount read-only, without `bind_roots`: the host's time zone,
 * which Compose files for self-hosted software mount almost always, and which reveals nothing.
 */
export const READ_ONLY_HOST_FILES = ['/etc/localtime', '/etc/timezone'];

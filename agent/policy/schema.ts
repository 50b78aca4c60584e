// The host policy: what manifests may ask of this host. The manifests repository is a trust
// boundary (anyone who can push can deploy), so the host's owner, not the repository, decides
// whether a container may be privileged, share host namespaces, reach the Docker socket, use
// devices, add capabilities, mount host paths or pick a runtime. The file is YAML, read with
// `--policy-file` / CAPSTAN_POLICY_FILE; without one everything below is refused.
import { Type, type Static } from '@sinclair/typebox';

export const PolicyFile = Type.Object(
  {
    allow_privileged: Type.Optional(Type.Boolean({ description: 'Allow `privileged: true`.' })),
    allow_host_network: Type.Optional(Type.Boolean({ description: 'Allow `network_mode: host`.' })),
    allow_host_pid: Type.Optional(Type.Boolean({ description: 'Allow `pid: host`.' })),
    allow_docker_socket: Type.Optional(Type.Boolean({ description: 'Allow bind mounts of /var/run/docker.sock (root on the host, in effect).' })),
    allow_devices: Type.Optional(Type.Boolean({ description: 'Allow `devices:`.' })),
    allowed_capabilities: Type.Optional(
      Type.Array(Type.String({ pattern: '^([Cc][Aa][Pp]_)?[A-Za-z_]+$' }), { description: 'Capabilities `cap_add` may name beyond Docker\'s default set; `ALL` allows `cap_add: [ALL]`.' }),
    ),
    bind_roots: Type.Optional(
      Type.Array(Type.String({ pattern: '^/' }), { description: 'Host folders under which bind mounts of host paths are allowed; none by default. Files of the repository may always be mounted.' }),
    ),
    allowed_runtimes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Docker runtimes `runtime:` may name; replaces the default list.' })),
  },
  { additionalProperties: false, description: 'Capstan host policy.' },
);
export type PolicyFile = Static<typeof PolicyFile>;

export interface HostPolicy {
  allowPrivileged: boolean;
  allowHostNetwork: boolean;
  allowHostPid: boolean;
  allowDockerSocket: boolean;
  allowDevices: boolean;
  /** Upper case, without `CAP_`. */
  allowedCapabilities: string[];
  /** Normalized absolute paths, without a trailing slash. */
  bindRoots: string[];
  allowedRuntimes: string[];
}

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
  allowDockerSocket: false,
  allowDevices: false,
  allowedCapabilities: [],
  bindRoots: [],
  allowedRuntimes: DEFAULT_RUNTIMES,
};

// The policy file's format, defined once: `npm run schema` generates
// manifests-schema/host-policy.schema.json from it, which is what the agent compiles at run time.
import { Type, type Static } from '@sinclair/typebox';

export const PolicyFile = Type.Object(
  {
    allow_privileged: Type.Optional(Type.Boolean({ description: 'Allow `privileged: true`.' })),
    allow_host_network: Type.Optional(Type.Boolean({ description: 'Allow `network_mode: host`.' })),
    allow_host_pid: Type.Optional(Type.Boolean({ description: 'Allow `pid: host`.' })),
    allow_host_ipc: Type.Optional(Type.Boolean({ description: 'Allow `ipc: host`.' })),
    allow_host_uts: Type.Optional(Type.Boolean({ description: 'Allow `uts: host`.' })),
    allow_host_userns: Type.Optional(Type.Boolean({ description: 'Allow `userns_mode: host`.' })),
    allow_host_cgroup: Type.Optional(Type.Boolean({ description: 'Allow `cgroup: host`.' })),
    allow_docker_socket: Type.Optional(Type.Boolean({ description: 'Allow bind mounts of /var/run/docker.sock (root on the host, in effect).' })),
    allow_devices: Type.Optional(Type.Boolean({ description: 'Allow `devices:` and `gpus:`.' })),
    allowed_capabilities: Type.Optional(
      Type.Array(Type.String({ pattern: '^([Cc][Aa][Pp]_)?[A-Za-z_]+$' }), { description: 'Capabilities `cap_add` may name beyond Docker\'s default set; `ALL` allows `cap_add: [ALL]`.' }),
    ),
    bind_roots: Type.Optional(
      Type.Array(Type.String({ pattern: '^/' }), { description: 'Host folders under which bind mounts of host paths are allowed; none by default. Files of the repository may always be mounted.' }),
    ),
    allowed_runtimes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Docker runtimes `runtime:` may name; replaces the default list.' })),
    allowed_sysctls: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9_][a-z0-9_./-]*(\\.\\*)?$' }), {
        description: 'Sysctls `sysctls:` may set beyond the `net.*` ones Docker namespaces per container: a name (`kernel.shmmax`) or a prefix (`kernel.*`).',
      }),
    ),
    allowed_security_opts: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: '`security_opt` values allowed beyond `no-new-privileges`: `seccomp=unconfined`, `apparmor=unconfined`, `label=disable`, `seccomp=./profile.json`…',
      }),
    ),
  },
  { additionalProperties: false, description: 'Capstan host policy.' },
);
export type PolicyFile = Static<typeof PolicyFile>;

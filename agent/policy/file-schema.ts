// The policy file's format, defined once: `npm run schema` generates
// manifests-schema/host-policy.schema.json from it, which is what the agent compiles at run time.
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
    mirrors: Type.Optional(Type.Record(
      Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' }),
      Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]*)?$' }),
      { description: 'Registry mirrors, e.g. `docker.io: registry.local:5000`: images of that registry are pulled from the mirror first (same path and tag or digest), then tagged with their own name.' },
    )),
    mirrors_fail_closed: Type.Optional(Type.Boolean({ description: 'When a mirror does not have an image, fail rather than pull from the original registry.' })),
  },
  { additionalProperties: false, description: 'Capstan host policy.' },
);
export type PolicyFile = Static<typeof PolicyFile>;

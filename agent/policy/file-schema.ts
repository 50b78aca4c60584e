// The policy file's format, defined once: `npm run schema` generates
// manifests-schema/host-policy.schema.json from it, which is what the agent compiles at run time.
import { Type, type Static } from '@sinclair/typebox';
import { RepositoriesFile } from '../storage/repositories-schema.js';

/** Go-style durations: `8h`, `1h30m`, `90s`. */
const WINDOW_DURATION = '^([0-9]+(\\.[0-9]+)?(h|m|s|ms))+$';

const DeployWindowFile = Type.Object(
  {
    schedule: Type.String({ minLength: 1, maxLength: 200, description: 'When the window opens: a cron expression (`0 22 * * 1-5`), in `timezone`.' }),
    duration: Type.String({ pattern: WINDOW_DURATION, maxLength: 32, description: 'How long it stays open: `8h`, `1h30m`.' }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone of the schedule (`Europe/Berlin`); default the host\'s own, as cron.' })),
    apps: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 1000, description: 'The apps it governs; default every app of this host.' })),
  },
  { additionalProperties: false },
);

export const PolicyFile = Type.Object(
  {
    allow_privileged: Type.Optional(Type.Boolean({ description: 'Allow `privileged: true`.' })),
    allow_host_network: Type.Optional(Type.Boolean({ description: 'Allow `network_mode: host`.' })),
    allow_host_pid: Type.Optional(Type.Boolean({ description: 'Allow `pid: host`.' })),
    allow_host_ipc: Type.Optional(Type.Boolean({ description: 'Allow `ipc: host`.' })),
    allow_host_uts: Type.Optional(Type.Boolean({ description: 'Allow `uts: host`.' })),
    allow_host_userns: Type.Optional(Type.Boolean({ description: 'Allow `userns_mode: host`.' })),
    allow_host_cgroup: Type.Optional(Type.Boolean({ description: 'Allow `cgroup: host`.' })),
    allow_docker_socket: Type.Optional(Type.Boolean({ description: 'Allow bind mounts of a container runtime\'s socket itself (root on the host, in effect): Docker\'s /var/run/docker.sock or a rootless /run/user/UID/docker.sock, containerd, CRI-O, Podman, BuildKit; wherever it is reached from (a link, /proc/PID/root). Folders holding one stay refused.' })),
    allow_devices: Type.Optional(Type.Boolean({ description: 'Allow `devices:` and `gpus:`.' })),
    allow_unset_variables: Type.Optional(
      Type.Boolean({ description: 'In Compose files, let an unset `${VAR}` without a default be an empty string, as Compose does, with a note; `${VAR:?msg}` stays refused, and so do native manifests.' }),
    ),
    allowed_capabilities: Type.Optional(
      Type.Array(Type.String({ pattern: '^([Cc][Aa][Pp]_)?[A-Za-z_]+$' }), { description: 'Capabilities `cap_add` may name beyond Docker\'s default set; `ALL` allows `cap_add: [ALL]`.' }),
    ),
    bind_roots: Type.Optional(
      Type.Array(Type.String({ pattern: '^/' }), { description: 'Host folders under which bind mounts of host paths are allowed; none by default. A path is judged where it leads on the host (every link followed), at load and again right before a container is created. Files of the repository may always be mounted.' }),
    ),
    allowed_volume_names: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }), {
        description: 'Docker volume names a manifest may give with `volumes.X.name` (by default `<app>_<volume>` only): an existing volume of the host, or of another app, whose data it then reads and writes.',
      }),
    ),
    allowed_tmpfs_options: Type.Optional(
      Type.Array(Type.Unsafe<'exec' | 'suid' | 'dev'>({ type: 'string', enum: ['exec', 'suid', 'dev'] }), {
        description: 'tmpfs options allowed beyond the default `noexec,nosuid,nodev`: `exec`, `suid`, `dev`.',
      }),
    ),
    max_tmpfs_size: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?\\s*([bkmgtBKMGT]([iI]?[bB])?)?$', maxLength: 32 })], {
        description: 'Largest `size=` a tmpfs may ask for (default `1g`). A tmpfs without `size=` gets the kernel\'s default (half the host\'s memory), charged to the container\'s memory limit.',
      }),
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
    allowed_cgroup_parents: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_./@:-]+$', maxLength: 4096 }), {
        description:
          'Host cgroups `cgroup_parent` may place containers under, each exactly as written (`/capstan-apps`, or `apps.slice` with the systemd cgroup driver): outside the limits Docker gives a container, inside those of the cgroup chosen.',
      }),
    ),
    mirrors: Type.Optional(Type.Record(
      Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$' }),
      Type.String({ pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]*)?$' }),
      { description: 'Registry mirrors, e.g. `docker.io: registry.local:5000`: images of that registry are pulled from the mirror first (same path and tag or digest), then tagged with their own name.' },
    )),
    mirrors_fail_closed: Type.Optional(Type.Boolean({ description: 'When a mirror does not have an image, fail rather than pull from the original registry.' })),
    repositories: Type.Optional(RepositoriesFile),
    deploy_windows: Type.Optional(
      Type.Object(
        {
          deny: Type.Optional(Type.Array(DeployWindowFile, { maxItems: 100, description: 'While one of these is open, changed apps wait.' })),
          allow: Type.Optional(Type.Array(DeployWindowFile, { maxItems: 100, description: 'When any govern an app, its changes wait until one of them is open.' })),
          drift_repair: Type.Optional(
            Type.Boolean({
              description:
                'While a change waits, repair drift of what runs (default true). false: while a window for every app (one without `apps`) keeps a change waiting, the cycle changes nothing on the host (a change freeze).',
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            'When changed apps may be rolled out (as Argo CD\'s sync windows). Outside, a changed app keeps running its current version; apps without a change are still converged. `capstan once --force` / `capstan sync --force` overrides once.',
        },
      ),
    ),
    update_locks: Type.Optional(
      Type.Object(
        { max_wait: Type.Optional(Type.String({ pattern: WINDOW_DURATION, maxLength: 32, description: 'Longest a held update lock delays a rollout (default 1h); then it proceeds, and says so.' })) },
        { additionalProperties: false, description: 'Update locks of services with `update_lock: true`.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'Capstan host policy.' },
);
export type PolicyFile = Static<typeof PolicyFile>;

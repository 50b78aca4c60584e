// The runtime part of the service schema: networks and grants, resources and isolation, order,
// builds. What a manifest may ask of the host (privileged, host namespaces, devices, capabilities,
// host paths) is further limited by the host policy (agent/policy), not by this schema.
import { Type } from '@sinclair/typebox';
import { LIMITS, BYTE_SIZE_PATTERN, CAPABILITY_PATTERN, DEVICE_PATTERN, DURATION_PATTERN, GRANT_PATTERN, NETWORK_MODE_PATTERN, RUNTIME_PATTERN, SIGNAL_PATTERN } from './patterns.js';

export const DEPENDENCY_CONDITIONS = ['service_started', 'service_healthy', 'service_completed_successfully'] as const;

const ByteSize = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0, maximum: LIMITS.bytes }), Type.String({ pattern: BYTE_SIZE_PATTERN, maxLength: 32 })], {
    description: `${description} Bytes as an integer, or with a unit: \`512m\`, \`1g\`, \`64k\` (powers of 1024); at most 1 PiB.`,
  });

const Names = (description: string) => Type.Array(Type.String({ pattern: GRANT_PATTERN }), { maxItems: LIMITS.list, description });

export const Uses = Names(
  'Apps (`db`) or single services (`db/postgres`) this service may reach. Each is joined on its own network, which the provider app does not have to know about: the consumer grants itself access. An app reaches no other app without a grant. Address a provider as `<service>.<app>` (or `<service>` when that name is unambiguous).',
);

export const Egress = Type.Boolean({
  default: true,
  description:
    '`false` keeps the service on internal networks only: it reaches the other services of its app (and the apps it `uses`) but nothing outside, and publishes no ports.',
});

export const NetworkMode = Type.String({
  pattern: NETWORK_MODE_PATTERN,
  description:
    '`service:<name>` shares the network namespace of another service of the app, as a sidecar in a Kubernetes pod: replica n joins the parent\'s replica n, has the parent\'s replica count, reaches it on 127.0.0.1, and is replaced whenever the parent is. `host` uses the host\'s network (refused unless the host policy sets `allow_host_network`), `none` gives no network.',
});

export const DependsOn = Type.Union(
  [
    Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }), { maxItems: LIMITS.list, description: 'Services of this app, each with condition `service_started`.' }),
    Type.Record(
      Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
      Type.Object(
        {
          condition: Type.Optional(
            Type.Unsafe<(typeof DEPENDENCY_CONDITIONS)[number]>({
              type: 'string',
              enum: [...DEPENDENCY_CONDITIONS],
              default: 'service_started',
              description:
                '`service_started`: once its new containers are started; `service_healthy`: once they report healthy (it needs a healthcheck); `service_completed_successfully`: once they exited 0 (a one-shot, `restart: no` or `on-failure`).',
            }),
          ),
          restart: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                '`true`: this service is restarted (stopped and started again) after the dependency was replaced and is ready again, as Compose does; a restart of the dependency by Docker (its restart policy) does not count.',
            }),
          ),
        },
        { additionalProperties: false, description: 'When this service may be created.' },
      ),
      { additionalProperties: false, description: 'Services of this app, with a condition each.' },
    ),
  ],
  {
    description:
      'Services of this app that must be ready before this one is created, as in Compose. A service\'s containers are created or replaced only once its dependencies meet their condition, whether they are created in the same plan or already run. Cycles are errors.',
  },
);

export const Resources = Type.Object(
  {
    cpus: Type.Optional(
      Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: LIMITS.cpus }), Type.String({ pattern: '^[0-9]{1,4}(\\.[0-9]{1,9})?$' })], {
        description: 'CPU limit in cores, e.g. `0.5` or `2`.',
      }),
    ),
    memory: Type.Optional(ByteSize('Memory limit; the container is killed beyond it.')),
    memory_reservation: Type.Optional(ByteSize('Soft memory limit, enforced when the host runs short.')),
    pids_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.pids, description: 'Most processes and threads the container may run (a fork-bomb guard).' })),
    shm_size: Type.Optional(ByteSize('Size of /dev/shm (Docker\'s default is 64m).')),
    cpuset: Type.Optional(Type.String({ pattern: '^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$', description: 'CPUs the container may run on: `0-3`, `0,2`.' })),
    memory_swap: Type.Optional(
      Type.Union([Type.Integer({ minimum: -1 }), Type.String({ pattern: BYTE_SIZE_PATTERN })], {
        description: 'Memory and swap together (Compose\'s `memswap_limit`), as `memory`; `-1` for unlimited swap.',
      }),
    ),
    memory_swappiness: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'How readily the kernel swaps the container\'s pages out (0 to 100).' })),
    cpu_shares: Type.Optional(Type.Integer({ minimum: 0, description: 'Relative CPU weight against other containers (Docker\'s default 1024).' })),
    cpu_period: Type.Optional(Type.Integer({ minimum: 1000, maximum: 1000000, description: 'CFS period in microseconds, with `cpu_quota`.' })),
    cpu_quota: Type.Optional(Type.Integer({ minimum: -1, description: 'CPU time in microseconds per `cpu_period` (`cpus` says it more simply).' })),
  },
  { additionalProperties: false, description: 'Resource limits of each container.' },
);

export const Ulimits = Type.Record(
  Type.String({ pattern: '^[a-z]+$' }),
  Type.Union(
    [
      Type.Integer({ minimum: -1, maximum: LIMITS.integer, description: 'Soft and hard limit at once.' }),
      Type.Object(
        {
          soft: Type.Integer({ minimum: -1, maximum: LIMITS.integer, description: 'Soft limit.' }),
          hard: Type.Integer({ minimum: -1, maximum: LIMITS.integer, description: 'Hard limit.' }),
        },
        { additionalProperties: false, description: 'Soft and hard limits.' },
      ),
    ],
    { description: 'A limit, or `{soft, hard}`.' },
  ),
  { additionalProperties: false, maxProperties: LIMITS.list, description: 'Process limits by name, as in Compose: `nofile: {soft: 1024, hard: 4096}`, `nproc: 512`.' },
);

const Capabilities = (description: string) => Type.Array(Type.String({ pattern: CAPABILITY_PATTERN }), { maxItems: LIMITS.list, description });

export const BuildLong = Type.Object(
  {
    context: Type.String({
      minLength: 1,
      description: 'Folder to build from, relative to this manifest\'s folder; it must stay inside the checkout. Its `.dockerignore` is honoured.',
    }),
    dockerfile: Type.Optional(Type.String({ minLength: 1, description: 'Dockerfile, relative to the context (default `Dockerfile`).' })),
    args: Type.Optional(
      Type.Union(
        [
          Type.Record(
            Type.String({ pattern: '^[^=]+$' }),
            Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()], {
              description: 'A value; numbers and booleans are converted to strings, an empty value (null) to the empty string.',
            }),
            { additionalProperties: false, maxProperties: LIMITS.map },
          ),
          Type.Array(Type.String(), { maxItems: LIMITS.map, description: '`KEY=VALUE` items.' }),
        ],
        { description: 'Build arguments (`ARG`). They may come from `${VAR}` secrets; Capstan never logs them, but an image keeps build arguments in its history: prefer secret files for secrets.' },
      ),
    ),
    target: Type.Optional(Type.String({ minLength: 1, description: 'Stage of a multi-stage Dockerfile to build.' })),
  },
  { additionalProperties: false, description: 'A build in long form.' },
);

export const Build = Type.Union([Type.String({ minLength: 1, description: 'The context folder.' }), BuildLong], {
  description:
    'Builds the image from the commit\'s checkout through the Docker API instead of pulling `image` (leave `image` out). The image is tagged `capstan/<app>-<service>:<digest>`, the digest covering the context\'s files, the Dockerfile, the arguments and the target, so it is rebuilt only when one of them changes.',
});

/** Service fields, spread into the service schema (schema.ts). */
export const serviceSpecFields = {
  build: Type.Optional(Build),
  uses: Type.Optional(Uses),
  egress: Type.Optional(Egress),
  network_mode: Type.Optional(NetworkMode),
  depends_on: Type.Optional(DependsOn),
  resources: Type.Optional(Resources),
  ulimits: Type.Optional(Ulimits),
  user: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'User (and group) to run as: `1000`, `1000:1000` or a name from the image. With numeric ids, secret files are owned by that user.',
    }),
  ),
  read_only: Type.Optional(Type.Boolean({ description: 'Mount the container\'s root file system read-only.' })),
  working_dir: Type.Optional(Type.String({ pattern: '^/', description: 'Working directory of the command, an absolute path inside the container (default the image\'s).' })),
  tmpfs: Type.Optional(
    Type.Union([Type.String({ pattern: '^/' }), Type.Array(Type.String({ pattern: '^/' }), { maxItems: LIMITS.list })], {
      description: 'In-memory file systems: `/tmp` or `/run:size=64m,mode=1777`.',
    }),
  ),
  cap_add: Type.Optional(
    Capabilities('Linux capabilities to add (`NET_ADMIN`). Beyond Docker\'s default set, each must be allowed by the host policy (`allowed_capabilities`).'),
  ),
  cap_drop: Type.Optional(Capabilities('Linux capabilities to drop; `ALL` drops every one (add back what the service needs).')),
  group_add: Type.Optional(
    Type.Array(Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })]), {
      description: 'Supplementary groups of the container\'s user, by name (from the image) or id, as Compose\'s `group_add`.',
    }),
  ),
  init: Type.Optional(Type.Boolean({ description: 'Run an init process (tini) as PID 1 that forwards signals and reaps zombies.' })),
  stop_signal: Type.Optional(Type.String({ pattern: SIGNAL_PATTERN, description: 'Signal that stops the container (default the image\'s, usually SIGTERM).' })),
  stop_grace_period: Type.Optional(
    Type.String({ pattern: DURATION_PATTERN, description: 'How long a stop waits before killing the container (default 10s).' }),
  ),
  runtime: Type.Optional(
    Type.String({
      pattern: RUNTIME_PATTERN,
      description:
        'Docker runtime, e.g. `runsc` (gVisor) or `kata` for stronger isolation. One the engine does not have stops the plan before anything changes; the host policy lists the allowed ones (`allowed_runtimes`).',
    }),
  ),
  privileged: Type.Optional(Type.Boolean({ description: 'Privileged mode: all capabilities and devices. Refused unless the host policy sets `allow_privileged`.' })),
  pid: Type.Optional(
    Type.Unsafe<'host'>({ type: 'string', enum: ['host'], description: '`host` shares the host\'s PID namespace; refused unless the host policy sets `allow_host_pid`.' }),
  ),
  devices: Type.Optional(
    Type.Array(
      Type.Union([
        Type.String({ pattern: DEVICE_PATTERN }),
        Type.Object(
          {
            source: Type.String({ pattern: '^/', description: 'Device path on the host.' }),
            target: Type.Optional(Type.String({ pattern: '^/', description: 'Path inside the container (default the same).' })),
            permissions: Type.Optional(Type.String({ pattern: '^[rwm]{1,3}$', description: 'cgroup permissions (default `rwm`).' })),
          },
          { additionalProperties: false, description: 'A host device in long form.' },
        ),
      ]),
      {
        maxItems: LIMITS.list,
        description:
          'Host devices, `HOST[:CONTAINER[:PERMISSIONS]]` (`/dev/ttyUSB0:/dev/ttyUSB0:rw`), `{source, target, permissions}`, or a CDI device name (`vendor.com/class=name`, given through the engine\'s CDI support); refused unless the host policy sets `allow_devices`.',
      },
    ),
  ),
};

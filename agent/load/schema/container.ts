// The container's own settings, as Compose spells them: its name on the network (hostname,
// extra_hosts, dns), its terminal, platform and logging, and the kernel settings the host policy
// decides (sysctls, security_opt). Spread into the service schema (schema.ts).
import { Type, type TSchema } from '@sinclair/typebox';
import { BYTE_SIZE_PATTERN, DURATION_PATTERN } from './patterns.js';

const StringOrList = (item: ReturnType<typeof Type.String>, description: string) => Type.Union([item, Type.Array(item)], { description });

/** What Docker and Compose take as a host name: letters, digits, `-`, `_` and `.` (`bookstack_db` is common). */
const HOSTNAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$';

export const ExtraHosts = Type.Union(
  [
    Type.Array(Type.String({ pattern: '^[^:=\\s]+[:=]\\S+$' }), { description: '`HOST:IP` or `HOST=IP` items (`myhost:10.0.0.5`, `host.docker.internal:host-gateway`).' }),
    Type.Record(
      Type.String({ pattern: '^[^:=\\s]+$' }),
      Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }))], { description: 'An address, or several.' }),
      { additionalProperties: false, description: '`HOST: IP`, or `HOST: [IP, IP]`.' },
    ),
  ],
  {
    description:
      'Lines added to the container\'s /etc/hosts, as in Compose. `host-gateway` stands for the host\'s address on the default bridge (Docker\'s `--add-host host.docker.internal:host-gateway`).',
  },
);

export const Logging = Type.Object(
  {
    driver: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_./:-]*$', description: 'Docker logging driver, e.g. `json-file`, `local`, `journald`, `syslog`, `none` (default the engine\'s).' })),
    options: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()], { description: 'A value; numbers and booleans are converted to strings.' }), {
        additionalProperties: false,
        description: 'Options of the driver (`max-size: 10m`, `max-file: 3`); numbers and booleans are converted to strings.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Where the container\'s output goes, as Compose\'s `logging`; changing it replaces the containers.' },
);

export const Sysctls = Type.Union(
  [
    Type.Record(Type.String({ pattern: '^[a-z0-9_][a-z0-9_./-]*$' }), Type.Union([Type.String(), Type.Number(), Type.Boolean()], { description: 'The value; numbers and booleans are converted to strings.' }), {
      additionalProperties: false,
    }),
    Type.Array(Type.String({ pattern: '^[a-z0-9_][a-z0-9_./-]*=.*$' }), { description: '`NAME=VALUE` items.' }),
  ],
  {
    description:
      'Kernel parameters set in the container\'s namespaces, as a map or a list of `NAME=VALUE`. Those Docker namespaces per container under `net.*` are allowed (not with `network_mode: host`); any other needs the host policy\'s `allowed_sysctls`.',
  },
);

const Enum = <const Values extends readonly string[]>(values: Values, description: string) => Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], description });

export const Gpus = Type.Union(
  [
    Type.Unsafe<'all'>({ type: 'string', enum: ['all'], description: 'Every GPU of the host.' }),
    Type.Array(
      Type.Object(
        {
          driver: Type.Optional(Type.String({ minLength: 1, description: 'Device driver (default `nvidia`).' })),
          count: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Unsafe<'all'>({ type: 'string', enum: ['all'] })], { description: 'How many GPUs, or `all`.' })),
          device_ids: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Which GPUs, by id.' })),
          capabilities: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Capabilities asked of the driver (`gpu`, `compute`, `utility`).' })),
          options: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ description: 'A driver option.' }), { additionalProperties: false, description: 'Driver options.' })),
        },
        { additionalProperties: false, description: 'A GPU request, as Compose\'s `gpus` long syntax.' },
      ),
    ),
  ],
  { description: 'GPUs for the container, as Compose\'s `gpus` (Docker\'s `--gpus`); refused unless the host policy sets `allow_devices`.' },
);

const DeviceRates = <Rate extends TSchema>(what: string, rate: Rate) =>
  Type.Array(
    Type.Object({ path: Type.String({ pattern: '^/', description: 'Block device on the host.' }), rate }, { additionalProperties: false, description: `A ${what} limit of one device.` }),
    { description: `${what} limits, per block device.` },
  );
const ByteRate = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: BYTE_SIZE_PATTERN })], { description: 'Bytes per second, or with a unit (`12mb`).' });
const IoRate = Type.Integer({ minimum: 0, description: 'Operations per second.' });

export const BlkioConfig = Type.Object(
  {
    weight: Type.Optional(Type.Integer({ minimum: 10, maximum: 1000, description: 'Relative block I/O weight (10 to 1000).' })),
    weight_device: Type.Optional(
      Type.Array(
        Type.Object(
          { path: Type.String({ pattern: '^/', description: 'Block device on the host.' }), weight: Type.Integer({ minimum: 10, maximum: 1000, description: 'Its weight.' }) },
          { additionalProperties: false, description: 'The weight of one device.' },
        ),
        { description: 'Weights per block device.' },
      ),
    ),
    device_read_bps: Type.Optional(DeviceRates('Read rate', ByteRate)),
    device_write_bps: Type.Optional(DeviceRates('Write rate', ByteRate)),
    device_read_iops: Type.Optional(DeviceRates('Read operations', IoRate)),
    device_write_iops: Type.Optional(DeviceRates('Write operations', IoRate)),
  },
  { additionalProperties: false, description: 'Block I/O limits, as Compose\'s `blkio_config`.' },
);

/** Service fields, spread into the service schema (schema.ts). */
export const containerFields = {
  hostname: Type.Optional(Type.String({ pattern: HOSTNAME_PATTERN, description: 'Host name inside the container (default a part of its id), as in Compose. Other services still reach it by service name.' })),
  domainname: Type.Optional(Type.String({ pattern: HOSTNAME_PATTERN, description: 'Domain name inside the container.' })),
  extra_hosts: Type.Optional(ExtraHosts),
  dns: Type.Optional(StringOrList(Type.String({ minLength: 1 }), 'DNS servers for the container, replacing the engine\'s (an address, or a list).')),
  dns_search: Type.Optional(StringOrList(Type.String({ minLength: 1 }), 'DNS search domains (a domain, or a list).')),
  dns_opt: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Resolver options written to /etc/resolv.conf (`ndots:2`, `timeout:1`).' })),
  stdin_open: Type.Optional(Type.Boolean({ description: 'Keep the container\'s standard input open (`docker run -i`); some images exit without it.' })),
  tty: Type.Optional(Type.Boolean({ description: 'Give the container a terminal (`docker run -t`).' })),
  platform: Type.Optional(
    Type.String({ pattern: '^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$', description: 'Platform of the image to pull and run, `os/arch[/variant]` (`linux/amd64`); default the engine\'s own.' }),
  ),
  oom_score_adj: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000, description: 'How readily the kernel kills the container when memory runs out (-1000 to 1000).' })),
  mac_address: Type.Optional(Type.String({ pattern: '^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$', description: 'MAC address of the container on its first network.' })),
  logging: Type.Optional(Logging),
  ipc: Type.Optional(Enum(['host', 'private', 'shareable'] as const, 'IPC namespace: `shareable`, `private`, or `host` (the host\'s; refused unless the host policy sets `allow_host_ipc`).')),
  uts: Type.Optional(Enum(['host'] as const, '`host` shares the host\'s host name and domain (UTS namespace); refused unless the host policy sets `allow_host_uts`.')),
  userns_mode: Type.Optional(Enum(['host'] as const, '`host` runs outside the engine\'s user-namespace remapping; refused unless the host policy sets `allow_host_userns`.')),
  cgroup: Type.Optional(Enum(['host', 'private'] as const, 'Cgroup namespace: `private`, or `host` (refused unless the host policy sets `allow_host_cgroup`).')),
  cgroup_parent: Type.Optional(
    Type.String({
      pattern: '^[A-Za-z0-9_./@:-]+$',
      maxLength: 4096,
      description: 'The host cgroup the container is placed under (Docker\'s `--cgroup-parent`), as in Compose; refused unless the host policy lists it in `allowed_cgroup_parents`.',
    }),
  ),
  oom_kill_disable: Type.Optional(Type.Boolean({ description: 'Keep the kernel from killing the container when memory runs out (set `resources.memory` with it).' })),
  storage_opt: Type.Optional(
    Type.Record(Type.String({ minLength: 1 }), Type.String({ description: 'An option of the storage driver.' }), {
      additionalProperties: false,
      description: 'Storage driver options of the container (`size: 20G` where the driver supports it).',
    }),
  ),
  gpus: Type.Optional(Gpus),
  blkio_config: Type.Optional(BlkioConfig),
  device_cgroup_rules: Type.Optional(
    Type.Array(Type.String({ pattern: '^[abc] (\\*|[0-9]+):(\\*|[0-9]+) [rwm]{1,3}$' }), {
      description: 'Device cgroup rules (`c 189:* rmw`), as Compose\'s `device_cgroup_rules`; refused unless the host policy sets `allow_devices`.',
    }),
  ),
  cpu_rt_runtime: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], { description: 'Real-time CPU time per period: microseconds, or a duration (`400ms`).' }),
  ),
  cpu_rt_period: Type.Optional(
    Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: DURATION_PATTERN })], { description: 'Real-time scheduling period: microseconds, or a duration (`1s`).' }),
  ),
  sysctls: Type.Optional(Sysctls),
  security_opt: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Docker security options, as in Compose. `no-new-privileges` (or `no-new-privileges:true`) is always allowed; any other (`seccomp=unconfined`, `apparmor=unconfined`, `label=disable`, …) only when the host policy lists it in `allowed_security_opts`.',
    }),
  ),
};

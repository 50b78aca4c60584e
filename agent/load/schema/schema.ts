// The manifest format, defined once. The JSON Schema in `manifests-schema/` is generated from
// this file (`npm run schema`), ajv validates against that same JSON, and the README's field
// reference reads the `description`s, so every field carries one.
import { Type, type Static } from '@sinclair/typebox';
import { Placement } from './placement.js';
import { Healthcheck, Update } from './rollout.js';
import { containerFields } from './container.js';
import { lifecycleFields } from './lifecycle.js';
import { serviceSpecFields } from './spec.js';
import { AppNetworks, ServiceNetworks } from './networks.js';
import { Snapshot } from '../../storage/schema.js';
import { jobFields } from '../../jobs/schema.js';
import {
  ABSOLUTE_PATH_PATTERN,
  DEFAULT_ENV_FILE,
  DOCKER_VOLUME_PATTERN,
  FILE_MODE_PATTERN,
  GRANT_PATTERN,
  LABEL_KEY_PATTERN,
  NAME_PATTERN,
  LIMITS,
  VARIABLE_NAME_PATTERN,
  DURATION_PATTERN,
} from './patterns.js';

/** `x-…` keys are ignored, as in Compose: the place to define YAML anchors for `<<: *base`. */
const EXTENSIONS = { '^x-': {} };
const EXTENSIONS_NOTE = ' Keys starting with `x-` are ignored (a place for YAML anchors).';

export const RESTART_POLICIES = ['no', 'always', 'on-failure', 'unless-stopped'] as const;

/** A string limited to fixed values, as a plain `enum` so editors and error messages list them. */
function StringEnum<const Values extends readonly string[]>(values: Values, options: { description: string; default?: string }) {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}

const Name = (description: string) => Type.String({ pattern: NAME_PATTERN, description });

const ScalarValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()], {
  description: 'A string; numbers and booleans are converted to strings, and an empty value (null) to the empty string.',
});

const StringOrList = (description: string) =>
  Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: LIMITS.list })], { description });

export const Labels = Type.Union(
  [
    Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), ScalarValue, { additionalProperties: false, maxProperties: LIMITS.map }),
    Type.Array(Type.String(), { maxItems: LIMITS.map, description: '`KEY=VALUE` items; `KEY` alone means an empty value.' }),
  ],
  {
    description:
      'Docker labels, as a map or a list of `KEY=VALUE`. Keys starting with `capstan.` are reserved for the agent.',
  },
);

export const Environment = Type.Union(
  [
    Type.Record(Type.String({ pattern: VARIABLE_NAME_PATTERN }), ScalarValue, { additionalProperties: false, maxProperties: LIMITS.map }),
    Type.Array(Type.String(), { maxItems: LIMITS.map, description: '`KEY=VALUE` items; `KEY` alone means an empty value.' }),
  ],
  {
    description:
      'Environment variables of the containers, as a map or a list of `KEY=VALUE`. Values may use `${VAR}` placeholders, resolved from the encrypted env files.',
  },
);

const ENCRYPTED_NOTE =
  ' Every env file must be encrypted (`capstan secrets set FILE NAME`, or `capstan secrets encrypt FILE`); a plaintext one is refused. Paths are relative to this manifest\'s folder and must stay inside the checkout.';

export const AppEnvFiles = Type.Array(Type.String({ minLength: 1, description: 'Path of an encrypted env file.' }), {
  maxItems: LIMITS.list,
  description:
    `Encrypted env files whose variables resolve the \`\${VAR}\` placeholders of this manifest. A later file wins over an earlier one, and all of them over the repository-wide default \`${DEFAULT_ENV_FILE}\` (at the root of the manifests path, used by every manifest when present). Placeholders in these paths resolve from \`${DEFAULT_ENV_FILE}\` only. Nothing else defines variables: the agent's own environment is never read, so a commit means the same on every host.` +
    ENCRYPTED_NOTE,
});

export const ServiceEnvFiles = Type.Array(Type.String({ minLength: 1, description: 'Path of an encrypted env file.' }), {
  maxItems: LIMITS.list,
  description:
    'Encrypted env files whose variables are added to the containers\' environment, as Compose\'s `env_file`: `environment` wins over them, a later file over an earlier one. They do not resolve placeholders (the manifest-level `env_files` do).' +
    ENCRYPTED_NOTE,
});

export const SecretFileLong = Type.Object(
  {
    value: Type.Optional(Type.String({ description: 'Content of the file, usually a placeholder such as `${DB_PASSWORD}`. Give `value` or `file`, not both.' })),
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Path of a SOPS-encrypted file in the repository (relative to this manifest\'s folder), whose decrypted content becomes the file, as `sops --decrypt` prints it: YAML, JSON or dotenv in the file\'s own format, or the raw `data` of a SOPS binary file. A plaintext file is refused.',
      }),
    ),
    mode: Type.Optional(
      Type.String({
        pattern: FILE_MODE_PATTERN,
        default: '0400',
        description: 'Permission bits in octal, quoted (`"0440"`): unquoted, YAML reads `0440` as a decimal number.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A secret file in long form.' },
);

export const SecretFiles = Type.Record(
  Type.String({ pattern: ABSOLUTE_PATH_PATTERN }),
  Type.Union([Type.String({ description: 'Content of the file (mode 0400).' }), SecretFileLong], { description: 'Content of the file, or `{value, mode}`.' }),
  {
    additionalProperties: false,
    maxProperties: LIMITS.map,
    description:
      'Files written into each container before it starts, by absolute container path: `/run/secrets/db_password: ${DB_PASSWORD}`. Owned by root, mode 0400 unless `mode` says otherwise; missing parent folders are created with mode 0755. Unlike `environment`, the value is not visible in `docker inspect`. A changed value replaces the containers, as any change does.',
  },
);

const PortNumber = (description: string) => Type.Integer({ minimum: 1, maximum: 65535, description });

export const PortLong = Type.Object(
  {
    target: PortNumber('Port inside the container.'),
    published: Type.Optional(PortNumber('Port on the host; left out, Docker picks a free one.')),
    host_ip: Type.Optional(Type.String({ minLength: 1, description: 'Host address to bind, e.g. `127.0.0.1`; left out, all interfaces.' })),
    protocol: Type.Optional(StringEnum(['tcp', 'udp'], { description: 'Transport protocol.', default: 'tcp' })),
  },
  { additionalProperties: false, description: 'A published port in long form.' },
);

export const Port = Type.Union(
  [
    Type.String({
      description: 'Compose short syntax: `TARGET`, `PUBLISHED:TARGET` or `HOST_IP:PUBLISHED:TARGET`, each optionally followed by `/tcp` or `/udp`. Port ranges are not supported.',
    }),
    Type.Integer({ minimum: 1, maximum: 65535, description: 'A container port, published on a port Docker picks.' }),
    PortLong,
  ],
  { description: 'A port to publish on the host.' },
);

export const MountLong = Type.Object(
  {
    type: StringEnum(['volume', 'bind'], { description: '`volume` for a named volume declared under the top-level `volumes` (or, without `source`, an anonymous volume), `bind` for a path.' }),
    source: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Volume name, or bind path: absolute on the host, or relative to this manifest\'s folder (a file or folder of the repository, which must stay inside the checkout). Left out with `type: volume`: an anonymous volume, one per replica, kept across its replacements.',
      }),
    ),
    target: Type.String({ pattern: ABSOLUTE_PATH_PATTERN, description: 'Absolute path inside the container.' }),
    read_only: Type.Optional(Type.Boolean({ description: 'Mount read-only.', default: false })),
    bind: Type.Optional(
      Type.Object(
        {
          selinux: Type.Optional(
            Type.Unsafe<'z' | 'Z'>({ type: 'string', enum: ['z', 'Z'], description: 'SELinux relabelling of the source: `z` shared between containers, `Z` private to this one (no effect without SELinux).' }),
          ),
        },
        { additionalProperties: false, description: 'Options of a bind mount.' },
      ),
    ),
    volume: Type.Optional(
      Type.Object(
        { nocopy: Type.Optional(Type.Boolean({ description: 'Do not copy the image\'s files at the target into a new empty volume.' })) },
        { additionalProperties: false, description: 'Options of a volume mount.' },
      ),
    ),
  },
  { additionalProperties: false, description: 'A mount in long form.' },
);

export const Mount = Type.Union(
  [
    Type.String({
      description:
        'Compose short syntax `SOURCE:TARGET[:OPTIONS]`. A SOURCE starting with `/` is a host path, `~/` one in the home folder of the user the agent runs as, one starting with `.` or containing `/` is a path relative to this manifest\'s folder, anything else is a named volume. OPTIONS, comma-separated: `ro` or `rw`; `z` or `Z` to relabel a bind source for SELinux; `nocopy` for a volume not to be seeded from the image. A container path alone (`/app/node_modules`) is an anonymous volume: each replica gets a volume of its own (`<app>-<service>-<n>_<digest>`), kept across its replacements as Compose keeps it across recreation.',
    }),
    MountLong,
  ],
  { description: 'A named volume or bind mount.' },
);

export const Service = Type.Object(
  {
    image: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Image to run, e.g. `registry.example.com/web:1.4.2`; required unless the service has `build`. Credentials for private registries come from the repository\'s encrypted `capstan.env` (`REGISTRY_<HOST>_USERNAME` and `_PASSWORD`) or the host\'s Docker config.',
      }),
    ),
    command: Type.Optional(StringOrList('Overrides the image\'s command: a list, or a string split like a shell does (quotes and backslashes, no expansion or operators).')),
    entrypoint: Type.Optional(StringOrList('Overrides the image\'s entrypoint: a list, or a string split like `command`.')),
    environment: Type.Optional(Environment),
    env_files: Type.Optional(ServiceEnvFiles),
    secrets: Type.Optional(SecretFiles),
    ports: Type.Optional(Type.Array(Port, { maxItems: LIMITS.list, description: 'Ports to publish on the host. A host port may be published once per host, across all apps.' })),
    volumes: Type.Optional(Type.Array(Mount, { maxItems: LIMITS.list, description: 'Named volumes and bind mounts.' })),
    restart: Type.Optional(
      StringEnum(RESTART_POLICIES, {
        default: 'unless-stopped',
        description:
          'Docker restart policy. Defaults to `unless-stopped` (unlike Compose\'s `no`): a deploy agent wants services back after a reboot or crash.',
      }),
    ),
    restart_max_retries: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        description:
          'With `restart: on-failure`: how many times Docker restarts a container that exits non-zero before it leaves it stopped (Docker\'s `on-failure:N`; Compose\'s `restart: on-failure:N` and `deploy.restart_policy.max_attempts` load as this). Left out: no limit. A replica Docker left stopped this way is drift: the next cycle starts it again, and Docker counts anew. For a scheduled job, the retries of a failed run (as Kubernetes CronJob\'s `backoffLimit`). Changing it replaces the service (it is part of its configuration).',
      }),
    ),
    labels: Type.Optional(Labels),
    healthcheck: Type.Optional(Healthcheck),
    update: Type.Optional(Update),
    update_lock: Type.Optional(
      Type.Boolean({
        description:
          'Mount the app\'s update lock folder at `/capstan/lock` (as balena\'s update lock): while a file `/capstan/lock/updates.lock` exists, a rollout of this app waits (its images are pulled meanwhile), up to the host\'s `update_locks.max_wait` (default 1h). Create the file before a critical section, remove it after. Compose: `x-capstan: {update_lock: true}`.',
      }),
    ),
    replicas: Type.Optional(
      Type.Integer({ minimum: 0, maximum: LIMITS.replicas, default: 1, description: `Number of containers to run, at most ${LIMITS.replicas}; 0 keeps the service defined but stopped. A service with more than one replica cannot publish a fixed host port.` }),
    ),
    ...serviceSpecFields,
    ...containerFields,
    ...lifecycleFields,
    networks: Type.Optional(ServiceNetworks),
    placement: Type.Optional(Placement),
    ...jobFields,
  },
  { additionalProperties: false, patternProperties: EXTENSIONS, description: 'One service: a set of identical containers.' + EXTENSIONS_NOTE },
);

export const Volume = Type.Union(
  [
    Type.Object(
      {
        name: Type.Optional(Type.String({ pattern: DOCKER_VOLUME_PATTERN, description: 'Docker volume name; defaults to `<app>_<volume>` (with `external: true`, to the key).' })),
        external: Type.Optional(
          Type.Boolean({
            default: false,
            description:
              'A volume that exists on the host already (made by hand, or by an earlier `docker compose up`), named by `name` or else by the key: mounted as it is; Capstan never creates, labels, snapshots or deletes it, and a missing one stops the commit before anything changes. Its name must be the app\'s own (`<app>_<volume>`) or listed in the host policy\'s `allowed_volume_names`. Not with `labels`, `remove` or `snapshot`.',
          }),
        ),
        labels: Type.Optional(Labels),
        shared: Type.Optional(
          Type.Boolean({
            default: false,
            description:
              'Allow several containers to mount the volume read-write at once. Without it a volume has a single writer: two services, or a service with several replicas, cannot both mount it read-write, and a service mounting it rolls out stop-first.',
          }),
        ),
        remove: Type.Optional(
          Type.Boolean({
            default: false,
            description:
              'Delete the Docker volume and its data once no container uses it (no service may mount it). Volumes are otherwise never deleted, not even when their app is removed.',
          }),
        ),
        snapshot: Type.Optional(Snapshot),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'A named volume. An empty entry (`data:` or `data: {}`) takes the defaults.' },
);

/** A hook job (`hooks.pre_deploy[]`, `hooks.post_deploy[]`): a one-shot container of one of the app's services. */
export const HookJob = Type.Object(
  {
    name: Type.Optional(
      Type.String({ pattern: NAME_PATTERN, description: 'Name of the job, unique in the app (its container is `<app>.<phase>.<name>`). Default: `<phase>-<n>`, its position from 1, e.g. `pre_deploy-1`.' }),
    ),
    service: Type.Optional(
      Type.String({
        pattern: NAME_PATTERN,
        description:
          'The service whose new image and configuration the job runs with (environment, secrets, volumes, networks, user…; never its ports, replicas, healthcheck or restart policy). It also waits for what that service `depends_on`. Required when the app has more than one service.',
      }),
    ),
    command: StringOrList('The command, replacing the service\'s: a list, or a string split like a shell does. The job passes when it exits 0.'),
    timeout: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'How long the job may run before it is killed and fails (default 10m).' })),
    environment: Type.Optional(Environment),
  },
  { additionalProperties: false, description: 'A one-shot job, run once per commit that changes the app.' },
);

export const Hooks = Type.Object(
  {
    pre_deploy: Type.Optional(
      Type.Array(HookJob, {
        maxItems: 100,
        description:
          'Jobs run one after the other before any replica of the app is replaced (a database migration), with the new image and configuration; only the services the job\'s service `depends_on` are created or replaced before them. A job that exits non-zero or times out fails the rollout with nothing replaced: the commit is quarantined and the job\'s output kept (`capstan status`, `capstan history COMMIT`).',
      }),
    ),
    post_deploy: Type.Optional(
      Type.Array(HookJob, {
        maxItems: 100,
        description:
          'Jobs run one after the other once every replica of the app is ready (a smoke test). A job that fails rolls the app back to the last applied commit and quarantines the commit, as a replica that never gets ready does.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'Jobs run around a rollout of the app, as Kamal\'s pre-deploy and post-deploy hooks or Argo CD\'s PreSync and PostSync hooks. They run when a service of the app gets a new configuration (its first deploy included), once per commit: not on drift repair, not on a rollback.',
  },
);

export const Manifest = Type.Object(
  {
    app: Name('Name of the app, unique across all manifests: lowercase letters, digits, `-` and `_`, at most 63 characters.'),
    env_files: Type.Optional(AppEnvFiles),
    uses: Type.Optional(Type.Array(Type.String({ pattern: GRANT_PATTERN }), { maxItems: LIMITS.list, description: 'Grants for every service of this app (see a service\'s `uses`), added to each service\'s own.' })),
    volumes: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), Volume, {
        additionalProperties: false,
        maxProperties: LIMITS.services,
        description: 'Named volumes of the app. A service may mount only volumes declared here, as in Compose.',
      }),
    ),
    networks: Type.Optional(AppNetworks),
    remove_anonymous_volumes: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Delete the anonymous volumes (and their data) that no desired replica of this app mounts any more: of a removed service, of replicas scaled away, of a changed target. Without it they are kept, as every volume is; an app removed from the repository keeps them all.',
      }),
    ),
    placement: Type.Optional(Placement),
    hooks: Type.Optional(Hooks),
    services: Type.Record(Type.String({ pattern: NAME_PATTERN }), Service, {
      additionalProperties: false,
      minProperties: 1,
      maxProperties: LIMITS.services,
      description: 'Services of the app, by name (same rules as the app name). At least one.',
    }),
  },
  { additionalProperties: false, patternProperties: EXTENSIONS, description: 'One Capstan app: its services and volumes. One app per file.' + EXTENSIONS_NOTE },
);
export type Manifest = Static<typeof Manifest>;
export type ServiceManifest = Static<typeof Service>;
export type HookJobManifest = Static<typeof HookJob>;
export type PortManifest = Static<typeof Port>;
export type MountManifest = Static<typeof Mount>;
export type SecretFileManifest = Static<typeof SecretFiles>[string];

// The names and patterns the schema is built from, free of TypeBox: the loader needs them at run
// time (error messages, defaults), and `capstan run` must not load TypeBox, which only generates
// manifests-schema/ (~10 MB of resident memory for nothing at run time).

/** App, service and volume names: they end up in container and volume names, so stay DNS-safe. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** What Docker accepts as a volume name. */
export const DOCKER_VOLUME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]*$';
export const ABSOLUTE_PATH_PATTERN = '^/';
/** Environment variable names: anything but `=`, which would end the name. */
export const VARIABLE_NAME_PATTERN = '^[^=]+$';
export const LABEL_KEY_PATTERN = '^.+$';
/** Octal permission bits as a string: YAML 1.2 reads an unquoted `0400` as the decimal 400. */
export const FILE_MODE_PATTERN = '^0?[0-7]{3}$';
/** The file at the root of the manifests path whose variables every manifest can use. */
export const DEFAULT_ENV_FILE = 'capstan.env';

/** An app or service name; also `app/service` for a grant of one service. */
export const GRANT_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}(/[a-z0-9][a-z0-9_-]{0,62})?$';
export const NETWORK_MODE_PATTERN = '^(host|none|service:[a-z0-9][a-z0-9_-]{0,62})$';
/** Bytes as Compose writes them: `512m`, `1g`, `1.5gb`, `64k`, `1024` (b, k, m, g, t; binary units). */
export const BYTE_SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?\\s*([bkmgtBKMGT]([iI]?[bB])?)?$';
export const CAPABILITY_PATTERN = '^([Cc][Aa][Pp]_)?[A-Za-z_]+$';
export const SIGNAL_PATTERN = '^(SIG)?[A-Z0-9+-]+$|^[0-9]+$';
export const RUNTIME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$';
/** Go-style durations as Compose writes them: `1m30s`, `10s`, `500ms`. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$';

/** A declared network's name; `default` and `internal` are taken by the app's own networks. */
export const NETWORK_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,62}$';
/** What Docker accepts as a network alias (a DNS name, possibly with dots). */
export const ALIAS_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';
export const RESERVED_NETWORKS = ['default', 'internal'] as const;

/**
 * Every count and size a manifest gives has a maximum, so absurd input is refused by the schema
 * instead of stalling the planner (issue 21): the planner's work is linear in the containers.
 */
export const LIMITS = {
  /** Containers of one service. */
  replicas: 1000,
  /** Containers of one commit, all apps together. */
  containers: 10000,
  /** Services, and volumes, of one app. */
  services: 1000,
  /** Items of one list (ports, volumes, tmpfs, devices, capabilities, grants, aliases…). */
  list: 1000,
  /** Entries of one map (environment, labels, secrets, ulimits, build args). */
  map: 10000,
  /** Bytes of a size (memory, shm_size): 1 PiB. */
  bytes: 2 ** 50,
  /** CPU cores. */
  cpus: 4096,
  /** Processes (Linux's largest pid_max). */
  pids: 4194304,
  /** Process limits (ulimits) and health check retries. */
  integer: Number.MAX_SAFE_INTEGER,
} as const;

/** A host device `HOST[:CONTAINER][:PERMISSIONS]`, or a CDI name `vendor.com/class=name`. */
export const DEVICE_PATTERN = '^/[^:]*(:/[^:]*)?(:[rwm]{1,3})?$|^[A-Za-z0-9][A-Za-z0-9.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*=[A-Za-z0-9*][A-Za-z0-9_.:*-]*$';

// The typed desired state that `load` produces and `plan` consumes.
// Everything here is plain data: no Docker, git or file handles.

/** Where a value came from in the manifests checkout, for error messages and `plan`. */
export interface SourcePos {
  /** Path relative to the checkout root, e.g. `apps/hello.yaml`. */
  file: string;
  /** 1-based line; 0 when unknown. */
  line: number;
}

export type RestartPolicy = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface PortSpec {
  /** Host interface to bind; undefined binds all interfaces. */
  hostIp?: string;
  /** Host port; undefined lets Docker choose an ephemeral one. */
  hostPort?: number;
  containerPort: number;
  protocol: 'tcp' | 'udp';
}

export type MountSpec =
  | {
      type: 'volume';
      /** Logical volume name as written in the manifest (`data`). */
      volume: string;
      target: string;
      readOnly: boolean;
      /** Docker's `nocopy`: a new volume is not seeded with the image's files at the target. */
      noCopy?: true;
      /** SELinux relabelling of the volume's folder (`z` shared, `Z` private). */
      selinux?: 'z' | 'Z';
    }
  | {
      type: 'bind';
      /** Absolute path on the host that Docker mounts. */
      source: string;
      target: string;
      readOnly: boolean;
      /** SELinux relabelling (`z` shared, `Z` private); Docker does it only for `Binds`, not `Mounts`. */
      selinux?: 'z' | 'Z';
      /**
       * For bind mounts of files from the repository (`./conf:/etc/conf`): the path relative
       * to the checkout root and a digest of its content at this commit. The config hash uses
       * these instead of `source`, whose absolute path changes with every commit's checkout.
       */
      repo?: { path: string; digest: string };
    }
  | {
      /**
       * Compose's anonymous volume (`- /app/node_modules`): a volume of its own per replica slot,
       * kept across the slot's replacements as Compose keeps it across recreation. Its Docker
       * name is `anonymousVolumeName(...)` (names.ts), labelled with the app, service and replica.
       */
      type: 'anonymous';
      target: string;
      readOnly: boolean;
    };

export interface VolumeSpec {
  /** Logical name within the app (`data`). */
  name: string;
  /** Name of the Docker volume (`<app>_<name>`), unless the manifest set `name:`. */
  dockerName: string;
  labels: Record<string, string>;
  /** Several containers may mount it read-write at once; absent means single-writer. */
  shared?: boolean;
  /** The manifest asks for the volume to be deleted once no container uses it. */
  remove?: boolean;
  /** Snapshots with restic, and hand-over between nodes (agent/storage). */
  snapshot?: SnapshotSpec;
  /**
   * Compose's `external: true`: a volume that exists on the host already, mounted as it is;
   * Capstan never creates, labels, snapshots or deletes it, and a missing one stops the commit.
   * `line`: where the manifest says so, for that error.
   */
  external?: { line: number };
}

/** A volume's `snapshot:` (agent/storage/schema.ts), normalized. */
export interface SnapshotSpec {
  schedule: string;
  /** restic `forget --keep-<kind> N`, by kind (`daily`: 7). */
  keep: Partial<Record<'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', number>>;
  /** A repository named in the host configuration. */
  repository: string;
  /** Run in the service's first replica before each snapshot (Docker exec form). */
  preSnapshot?: string[];
  stop?: boolean;
  handoffTimeoutMs: number;
}

/** Docker's healthcheck, as in Compose; durations in milliseconds. */
export interface HealthcheckSpec {
  /** Docker form: `['CMD', …]`, `['CMD-SHELL', '…']`, or `['NONE']` to disable the image's own. */
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startPeriodMs?: number;
}

/** How a changed service is rolled out; Swarm's update_config with Kubernetes' progress deadline. */
export interface UpdateSpec {
  /** `start-first`: the new replica must be ready before an old one stops. */
  order: 'start-first' | 'stop-first';
  /** Replicas replaced at once. */
  parallelism: number;
  /** Pause between batches. */
  delayMs: number;
  /** Without a healthcheck, a replica is ready once it has been running this long. */
  monitorMs: number;
  failureAction: 'rollback' | 'pause';
  /** A new replica not ready within this long has failed. */
  progressDeadlineMs: number;
}

export const DEFAULT_UPDATE: UpdateSpec = {
  order: 'start-first',
  parallelism: 1,
  delayMs: 0,
  // Swarm's default: a replica that survives 5 s after start is stable.
  monitorMs: 5_000,
  failureAction: 'rollback',
  progressDeadlineMs: 120_000,
};

/** `update: {image, mode, interval}` of a service, normalized. */
export interface ImageUpdatePolicy {
  /** `digest`: the tag's newest digest; `semver`: the newest tag satisfying `range`. */
  follow: { kind: 'digest' } | { kind: 'semver'; range: string; prereleases: boolean };
  /** `notify` reports an update and changes nothing. */
  mode: 'deploy' | 'notify';
  /** Absent: the host's default (`--image-update-interval`). */
  intervalMs?: number;
}

/**
 * A file written into the container before it starts (`secrets:` in the manifest), so a value
 * need not be in the environment, where `docker inspect` and child processes see it.
 */
export interface SecretFileSpec {
  /** Absolute, normalized path in the container, e.g. `/run/secrets/db_password`. */
  target: string;
  /** The file's content, usually from an encrypted env file: never log, print, store or label it. */
  value: string;
  /** Permission bits; 0o400 unless the manifest says otherwise. */
  mode: number;
}

/** A consumer's grant (`uses: [db]` or `[db/postgres]`): it joins the provider's network. */
export interface GrantSpec {
  app: string;
  /** One service of the app; undefined grants the whole app. */
  service?: string;
}

/** Compose's `network_mode`, less `bridge` and `container:` (use `service:` for a sidecar). */
export type NetworkModeSpec = { kind: 'host' } | { kind: 'none' } | { kind: 'service'; service: string };

export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface DependencySpec {
  service: string;
  condition: DependencyCondition;
  /** Compose's `restart: true`: restarted after the dependency was replaced and is ready again. */
  restart?: true;
}

export type HookPhase = 'pre_deploy' | 'post_deploy';

/**
 * A hook job (`hooks:` of the app): a one-shot container with the new image and configuration of
 * one of the app's services, run once per commit that rolls the app out.
 */
export interface HookJob {
  phase: HookPhase;
  /** Unique in the app; default `<phase>-<n>`. */
  name: string;
  /** The service whose image and configuration the job runs with. */
  service: string;
  command: string[];
  timeoutMs: number;
  /** Over the service's environment; values may be secrets. */
  environment: Record<string, string>;
}

/**
 * A lifecycle hook of a service (Compose's `post_start` / `pre_stop`): a command run with the
 * Docker exec API in each replica, after Capstan starts it or before Capstan stops it.
 */
export interface LifecycleHook {
  command: string[];
  /** Absent: the container's own user. */
  user?: string;
  /** Decided by the host policy, like the service's `privileged`. */
  privileged?: boolean;
  /** Absent: the container's own working directory. */
  workingDir?: string;
  /** Over the container's environment; values may be secrets: never log, print or label them. */
  environment?: Record<string, string>;
}

/** Limits in Docker's units: nano-CPUs and bytes. */
export interface ResourcesSpec {
  nanoCpus?: number;
  memoryBytes?: number;
  memoryReservationBytes?: number;
  pidsLimit?: number;
  shmSizeBytes?: number;
  /** CPUs the container may use, Docker's `CpusetCpus` (`0-3`). */
  cpuset?: string;
  /** Memory and swap together; -1 unlimited. */
  memorySwapBytes?: number;
  memorySwappiness?: number;
  cpuShares?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
}

export interface UlimitSpec {
  name: string;
  soft: number;
  hard: number;
}

export interface DeviceSpec {
  host: string;
  container: string;
  /** cgroup permissions, `rwm` by default. */
  permissions: string;
}

export interface BlkioSpec {
  weight?: number;
  weightDevice?: { path: string; weight: number }[];
  readBps?: { path: string; rate: number }[];
  writeBps?: { path: string; rate: number }[];
  readIops?: { path: string; rate: number }[];
  writeIops?: { path: string; rate: number }[];
}

/** One of Docker's DeviceRequests; `count` -1 is all. */
export interface GpuRequest {
  driver: string;
  count: number;
  deviceIds: string[];
  capabilities: string[];
  options: Record<string, string>;
}

/** Docker's LogConfig; options as strings, sorted by name. */
export interface LoggingSpec {
  /** Absent: the engine's default driver. */
  driver?: string;
  options: Record<string, string>;
}

/** A network of the app besides `default` (Compose's top-level `networks:`), Docker name `<app>_<name>`. */
export interface AppNetworkSpec {
  name: string;
  /** No way out of the host, as Compose's `internal: true`. */
  internal: boolean;
  /**
   * Compose's `external: true`: this Docker network exists on the host already; services join
   * it, Capstan never creates, changes or removes it. `line` is where the manifest declares it.
   * `create`: Compose's `name:` without `external`, a network shared by name between projects:
   * created (plain bridge, without Capstan's ownership labels) when the host lacks it, then joined
   * as an external one, never changed or removed.
   */
  external?: { dockerName: string; line: number; create?: true };
  /** Compose's `ipam`: the subnet the network is created with. */
  ipam?: IpamSpec;
}

export interface IpamSpec {
  subnet: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
  /** Where the manifest sets it, for a conflict found when planning. */
  line: number;
}

/** A network of its app that a service joins, with the extra DNS names it answers to there. */
export interface ServiceNetworkSpec {
  /** `default` or the name of an `AppNetworkSpec`. */
  network: string;
  /** Beyond `<service>` and `<service>.<app>`, which every service has; sorted. */
  aliases: string[];
  /** Compose's `ipv4_address`: a fixed address on this network. */
  ipv4Address?: string;
}

/** `build:` from the commit's checkout; the built image is `Service.image`. */
export interface BuildSpec {
  /** Absolute path of the context folder in this commit's checkout. */
  context: string;
  /** The context relative to the checkout root, for plans and errors. */
  contextPath: string;
  /** Of the files sent (see load/files/build-context.ts); the image tag is derived from it. */
  contextDigest: string;
  /** Relative to the context. */
  dockerfile: string;
  /** May hold secrets through `${VAR}`: never log, print or label them. */
  args: Record<string, string>;
  target?: string;
}

export interface Service {
  app: string;
  name: string;
  /** With `build:`, the tag `capstan/<app>-<service>:<digest>` the build produces. */
  image: string;
  command?: string[];
  entrypoint?: string[];
  /** Explicit `environment:` over the service's own env files; values may be secrets. */
  environment: Record<string, string>;
  /**
   * Sorted by target; left out when there are none, so services without secret files keep the
   * config hash they had before the field existed.
   */
  secretFiles?: SecretFileSpec[];
  ports: PortSpec[];
  mounts: MountSpec[];
  restart: RestartPolicy;
  /** With `on-failure`: Docker's MaximumRetryCount (`on-failure:N`); absent, no limit. */
  restartMaxRetries?: number;
  labels: Record<string, string>;
  replicas: number;
  healthcheck?: HealthcheckSpec;
  /** Absent means DEFAULT_UPDATE. Not part of the config hash: changing it replaces nothing. */
  update?: UpdateSpec;
  /**
   * `update.image`: the image follows the registry (agent/image-updates). Not part of the config
   * hash: the image it resolves to is, once the reconciler puts it in `image`.
   */
  imageUpdate?: ImageUpdatePolicy;
  /** `update_lock: true`: the app's lock folder is mounted at /capstan/lock (agent/deferral/locks.ts). */
  updateLock?: true;
  // The fields below are left out when the manifest does not set them, so that services which
  // do not use them keep the config hash they had before the fields existed.
  /** Networks of other apps this service joins. Not in the config hash: joined and left live. */
  uses?: GrantSpec[];
  /** Only `false` is stored: the service joins internal networks only, with no way out. */
  egress?: false;
  networkMode?: NetworkModeSpec;
  /** Creation order within the app. Not in the config hash: it changes nothing that runs. */
  dependsOn?: DependencySpec[];
  resources?: ResourcesSpec;
  ulimits?: UlimitSpec[];
  user?: string;
  readOnly?: boolean;
  /** Container path → mount options (`size=64m,mode=1777`), as Docker's HostConfig.Tmpfs. */
  tmpfs?: Record<string, string>;
  /** Capability names, upper case without `CAP_`, sorted. */
  capAdd?: string[];
  capDrop?: string[];
  init?: boolean;
  stopSignal?: string;
  stopGracePeriodMs?: number;
  runtime?: string;
  privileged?: boolean;
  pid?: 'host';
  devices?: DeviceSpec[];
  /** Supplementary groups, as written (names or ids). */
  groupAdd?: string[];
  /** CDI device names (`nvidia.com/gpu=all`), as Docker's `--device` takes them. */
  cdiDevices?: string[];
  /** The container's own settings (load/normalize/container.ts), each absent unless set. */
  hostname?: string;
  domainname?: string;
  /** `/etc/hosts` lines as Docker's ExtraHosts takes them, `host:ip`, in the order written. */
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  stdinOpen?: boolean;
  tty?: boolean;
  /** `os/arch[/variant]` of the image pulled and run. */
  platform?: string;
  oomScoreAdj?: number;
  macAddress?: string;
  logging?: LoggingSpec;
  ipc?: 'host' | 'private' | 'shareable';
  uts?: 'host';
  usernsMode?: 'host';
  cgroup?: 'host' | 'private';
  oomKillDisable?: boolean;
  /** Sorted by name. */
  storageOpt?: Record<string, string>;
  /** Docker's Blkio* settings; rates in bytes or operations per second. */
  blkio?: BlkioSpec;
  deviceCgroupRules?: string[];
  /** Docker's CgroupParent: the host cgroup the container is placed under; allowed by the host policy. */
  cgroupParent?: string;
  /** Run in each replica after every start Capstan makes, in order; a failure fails the start. In the config hash. */
  postStart?: LifecycleHook[];
  /** Run in each replica before Capstan stops it, in order, bounded by the stop grace period; a failure is logged only. In the config hash. */
  preStop?: LifecycleHook[];
  /** Microseconds. */
  cpuRtRuntime?: number;
  cpuRtPeriod?: number;
  /** Docker's DeviceRequests for `gpus` (driver `nvidia` unless set). */
  gpus?: GpuRequest[];
  /** Sorted by name; allowed by the host policy (policy/sysctls.ts). */
  sysctls?: Record<string, string>;
  /** Sorted, as written (normalized to `name=value`): `no-new-privileges=true`, `seccomp=unconfined`, `seccomp=./profile.json`. */
  securityOpt?: string[];
  /** The content (compact JSON) of the repository file a `seccomp=<path>` option names; Docker takes the profile itself. */
  seccompProfile?: string;
  build?: BuildSpec;
  /** The app's networks it joins, sorted; absent means `default` only. In the config hash. */
  networks?: ServiceNetworkSpec[];
  workingDir?: string;
  /** HMAC of the normalized service without `replicas`; see `load/normalize/hash.ts`. */
  configHash: string;
  source: SourcePos;
  /** Replaces the app's placement for this service. */
  placement?: PlacementSpec;
  /**
   * A scheduled job (`schedule:`): no replica runs (`replicas` is 0, so deploys and drift repair
   * never start it); agent/jobs runs one container at each of its times. Not in the config hash:
   * a changed schedule is recorded, and the next run uses it.
   */
  job?: JobSpec;
}

/** A service's `schedule`, `concurrency`, `timezone` and `timeout` (agent/jobs). */
export interface JobSpec {
  /** node-cron expression, validated at load. */
  schedule: string;
  /** `forbid`: a run due while the previous one runs is skipped (Kubernetes CronJob's default). */
  concurrency: 'forbid' | 'allow';
  /** IANA zone the schedule is read in; absent, the host's. */
  timezone?: string;
  /** `timeout`: a run still going after this is stopped and recorded `timed-out`; absent, no limit. */
  timeoutMs?: number;
  /** `starting_deadline`: how late a missed time is still made up; absent, an hour (STARTING_DEADLINE_MS). */
  startingDeadlineMs?: number;
}

/** Fleet mode: the nodes that run an app or service (agent/fleet/placement.ts). */
export interface PlacementSpec {
  /** Any one of these node names. */
  nodes?: string[];
  /** All of these node labels. */
  labels?: Record<string, string>;
}

export interface App {
  name: string;
  source: SourcePos;
  /** Nodes that run the app's services that have no placement of their own. */
  placement?: PlacementSpec;
  services: Service[];
  volumes: VolumeSpec[];
  /** Declared networks besides `default`, sorted by name; absent when there are none. */
  networks?: AppNetworkSpec[];
  /**
   * The manifest says anonymous volumes no desired replica mounts any more (a service removed,
   * scaled down, or a target changed) are deleted. Absent: they are kept, as every volume is.
   */
  removeAnonymousVolumes?: true;
  /** Jobs run before and after the app's rollouts, in order; absent when the manifest has none. */
  hooks?: { preDeploy: HookJob[]; postDeploy: HookJob[] };
  /**
   * The commit this app was loaded from, when it is not the desired state's: an app whose change
   * waits (deploy window, update lock) keeps the version it runs, and a replica recreated
   * meanwhile mounts that commit's repository files and carries its commit label.
   */
  commit?: string;
  /**
   * HMAC of `hooks` (load/normalize/hash.ts), recorded with the deployments: a commit that
   * changes only a hook job rolls the app's hooks out. Absent when there are no hooks.
   */
  hooksHash?: string;
}

/** Credentials for one registry host, from the repository's encrypted `capstan.env`. */
export interface RegistryCredential {
  /**
   * The registry host as variable names spell it (load/variables/registries.ts): upper case, every
   * character but letters and digits turned into `_`: `GHCR_IO`, `127_0_0_1_5000`, `DOCKER_IO`.
   */
  key: string;
  username: string;
  /** Secret: never log, print, store or label it. */
  password: string;
}

export interface DesiredState {
  /** Commit the state was loaded from (full 40-hex object id). */
  commit: string;
  /**
   * The decrypted env values, only so that text from outside Capstan (Docker's error messages)
   * can be scrubbed of them before it is logged or stored (agent/redact.ts). Never printed.
   */
  sensitiveValues?: string[];
  /** For apps and services without placement (`capstan.yaml`); absent means `everywhere`. */
  placementDefault?: 'everywhere' | 'nowhere';
  /**
   * Services of the commit placed on other nodes, once this node's share is taken; the
   * empty-commit guard must not mistake a node with nothing to run for a broken commit.
   */
  placedElsewhere?: number;
  /** Sorted by name; service lists sorted by name too, so plans are stable. */
  apps: App[];
  /**
   * Apps an operator suspended (`capstan suspend APP`), left out of `apps`: a target leaves
   * whatever of theirs runs exactly as it is (not observed for planning, so never repaired or
   * pruned). Absent when none is.
   */
  suspendedApps?: string[];
  /** Absent when the repository defines none; the host's Docker config is used then. */
  registries?: RegistryCredential[];
  /** From the host policy (`mirrors:`): where pulls go first. Absent when none is configured. */
  mirrors?: { hosts: Record<string, string>; failClosed: boolean };
  /**
   * What the load accepted but wants a person to know (a Compose key with no effect here, a
   * plaintext env file), as `file:line:column: key: message`; `capstan plan` prints them.
   * Never holds a value.
   */
  notes?: string[];
  /**
   * Images pulled though no replica of this state runs them yet: the new images of an app whose
   * rollout waits for its update lock (agent/deferral/gate.ts), so it is quick once it may go.
   */
  prefetchImages?: string[];
}

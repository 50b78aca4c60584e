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
    }
  | {
      type: 'bind';
      /** Absolute path on the host that Docker mounts. */
      source: string;
      target: string;
      readOnly: boolean;
      /**
       * For bind mounts of files from the repository (`./conf:/etc/conf`): the path relative
       * to the checkout root and a digest of its content at this commit. The config hash uses
       * these instead of `source`, whose absolute path changes with every commit's checkout.
       */
      repo?: { path: string; digest: string };
    };

export interface VolumeSpec {
  /** Logical name within the app (`data`). */
  name: string;
  /** Name of the Docker volume (`<app>_<name>`), unless the manifest set `name:`. */
  dockerName: string;
  labels: Record<string, string>;
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

export interface Service {
  app: string;
  name: string;
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
  labels: Record<string, string>;
  replicas: number;
  healthcheck?: HealthcheckSpec;
  /** Absent means DEFAULT_UPDATE. Not part of the config hash: changing it replaces nothing. */
  update?: UpdateSpec;
  /** HMAC of the normalized service without `replicas`; see `load/hash.ts`. */
  configHash: string;
  source: SourcePos;
}

export interface App {
  name: string;
  source: SourcePos;
  services: Service[];
  volumes: VolumeSpec[];
}

export interface DesiredState {
  /** Commit the state was loaded from (full 40-hex object id). */
  commit: string;
  /** Sorted by name; service lists sorted by name too, so plans are stable. */
  apps: App[];
}

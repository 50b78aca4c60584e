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

export interface Service {
  app: string;
  name: string;
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  ports: PortSpec[];
  mounts: MountSpec[];
  restart: RestartPolicy;
  labels: Record<string, string>;
  replicas: number;
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

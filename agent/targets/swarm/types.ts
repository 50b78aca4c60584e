import type Docker from 'dockerode';
import type { EndpointSpec } from '../networks.js';

// The Swarm target's observed state and plan. Like the containers plan (containers/types.ts), a
// plan is data: each operation is one Docker call (service updates also wait for Swarm's
// rollout), with the object it touches, the cause, and the operations it waits for, and all its
// call needs: printable fields, and under `spec` what no printer shows (a service's spec with its
// environment, a secret's value; `planJson` in targets/print.ts leaves it out).

/** Swarm's settings for an update or a rollback, in Docker's units (nanoseconds). */
export interface RolloutSettings {
  parallelism: number;
  delayNs: number;
  failureAction: string;
  monitorNs: number;
  order: string;
}

/** Swarm's rollout of a service spec, as `docker service inspect` shows it. */
export interface UpdateStatus {
  state: string;
  startedAt?: string;
  message?: string;
}

export interface ObservedService {
  id: string;
  name: string;
  app: string;
  service: string;
  configHash: string;
  commit: string;
  /** Undefined for a service not in replicated mode (only made by hand: it is replaced). */
  replicas: number | undefined;
  /** Networks by name (an id when the network is gone), with the aliases the service has there. */
  networks: { network: string; aliases: string[] }[];
  update: RolloutSettings | undefined;
  rollback: RolloutSettings | undefined;
  /** Placement constraints, sorted. */
  constraints: string[];
  secrets: string[];
  configs: string[];
  updateStatus: UpdateStatus | undefined;
  /** Tasks that should run and do, on the spec with the service's current config hash (healthy, when it has a check). */
  readyTasks: number;
}

export interface ObservedObject {
  id: string;
  name: string;
  app: string;
}

/**
 * What this node's agent owns in the swarm, plus what its containers target left on this engine
 * (converging as Swarm replaces those), plus the names others hold.
 */
export interface SwarmObservedState {
  node: string;
  services: ObservedService[];
  /** Overlay networks. */
  networks: ObservedObject[];
  secrets: ObservedObject[];
  configs: ObservedObject[];
  /** Containers and local networks this node created with `--target containers`. */
  legacy: { containers: ObservedObject[]; networks: ObservedObject[] };
  foreign: { services: string[]; networks: string[] };
}

/** A repository file a service mounts, as read from this commit's checkout. */
export interface RepoFileInfo {
  kind: 'file' | 'folder' | 'missing';
  sizeBytes: number;
}

interface OperationBase {
  /** 1-based position in the plan; `after` refers to these. */
  id: number;
  after: number[];
  cause: string;
}

export interface ServiceRef {
  /** The Swarm service name, `<app>_<service>`. */
  name: string;
  app: string;
  service: string;
}

export type SwarmOperation = OperationBase &
  (
    | { kind: 'remove-container'; containerId: string; container: string; app: string }
    | { kind: 'remove-local-network'; networkId: string; network: string; app: string }
    | { kind: 'create-network'; network: string; app: string; internal: boolean }
    | {
        kind: 'create-secret';
        secret: string;
        app: string;
        service: string;
        target: string;
        /** The secret file's value: never printed, logged or journalled. */
        spec: { value: string };
      }
    | { kind: 'create-config'; config: string; app: string; path: string; source: string }
    | { kind: 'create-service'; service: ServiceRef; progressDeadlineMs: number; expected: ExpectedTasks; spec: DesiredSwarmService }
    | {
        /** The whole spec; then waits for Swarm's rollout when `rolling`. */
        kind: 'update-service';
        service: ServiceRef;
        serviceId: string;
        /** The task template changes, so Swarm replaces tasks: wait for its UpdateStatus. */
        rolling: boolean;
        progressDeadlineMs: number;
        expected: ExpectedTasks;
        spec: DesiredSwarmService;
      }
    | { kind: 'scale-service'; service: ServiceRef; serviceId: string; replicas: number; progressDeadlineMs: number; expected: ExpectedTasks }
    | {
        /** Reads only: an update an earlier cycle sent (and did not see through) is still going or paused. */
        kind: 'await-rollout';
        service: ServiceRef;
        serviceId: string;
        progressDeadlineMs: number;
        expected: ExpectedTasks;
      }
    | { kind: 'remove-service'; service: ServiceRef; serviceId: string }
    | { kind: 'remove-network'; networkId: string; network: string; app: string }
    | { kind: 'remove-secret'; secretId: string; secret: string }
    | { kind: 'remove-config'; configId: string; config: string }
  );

/** What the rollout watch expects of a service's tasks once Swarm is done (rollout.ts). */
export interface ExpectedTasks {
  configHash: string;
  replicas: number;
  /** Tasks that exit 0 count as done (`restart: "no"`). */
  oneShot: boolean;
}

export interface SwarmPlanProblem {
  code: string;
  message: string;
}

export interface SwarmPlan {
  target: 'swarm';
  commit: string;
  node: string;
  operations: SwarmOperation[];
  problems: SwarmPlanProblem[];
}

export interface SwarmSecretRef {
  name: string;
  target: string;
}

export interface SwarmConfigRef {
  name: string;
  /** The file in the repository, for the plan, and its absolute path in this commit's checkout. */
  path: string;
  source: string;
  target: string;
}

/** One desired Swarm service: its spec, and what the spec refers to that must exist first. */
export interface DesiredSwarmService {
  ref: ServiceRef;
  /** The image, for the registry credentials sent with the spec. */
  image: string;
  replicas: number;
  spec: Docker.ServiceSpec;
  secrets: SwarmSecretRef[];
  configs: SwarmConfigRef[];
  networks: EndpointSpec[];
  update: RolloutSettings;
  rollback: RolloutSettings;
}

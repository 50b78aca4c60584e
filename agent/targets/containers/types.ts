import type { App, BuildSpec, HookPhase, IpamSpec, LifecycleHook, Service } from '../../model.js';
import type { EndpointSpec } from '../networks.js';

// A plan is data: each operation is one Docker call, with the object it touches, the cause
// that made the planner choose it, and the operations it must wait for. `capstan plan` prints
// it; the executor carries it out without deciding anything and without looking anything up:
// an operation carries all it needs, what is printable in its own fields and the rest (the
// service's spec, which holds environment values) under `spec`, which no printer shows
// (`planJson` in targets/print.ts leaves it out of `capstan plan --json`).

interface OperationBase {
  /** 1-based position in the plan; `after` refers to these. */
  id: number;
  after: number[];
  /** Why: "container missing", "config-hash changed (1a2b3c4d → 5e6f7a8b)", "removed from repo". */
  cause: string;
}

/** A container in an operation: by id when it exists before the plan, by name when the plan creates it. */
export interface ContainerRef {
  ref: string;
  name: string;
  app: string;
  service: string;
  replica: number;
}

export type Operation = OperationBase &
  (
    | {
        kind: 'pull-image';
        image: string;
        platform?: string;
        /** A mirrored registry's image (host policy `mirrors:`): pulled from `reference` first, then tagged `tagAs`. */
        mirror?: { reference: string; tagAs?: { repo: string; tag: string }; failClosed: boolean };
      }
    | {
        /** Builds `image` from the service's `build`. */
        kind: 'build-image';
        image: string;
        app: string;
        service: string;
        /** The build: context, Dockerfile, arguments (which may hold secrets). */
        spec: BuildSpec;
      }
    | {
        kind: 'create-network';
        app: string;
        network: string;
        internal: boolean;
        /** For a grant network, the provider service. */
        service?: string;
        /** The subnet the manifest gives it (`ipam`). */
        ipam?: IpamSpec;
        /** A network shared by name (Compose's `name:`): created without ownership labels, never removed. */
        shared?: true;
      }
    | {
        kind: 'create-volume';
        app: string;
        volume: string;
        dockerName: string;
        /** For an anonymous volume: the replica slot that owns it, labelled on the volume. */
        slot?: { service: string; replica: number };
        /** The manifest's labels for a named volume. */
        labels?: Record<string, string>;
      }
    | { kind: 'remove-volume'; app: string; volume: string; dockerName: string }
    | {
        /** Also connects the container to the rest of its networks (Docker creates on one). */
        kind: 'create-container';
        container: ContainerRef;
        spec: ContainerSpec;
      }
    | {
        kind: 'start-container';
        container: ContainerRef;
        /** The networks it is on, each verified isolated before the start. */
        networks: string[];
        /**
         * The service's `post_start` hooks, run in it after the start (execute-lifecycle.ts), all
         * within `timeoutMs`; a failure fails the start. Their environment may hold secrets: never printed.
         */
        spec?: { postStart: LifecycleHook[]; timeoutMs: number };
      }
    | {
        kind: 'stop-container';
        container: ContainerRef;
        /** The service's `stop_grace_period`; absent, the container's own stop timeout. */
        timeoutSeconds?: number;
        /**
         * The service's `pre_stop` hooks, run in it before the stop, all within `timeoutMs`; a
         * failure is logged and the stop goes on. Their environment may hold secrets: never printed.
         */
        spec?: { preStop: LifecycleHook[]; timeoutMs: number };
      }
    | { kind: 'connect-network'; container: ContainerRef; network: string; aliases: string[]; ipv4Address?: string }
    | { kind: 'disconnect-network'; container: ContainerRef; network: string }
    | { kind: 'remove-container'; container: ContainerRef }
    | { kind: 'rename-container'; container: ContainerRef; to: string }
    | {
        /** Reads only: waits until the replica is ready (see execute-readiness.ts) or has failed. */
        kind: 'wait-ready';
        container: ContainerRef;
        monitorMs: number;
        progressDeadlineMs: number;
        oneShot: boolean;
        /** Pause after it is ready, before the next batch starts (`update.delay`). */
        delayMs: number;
        /** Ready only once it exited 0: a dependency with `service_completed_successfully`. */
        completion?: boolean;
        /**
         * The container was started by a rollout the agent did not live to finish: restarts
         * Docker made since its creation count against it, not only those seen while watching.
         */
        resumed?: boolean;
        /**
         * The container already runs the applied config, its health check starting again: it is
         * watched so the cycle ends with it serving, but a failure is the host's (a cycle
         * failure), not the commit's (no quarantine, no rollback).
         */
        serving?: boolean;
        /**
         * The service's `post_start` hooks, run again before the watch: the replica was started
         * by a rollout the agent did not live to finish, so its hooks may not have finished. At
         * least once, as Kubernetes delivers its lifecycle hooks.
         */
        spec?: { postStart: LifecycleHook[]; timeoutMs: number };
      }
    | { kind: 'remove-network'; app: string; network: string; networkId: string }
    | {
        /**
         * Runs a hook job (`hooks:`) to its end in a one-shot container named `<app>.<phase>.<job>`
         * (its `replica` is 0), records the run, and removes the container (execute-hook.ts).
         * A non-zero exit or the timeout fails it, keeping its output.
         */
        kind: 'run-hook';
        container: ContainerRef;
        phase: HookPhase;
        job: string;
        timeoutMs: number;
        /** The job's service with its command and environment: never printed. */
        spec: ContainerSpec;
      }
  );

/** What creating a replica takes: its service as loaded, its app (volume names), its networks in order. */
export interface ContainerSpec {
  app: App;
  service: Service;
  /** The first is the network it is created on; it is connected to the others before its start. */
  endpoints: EndpointSpec[];
  /** Owner of the secret files written into it: the service's numeric `user`, else root. */
  secretOwner: { uid: number; gid: number };
}

/** Something that stops the whole plan from being carried out (nothing is applied). */
export interface PlanProblem {
  code: string;
  message: string;
}

export interface Plan {
  commit: string;
  node: string;
  operations: Operation[];
  problems: PlanProblem[];
}

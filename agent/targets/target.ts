import type Docker from 'dockerode';
import type * as NodeFs from 'node:fs';
import type { Clock } from '../clock.js';
import type { HostPolicy } from '../policy/index.js';
import type { StateStore } from '../state/store.js';
import type { IsolationCheck } from './containers/execute-isolation.js';
import type { StatusReplica } from './status.js';
import { CapstanError, type ErrorClass } from '../errors.js';
import { REASON, type CycleReason } from '../reasons.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model.js';

// The `Target` seam: where desired state is converged, the local Docker engine's containers
// (targets/containers/) or Docker Swarm services (targets/swarm/). Each target is a folder with
// the same stage files (observe, plan, execute, print, status, types, index) and one entry in
// targets/index.ts. The cycle around it (fetch, verify, load, quarantine, rollback, record) is
// the same for every target (reconcile.ts), and so is the order of `converge` (converge.ts).

export interface ServiceReadiness {
  app: string;
  service: string;
  desiredReplicas: number;
  /** Running, and healthy when Docker runs a health check. */
  readyReplicas: number;
}

/** The last lines a failed replica or build printed, kept before the replica is removed. */
export interface KeptOutput {
  kind: 'replica' | 'build' | 'hook';
  /** The container's name, or the image being built. */
  subject: string;
  exitCode: number | null;
  /** Bounded (output/bounded.ts) and redacted of the commit's secret values. */
  output: string;
}

/** A failure of the new config itself on this target: it quarantines the commit. */
export interface RolloutFailure {
  app: string;
  service: string;
  message: string;
  output?: KeptOutput;
  /** A hook job failed (issue 22), not a replica: which phase. */
  hook?: 'pre_deploy' | 'post_deploy';
}

export interface Convergence {
  result: 'applied' | 'in-sync' | 'failed';
  commit: string;
  reason?: CycleReason;
  /** The error's own code (`NAME_CONFLICT`, a Docker error's code), shown instead of the reason. */
  code?: string;
  /** What a failure calls for: retry with backoff (transient), a new commit (terminal), a recheck (not ready). */
  errorClass?: ErrorClass;
  message?: string;
  /** One line per change made, for history. */
  changes: string[];
  rolloutFailures: RolloutFailure[];
  /** Commits whose checkouts running workloads still bind-mount (kept when pruning checkouts). */
  inUseCommits: string[];
  /** Desired and ready replicas per service, as last observed. */
  services?: ServiceReadiness[];
}

/** A plan as the cycle needs to see it; each target's plan carries more. */
export interface TargetPlan {
  commit: string;
  node: string;
  operations: unknown[];
  problems: { code: string; message: string }[];
}

export interface Target {
  /** Observe, plan, carry out, observe again. Never throws: failures are in the result. */
  converge(desired: DesiredState, context: { logger: Logger; cycleId: number }): Promise<Convergence>;
  /** What `converge` would do, changing nothing (`capstan plan`). */
  plan(desired: DesiredState): Promise<TargetPlan>;
  /** The printer `capstan plan` and golden tests use. */
  print(plan: TargetPlan): string;
  /** Housekeeping after a commit converged (old images, unused secrets). */
  afterApplied(desired: DesiredState, logger: Logger): Promise<void>;
}

/** What the composition root (cli/wiring.ts) hands a target: the real engine, store, clock and files. */
export interface TargetContext {
  docker: Docker;
  store: StateStore;
  clock: Clock;
  node: string;
  allowEmpty: boolean;
  stateDir: string;
  /** The state dir's hash key (config hashes, Swarm secret names). */
  hashKey: Uint8Array;
  /** Scrubs every decrypted value from what the journal keeps. */
  redact: (text: string) => string;
  fs: typeof NodeFs;
  /** The host policy, read at each use. */
  policy: () => Promise<HostPolicy>;
  /** The engine's network isolation check, when it can be read on this host (`--network-isolation`). */
  isolation: () => IsolationCheck | undefined;
}

export interface TargetRegistration {
  /** For `--help` and the error naming the choices. */
  description: string;
  /** Imports the target's stages only now (see targets/index.ts). */
  create(context: TargetContext): Promise<Target>;
  /** Each replica this node runs, for `capstan status` (no repository needed). */
  status(docker: Docker, node: string): Promise<{ containers: StatusReplica[] }>;
  /** Whether fleet placement applies (each agent converges its own share); false when the target's scheduler places services itself. */
  fleetShare: boolean;
  /** Whether volumes with `snapshot:` follow their service here (agent/storage wraps the target). */
  volumeStorage: boolean;
  /** Set when `capstan logs` (which reads this engine's containers) cannot serve the target: what to use instead. */
  logsElsewhere?: string;
}

/** A convergence that stopped before changing anything: observing failed, or the plan is blocked. */
export function notStarted(commit: string, why: { error: unknown } | { problems: { code: string; message: string }[] }): Convergence {
  const base = { commit, changes: [], rolloutFailures: [], inUseCommits: [], result: 'failed' as const };
  if ('error' in why) {
    const message = why.error instanceof Error ? why.error.message : String(why.error);
    const known = why.error instanceof CapstanError ? { code: why.error.code, errorClass: why.error.errorClass } : { errorClass: 'transient' as const };
    return { ...base, reason: REASON.observeFailed, ...known, message };
  }
  const message = why.problems.map((problem) => `${problem.code}: ${problem.message}`).join('; ');
  // A name held by another, an empty commit: nothing a retry fixes before someone acts.
  return { ...base, reason: REASON.planBlocked, code: why.problems[0].code, errorClass: 'terminal', message };
}

/**
 * The journal a target's executor writes to SQLite: one row per operation, its description and
 * error passed through `redact` (a description can name an image built from a secret, an error
 * can quote Docker quoting a value). Shared by every target.
 */
export function journalOf<Operation extends { kind: string; cause: string }>(
  store: Pick<StateStore, 'journalStart' | 'journalFinish'>,
  cycleId: number,
  describe: (operation: Operation) => string,
  redact: (text: string) => string = (text) => text,
): { start(operation: Operation): number; finish(entryId: number, error?: unknown): void } {
  return {
    start: (operation) => store.journalStart(cycleId, operation.kind, redact(describe(operation)), redact(operation.cause)),
    finish: (entryId, error) => store.journalFinish(entryId, error ? 'failed' : 'done', error ? redact(String((error as Error).message ?? error)) : undefined),
  };
}

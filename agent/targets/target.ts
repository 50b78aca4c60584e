import type { StateStore } from '../state/store.js';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model.js';

// Where desired state is converged: the local Docker engine's containers (targets/containers.ts)
// or Docker Swarm services. The cycle around it (fetch, verify, load, quarantine, rollback,
// record) is the same for every target; see reconcile.ts.

export interface ServiceReadiness {
  app: string;
  service: string;
  desiredReplicas: number;
  /** Running, and healthy when Docker runs a health check. */
  readyReplicas: number;
}

/** The last lines a failed replica or build printed, kept before the replica is removed. */
export interface KeptOutput {
  kind: 'replica' | 'build';
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
}

export interface Convergence {
  result: 'applied' | 'in-sync' | 'failed';
  commit: string;
  reason?: string;
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

/** A convergence that stopped before changing anything: observing failed, or the plan is blocked. */
export function notStarted(commit: string, why: { error: unknown } | { problems: { code: string; message: string }[] }): Convergence {
  const base = { commit, changes: [], rolloutFailures: [], inUseCommits: [], result: 'failed' as const };
  if ('error' in why) {
    const message = why.error instanceof Error ? why.error.message : String(why.error);
    return { ...base, reason: why.error instanceof CapstanError ? why.error.code : 'OBSERVE_FAILED', message };
  }
  const message = why.problems.map((problem) => `${problem.code}: ${problem.message}`).join('; ');
  return { ...base, reason: why.problems[0].code, message };
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

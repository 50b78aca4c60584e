import type Docker from 'dockerode';
import type { Clock } from './clock.js';
import { CapstanError } from './errors.js';
import { execute, type Journal } from './execute/execute.js';
import { loadDesiredState } from './load/index.js';
import type { Logger } from './log.js';
import type { DesiredState } from './model.js';
import { observe, type ObservedState } from './observe/observe.js';
import { plan as makePlan } from './plan/plan.js';
import { changeSummary, describe } from './plan/print.js';
import type { Plan } from './plan/types.js';
import type { Checkout, GitSource } from './source/index.js';
import type { StateStore } from './state/store.js';

export interface ReconcilerDeps {
  source: GitSource;
  docker: Docker;
  store: StateStore;
  logger: Logger;
  clock: Clock;
  node: string;
  /** Folder inside the repository that holds the manifests. */
  path: string;
  allowEmpty: boolean;
  /** Key of the config-hash HMAC (see load/hash.ts). */
  hashKey: Uint8Array;
  lookup?: (name: string) => string | undefined;
}

export interface CycleOutcome {
  result: 'applied' | 'in-sync' | 'failed';
  commit: string | null;
  /** Stable reason code on failure: the error's code. */
  reason?: string;
  message?: string;
  changes: string[];
}

export interface Preview {
  checkout: Checkout;
  desired: DesiredState;
  plan: Plan;
}

/**
 * One cycle reads as its stages, as in Flux's kustomize-controller: fetch, load, observe,
 * plan, execute, verify, record. Each failing stage records its own reason and stops.
 */
export class Reconciler {
  /** The last desired state loaded, so a cycle on an unchanged commit skips checkout and load. */
  private loaded?: { commit: string; checkout: Checkout; desired: DesiredState };

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Fetch, load and plan without changing anything on the host (`capstan plan`). */
  async preview(): Promise<Preview> {
    const commit = await this.deps.source.fetch();
    const { checkout, desired } = await this.load(commit);
    const observed = await observe(this.deps.docker, this.deps.node);
    return { checkout, desired, plan: makePlan(desired, observed, { allowEmpty: this.deps.allowEmpty }) };
  }

  async cycle(trigger: string): Promise<CycleOutcome> {
    const { store, clock } = this.deps;
    const startedAt = clock.now();
    const cycleId = store.startCycle(trigger, this.deps.node);
    let logger = this.deps.logger.child({ cycle: cycleId });
    const finish = (outcome: CycleOutcome): CycleOutcome => {
      const durationMs = clock.now() - startedAt;
      store.finishCycle(cycleId, { ...outcome, result: outcome.result, durationMs });
      const level = outcome.result === 'failed' ? 'error' : 'info';
      logger[level]({ result: outcome.result, reason: outcome.reason, error: outcome.message, durationMs, changes: outcome.changes.length }, 'cycle finished');
      return outcome;
    };

    let commit: string;
    try {
      commit = await this.deps.source.fetch();
    } catch (error) {
      return finish(failure(null, error, 'FETCH_FAILED'));
    }
    logger = logger.child({ commit: commit.slice(0, 12) });

    let target: { checkout: Checkout; desired: DesiredState };
    let loadFailure: CycleOutcome | undefined;
    try {
      target = await this.load(commit);
      store.setCycleCommit(cycleId, { id: commit, author: target.checkout.author, message: target.checkout.message });
    } catch (error) {
      store.setCycleCommit(cycleId, { id: commit, author: '', message: '' });
      loadFailure = failure(commit, error, 'LOAD_FAILED');
      logger.error({ reason: loadFailure.reason, error: loadFailure.message }, 'commit not applied, keeping the last applied state');
      // All or nothing: nothing of this commit is applied. The last applied commit keeps
      // running, and its containers are still restored if someone removes them by hand.
      const lastApplied = store.lastAppliedCommit;
      if (!lastApplied || lastApplied === commit) return finish(loadFailure);
      try {
        target = await this.load(lastApplied);
      } catch {
        return finish(loadFailure);
      }
    }

    const { inUseCommits, ...outcome } = await this.converge(target.desired, logger, cycleId);
    if (loadFailure) return finish({ ...loadFailure, changes: outcome.changes });
    if (outcome.result !== 'failed') {
      store.recordDeployments(
        this.deps.node,
        target.desired.apps.flatMap((app) =>
          app.services.map((service) => ({
            app: app.name,
            service: service.name,
            configHash: service.configHash,
            image: service.image,
            replicas: service.replicas,
            commit,
          })),
        ),
      );
      // Containers whose config did not change keep bind mounts into the checkout of the
      // commit that created them, so those checkouts stay; so does the previous one, for rollback.
      const previous = store.lastAppliedCommit;
      const keep = new Set([commit, ...(previous ? [previous] : []), ...(inUseCommits ?? [])]);
      await this.deps.source.prune([...keep]).catch((error: unknown) => {
        logger.warn({ error: String(error) }, 'could not prune old checkouts');
      });
    }
    return finish(outcome);
  }

  private async converge(desired: DesiredState, logger: Logger, cycleId: number): Promise<CycleOutcome & { inUseCommits?: string[] }> {
    const { docker, node, store } = this.deps;
    let plan: Plan;
    let observed: ObservedState;
    try {
      observed = await observe(docker, node);
      plan = makePlan(desired, observed, { allowEmpty: this.deps.allowEmpty });
    } catch (error) {
      return failure(desired.commit, error, 'OBSERVE_FAILED');
    }
    if (plan.problems.length > 0) {
      return {
        result: 'failed',
        commit: desired.commit,
        reason: plan.problems[0].code,
        message: plan.problems.map((problem) => `${problem.code}: ${problem.message}`).join('; '),
        changes: [],
      };
    }
    if (plan.operations.length === 0) return { result: 'in-sync', commit: desired.commit, changes: [], inUseCommits: commitsInUse(observed) };

    logger.info({ operations: plan.operations.length }, 'applying plan');
    const journal: Journal = {
      start: (operation) => store.journalStart(cycleId, operation.kind, describe(operation), operation.cause),
      finish: (entryId, error) => store.journalFinish(entryId, error ? 'failed' : 'done', error ? String((error as Error).message ?? error) : undefined),
    };
    const failures = await execute(plan, desired, { docker, journal, logger });
    const changes = changeSummary(plan);
    if (failures.length > 0) {
      return {
        result: 'failed',
        commit: desired.commit,
        reason: 'APPLY_FAILED',
        message: failures.map((item) => `${describe(item.operation)}: ${item.message}`).join('; '),
        changes,
      };
    }
    // Observe again instead of assuming: what Docker shows now is the truth.
    observed = await observe(docker, node);
    const remaining = makePlan(desired, observed, { allowEmpty: this.deps.allowEmpty });
    if (remaining.operations.length > 0) {
      return {
        result: 'failed',
        commit: desired.commit,
        reason: 'NOT_CONVERGED',
        message: `still pending after apply: ${changeSummary(remaining).slice(0, 5).join('; ')}`,
        changes,
      };
    }
    return { result: 'applied', commit: desired.commit, changes, inUseCommits: commitsInUse(observed) };
  }

  private async load(commit: string): Promise<{ checkout: Checkout; desired: DesiredState }> {
    if (this.loaded?.commit === commit) return this.loaded;
    const checkout = await this.deps.source.checkout(commit);
    const desired = await loadDesiredState({
      root: checkout.dir,
      path: this.deps.path,
      commit,
      hashKey: this.deps.hashKey,
      lookup: this.deps.lookup,
    });
    this.loaded = { commit, checkout, desired };
    return this.loaded;
  }
}

function failure(commit: string | null, error: unknown, fallbackCode: string): CycleOutcome {
  if (error instanceof CapstanError) return { result: 'failed', commit, reason: error.code, message: error.message, changes: [] };
  return { result: 'failed', commit, reason: fallbackCode, message: error instanceof Error ? error.message : String(error), changes: [] };
}


function commitsInUse(observed: ObservedState): string[] {
  return [...new Set(observed.containers.map((container) => container.commit).filter(Boolean))];
}

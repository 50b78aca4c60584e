import type Docker from 'dockerode';
import { CapstanError } from '../errors.js';
import { LABEL, ownerLabels } from '../labels.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model.js';
import { describe } from '../plan/print.js';
import type { Operation, Plan } from '../plan/types.js';
import { containerCreateOptions } from './spec.js';

/** Written before and after each Docker call; see `state/store.ts`. */
export interface Journal {
  start(operation: Operation): number;
  finish(entryId: number, error?: unknown): void;
}

export interface ExecuteDeps {
  docker: Docker;
  journal: Journal;
  logger: Logger;
  /** Independent operations run this many at a time (creating 50 containers one by one is slow). */
  concurrency?: number;
  /** Grace period for `docker stop`, seconds. */
  stopTimeoutSeconds?: number;
}

export interface OperationFailure {
  operation: Operation;
  message: string;
}

/**
 * Carries out a plan with no decisions of its own. Operations run as soon as everything in
 * their `after` list has succeeded; an operation whose prerequisite failed is skipped, so a
 * failed pull or create never leads to stopping the container that still serves.
 */
export async function execute(plan: Plan, desired: DesiredState, deps: ExecuteDeps): Promise<OperationFailure[]> {
  const concurrency = deps.concurrency ?? 8;
  const state = new Map<number, 'pending' | 'running' | 'done' | 'failed' | 'skipped'>(plan.operations.map((operation) => [operation.id, 'pending']));
  const failures: OperationFailure[] = [];
  const running = new Set<Promise<void>>();

  const ready = () =>
    plan.operations.filter((operation) => state.get(operation.id) === 'pending' && operation.after.every((id) => state.get(id) === 'done'));
  const skipBlocked = () => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const operation of plan.operations) {
        if (state.get(operation.id) === 'pending' && operation.after.some((id) => ['failed', 'skipped'].includes(state.get(id)!))) {
          state.set(operation.id, 'skipped');
          changed = true;
        }
      }
    }
  };

  for (;;) {
    skipBlocked();
    for (const operation of ready()) {
      if (running.size >= concurrency) break;
      state.set(operation.id, 'running');
      const task = runOne(operation, desired, plan, deps)
        .then(() => void state.set(operation.id, 'done'))
        .catch((error: unknown) => {
          state.set(operation.id, 'failed');
          failures.push({ operation, message: errorMessage(error) });
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  return failures;
}

async function runOne(operation: Operation, desired: DesiredState, plan: Plan, deps: ExecuteDeps): Promise<void> {
  const log = deps.logger.child({ op: operation.id, kind: operation.kind });
  const entry = deps.journal.start(operation);
  log.info({ target: describe(operation), cause: operation.cause }, 'operation started');
  try {
    await call(operation, desired, plan, deps);
    deps.journal.finish(entry);
    log.info({ target: describe(operation) }, 'operation done');
  } catch (error) {
    deps.journal.finish(entry, error);
    log.error({ target: describe(operation), error: errorMessage(error) }, 'operation failed');
    throw error;
  }
}

async function call(operation: Operation, desired: DesiredState, plan: Plan, deps: ExecuteDeps): Promise<void> {
  const { docker } = deps;
  switch (operation.kind) {
    case 'pull-image':
      return pullImage(docker, operation.image);
    case 'create-network':
      await docker.createNetwork({
        Name: operation.network,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { ...ownerLabels(plan.node), [LABEL.app]: operation.app },
      });
      return;
    case 'create-volume': {
      const volume = desired.apps.find((app) => app.name === operation.app)?.volumes.find((candidate) => candidate.name === operation.volume);
      await docker.createVolume({
        Name: operation.dockerName,
        Labels: { ...(volume?.labels ?? {}), ...ownerLabels(plan.node), [LABEL.app]: operation.app },
      });
      return;
    }
    case 'create-container': {
      const { container } = operation;
      const app = desired.apps.find((candidate) => candidate.name === container.app);
      const service = app?.services.find((candidate) => candidate.name === container.service);
      if (!app || !service) throw new CapstanError('PLAN_INCONSISTENT', 'terminal', `no desired service ${container.app}/${container.service}`);
      await docker.createContainer(containerCreateOptions(app, service, container.replica, { name: container.name, node: plan.node, commit: desired.commit }));
      return;
    }
    case 'start-container':
      await ignoreStatus(docker.getContainer(operation.container.ref).start(), 304);
      return;
    case 'stop-container':
      await ignoreStatus(docker.getContainer(operation.container.ref).stop({ t: deps.stopTimeoutSeconds ?? 10 }), 304);
      return;
    case 'remove-container':
      await ignoreStatus(docker.getContainer(operation.container.ref).remove({ force: true, v: false }), 404);
      return;
    case 'rename-container':
      await docker.getContainer(operation.container.ref).rename({ name: operation.to });
      return;
    case 'remove-network':
      await ignoreStatus(docker.getNetwork(operation.networkId).remove(), 404);
      return;
  }
}

async function pullImage(docker: Docker, image: string): Promise<void> {
  const stream = await docker.pull(image);
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
      const failed = events?.find((event) => event.error);
      if (error) reject(error);
      else if (failed) reject(new Error(failed.error));
      else resolve();
    });
  });
}

/** Docker answers 304 for "already started/stopped" and 404 for "already gone": both mean done. */
async function ignoreStatus(promise: Promise<unknown>, statusCode: number): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== statusCode) throw error;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.replace(/\s+/g, ' ').trim();
  return String(error);
}

import type { Service } from '../../model.js';
import { isOneShot, updateOf } from '../rollout.js';
import type { ExpectedTasks, UpdateStatus } from './types.js';

// Swarm places and replaces tasks itself; Capstan only reads how that went. These are the pure
// halves: how long to wait, and what Swarm's state means. The polling is in watch.ts.

/**
 * How long a rollout of `service` may take before Capstan calls it failed. Swarm replaces
 * `parallelism` tasks per batch; each batch may take the progress deadline to get ready, then
 * the monitor period and the delay. 3 replicas, parallelism 1, progress_deadline 30 s, monitor
 * 5 s, delay 0: 3 batches × 35 s = 105 s. Parallelism 0 (all at once) is one batch.
 */
export function rolloutDeadlineMs(service: Service): number {
  const update = updateOf(service);
  const batches = update.parallelism <= 0 ? 1 : Math.max(1, Math.ceil(service.replicas / update.parallelism));
  return batches * (update.progressDeadlineMs + update.monitorMs + update.delayMs);
}

/** One task of a service, as `docker service ps` shows it. */
export interface TaskView {
  slot: number;
  /** Swarm's task state: `new` … `starting`, `running`, `complete`, `failed`, `rejected`, `shutdown`. */
  state: string;
  desiredState: string;
  configHash: string;
  /** Swarm's error for a failed task, or its status message. */
  error: string;
  exitCode: number | undefined;
  timestamp: string;
}

export interface RolloutExpectation {
  configHash: string;
  replicas: number;
  oneShot: boolean;
  /**
   * Swarm replaces tasks (the task template changed): wait for a new UpdateStatus, one whose
   * StartedAt differs from this one (undefined when the service had none).
   */
  rolling: boolean;
  previousStartedAt: string | undefined;
  /** A new service: any of its tasks ending is a failure, as no earlier task can be. */
  created: boolean;
}

export type RolloutVerdict = { kind: 'pending' } | { kind: 'ready' } | { kind: 'failed'; message: string };

const FAILED_UPDATE: Record<string, string> = {
  rollback_completed: 'Swarm rolled the update back',
  rollback_paused: 'Swarm paused the rollback of the update',
  paused: 'Swarm paused the update',
};
const ENDED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

/** What the tasks of `service` must show once its rollout is done (carried by the plan). */
export function expectedTasks(service: Service): ExpectedTasks {
  return { configHash: service.configHash, replicas: service.replicas, oneShot: isOneShot(service) };
}

export function expectationFor(expected: ExpectedTasks, options: { rolling: boolean; created: boolean; previousStartedAt?: string }): RolloutExpectation {
  return { ...expected, ...options, previousStartedAt: options.previousStartedAt };
}

/** Running (Swarm reports `starting` until a health check passes) on the expected config. */
export function readyTasks(tasks: TaskView[], configHash: string, oneShot: boolean): number {
  return tasks.filter(
    (task) => task.configHash === configHash && ((task.desiredState === 'running' && task.state === 'running') || (oneShot && task.state === 'complete' && task.exitCode === 0)),
  ).length;
}

/**
 * `why` is the message Swarm gave when it started rolling back ("update rolled back due to
 * failure or early termination of task …"); once done it only says "rollback completed".
 */
export function rolloutVerdict(expectation: RolloutExpectation, status: UpdateStatus | undefined, tasks: TaskView[], why?: string): RolloutVerdict {
  const ready = readyTasks(tasks, expectation.configHash, expectation.oneShot);
  if (expectation.rolling) {
    if (!status || status.startedAt === expectation.previousStartedAt) return { kind: 'pending' };
    const failed = FAILED_UPDATE[status.state];
    if (failed) return { kind: 'failed', message: `${failed}: ${why ?? status.message ?? 'no message'}${taskDetail(tasks, expectation.configHash)}` };
    if (status.state !== 'completed') return { kind: 'pending' };
    return ready >= expectation.replicas ? { kind: 'ready' } : { kind: 'pending' };
  }
  if (expectation.created && !expectation.oneShot) {
    const ended = latestEnded(tasks, expectation.configHash);
    if (ended) return { kind: 'failed', message: `task ${ended.slot} ${describeEnd(ended)}` };
  }
  return ready >= expectation.replicas ? { kind: 'ready' } : { kind: 'pending' };
}

/** The message when the deadline passes first. */
export function timeoutMessage(expectation: RolloutExpectation, deadlineMs: number, status: UpdateStatus | undefined, tasks: TaskView[]): string {
  const ready = readyTasks(tasks, expectation.configHash, expectation.oneShot);
  const update = expectation.rolling && status ? ` (Swarm's update: ${status.state})` : '';
  return `not ready within ${Math.round(deadlineMs / 1000)}s: ${ready}/${expectation.replicas} task(s) running${update}${taskDetail(tasks, expectation.configHash)}`;
}

/** The latest task on `configHash` that ended, preferring one that ended by itself to one Swarm shut down. */
function latestEnded(tasks: TaskView[], configHash: string): TaskView | undefined {
  return tasks
    .filter((task) => task.configHash === configHash && ENDED.has(task.state))
    .sort((left, right) => {
      const byCause = Number(left.state === 'shutdown') - Number(right.state === 'shutdown');
      return byCause !== 0 ? byCause : left.timestamp < right.timestamp ? 1 : left.timestamp > right.timestamp ? -1 : 0;
    })[0];
}

function taskDetail(tasks: TaskView[], configHash: string): string {
  const ended = latestEnded(tasks, configHash);
  return ended ? `; new task ${ended.slot} ${describeEnd(ended)}` : '';
}

function describeEnd(task: TaskView): string {
  const exit = task.exitCode !== undefined ? `, exit code ${task.exitCode}` : '';
  return `${task.state}${exit}${task.error ? `: ${task.error}` : ''}`;
}

import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import { LABEL } from '../../labels.js';
import { rolloutVerdict, timeoutMessage, type RolloutExpectation, type TaskView } from './rollout.js';
import type { UpdateStatus } from './types.js';

// Reads how Swarm's rollout of one service goes, until it is ready, has failed, or the deadline
// passes. Only reads: Swarm itself replaces the tasks and, on failure, rolls back.

export interface WatchDeps {
  docker: Docker;
  clock: Clock;
  pollIntervalMs: number;
}

/** Undefined when the service is ready; else why it is not (a rollout failure). */
export async function watchRollout(deps: WatchDeps, serviceId: string, expectation: RolloutExpectation, deadlineMs: number): Promise<string | undefined> {
  const { docker, clock, pollIntervalMs } = deps;
  const deadline = clock.now() + deadlineMs;
  let status: UpdateStatus | undefined;
  let tasks: TaskView[] = [];
  let why: string | undefined;
  for (;;) {
    [status, tasks] = await Promise.all([updateStatusOf(docker, serviceId), tasksOf(docker, serviceId)]);
    if (status?.state === 'rollback_started' && status.startedAt !== expectation.previousStartedAt) why ??= status.message;
    const verdict = rolloutVerdict(expectation, status, tasks, why);
    if (verdict.kind === 'ready') return undefined;
    if (verdict.kind === 'failed') return verdict.message;
    if (clock.now() >= deadline) return timeoutMessage(expectation, deadlineMs, status, tasks);
    await clock.sleep(Math.min(pollIntervalMs, Math.max(0, deadline - clock.now())));
  }
}

export async function updateStatusOf(docker: Docker, serviceId: string): Promise<UpdateStatus | undefined> {
  const info = (await docker.getService(serviceId).inspect()) as Docker.Service;
  return toUpdateStatus(info.UpdateStatus);
}

export function toUpdateStatus(status: Docker.UpdateStatus | undefined): UpdateStatus | undefined {
  if (!status?.State) return undefined;
  return { state: status.State, startedAt: status.StartedAt, message: status.Message };
}

interface RawTask {
  ServiceID?: string;
  Slot?: number;
  DesiredState?: string;
  UpdatedAt?: string;
  Spec?: { ContainerSpec?: { Labels?: Record<string, string> } };
  Status?: { State?: string; Err?: string; Message?: string; Timestamp?: string; ContainerStatus?: { ExitCode?: number } };
}

export async function tasksOf(docker: Docker, serviceId: string): Promise<TaskView[]> {
  const tasks = (await docker.listTasks({ filters: { service: [serviceId] } })) as RawTask[];
  return tasks.filter((task) => task.ServiceID === serviceId).map(toTaskView);
}

export function toTaskView(task: RawTask): TaskView {
  const ended = ['complete', 'failed', 'rejected', 'shutdown'].includes(task.Status?.State ?? '');
  return {
    slot: task.Slot ?? 0,
    state: task.Status?.State ?? 'unknown',
    desiredState: task.DesiredState ?? 'unknown',
    configHash: task.Spec?.ContainerSpec?.Labels?.[LABEL.configHash] ?? '',
    error: task.Status?.Err || (task.Status?.Message ?? ''),
    exitCode: ended ? task.Status?.ContainerStatus?.ExitCode : undefined,
    timestamp: task.Status?.Timestamp ?? task.UpdatedAt ?? '',
  };
}

// Runs one hook job (`run-hook`): a one-shot container of the job's service with the job's
// command, watched until it exits or its timeout, its run recorded in SQLite, then removed.
// No decisions: the plan says which job runs and when.
import type Docker from 'dockerode';
import { LABEL } from '../../labels.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../../clock.js';
import type { HostPathCheck } from '../../policy/host-paths.js';
import type { MountCopies } from '../../source/mount-copies.js';
import type { IsolationCheck } from './execute-isolation.js';
import { OutputKeptError, replicaOutput } from './execute-kept-output.js';
import { writeSecretFiles } from './execute-secret-files.js';
import { containerCreateOptions } from './execute-spec.js';
import type { Operation } from './types.js';

type RunHook = Extract<Operation, { kind: 'run-hook' }>;

/** Where each run is recorded (StateStore's hook_runs): a job passed for a commit is not run again. */
export interface HookRunLog {
  started(run: { commit: string; app: string; phase: string; job: string }): number;
  finished(id: number, result: 'passed' | 'failed' | 'timed-out' | 'error', exitCode: number | null): void;
}

export interface HookDeps {
  docker: Docker;
  clock: Clock;
  log: Logger;
  node: string;
  commit: string;
  hookRuns?: HookRunLog;
  isolation?: IsolationCheck;
  hostPaths?: HostPathCheck;
  mountCopies?: MountCopies;
  pollIntervalMs?: number;
}

export async function runHook(operation: RunHook, deps: HookDeps): Promise<void> {
  const { docker, clock, log } = deps;
  const { container: ref, spec } = operation;
  const runId = deps.hookRuns?.started({ commit: deps.commit, app: ref.app, phase: operation.phase, job: operation.job });
  let created: Docker.Container | undefined;
  let outcome: { result: 'passed' | 'failed' | 'timed-out' | 'error'; exitCode: number | null } = { result: 'error', exitCode: null };
  try {
    for (const endpoint of spec.endpoints) await deps.isolation?.assertIsolated(endpoint.network, log);
    const hostMounts = deps.hostPaths ? await deps.hostPaths.resolveMounts(spec.service.mounts, `${ref.app}/${ref.service}`) : spec.service.mounts;
    const mounts = deps.mountCopies ? await deps.mountCopies.prepare({ commit: deps.commit, container: ref.name, mounts: hostMounts }) : hostMounts;
    const options = containerCreateOptions(spec.app, { ...spec.service, mounts }, 1, { name: ref.name, node: deps.node, commit: deps.commit, endpoints: spec.endpoints });
    // Not a replica: no replica label, so nothing takes it for one; `capstan.hook` says what it is.
    const labels: Record<string, string> = { ...(options.Labels ?? {}), [LABEL.hook]: `${operation.phase}/${operation.job}` };
    delete labels[LABEL.replica];
    created = await docker.createContainer({ ...options, Labels: labels });
    await writeSecretFiles(created, spec.service.secretFiles, spec.secretOwner);
    for (const endpoint of spec.endpoints.slice(1)) {
      await docker.getNetwork(endpoint.network).connect({ Container: created.id, EndpointConfig: { Aliases: [] } });
    }
    await created.start();
    const deadline = clock.now() + operation.timeoutMs;
    let exitCode: number | null = null;
    for (;;) {
      const state = (await created.inspect()).State;
      if (!state.Running && state.Status !== 'created') {
        exitCode = state.ExitCode;
        break;
      }
      if (clock.now() >= deadline) break;
      await clock.sleep(Math.min(deps.pollIntervalMs ?? 250, Math.max(1, deadline - clock.now())));
    }
    if (exitCode === null) await created.kill().catch(() => undefined);
    const tty = Boolean(options.Tty);
    const output = await replicaOutput(docker, created.id, tty);
    outcome = { result: exitCode === 0 ? 'passed' : exitCode === null ? 'timed-out' : 'failed', exitCode };
    if (outcome.result === 'passed') {
      log.info({ job: operation.job, phase: operation.phase }, 'hook job passed');
      return;
    }
    const why = exitCode === null ? `did not finish within ${Math.round(operation.timeoutMs / 1000)} s (timeout) and was killed` : `exited with code ${exitCode}`;
    throw new OutputKeptError(
      'HOOK_FAILED',
      `${operation.phase} job ${operation.job} of ${ref.app} (service ${ref.service}) ${why}`,
      { app: ref.app, phase: operation.phase, job: operation.job, exitCode },
      { kind: 'hook', subject: ref.name, exitCode, output },
    );
  } finally {
    if (runId !== undefined) deps.hookRuns?.finished(runId, outcome.result, outcome.exitCode);
    if (created) await created.remove({ force: true, v: false }).catch((error: unknown) => log.warn({ container: ref.name, error: String(error) }, 'could not remove the hook job container; the next cycle removes it'));
  }
}

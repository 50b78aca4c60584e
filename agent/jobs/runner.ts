import type Docker from 'dockerode';
import type { Clock } from '../clock.js';
import { LABEL, isOwnedBy } from '../labels.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model.js';
import { jobRunContainerName } from '../names.js';
import { numericUser } from '../load/normalize/spec.js';
import { replicaOutput } from '../targets/containers/execute-kept-output.js';
import type { ExecuteResult } from '../targets/containers/execute.js';
import type { ContainerRef, Plan } from '../targets/containers/types.js';
import { networkLayout } from '../targets/networks.js';
import { redactValues } from '../redact.js';
import { decideRuns, formatDuration, scheduledJobs, type JobDecision } from './decide.js';
import type { JobRun, JobRunStore } from './store.js';

export interface JobRunnerDeps {
  docker: Docker;
  store: JobRunStore;
  clock: Clock;
  node: string;
  logger: Logger;
  /**
   * Carries out a run's two operations (create, start) with the containers target's executor,
   * wired with its checks (network isolation, host paths, repository mount copies, secret files).
   */
  execute: (plan: Plan, secrets: readonly string[]) => Promise<ExecuteResult>;
  /** A run that failed or was interrupted: queued as a `job-failed` notification. */
  notifyFailure: (run: JobRun) => void;
  /** Every value decrypted so far: scrubbed from messages and output before they are stored. */
  secrets: () => readonly string[];
  /** How long to wait before asking Docker again when it did not answer about a run. */
  retryMs?: number;
  /** How often a run with a `timeout` compares the clock with its deadline (default 1 s). */
  deadlinePollMs?: number;
}

/**
 * Runs scheduled jobs (a service with `schedule:`): at each of its times one container with the
 * configuration last applied, watched until it exits, its exit code and last output recorded in
 * `job_runs`, then removed. Ordering that makes it crash-safe: the run's row is written before
 * its container is created, and the container carries the row's id (`capstan.job-run`), so after
 * a kill -9 `recover` finds every run container and every row left running, and closes them.
 */
export class JobRunner {
  private readonly watches = new Map<number, Promise<void>>();
  private stopping = false;
  private looked = false;

  constructor(private readonly deps: JobRunnerDeps) {}

  /**
   * At agent start, before the first look: a run container still running belonged to an agent
   * that died; it is stopped and its run recorded as interrupted. One that exited meanwhile
   * records how it ended. Rows left running without a container are interrupted too.
   */
  async recover(): Promise<void> {
    const { docker, store, node, logger } = this.deps;
    const containers = await docker.listContainers({ all: true, filters: { label: [`${LABEL.jobRun}`, `${LABEL.managed}=true`, `${LABEL.node}=${node}`] } });
    const seen = new Set<number>();
    for (const info of containers) {
      if (!isOwnedBy(info.Labels, node)) continue;
      const runId = Number(info.Labels[LABEL.jobRun]);
      const run = Number.isInteger(runId) ? store.get(runId) : undefined;
      if (run?.state === 'running') {
        seen.add(run.id);
        const wasRunning = info.State === 'running' || info.State === 'restarting' || info.State === 'paused' || info.State === 'created';
        if (wasRunning) await docker.getContainer(info.Id).stop({ t: 10 }).catch(() => undefined);
        await this.record(run, info.Id, wasRunning ? { interrupted: 'the agent stopped while it ran (stopped at the agent\'s start)' } : { finishedWhileDown: true });
      } else {
        // A container whose run is closed already: its removal was interrupted.
        await removeQuietly(docker, info.Id);
      }
    }
    for (const run of store.running(node)) {
      if (seen.has(run.id)) continue;
      this.finish(run, { state: 'interrupted', exitCode: null, message: 'the agent stopped before its container ran', output: null });
    }
    if (containers.length > 0) logger.info({ containers: containers.length }, 'job runs left by a previous agent closed');
  }

  /**
   * Looks at every job of `desired` (the last applied commit's): starts the runs that are due
   * since the last look, skips those `concurrency: forbid` holds back. Returns the decisions.
   */
  async tick(desired: DesiredState | undefined): Promise<JobDecision[]> {
    const { store, clock, node, logger } = this.deps;
    if (this.stopping) return [];
    const now = clock.now();
    const checkedAt = store.checkedAt();
    const startup = !this.looked;
    this.looked = true;
    const jobs = desired ? scheduledJobs(desired) : [];
    const running = new Set(store.running(node).map((run) => `${run.app}/${run.service}`));
    const decisions = decideRuns({ jobs, checkedAt, now, startup, running });
    const starts: { decision: JobDecision; runId: number }[] = [];
    for (const decision of decisions) {
      const scheduledAt = new Date(decision.scheduledAt).toISOString();
      if (decision.action === 'skip') {
        store.skip({ node, app: decision.app, service: decision.service, trigger: decision.trigger, scheduledAt, at: new Date(now).toISOString(), message: decision.message });
        logger.warn({ app: decision.app, service: decision.service, scheduledAt, reason: decision.message }, 'scheduled job run skipped');
        continue;
      }
      const service = desired!.apps.find((app) => app.name === decision.app)!.services.find((candidate) => candidate.name === decision.service)!;
      const runId = store.start({ node, app: decision.app, service: decision.service, trigger: decision.trigger, scheduledAt, startedAt: new Date(now).toISOString(), commit: desired!.commit, configHash: service.configHash });
      starts.push({ decision, runId });
    }
    // After the rows: a crash before this line looks at the same window again at the next start.
    if (checkedAt === undefined || now > checkedAt) store.setCheckedAt(now);
    if (starts.length === 0) return decisions;
    const layout = networkLayout(desired!);
    for (const { decision, runId } of starts) await this.start(desired!, decision, runId, layout);
    return decisions;
  }

  /** Runs in flight in this process. */
  get active(): number {
    return this.watches.size;
  }

  /** Waits until every run in flight has been recorded (tests; `stop`). */
  async settled(): Promise<void> {
    while (this.watches.size > 0) await Promise.all([...this.watches.values()]);
  }

  /**
   * The agent is stopping: its runs are stopped (SIGTERM, then SIGKILL after the job's
   * stop_grace_period or Docker's 10 s) and recorded as interrupted. No new run starts.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const { store, docker } = this.deps;
    for (const runId of this.watches.keys()) {
      const run = store.get(runId);
      if (run?.container) await docker.getContainer(run.container).stop({ t: 10 }).catch(() => undefined);
    }
    await this.settled();
  }

  private async start(desired: DesiredState, decision: JobDecision, runId: number, layout: ReturnType<typeof networkLayout>): Promise<void> {
    const { store, logger, execute, secrets } = this.deps;
    const app = desired.apps.find((candidate) => candidate.name === decision.app)!;
    const service = app.services.find((candidate) => candidate.name === decision.service)!;
    const name = jobRunContainerName(app.name, service.name, runId);
    const container: ContainerRef = { ref: name, name, app: app.name, service: service.name, replica: 0 };
    const endpoints = service.networkMode ? [] : layout.endpoints(app.name, service.name);
    // A run is restarted only to retry a failure (on-failure:N), and carries its row's id, by which it is found after a crash.
    const runService = { ...service, restart: service.restartMaxRetries === undefined ? ('no' as const) : ('on-failure' as const), labels: { ...service.labels, [LABEL.jobRun]: String(runId) } };
    const plan: Plan = {
      commit: desired.commit,
      node: this.deps.node,
      problems: [],
      operations: [
        { id: 1, after: [], cause: `scheduled run ${runId}`, kind: 'create-container', container, spec: { app, service: runService, endpoints, secretOwner: numericUser(service.user) ?? { uid: 0, gid: 0 } } },
        { id: 2, after: [1], cause: `scheduled run ${runId}`, kind: 'start-container', container, networks: endpoints.map((endpoint) => endpoint.network) },
      ],
    };
    store.setContainer(runId, name);
    const log = logger.child({ app: app.name, service: service.name, run: runId });
    log.info({ scheduledAt: new Date(decision.scheduledAt).toISOString(), trigger: decision.trigger }, 'scheduled job run starting');
    const result = await execute(plan, [...secrets(), ...(desired.sensitiveValues ?? [])]).catch((error: unknown) => ({ failures: [{ message: String(error) }], done: [] }));
    if (result.failures.length > 0) {
      const message = result.failures.map((failure) => failure.message).join('; ');
      await removeQuietly(this.deps.docker, name);
      const run = store.get(runId)!;
      this.finish(run, { state: 'failed', exitCode: null, message: `could not start: ${message}`, output: null });
      return;
    }
    const limit = service.job?.timeoutMs === undefined ? undefined : { timeoutMs: service.job.timeoutMs, graceSeconds: Math.ceil((service.stopGracePeriodMs ?? 10_000) / 1000) };
    const watch = this.watch(runId, name, limit).finally(() => this.watches.delete(runId));
    this.watches.set(runId, watch);
  }

  /**
   * Waits for the run's container to exit, then records it and removes the container. With a
   * `timeout`, a run still going at its deadline (from the run's start, on the agent's clock) is
   * stopped (SIGTERM, then SIGKILL after the grace period) and recorded `timed-out`.
   */
  private async watch(runId: number, name: string, limit?: { timeoutMs: number; graceSeconds: number }): Promise<void> {
    const { clock, logger } = this.deps;
    let exited = false;
    const waiting = this.waitForExit(runId, name).finally(() => {
      exited = true;
    });
    let timedOut = false;
    const started = this.deps.store.get(runId)?.startedAt;
    if (limit !== undefined && started !== undefined) {
      const deadline = Date.parse(started) + limit.timeoutMs;
      while (!exited && !this.stopping) {
        if (clock.now() >= deadline) {
          timedOut = true;
          logger.warn({ run: runId, timeoutMs: limit.timeoutMs }, 'scheduled job run past its timeout, stopping it');
          await this.deps.docker.getContainer(name).stop({ t: limit.graceSeconds }).catch(() => undefined);
          break;
        }
        await Promise.race([waiting, clock.sleep(Math.min(this.deps.deadlinePollMs ?? 1_000, Math.max(1, deadline - clock.now())))]);
      }
    }
    await waiting;
    const run = this.deps.store.get(runId);
    if (!run) return;
    const how = this.stopping && !timedOut ? { interrupted: 'the agent stopped while it ran' } : timedOut ? { timedOutMs: limit!.timeoutMs } : {};
    await this.record(run, name, how);
  }

  private async waitForExit(runId: number, name: string): Promise<void> {
    const { docker, clock, logger } = this.deps;
    for (;;) {
      try {
        await docker.getContainer(name).wait();
        // A failed attempt Docker restarts (on-failure:N) wakes the wait too: wait for the next
        // exit, until one that Docker leaves stopped (at most N + 1 exits).
        const state = (await docker.getContainer(name).inspect()).State;
        if (state.Restarting || state.Running) continue;
        break;
      } catch (error) {
        // The container is gone (removed by hand): nothing more to wait for.
        if ((error as { statusCode?: number }).statusCode === 404) break;
        logger.warn({ run: runId, error: String(error) }, 'could not wait for a job run, asking Docker again');
        await clock.sleep(this.deps.retryMs ?? 5_000);
      }
    }
  }

  /** Reads how the run's container ended and what it printed, records it, removes the container. */
  private async record(run: JobRun, ref: string, how: { interrupted?: string; finishedWhileDown?: boolean; timedOutMs?: number }): Promise<void> {
    const { docker } = this.deps;
    const inspected = await docker.getContainer(ref).inspect().catch(() => undefined);
    const tty = Boolean((inspected?.Config as { Tty?: boolean } | undefined)?.Tty);
    const output = inspected ? await replicaOutput(docker, ref, tty) : '';
    const exitCode = inspected && !inspected.State.Running ? inspected.State.ExitCode : null;
    await removeQuietly(docker, ref);
    if (how.interrupted !== undefined) {
      this.finish(run, { state: 'interrupted', exitCode, message: how.interrupted, output });
      return;
    }
    if (!inspected) {
      this.finish(run, { state: 'interrupted', exitCode: null, message: 'its container disappeared before it was recorded', output: null });
      return;
    }
    if (how.timedOutMs !== undefined) {
      this.finish(run, { state: 'timed-out', exitCode, message: `did not finish within ${formatDuration(how.timedOutMs)} (timeout): stopped`, output });
      return;
    }
    const oom = inspected.State.OOMKilled ? ' (out of memory)' : '';
    const whileDown = how.finishedWhileDown ? ', while the agent was down' : '';
    const retries = inspected.RestartCount > 0 ? ` after ${inspected.RestartCount} ${inspected.RestartCount === 1 ? 'retry' : 'retries'}` : '';
    const state = exitCode === 0 ? 'succeeded' : 'failed';
    this.finish(run, { state, exitCode, message: state === 'succeeded' ? `exited 0${retries}${whileDown}` : `exited ${exitCode}${oom}${retries}${whileDown}`, output });
  }

  private finish(run: JobRun, result: { state: 'succeeded' | 'failed' | 'timed-out' | 'interrupted'; exitCode: number | null; message: string; output: string | null }): void {
    const { store, clock, logger, secrets } = this.deps;
    const known = secrets();
    const message = redactValues(result.message, known);
    const output = result.output === null || result.output === '' ? null : redactValues(result.output, known);
    store.finish(run.id, { state: result.state, finishedAt: new Date(clock.now()).toISOString(), exitCode: result.exitCode, message, output });
    const fields = { app: run.app, service: run.service, run: run.id, exitCode: result.exitCode, result: result.state };
    if (result.state === 'succeeded') {
      logger.info(fields, 'scheduled job run finished');
      return;
    }
    logger.error({ ...fields, error: message, output }, 'scheduled job run failed');
    this.deps.notifyFailure(store.get(run.id) ?? run);
  }
}

async function removeQuietly(docker: Docker, ref: string): Promise<void> {
  await docker.getContainer(ref).remove({ force: true, v: false }).catch(() => undefined);
}

import { redactValues } from '../../redact.js';
import type Docker from 'dockerode';
import { CapstanError, type ErrorClass } from '../../errors.js';
import { LABEL, ownerLabels } from '../../labels.js';
import type { Logger } from '../../log.js';
import { describe } from './print.js';
import type { ContainerRef, Operation, Plan } from './types.js';
import type { Clock } from '../../clock.js';
import { buildImage, type ContextLister } from './execute-build.js';
import { readiness, recheckDelayMs, type ContainerStateView } from './execute-readiness.js';
import type { AuthConfig } from '../registry-auth.js';
import { writeSecretFiles } from './execute-secret-files.js';
import { containerCreateOptions } from './execute-spec.js';
import { LOCK_MOUNT_TARGET, type UpdateLocks } from '../../deferral/locks.js';
import type { LifecycleHook, MountSpec } from '../../model.js';
import type { IsolationCheck } from './execute-isolation.js';
import type { HostPathCheck } from '../../policy/host-paths.js';
import type { MountCopies } from '../../source/mount-copies.js';
import type { KeptOutput } from '../target.js';
import { keptOutputOf, OutputKeptError, replicaOutput } from './execute-kept-output.js';
import { runHook, type HookRunLog } from './execute-hook.js';
import { runLifecycleHooks } from './execute-lifecycle.js';

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
  /** Grace period for `docker stop`, seconds, when the service sets none; else the container's own (Docker's 10 s). */
  stopTimeoutSeconds?: number;
  /**
   * Registry credentials for an image (the manifests' `registries`, else the host's Docker
   * config). Asked for at the pull, never carried by a plan, which is printed.
   */
  registryAuth: (image: string) => Promise<AuthConfig | undefined>;
  /** The build context's files, as the loader digested them (load/files/build-context.ts). */
  listContext: ContextLister;
  /** Every decrypted value, scrubbed from messages, journal rows and kept output. */
  secrets: readonly string[];
  clock: Clock;
  /** How often `wait-ready` inspects the container. */
  pollIntervalMs?: number;
  /** Gives each new container a copy of its own of the repository files it mounts (source/mount-copies.ts). */
  mountCopies?: MountCopies;
  /** Refuses to create or start a replica on a network the engine does not isolate (isolation.ts). */
  isolation?: IsolationCheck;
  /** Checks host bind mounts against the host policy again, as resolved now (policy/host-paths.ts). */
  hostPaths?: HostPathCheck;
  /** Records each hook job's run (SQLite's hook_runs); absent in planner-only tests. */
  hookRuns?: HookRunLog;
  /** The app folders services with `update_lock: true` mount at /capstan/lock (deferral/locks.ts). */
  updateLocks?: UpdateLocks;
  /** Records that a container's post_start hooks all exited 0 (SQLite's post_start_done). */
  postStartDone?: (containerId: string) => void;
}

export interface OperationFailure {
  operation: Operation;
  message: string;
  /**
   * The new config itself failed (a replica never got ready, or Docker refused to create or
   * start it): a rollout failure, which quarantines the commit. Otherwise (Docker or a
   * registry unreachable) it is transient and the next cycle simply tries again.
   */
  rollout: boolean;
  /** What the failure calls for: the error's own class, terminal for a rollout failure, else transient. */
  errorClass: ErrorClass;
  /** What the failed replica or build printed last, redacted. */
  output?: KeptOutput;
}

export interface ExecuteResult {
  failures: OperationFailure[];
  done: Operation[];
}

/**
 * Carries out a plan with no decisions of its own, and nothing but the plan: each operation
 * carries what its Docker call needs. Operations run as soon as everything in their `after`
 * list has succeeded; an operation whose prerequisite failed is skipped, so a failed pull or
 * create never leads to stopping the container that still serves.
 */
export async function execute(plan: Plan, deps: ExecuteDeps): Promise<ExecuteResult> {
  const concurrency = deps.concurrency ?? 8;
  const state = new Map<number, 'pending' | 'running' | 'done' | 'failed' | 'skipped'>(plan.operations.map((operation) => [operation.id, 'pending']));
  const failures: OperationFailure[] = [];
  const done: Operation[] = [];
  const createdSlots = new Set(plan.operations.flatMap((operation) => (operation.kind === 'create-container' ? [slotKey(operation.container)] : [])));
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

  // `wait-ready` only polls (each replica's monitor window is seconds long), so it takes no
  // slot: 50 new replicas with 8 slots would otherwise wait out 50 / 8 monitor windows in a
  // row (41 s instead of 16 s measured, bench figure 1).
  let busy = 0;
  const takesSlot = (operation: Operation) => operation.kind !== 'wait-ready';
  for (;;) {
    skipBlocked();
    for (const operation of ready()) {
      if (takesSlot(operation) && busy >= concurrency) continue;
      if (takesSlot(operation)) busy++;
      state.set(operation.id, 'running');
      const task = runOne(operation, plan, deps)
        .then(() => {
          state.set(operation.id, 'done');
          done.push(operation);
        })
        .catch((error: unknown) => {
          state.set(operation.id, 'failed');
          const output = keptOutputOf(error, [...deps.secrets]);
          const rollout = isRolloutFailure(operation, error, createdSlots);
          failures.push({
            operation,
            message: redactValues(errorMessage(error), deps.secrets),
            rollout,
            errorClass: rollout ? 'terminal' : error instanceof CapstanError ? error.errorClass : 'transient',
            ...(output ? { output } : {}),
          });
        })
        .finally(() => {
          running.delete(task);
          if (takesSlot(operation)) busy--;
        });
      running.add(task);
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  return { failures, done };
}

function isRolloutFailure(operation: Operation, error: unknown, createdSlots: Set<string>): boolean {
  // A replica that never got ready, or a Dockerfile that does not build: the commit itself.
  if (operation.kind === 'wait-ready') return error instanceof CapstanError && operation.serving !== true;
  if (operation.kind === 'build-image') return error instanceof CapstanError;
  // A job that failed or timed out, or that Docker refused to create: the commit's.
  if (operation.kind === 'run-hook') return error instanceof OutputKeptError || typeof (error as { statusCode?: unknown }).statusCode === 'number';
  // A post_start hook of a replica this plan created failed: the new config's, as a failed readiness.
  if (operation.kind === 'start-container' && error instanceof OutputKeptError) return createdSlots.has(slotKey(operation.container));
  // Docker answered with a status: it refused the new container (bad command, port taken…).
  // Restarting a drifted container of the current config is not a rollout.
  const dockerAnswered = typeof (error as { statusCode?: unknown }).statusCode === 'number';
  if (!dockerAnswered) return false;
  if (operation.kind === 'create-container') return true;
  return operation.kind === 'start-container' && createdSlots.has(slotKey(operation.container));
}

function slotKey(container: { app: string; service: string; replica: number }): string {
  return `${container.app}/${container.service}/${container.replica}`;
}

async function runOne(operation: Operation, plan: Plan, deps: ExecuteDeps): Promise<void> {
  const log = deps.logger.child({ op: operation.id, kind: operation.kind });
  const entry = deps.journal.start(operation);
  log.info({ target: describe(operation), cause: operation.cause }, 'operation started');
  try {
    await (EXECUTORS[operation.kind] as Executor<Operation>)(operation, { plan, deps, log });
    deps.journal.finish(entry);
    log.info({ target: describe(operation) }, 'operation done');
  } catch (error) {
    const message = redactValues(errorMessage(error), deps.secrets);
    deps.journal.finish(entry, new Error(message));
    log.error({ target: describe(operation), error: message }, 'operation failed');
    throw error;
  }
}

interface RunContext {
  plan: Plan;
  deps: ExecuteDeps;
  log: Logger;
}

type Executor<O extends Operation> = (operation: O, context: RunContext) => Promise<void>;
type OperationOf<Kind extends Operation['kind']> = Extract<Operation, { kind: Kind }>;

/** One function per operation kind, as docker/compose's convergence: each one Docker call (or a watch). */
const EXECUTORS: { [Kind in Operation['kind']]: Executor<OperationOf<Kind>> } = {
  'pull-image': async (operation, { deps, log }) => {
    if (await pullFromMirror(operation, deps, log)) return;
    return pullImage(deps.docker, operation.image, await deps.registryAuth(operation.image), operation.platform);
  },
  'build-image': (operation, { plan, deps, log }) =>
    buildImage(deps.docker, operation.image, operation.spec, { ...ownerLabels(plan.node), [LABEL.app]: operation.app, [LABEL.service]: operation.service }, log, {
      listContext: deps.listContext,
      sensitive: deps.secrets,
    }),
  'create-network': async (operation, { plan, deps }) => {
    if (operation.shared) {
      // Not Capstan's own: no ownership labels, so never observed as ours and never removed.
      // Another host process may have created it since the plan: that one is joined.
      await ignoreStatus(deps.docker.createNetwork({ Name: operation.network, Driver: 'bridge', CheckDuplicate: true, Labels: { 'capstan.shared-by-name': 'true' } }), 409);
      return;
    }
    const labels: Record<string, string> = { ...ownerLabels(plan.node), [LABEL.app]: operation.app };
    if (operation.service !== undefined) labels[LABEL.service] = operation.service;
    // Docker's internal networks still give the host bridge an address, through which a
    // container reaches every service listening on the host; without it nothing is routed out.
    const options = operation.internal ? { 'com.docker.network.bridge.inhibit_ipv4': 'true' } : undefined;
    const ipam = operation.ipam && {
      Driver: 'default',
      Config: [{ Subnet: operation.ipam.subnet, IPRange: operation.ipam.ipRange, Gateway: operation.ipam.gateway, AuxiliaryAddresses: operation.ipam.auxAddresses }],
    };
    await deps.docker.createNetwork({ Name: operation.network, Driver: 'bridge', Internal: operation.internal, Options: options, CheckDuplicate: true, Labels: labels, ...(ipam ? { IPAM: ipam } : {}) });
  },
  'create-volume': async (operation, { plan, deps }) => {
    const slotLabels: Record<string, string> = operation.slot ? { [LABEL.service]: operation.slot.service, [LABEL.replica]: String(operation.slot.replica) } : {};
    await deps.docker.createVolume({
      Name: operation.dockerName,
      Labels: { ...(operation.labels ?? {}), ...ownerLabels(plan.node), [LABEL.app]: operation.app, ...slotLabels },
    });
  },
  'remove-volume': (operation, { deps }) => ignoreStatus(deps.docker.getVolume(operation.dockerName).remove(), 404),
  'create-container': async (operation, { plan, deps, log }) => {
    const { container, spec } = operation;
    const { service, endpoints } = spec;
    for (const endpoint of endpoints) await deps.isolation?.assertIsolated(endpoint.network, log);
    // The host may have changed since the load (a link planted under a bind root): checked again.
    const hostMounts = deps.hostPaths ? await deps.hostPaths.resolveMounts(service.mounts, `${container.app}/${container.service}`) : service.mounts;
    // A waiting app keeps the version it runs: its files and label are its own commit's (App.commit).
    const commit = spec.app.commit ?? plan.commit;
    const copied = deps.mountCopies ? await deps.mountCopies.prepare({ commit, container: container.name, mounts: hostMounts }) : hostMounts;
    // Capstan's own folder, outside the host policy's bind roots and the config hash (`updateLock` is in it).
    const lock: MountSpec[] = service.updateLock && deps.updateLocks ? [{ type: 'bind', source: await deps.updateLocks.prepare(container.app), target: LOCK_MOUNT_TARGET, readOnly: false }] : [];
    const mounts = [...copied, ...lock];
    const created = await deps.docker.createContainer(
      containerCreateOptions(spec.app, { ...service, mounts }, container.replica, { name: container.name, node: plan.node, commit, endpoints }),
    );
    await writeSecretFiles(created, service.secretFiles, spec.secretOwner);
    // Joined before the first start; a crash in between leaves a created container whose
    // missing networks the next plan connects before starting it.
    for (const endpoint of endpoints.slice(1)) await connect(deps.docker, endpoint.network, created.id, endpoint.aliases, endpoint.ipv4Address);
  },
  'connect-network': (operation, { deps }) => connect(deps.docker, operation.network, operation.container.ref, operation.aliases, operation.ipv4Address),
  'disconnect-network': async (operation, { deps }) => {
    try {
      await deps.docker.getNetwork(operation.network).disconnect({ Container: operation.container.ref, Force: true });
    } catch (error) {
      if (!/is not connected/i.test(errorMessage(error)) && (error as { statusCode?: number }).statusCode !== 404) throw error;
    }
  },
  'start-container': async (operation, { deps, log }) => {
    for (const network of operation.networks) await deps.isolation?.assertIsolated(network, log);
    const started = await answered(deps.docker.getContainer(operation.container.ref).start(), 304);
    // As Compose, after a start this agent made; not for one already running (an earlier attempt's).
    if (started && operation.spec && operation.spec.postStart.length > 0) await postStart(operation.container, operation.spec, deps, log);
  },
  'stop-container': (operation, { deps, log }) => stopContainer(operation, deps, log),
  'remove-container': (operation, { deps }) => ignoreStatus(deps.docker.getContainer(operation.container.ref).remove({ force: true, v: false }), 404),
  'rename-container': async (operation, { deps }) => {
    await deps.docker.getContainer(operation.container.ref).rename({ name: operation.to });
  },
  'remove-network': (operation, { deps }) => ignoreStatus(deps.docker.getNetwork(operation.networkId).remove(), 404),
  'wait-ready': async (operation, { deps, log }) => {
    // A replica an interrupted rollout started: its post_start hooks may not have finished. One
    // no longer running (exited, crash-looping, paused) cannot exec them: the watch judges it.
    if (operation.spec && operation.spec.postStart.length > 0) {
      const { Id, State: state } = await deps.docker.getContainer(operation.container.ref).inspect();
      if (state.Running && !state.Restarting && !state.Paused) await postStart(operation.container, operation.spec, deps, log, Id);
    }
    await waitReady(operation, deps);
  },
  'run-hook': (operation, { plan, deps, log }) =>
    runHook(operation, { ...deps, log, node: plan.node, commit: plan.commit }),
};

/**
 * Runs a replica's post_start hooks; once they all exited 0, says so by the container's id
 * (post_start_done), inspected for it unless the caller already knows it.
 */
async function postStart(container: ContainerRef, spec: { postStart: LifecycleHook[]; timeoutMs: number }, deps: ExecuteDeps, log: Logger, id?: string): Promise<void> {
  await runLifecycleHooks('post_start', container, spec.postStart, spec.timeoutMs, { ...deps, log });
  if (!deps.postStartDone) return;
  try {
    deps.postStartDone(id ?? (await deps.docker.getContainer(container.ref).inspect()).Id);
  } catch (error) {
    // The hooks did finish: not recording it only means they run again after a crash.
    log.warn({ container: container.name, error: redactValues(errorMessage(error), deps.secrets) }, 'could not record that the post_start hooks finished');
  }
}

/** Docker 20.10 answers 403 "endpoint … already exists" for a container already on the network: done. */
async function connect(docker: Docker, network: string, containerId: string, aliases: string[], ipv4Address?: string): Promise<void> {
  try {
    const endpoint = ipv4Address === undefined ? { Aliases: aliases } : { Aliases: aliases, IPAMConfig: { IPv4Address: ipv4Address } };
    await docker.getNetwork(network).connect({ Container: containerId, EndpointConfig: endpoint });
  } catch (error) {
    if (!/already exists/i.test(errorMessage(error))) throw error;
  }
}

/** Inspects the replica until the readiness rule says ready or failed; bounded by the deadline. */
async function waitReady(operation: OperationOf<'wait-ready'>, deps: ExecuteDeps): Promise<void> {
  const { clock } = deps;
  const rule = { monitorMs: operation.monitorMs, oneShot: operation.oneShot, deadline: clock.now() + operation.progressDeadlineMs, completion: operation.completion };
  let firstRestartCount: number | undefined;
  for (;;) {
    const inspected = await deps.docker.getContainer(operation.container.ref).inspect();
    // A resumed watch counts every restart since creation: Docker may have restarted a crashing
    // replica while no agent was watching it.
    firstRestartCount ??= operation.resumed ? 0 : (inspected.RestartCount ?? 0);
    const view: ContainerStateView = { ...(inspected.State as unknown as ContainerStateView), RestartsSinceWaitBegan: (inspected.RestartCount ?? 0) - firstRestartCount };
    const now = clock.now();
    const verdict = readiness(view, rule, now);
    if (verdict.state === 'ready') break;
    if (verdict.state === 'failed') {
      // Kept now: the rollback that follows removes the replica, and its logs with it.
      const exitCode = view.Running ? null : view.ExitCode;
      const output = await replicaOutput(deps.docker, operation.container.ref, Boolean((inspected.Config as { Tty?: boolean } | undefined)?.Tty));
      throw new OutputKeptError(
        'REPLICA_FAILED',
        `replica ${operation.container.name} failed: ${verdict.reason}`,
        { container: operation.container.name, reason: verdict.reason },
        { kind: 'replica', subject: operation.container.name, exitCode, output },
      );
    }
    await clock.sleep(recheckDelayMs(verdict, rule, now, deps.pollIntervalMs ?? 250));
  }
  if (operation.delayMs > 0) await clock.sleep(operation.delayMs);
}

/**
 * Docker sends the stop signal, waits the grace period, then SIGKILLs. A replica that ignored
 * the signal is said so in the log (it lost the chance to finish its work cleanly): it exited
 * 137 (128 + SIGKILL) without running out of memory, and the stop took the grace period.
 */
async function stopContainer(operation: OperationOf<'stop-container'>, deps: ExecuteDeps, log: Logger): Promise<void> {
  const container = deps.docker.getContainer(operation.container.ref);
  if (operation.spec && operation.spec.preStop.length > 0) {
    // As Compose: a failed pre_stop hook is reported, and the container is stopped all the same.
    await runLifecycleHooks('pre_stop', operation.container, operation.spec.preStop, operation.spec.timeoutMs, { ...deps, log }).catch((error: unknown) =>
      log.warn({ container: operation.container.name, error: redactValues(errorMessage(error), deps.secrets) }, 'pre_stop hook failed; stopping the container anyway'),
    );
  }
  const timeout = operation.timeoutSeconds ?? deps.stopTimeoutSeconds;
  const startedAt = deps.clock.now();
  try {
    await container.stop(timeout === undefined ? {} : { t: timeout });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 304) return;
    throw error;
  }
  const elapsedMs = deps.clock.now() - startedAt;
  const inspected = await container.inspect().catch(() => undefined);
  if (!inspected) return;
  const grace = timeout ?? (inspected.Config as { StopTimeout?: number } | undefined)?.StopTimeout ?? 10;
  if (wasKilledAfterGrace({ exitCode: inspected.State.ExitCode, oomKilled: inspected.State.OOMKilled, elapsedMs, graceSeconds: grace })) {
    log.warn(
      { container: operation.container.name, graceSeconds: grace, exitCode: inspected.State.ExitCode },
      'replica ignored the stop signal and was killed (SIGKILL) after the grace period',
    );
  }
}

/** Pure, for its table test: a stop that Docker had to finish with SIGKILL. */
export function wasKilledAfterGrace(stop: { exitCode: number; oomKilled: boolean; elapsedMs: number; graceSeconds: number }): boolean {
  // Half a second of slack: Docker's own timer and ours do not start at the same instant.
  return stop.exitCode === 137 && !stop.oomKilled && stop.elapsedMs >= stop.graceSeconds * 1000 - 500;
}

/**
 * Pulls a mirrored registry's image from its mirror (the plan names it) and tags it with its own
 * name; true when that worked. A digest reference (no `tagAs`) goes to the original registry,
 * or fails when `mirrors_fail_closed` forbids that.
 */
async function pullFromMirror(operation: OperationOf<'pull-image'>, deps: ExecuteDeps, log: Logger): Promise<boolean> {
  const { image, mirror } = operation;
  if (mirror === undefined) return false;
  const fail = (reason: string, cause?: unknown) => new CapstanError('MIRROR_PULL_FAILED', 'transient',
    `${image} cannot be pulled from mirror ${mirror.reference} (${reason}), and mirrors_fail_closed forbids the original registry`, { image, mirror: mirror.reference }, { cause });
  if (mirror.tagAs === undefined) {
    if (mirror.failClosed) throw fail('a digest reference cannot be pulled through a mirror');
    return false;
  }
  try {
    await pullImage(deps.docker, mirror.reference, await deps.registryAuth(mirror.reference), operation.platform);
    await deps.docker.getImage(mirror.reference).tag({ repo: mirror.tagAs.repo, tag: mirror.tagAs.tag });
    log.info({ image, mirror: mirror.reference }, 'pulled from the mirror');
    return true;
  } catch (error) {
    if (mirror.failClosed) throw fail(errorMessage(error), error);
    log.warn({ image, mirror: mirror.reference, error: errorMessage(error) }, 'the mirror failed, pulling from the original registry');
    return false;
  }
}

async function pullImage(docker: Docker, image: string, auth: AuthConfig | undefined, platform?: string): Promise<void> {
  const options: Record<string, unknown> = auth ? { authconfig: auth } : {};
  if (platform !== undefined) options.platform = platform;
  const stream = await docker.pull(image, options);
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
  await answered(promise, statusCode);
}

/** As ignoreStatus; false when Docker answered `statusCode` (nothing was done). */
async function answered(promise: Promise<unknown>, statusCode: number): Promise<boolean> {
  try {
    await promise;
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== statusCode) throw error;
    return false;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.replace(/\s+/g, ' ').trim();
  return String(error);
}

import { redactValues } from '../redact.js';
import type Docker from 'dockerode';
import { CapstanError } from '../errors.js';
import { LABEL, ownerLabels } from '../labels.js';
import type { Logger } from '../log.js';
import type { DesiredState } from '../model.js';
import { describe } from '../plan/print.js';
import type { Operation, Plan } from '../plan/types.js';
import type { Clock } from '../clock.js';
import { numericUser } from '../load/normalize-spec.js';
import { networkLayout, type NetworkLayout } from '../plan/networks.js';
import { buildImage } from './build.js';
import { mirrorReference, splitReference } from './mirrors.js';
import { readiness, recheckDelayMs, type ContainerStateView } from './readiness.js';
import { dockerConfigReader, registryAuth, type DockerConfigReader } from './registry-auth.js';
import { ROOT_OWNER, writeSecretFiles } from './secret-files.js';
import { containerCreateOptions } from './spec.js';
import type { IsolationCheck } from './isolation.js';
import type { HostPathCheck } from '../policy/host-paths.js';
import type { MountCopies } from '../source/mount-copies.js';
import type { KeptOutput } from '../targets/target.js';
import { keptOutputOf, OutputKeptError, replicaOutput } from './kept-output.js';

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
  /** The host's Docker config, for registry credentials the repository does not hold. */
  readDockerConfig?: DockerConfigReader;
  clock: Clock;
  /** How often `wait-ready` inspects the container. */
  pollIntervalMs?: number;
  /** Gives each new container a copy of its own of the repository files it mounts (source/mount-copies.ts). */
  mountCopies?: MountCopies;
  /** Refuses to create or start a replica on a network the engine does not isolate (isolation.ts). */
  isolation?: IsolationCheck;
  /** Checks host bind mounts against the host policy again, as resolved now (policy/host-paths.ts). */
  hostPaths?: HostPathCheck;
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
  /** What the failed replica or build printed last, redacted. */
  output?: KeptOutput;
}

export interface ExecuteResult {
  failures: OperationFailure[];
  done: Operation[];
}

/**
 * Carries out a plan with no decisions of its own. Operations run as soon as everything in
 * their `after` list has succeeded; an operation whose prerequisite failed is skipped, so a
 * failed pull or create never leads to stopping the container that still serves.
 */
export async function execute(plan: Plan, desired: DesiredState, deps: ExecuteDeps): Promise<ExecuteResult> {
  const concurrency = deps.concurrency ?? 8;
  const state = new Map<number, 'pending' | 'running' | 'done' | 'failed' | 'skipped'>(plan.operations.map((operation) => [operation.id, 'pending']));
  const failures: OperationFailure[] = [];
  const done: Operation[] = [];
  const createdSlots = new Set(plan.operations.flatMap((operation) => (operation.kind === 'create-container' ? [slotKey(operation.container)] : [])));
  const running = new Set<Promise<void>>();
  const layout = networkLayout(desired);

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
      const task = runOne(operation, { desired, plan, layout }, deps)
        .then(() => {
          state.set(operation.id, 'done');
          done.push(operation);
        })
        .catch((error: unknown) => {
          state.set(operation.id, 'failed');
          const output = keptOutputOf(error, desired.sensitiveValues);
          failures.push({
            operation,
            message: redactValues(errorMessage(error), desired.sensitiveValues),
            rollout: isRolloutFailure(operation, error, createdSlots),
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

interface RunContext {
  desired: DesiredState;
  plan: Plan;
  layout: NetworkLayout;
}

async function runOne(operation: Operation, context: RunContext, deps: ExecuteDeps): Promise<void> {
  const log = deps.logger.child({ op: operation.id, kind: operation.kind });
  const entry = deps.journal.start(operation);
  log.info({ target: describe(operation), cause: operation.cause }, 'operation started');
  try {
    await call(operation, context, deps, log);
    deps.journal.finish(entry);
    log.info({ target: describe(operation) }, 'operation done');
  } catch (error) {
    const message = redactValues(errorMessage(error), context.desired.sensitiveValues);
    deps.journal.finish(entry, new Error(message));
    log.error({ target: describe(operation), error: message }, 'operation failed');
    throw error;
  }
}

async function call(operation: Operation, context: RunContext, deps: ExecuteDeps, log: Logger): Promise<void> {
  const { docker } = deps;
  const { desired, plan } = context;
  switch (operation.kind) {
    case 'pull-image': {
      const readConfig = deps.readDockerConfig ?? dockerConfigReader();
      if (await pullFromMirror(docker, operation.image, desired, readConfig, log, operation.platform)) return;
      const auth = await registryAuth(operation.image, desired.registries, readConfig);
      return pullImage(docker, operation.image, auth, operation.platform);
    }
    case 'build-image': {
      const service = findService(desired, operation.app, operation.service);
      if (!service.build) throw new CapstanError('PLAN_INCONSISTENT', 'terminal', `service ${operation.app}/${operation.service} has no build`);
      return buildImage(docker, operation.image, service.build, { ...ownerLabels(plan.node), [LABEL.app]: operation.app, [LABEL.service]: operation.service }, log, desired.sensitiveValues);
    }
    case 'create-network': {
      if (operation.shared) {
        // Not Capstan's own: no ownership labels, so never observed as ours and never removed.
        // Another host process may have created it since the plan: that one is joined.
        await ignoreStatus(docker.createNetwork({ Name: operation.network, Driver: 'bridge', CheckDuplicate: true, Labels: { 'capstan.shared-by-name': 'true' } }), 409);
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
      await docker.createNetwork({ Name: operation.network, Driver: 'bridge', Internal: operation.internal, Options: options, CheckDuplicate: true, Labels: labels, ...(ipam ? { IPAM: ipam } : {}) });
      return;
    }
    case 'create-volume': {
      const volume = desired.apps.find((app) => app.name === operation.app)?.volumes.find((candidate) => candidate.name === operation.volume);
      const slotLabels: Record<string, string> = operation.slot ? { [LABEL.service]: operation.slot.service, [LABEL.replica]: String(operation.slot.replica) } : {};
      await docker.createVolume({
        Name: operation.dockerName,
        Labels: { ...(volume?.labels ?? {}), ...ownerLabels(plan.node), [LABEL.app]: operation.app, ...slotLabels },
      });
      return;
    }
    case 'remove-volume':
      await ignoreStatus(docker.getVolume(operation.dockerName).remove(), 404);
      return;
    case 'create-container': {
      const { container } = operation;
      const app = desired.apps.find((candidate) => candidate.name === container.app);
      const service = findService(desired, container.app, container.service);
      const endpoints = context.layout.endpoints(container.app, container.service);
      for (const endpoint of endpoints) await deps.isolation?.assertIsolated(endpoint.network, log);
      // The host may have changed since the load (a link planted under a bind root): checked again.
      const hostMounts = deps.hostPaths ? await deps.hostPaths.resolveMounts(service.mounts, `${container.app}/${container.service}`) : service.mounts;
      const mounts = deps.mountCopies ? await deps.mountCopies.prepare({ commit: desired.commit, container: container.name, mounts: hostMounts }) : hostMounts;
      const created = await docker.createContainer(
        containerCreateOptions(app!, { ...service, mounts }, container.replica, { name: container.name, node: plan.node, commit: desired.commit, endpoints }),
      );
      await writeSecretFiles(created, service.secretFiles, numericUser(service.user) ?? ROOT_OWNER);
      // Joined before the first start; a crash in between leaves a created container whose
      // missing networks the next plan connects before starting it.
      for (const endpoint of endpoints.slice(1)) await connect(docker, endpoint.network, created.id, endpoint.aliases, endpoint.ipv4Address);
      return;
    }
    case 'connect-network': {
      const address = context.layout.endpoints(operation.container.app, operation.container.service).find((endpoint) => endpoint.network === operation.network)?.ipv4Address;
      return connect(docker, operation.network, operation.container.ref, operation.aliases, address);
    }
    case 'disconnect-network':
      try {
        await docker.getNetwork(operation.network).disconnect({ Container: operation.container.ref, Force: true });
      } catch (error) {
        if (!/is not connected/i.test(errorMessage(error)) && (error as { statusCode?: number }).statusCode !== 404) throw error;
      }
      return;
    case 'start-container':
      for (const endpoint of context.layout.endpoints(operation.container.app, operation.container.service)) {
        await deps.isolation?.assertIsolated(endpoint.network, log);
      }
      await ignoreStatus(docker.getContainer(operation.container.ref).start(), 304);
      return;
    case 'stop-container':
      return stopContainer(operation, deps, log);
    case 'remove-container':
      await ignoreStatus(docker.getContainer(operation.container.ref).remove({ force: true, v: false }), 404);
      return;
    case 'rename-container':
      await docker.getContainer(operation.container.ref).rename({ name: operation.to });
      return;
    case 'remove-network':
      await ignoreStatus(docker.getNetwork(operation.networkId).remove(), 404);
      return;
    case 'wait-ready':
      return waitReady(operation, deps);
  }
}

function findService(desired: DesiredState, appName: string, serviceName: string) {
  const service = desired.apps.find((candidate) => candidate.name === appName)?.services.find((candidate) => candidate.name === serviceName);
  if (!service) throw new CapstanError('PLAN_INCONSISTENT', 'terminal', `no desired service ${appName}/${serviceName}`);
  return service;
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
async function waitReady(operation: Extract<Operation, { kind: 'wait-ready' }>, deps: ExecuteDeps): Promise<void> {
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
async function stopContainer(operation: Extract<Operation, { kind: 'stop-container' }>, deps: ExecuteDeps, log: Logger): Promise<void> {
  const container = deps.docker.getContainer(operation.container.ref);
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
 * Pulls a tag reference of a mirrored registry from its mirror and tags it with its own name;
 * true when that worked. A digest reference cannot be tagged back to its own name, so it goes
 * to the original registry (or fails, fail-closed).
 */
async function pullFromMirror(docker: Docker, image: string, desired: DesiredState, readConfig: DockerConfigReader, log: Logger, platform?: string): Promise<boolean> {
  const mirrors = desired.mirrors;
  const mirror = mirrors ? mirrorReference(image, mirrors.hosts) : undefined;
  if (!mirrors || mirror === undefined) return false;
  const fail = (reason: string, cause?: unknown) => new CapstanError('MIRROR_PULL_FAILED', 'transient',
    `${image} cannot be pulled from mirror ${mirror} (${reason}), and mirrors_fail_closed forbids the original registry`, { image, mirror }, { cause });
  const target = splitReference(image);
  if (target.tag === undefined) {
    if (mirrors.failClosed) throw fail('a digest reference cannot be pulled through a mirror');
    return false;
  }
  try {
    await pullImage(docker, mirror, await registryAuth(mirror, desired.registries, readConfig), platform);
    await docker.getImage(mirror).tag({ repo: target.repo, tag: target.tag });
    log.info({ image, mirror }, 'pulled from the mirror');
    return true;
  } catch (error) {
    if (mirrors.failClosed) throw fail(errorMessage(error), error);
    log.warn({ image, mirror, error: errorMessage(error) }, 'the mirror failed, pulling from the original registry');
    return false;
  }
}

async function pullImage(docker: Docker, image: string, auth: { username: string; password: string; serveraddress: string } | undefined, platform?: string): Promise<void> {
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
  try {
    await promise;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== statusCode) throw error;
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.replace(/\s+/g, ' ').trim();
  return String(error);
}

import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import { dockerConfigReader, registryAuth, type AuthConfig, type DockerConfigReader } from '../registry-auth.js';
import { LABEL, ownerLabels } from '../../labels.js';
import type { Logger } from '../../log.js';
import type { App, DesiredState, Service } from '../../model.js';
import { networkLayout, type NetworkLayout } from '../networks.js';
import { describeSwarm } from './print.js';
import { expectationFor } from './rollout.js';
import { desiredSwarmService, type DesiredSwarmService } from './spec.js';
import type { ServiceRef, SwarmOperation, SwarmPlan } from './types.js';
import { watchRollout } from './execute-watch.js';

// Carries out a Swarm plan, one operation after another, with no decisions of its own. Service
// operations wait until Swarm's rollout is done (watch.ts). It stops at the first failure: the
// operations after it (removing old secret versions among them) wait for a plan that knows.

export interface SwarmJournal {
  start(operation: SwarmOperation): number;
  finish(entryId: number, error?: unknown): void;
}

export interface SwarmExecuteDeps {
  docker: Docker;
  journal: SwarmJournal;
  logger: Logger;
  clock: Clock;
  node: string;
  hashKey: Uint8Array;
  /** Reads a repository file for a Swarm config. */
  readFile: (path: string) => Promise<Uint8Array>;
  readDockerConfig?: DockerConfigReader;
  pollIntervalMs?: number;
  /** How long removing a network, secret or config Swarm still reports in use is retried. */
  releaseTimeoutMs?: number;
}

export interface SwarmFailure {
  operation: SwarmOperation;
  message: string;
  /** The new config itself failed (Swarm rolled back, tasks failed, or Swarm refused the spec): it quarantines the commit. */
  rollout: boolean;
}

export interface SwarmExecuteResult {
  done: SwarmOperation[];
  failure?: SwarmFailure;
}

class RolloutError extends Error {}

export async function executeSwarm(plan: SwarmPlan, desired: DesiredState, deps: SwarmExecuteDeps): Promise<SwarmExecuteResult> {
  const layout = networkLayout(desired);
  const done: SwarmOperation[] = [];
  for (const operation of plan.operations) {
    const entryId = deps.journal.start(operation);
    try {
      deps.logger.info({ operation: describeSwarm(operation), cause: operation.cause }, 'swarm operation');
      await run(operation, desired, layout, deps);
      deps.journal.finish(entryId);
      done.push(operation);
    } catch (error) {
      deps.journal.finish(entryId, error);
      const message = error instanceof Error ? error.message : String(error);
      return { done, failure: { operation, message, rollout: error instanceof RolloutError || statusCodeOf(error) === 400 } };
    }
  }
  return { done };
}

async function run(operation: SwarmOperation, desired: DesiredState, layout: NetworkLayout, deps: SwarmExecuteDeps): Promise<void> {
  const { docker, node } = deps;
  switch (operation.kind) {
    case 'remove-container':
      await tolerateMissing(docker.getContainer(operation.containerId).remove({ force: true }));
      return;
    case 'remove-local-network':
      await tolerateMissing(docker.getNetwork(operation.networkId).remove());
      return;
    case 'create-network':
      await docker.createNetwork({
        Name: operation.network,
        Driver: 'overlay',
        // Attachable, so `docker run --network` can join it for debugging, as Compose's networks.
        Attachable: true,
        Internal: operation.internal,
        CheckDuplicate: true,
        Labels: { ...ownerLabels(node), [LABEL.app]: operation.app },
      });
      return;
    case 'create-secret': {
      const file = findService(desired, operation.app, operation.service).service.secretFiles?.find((entry) => entry.target === operation.target);
      if (!file) throw new Error(`secret file ${operation.target} of ${operation.app}/${operation.service} is not in the desired state`);
      await docker.createSecret({
        Name: operation.secret,
        Labels: { ...ownerLabels(node), [LABEL.app]: operation.app, [LABEL.service]: operation.service },
        Data: Buffer.from(file.value, 'utf8').toString('base64'),
      });
      return;
    }
    case 'create-config': {
      const content = await deps.readFile(operation.source);
      await docker.createConfig({ Name: operation.config, Labels: { ...ownerLabels(node), [LABEL.app]: operation.app }, Data: Buffer.from(content).toString('base64') });
      return;
    }
    case 'create-service': {
      const { service, swarm } = await specFor(operation.service, desired, layout, deps);
      const created = (await docker.createService((await authFor(service, desired, deps)) as never, { _body: swarm.spec } as never)) as unknown as { id?: string; ID?: string };
      const serviceId = created.id ?? created.ID ?? '';
      await watch(deps, serviceId, expectationFor(service, { rolling: false, created: true }), operation.progressDeadlineMs);
      return;
    }
    case 'update-service': {
      const { service, swarm } = await specFor(operation.service, desired, layout, deps);
      const handle = docker.getService(operation.serviceId);
      const current = (await handle.inspect()) as Docker.Service;
      const auth = await authFor(service, desired, deps);
      await handle.update(auth as never, { _query: { version: current.Version?.Index }, _body: swarm.spec } as never);
      const expectation = expectationFor(service, { rolling: operation.rolling, created: false, previousStartedAt: current.UpdateStatus?.StartedAt });
      await watch(deps, operation.serviceId, expectation, operation.progressDeadlineMs);
      return;
    }
    case 'scale-service': {
      const handle = docker.getService(operation.serviceId);
      const current = (await handle.inspect()) as Docker.Service;
      const spec: Docker.ServiceSpec = { ...(current.Spec ?? {}), Mode: { Replicated: { Replicas: operation.replicas } } };
      await handle.update({ _query: { version: current.Version?.Index }, _body: spec } as never);
      const { service } = findService(desired, operation.service.app, operation.service.service);
      const expectation = { ...expectationFor(service, { rolling: false, created: false }), configHash: current.Spec?.Labels?.[LABEL.configHash] ?? '', replicas: operation.replicas };
      await watch(deps, operation.serviceId, expectation, operation.progressDeadlineMs);
      return;
    }
    case 'await-rollout': {
      const { service } = findService(desired, operation.service.app, operation.service.service);
      await watch(deps, operation.serviceId, expectationFor(service, { rolling: true, created: false }), operation.progressDeadlineMs);
      return;
    }
    case 'remove-service':
      await tolerateMissing(docker.getService(operation.serviceId).remove());
      return;
    case 'remove-network':
      await whenReleased(deps, () => docker.getNetwork(operation.networkId).remove());
      await untilGone(deps, () => docker.getNetwork(operation.networkId).inspect());
      return;
    case 'remove-secret':
      await whenReleased(deps, () => docker.getSecret(operation.secretId).remove());
      return;
    case 'remove-config':
      await whenReleased(deps, () => docker.getConfig(operation.configId).remove());
      return;
  }
}

async function watch(deps: SwarmExecuteDeps, serviceId: string, expectation: ReturnType<typeof expectationFor>, deadlineMs: number): Promise<void> {
  const failure = await watchRollout({ docker: deps.docker, clock: deps.clock, pollIntervalMs: deps.pollIntervalMs ?? 500 }, serviceId, expectation, deadlineMs);
  if (failure !== undefined) throw new RolloutError(failure);
}

function findService(desired: DesiredState, appName: string, serviceName: string): { app: App; service: Service } {
  const app = desired.apps.find((candidate) => candidate.name === appName);
  const service = app?.services.find((candidate) => candidate.name === serviceName);
  if (!app || !service) throw new Error(`service ${appName}/${serviceName} is not in the desired state`);
  return { app, service };
}

/** The spec to send, with the ids Swarm wants beside secret and config names. */
async function specFor(ref: ServiceRef, desired: DesiredState, layout: NetworkLayout, deps: SwarmExecuteDeps): Promise<{ service: Service; swarm: DesiredSwarmService }> {
  const { app, service } = findService(desired, ref.app, ref.service);
  const context = { node: deps.node, commit: desired.commit, layout, hashKey: deps.hashKey };
  const names = desiredSwarmService(app, service, context);
  const secretIds = await idsByName(names.secrets.map((secret) => secret.name), (filters) => deps.docker.listSecrets({ filters }) as unknown as Promise<Docker.Secret[]>);
  const configIds = await idsByName(names.configs.map((config) => config.name), (filters) => deps.docker.listConfigs({ filters }));
  const swarm = desiredSwarmService(app, service, { ...context, secretId: (name) => secretIds.get(name) ?? name, configId: (name) => configIds.get(name) ?? name });
  return { service, swarm };
}

async function idsByName(names: string[], list: (filters: { name: string[] }) => Promise<{ ID: string; Spec?: { Name?: string } }[]>): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  // Swarm's name filter matches prefixes; keep exact matches only.
  const found = await list({ name: names });
  const wanted = new Set(names);
  return new Map(found.filter((entry) => wanted.has(entry.Spec?.Name ?? '')).map((entry) => [entry.Spec?.Name ?? '', entry.ID]));
}

/** Sent as X-Registry-Auth, so every node can pull the image; never logged. */
async function authFor(service: Service, desired: DesiredState, deps: SwarmExecuteDeps): Promise<AuthConfig | undefined> {
  return registryAuth(service.image, desired.registries, deps.readDockerConfig ?? dockerConfigReader());
}

/**
 * Swarm removes a service's tasks a moment after the service; until then its networks are in
 * use. Retried every 500 ms for `releaseTimeoutMs` (default 30 s), then the error stands.
 */
async function whenReleased(deps: SwarmExecuteDeps, remove: () => Promise<unknown>): Promise<void> {
  const deadline = deps.clock.now() + (deps.releaseTimeoutMs ?? 30_000);
  for (;;) {
    try {
      await tolerateMissing(remove());
      return;
    } catch (error) {
      const inUse = /in use|is being used/i.test(error instanceof Error ? error.message : String(error));
      if (!inUse || deps.clock.now() >= deadline) throw error;
      await deps.clock.sleep(500);
    }
  }
}

/**
 * The engine keeps its local copy of an overlay network a moment after the swarm removed it;
 * waits for it to go, so that observing again right after does not see it.
 */
async function untilGone(deps: SwarmExecuteDeps, inspect: () => Promise<unknown>): Promise<void> {
  const deadline = deps.clock.now() + (deps.releaseTimeoutMs ?? 30_000);
  while (deps.clock.now() < deadline) {
    try {
      await inspect();
    } catch (error) {
      if (statusCodeOf(error) === 404) return;
      throw error;
    }
    await deps.clock.sleep(250);
  }
}

async function tolerateMissing(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (statusCodeOf(error) !== 404) throw error;
  }
}

function statusCodeOf(error: unknown): number | undefined {
  const statusCode = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

import type Docker from 'dockerode';
import type { Clock } from '../../clock.js';
import type { AuthConfig } from '../registry-auth.js';
import { LABEL, ownerLabels } from '../../labels.js';
import type { Logger } from '../../log.js';
import { describeSwarm } from './print.js';
import { expectationFor } from './rollout.js';
import { withReferenceIds, type DesiredSwarmService } from './spec.js';
import type { SwarmOperation, SwarmPlan } from './types.js';
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
  /** Reads a repository file for a Swarm config. */
  readFile: (path: string) => Promise<Uint8Array>;
  /** Registry credentials for an image, sent with a service's spec; never in a plan. */
  registryAuth: (image: string) => Promise<AuthConfig | undefined>;
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

/** Carries out the plan and nothing else: each operation carries what its call needs. */
export async function executeSwarm(plan: SwarmPlan, deps: SwarmExecuteDeps): Promise<SwarmExecuteResult> {
  const done: SwarmOperation[] = [];
  for (const operation of plan.operations) {
    const entryId = deps.journal.start(operation);
    try {
      deps.logger.info({ operation: describeSwarm(operation), cause: operation.cause }, 'swarm operation');
      await (EXECUTORS[operation.kind] as Executor<SwarmOperation>)(operation, deps);
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

type Executor<O extends SwarmOperation> = (operation: O, deps: SwarmExecuteDeps) => Promise<void>;
type OperationOf<Kind extends SwarmOperation['kind']> = Extract<SwarmOperation, { kind: Kind }>;

/** One function per operation kind. */
const EXECUTORS: { [Kind in SwarmOperation['kind']]: Executor<OperationOf<Kind>> } = {
  'remove-container': (operation, { docker }) => tolerateMissing(docker.getContainer(operation.containerId).remove({ force: true })),
  'remove-local-network': (operation, { docker }) => tolerateMissing(docker.getNetwork(operation.networkId).remove()),
  'create-network': async (operation, { docker, node }) => {
    await docker.createNetwork({
      Name: operation.network,
      Driver: 'overlay',
      // Attachable, so `docker run --network` can join it for debugging, as Compose's networks.
      Attachable: true,
      Internal: operation.internal,
      CheckDuplicate: true,
      Labels: { ...ownerLabels(node), [LABEL.app]: operation.app },
    });
  },
  'create-secret': async (operation, { docker, node }) => {
    await docker.createSecret({
      Name: operation.secret,
      Labels: { ...ownerLabels(node), [LABEL.app]: operation.app, [LABEL.service]: operation.service },
      Data: Buffer.from(operation.spec.value, 'utf8').toString('base64'),
    });
  },
  'create-config': async (operation, { docker, node, readFile }) => {
    const content = await readFile(operation.source);
    await docker.createConfig({ Name: operation.config, Labels: { ...ownerLabels(node), [LABEL.app]: operation.app }, Data: Buffer.from(content).toString('base64') });
  },
  'create-service': async (operation, deps) => {
    const spec = await specWithIds(operation.spec, deps);
    const created = (await deps.docker.createService((await deps.registryAuth(operation.spec.image)) as never, { _body: spec } as never)) as unknown as { id?: string; ID?: string };
    const serviceId = created.id ?? created.ID ?? '';
    await watch(deps, serviceId, expectationFor(operation.expected, { rolling: false, created: true }), operation.progressDeadlineMs);
  },
  'update-service': async (operation, deps) => {
    const spec = await specWithIds(operation.spec, deps);
    const handle = deps.docker.getService(operation.serviceId);
    const current = (await handle.inspect()) as Docker.Service;
    const auth = await deps.registryAuth(operation.spec.image);
    await handle.update(auth as never, { _query: { version: current.Version?.Index }, _body: spec } as never);
    const expectation = expectationFor(operation.expected, { rolling: operation.rolling, created: false, previousStartedAt: current.UpdateStatus?.StartedAt });
    await watch(deps, operation.serviceId, expectation, operation.progressDeadlineMs);
  },
  'scale-service': async (operation, deps) => {
    const handle = deps.docker.getService(operation.serviceId);
    const current = (await handle.inspect()) as Docker.Service;
    const spec: Docker.ServiceSpec = { ...(current.Spec ?? {}), Mode: { Replicated: { Replicas: operation.replicas } } };
    await handle.update({ _query: { version: current.Version?.Index }, _body: spec } as never);
    const expectation = { ...expectationFor(operation.expected, { rolling: false, created: false }), configHash: current.Spec?.Labels?.[LABEL.configHash] ?? '', replicas: operation.replicas };
    await watch(deps, operation.serviceId, expectation, operation.progressDeadlineMs);
  },
  'await-rollout': (operation, deps) => watch(deps, operation.serviceId, expectationFor(operation.expected, { rolling: true, created: false }), operation.progressDeadlineMs),
  'remove-service': (operation, { docker }) => tolerateMissing(docker.getService(operation.serviceId).remove()),
  'remove-network': async (operation, deps) => {
    await whenReleased(deps, () => deps.docker.getNetwork(operation.networkId).remove());
    await untilGone(deps, () => deps.docker.getNetwork(operation.networkId).inspect());
  },
  'remove-secret': (operation, deps) => whenReleased(deps, () => deps.docker.getSecret(operation.secretId).remove()),
  'remove-config': (operation, deps) => whenReleased(deps, () => deps.docker.getConfig(operation.configId).remove()),
};

async function watch(deps: SwarmExecuteDeps, serviceId: string, expectation: ReturnType<typeof expectationFor>, deadlineMs: number): Promise<void> {
  const failure = await watchRollout({ docker: deps.docker, clock: deps.clock, pollIntervalMs: deps.pollIntervalMs ?? 500 }, serviceId, expectation, deadlineMs);
  if (failure !== undefined) throw new RolloutError(failure);
}

/** The planned spec, with the ids Swarm wants beside secret and config names. */
async function specWithIds(desired: DesiredSwarmService, deps: SwarmExecuteDeps): Promise<Docker.ServiceSpec> {
  const secrets = await idsByName(desired.secrets.map((secret) => secret.name), (filters) => deps.docker.listSecrets({ filters }) as unknown as Promise<Docker.Secret[]>);
  const configs = await idsByName(desired.configs.map((config) => config.name), (filters) => deps.docker.listConfigs({ filters }));
  return withReferenceIds(desired.spec, { secrets, configs });
}

async function idsByName(names: string[], list: (filters: { name: string[] }) => Promise<{ ID: string; Spec?: { Name?: string } }[]>): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  // Swarm's name filter matches prefixes; keep exact matches only.
  const found = await list({ name: names });
  const wanted = new Set(names);
  return new Map(found.filter((entry) => wanted.has(entry.Spec?.Name ?? '')).map((entry) => [entry.Spec?.Name ?? '', entry.ID]));
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

import type { DesiredState } from '../../model.js';
import { networkLayout } from '../networks.js';
import { emptyStateProblem } from '../converge.js';
import { expectedTasks, rolloutDeadlineMs } from './rollout.js';
import { desiredSwarmService, type DesiredSwarmService } from './spec.js';
import { unsupportedAppFields, unsupportedFields, unsupportedVolumes } from './support.js';
import type { ObservedService, RepoFileInfo, RolloutSettings, SwarmObservedState, SwarmOperation, SwarmPlan, SwarmPlanProblem } from './types.js';

// What must change so that the swarm matches the desired state. Pure: desired + observed in,
// printable operations with causes out. Swarm does the placing, the rolling and the rolling
// back; the plan only says which spec each service should have.
//
// Order, and why:
//   1. containers and local networks this node's containers target left (ports and names free up)
//   2. overlay networks, secret versions, configs (a service spec refers to them by id)
//   3. services: created, updated (Swarm rolls them), scaled
//   4. services no longer in the repository
//   5. networks, secrets and configs nothing desired uses any more, once every service that
//      used them has its new spec (Swarm refuses to remove what a service refers to)
// The executor stops at the first failure, so after a failed rollout the old secret versions,
// which Swarm's rollback brings back into use, are still there.

export interface SwarmPlanOptions {
  /** Keys secret names (names.ts); the state dir's hash key. */
  hashKey: Uint8Array;
  /** What each repository file a service mounts is (observe.ts `observeRepoFiles`). */
  repoFiles?: ReadonlyMap<string, RepoFileInfo>;
  allowEmpty?: boolean;
}

/**
 * Update states in which the service's spec is not yet, or not fully, rolled out. Not
 * `rollback_started`: then the spec is already the previous one again, the one being restored.
 */
const IN_FLIGHT = new Set(['updating', 'paused']);

type NewOperation = SwarmOperation extends infer O ? (O extends SwarmOperation ? Omit<O, 'id'> : never) : never;

export function planSwarm(desired: DesiredState, observed: SwarmObservedState, options: SwarmPlanOptions): SwarmPlan {
  const result: SwarmPlan = { target: 'swarm', commit: desired.commit, node: observed.node, operations: [], problems: [] };
  const empty = emptyStateProblem(desired, { count: observed.services.length, what: 'managed Swarm service(s)', verb: 'remove' }, options.allowEmpty);
  if (empty) {
    result.problems.push(empty);
    return result;
  }
  const layout = networkLayout(desired);
  const repoFiles = options.repoFiles ?? new Map<string, RepoFileInfo>();
  for (const app of desired.apps) {
    result.problems.push(...unsupportedVolumes(app));
    result.problems.push(...unsupportedAppFields(app));
    for (const service of app.services) result.problems.push(...unsupportedFields(app, service, repoFiles));
  }
  const wanted = desired.apps.flatMap((app) =>
    app.services.map((service) => ({ service, swarm: desiredSwarmService(app, service, { node: observed.node, commit: desired.commit, layout, hashKey: options.hashKey }) })),
  );
  result.problems.push(...conflicts(wanted.map((entry) => entry.swarm), layout.networks, observed));
  if (result.problems.length > 0) return result;

  const operations: SwarmOperation[] = [];
  const add = (operation: NewOperation): number => {
    const id = operations.length + 1;
    operations.push({ ...operation, id } as SwarmOperation);
    return id;
  };

  // 1. What the containers target left. Named volumes stay: Swarm's tasks on this node mount the same ones.
  const legacyContainers = observed.legacy.containers.map((container) =>
    add({ kind: 'remove-container', containerId: container.id, container: container.name, app: container.app, after: [], cause: 'replaced by a Swarm service (--target swarm)' }),
  );
  const legacyNetworks = new Map(
    observed.legacy.networks.map((network) => [
      network.name,
      add({ kind: 'remove-local-network', networkId: network.id, network: network.name, app: network.app, after: legacyContainers, cause: 'replaced by an overlay network (--target swarm)' }),
    ]),
  );

  // 2. What service specs refer to.
  const ready = new Map<string, number>();
  const observedNetworks = new Set(observed.networks.map((network) => network.name));
  for (const network of layout.networks) {
    if (observedNetworks.has(network.name)) continue;
    const after = legacyNetworks.has(network.name) ? [legacyNetworks.get(network.name) as number] : [];
    ready.set(`network:${network.name}`, add({ kind: 'create-network', network: network.name, app: network.app, internal: network.internal, after, cause: 'network missing' }));
  }
  const observedSecrets = new Set(observed.secrets.map((secret) => secret.name));
  const observedConfigs = new Set(observed.configs.map((config) => config.name));
  for (const { service, swarm } of wanted) {
    for (const secret of swarm.secrets) {
      if (observedSecrets.has(secret.name) || ready.has(`secret:${secret.name}`)) continue;
      const cause = `secret file ${secret.target} of ${swarm.ref.app}/${swarm.ref.service}: new value`;
      const value = service.secretFiles?.find((file) => file.target === secret.target)?.value ?? '';
      const operation: NewOperation = { kind: 'create-secret', secret: secret.name, app: swarm.ref.app, service: swarm.ref.service, target: secret.target, spec: { value }, after: [], cause };
      ready.set(`secret:${secret.name}`, add(operation));
    }
    for (const config of swarm.configs) {
      if (observedConfigs.has(config.name) || ready.has(`config:${config.name}`)) continue;
      ready.set(`config:${config.name}`, add({ kind: 'create-config', config: config.name, app: swarm.ref.app, path: config.path, source: config.source, after: [], cause: `file ${config.path}` }));
    }
  }

  // 3. Services.
  const serviceOperations: number[] = [];
  const observedServices = new Map(observed.services.map((service) => [service.name, service]));
  for (const { service, swarm } of wanted) {
    const needs = [
      ...swarm.networks.map((endpoint) => ready.get(`network:${endpoint.network}`)),
      ...swarm.secrets.map((secret) => ready.get(`secret:${secret.name}`)),
      ...swarm.configs.map((config) => ready.get(`config:${config.name}`)),
    ].filter((id): id is number => id !== undefined);
    const after = [...legacyContainers, ...needs].sort((left, right) => left - right);
    const progressDeadlineMs = rolloutDeadlineMs(service);
    const expected = expectedTasks(service);
    const current = observedServices.get(swarm.ref.name);
    if (!current) {
      serviceOperations.push(add({ kind: 'create-service', service: swarm.ref, progressDeadlineMs, expected, spec: swarm, after, cause: 'service missing' }));
      continue;
    }
    const change = compare(swarm, current);
    if (change.spec.length > 0) {
      const cause = [...change.spec, ...change.replicas].join('; ');
      serviceOperations.push(add({ kind: 'update-service', service: swarm.ref, serviceId: current.id, rolling: change.rolling, progressDeadlineMs, expected, spec: swarm, after, cause }));
    } else if (change.replicas.length > 0) {
      const scale: NewOperation = { kind: 'scale-service', service: swarm.ref, serviceId: current.id, replicas: swarm.replicas, progressDeadlineMs, expected, after, cause: change.replicas[0] };
      serviceOperations.push(add(scale));
    } else if (current.updateStatus && IN_FLIGHT.has(current.updateStatus.state)) {
      // The spec is this commit's, but the cycle that sent it ended before Swarm finished (a
      // crash, a restart): see the rollout through before calling the commit applied.
      const cause = `Swarm's update is ${current.updateStatus.state.replace('_', ' ')} (sent by an earlier cycle)`;
      serviceOperations.push(add({ kind: 'await-rollout', service: swarm.ref, serviceId: current.id, progressDeadlineMs, expected, after: [], cause }));
    }
  }

  // 4. Services no longer in the repository.
  const wantedNames = new Set(wanted.map((entry) => entry.swarm.ref.name));
  for (const current of observed.services) {
    if (wantedNames.has(current.name)) continue;
    const ref = { name: current.name, app: current.app, service: current.service };
    serviceOperations.push(add({ kind: 'remove-service', service: ref, serviceId: current.id, after: [], cause: 'removed from repo' }));
  }

  // 5. What nothing desired uses any more.
  const desiredNetworks = new Set(layout.networks.map((network) => network.name));
  const desiredSecrets = new Set(wanted.flatMap((entry) => entry.swarm.secrets.map((secret) => secret.name)));
  const desiredConfigs = new Set(wanted.flatMap((entry) => entry.swarm.configs.map((config) => config.name)));
  for (const network of observed.networks) {
    if (!desiredNetworks.has(network.name)) add({ kind: 'remove-network', networkId: network.id, network: network.name, app: network.app, after: serviceOperations, cause: 'no longer used' });
  }
  for (const secret of observed.secrets) {
    if (!desiredSecrets.has(secret.name)) add({ kind: 'remove-secret', secretId: secret.id, secret: secret.name, after: serviceOperations, cause: 'no service uses this version any more' });
  }
  for (const config of observed.configs) {
    if (!desiredConfigs.has(config.name)) add({ kind: 'remove-config', configId: config.id, config: config.name, after: serviceOperations, cause: 'no service uses this file any more' });
  }
  result.operations = operations;
  return result;
}

interface Change {
  /** Why the spec must be sent again. */
  spec: string[];
  replicas: string[];
  /** Swarm will replace tasks (not only settings or the replica count changed). */
  rolling: boolean;
}

/**
 * The config hash covers everything of the service that runs (image, env, secret values, mounted
 * files…) but not replicas, `update` and `uses`, which Swarm keeps elsewhere in the spec; those
 * are compared one by one. The commit label alone never causes an update, as on one host.
 */
function compare(swarm: DesiredSwarmService, current: ObservedService): Change {
  const change: Change = { spec: [], replicas: [], rolling: false };
  const hash = swarm.spec.Labels?.['capstan.config-hash'] ?? '';
  if (current.configHash !== hash) {
    change.spec.push(`config-hash changed (${short(current.configHash) || 'none'} → ${short(hash)})`);
    change.rolling = true;
  }
  const wantedNetworks = swarm.networks.map((endpoint) => `${endpoint.network}[${endpoint.aliases.join(',')}]`).sort();
  const currentNetworks = current.networks.map((endpoint) => `${endpoint.network}[${endpoint.aliases.join(',')}]`).sort();
  if (wantedNetworks.join(' ') !== currentNetworks.join(' ')) {
    const joined = swarm.networks.map((endpoint) => endpoint.network).filter((name) => !current.networks.some((endpoint) => endpoint.network === name));
    const left = current.networks.map((endpoint) => endpoint.network).filter((name) => !swarm.networks.some((endpoint) => endpoint.network === name));
    const detail = [...joined.map((name) => `+${name}`), ...left.map((name) => `-${name}`)].join(' ');
    change.spec.push(`networks changed${detail ? ` (${detail})` : ' (aliases)'}`);
    change.rolling = true;
  }
  if (!sameSettings(swarm.update, current.update) || !sameSettings(swarm.rollback, current.rollback)) change.spec.push('update settings changed');
  // Placement is not in the config hash (on one host, where a service runs is not what runs);
  // in Swarm it is part of the spec, and changing it moves tasks.
  const wantedConstraints = [...(swarm.spec.TaskTemplate?.Placement?.Constraints ?? [])].sort();
  if (wantedConstraints.join(' ') !== current.constraints.join(' ')) {
    change.spec.push(`placement changed (${current.constraints.join(', ') || 'anywhere'} → ${wantedConstraints.join(', ') || 'anywhere'})`);
    change.rolling = true;
  }
  if (current.replicas === undefined) change.spec.push('not in replicated mode');
  else if (current.replicas !== swarm.replicas) change.replicas.push(`replicas ${current.replicas} → ${swarm.replicas}`);
  return change;
}

function sameSettings(wanted: RolloutSettings, current: RolloutSettings | undefined): boolean {
  return (
    current !== undefined &&
    wanted.parallelism === current.parallelism &&
    wanted.delayNs === current.delayNs &&
    wanted.failureAction === current.failureAction &&
    wanted.monitorNs === current.monitorNs &&
    wanted.order === current.order
  );
}

function conflicts(wanted: DesiredSwarmService[], networks: { name: string; app: string }[], observed: SwarmObservedState): SwarmPlanProblem[] {
  const foreignServices = new Set(observed.foreign.services);
  const foreignNetworks = new Set(observed.foreign.networks);
  const problems: SwarmPlanProblem[] = [];
  const conflict = (kind: string, name: string, app: string): SwarmPlanProblem => ({
    code: 'NAME_CONFLICT',
    message: `${kind} '${name}' needed by app '${app}' exists but was not created by this Capstan node; rename or remove it by hand (Capstan never touches objects it does not own)`,
  });
  for (const swarm of wanted) if (foreignServices.has(swarm.ref.name)) problems.push(conflict('service', swarm.ref.name, swarm.ref.app));
  for (const network of networks) if (foreignNetworks.has(network.name)) problems.push(conflict('network', network.name, network.app));
  return problems;
}

function short(hash: string): string {
  return hash.slice(0, 8);
}

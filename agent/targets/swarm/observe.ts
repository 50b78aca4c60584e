import type Docker from 'dockerode';
import { CapstanError } from '../../errors.js';
import { LABEL, isOwnedBy } from '../../labels.js';
import type { DesiredState } from '../../model.js';
import type { ObservedObject, ObservedService, RepoFileInfo, RolloutSettings, SwarmObservedState } from './types.js';
import { readyTasks, type TaskView } from './rollout.js';
import { toTaskView, toUpdateStatus } from './execute-watch.js';

// Only reads. What this node's agent owns in the swarm (services, overlay networks, secrets,
// configs labelled `capstan.managed=true` and `capstan.node=<node>`), what its containers target
// left on this engine, and the names others hold, in one pass, so planning needs no further call.

export async function observeSwarm(docker: Docker, node: string): Promise<SwarmObservedState> {
  await requireManager(docker);
  const owned = { filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${node}`] } };
  const [services, networks, secrets, configs, containers, tasks] = await Promise.all([
    docker.listServices() as Promise<Docker.Service[]>,
    docker.listNetworks(),
    docker.listSecrets(owned) as unknown as Promise<Docker.Secret[]>,
    docker.listConfigs(owned),
    docker.listContainers({ all: true, ...owned }),
    docker.listTasks({ filters: { 'desired-state': ['running'] } }) as Promise<Parameters<typeof toTaskView>[0][]>,
  ]);
  const observed: SwarmObservedState = {
    node,
    services: [],
    networks: [],
    secrets: [],
    configs: [],
    legacy: { containers: [], networks: [] },
    foreign: { services: [], networks: [] },
  };
  const networkNames = new Map(networks.map((network) => [network.Id, network.Name]));
  for (const network of networks) {
    if (!isOwnedBy(network.Labels, node)) observed.foreign.networks.push(network.Name);
    else if (network.Scope === 'swarm') observed.networks.push(objectOf(network.Id, network.Name, network.Labels));
    else observed.legacy.networks.push(objectOf(network.Id, network.Name, network.Labels));
  }
  const tasksByService = new Map<string, TaskView[]>();
  for (const task of tasks) {
    if (!task.ServiceID) continue;
    const list = tasksByService.get(task.ServiceID) ?? [];
    list.push(toTaskView(task));
    tasksByService.set(task.ServiceID, list);
  }
  for (const service of services) {
    const spec = service.Spec ?? {};
    if (!isOwnedBy(spec.Labels, node)) {
      if (spec.Name) observed.foreign.services.push(spec.Name);
      continue;
    }
    observed.services.push(observedService(service, networkNames, tasksByService.get(service.ID) ?? []));
  }
  for (const secret of secrets) observed.secrets.push(objectOf(secret.ID, secret.Spec?.Name ?? '', secret.Spec?.Labels));
  for (const config of configs) observed.configs.push(objectOf(config.ID, config.Spec?.Name ?? '', config.Spec?.Labels));
  for (const container of containers) {
    // A Swarm task's container never carries `capstan.managed`; only the containers target's do.
    const name = (container.Names[0] ?? '').replace(/^\//, '');
    observed.legacy.containers.push(objectOf(container.Id, name, container.Labels));
  }
  for (const list of [observed.services, observed.networks, observed.secrets, observed.configs, observed.legacy.containers, observed.legacy.networks]) {
    list.sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
  }
  return observed;
}

/** Swarm services can only be managed from a manager node. */
export async function requireManager(docker: Docker): Promise<void> {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  if (info.Swarm?.LocalNodeState === 'active' && info.Swarm.ControlAvailable) return;
  const state = info.Swarm?.LocalNodeState || 'inactive';
  throw new CapstanError(
    'SWARM_NOT_MANAGER',
    'terminal',
    `--target swarm needs a Swarm manager, and this Docker engine is ${state === 'active' ? 'a worker' : `not in a swarm (${state})`}: ` +
      'run Capstan on a manager, `docker swarm init` here, or use --target containers',
    { swarmState: state },
  );
}

function objectOf(id: string, name: string, labels: Record<string, string> | undefined): ObservedObject {
  return { id, name, app: labels?.[LABEL.app] ?? '' };
}

function observedService(service: Docker.Service, networkNames: Map<string, string>, tasks: TaskView[]): ObservedService {
  const spec = service.Spec ?? {};
  const labels = spec.Labels ?? {};
  const template = (spec.TaskTemplate ?? {}) as Docker.ContainerTaskSpec;
  const container = template.ContainerSpec ?? {};
  // Docker 20.10 keeps networks in the task template; older clients set the deprecated spec field.
  const attachments = [...(template.Networks ?? []), ...(spec.Networks ?? [])];
  const configHash = labels[LABEL.configHash] ?? '';
  return {
    id: service.ID,
    name: spec.Name ?? '',
    app: labels[LABEL.app] ?? '',
    service: labels[LABEL.service] ?? '',
    configHash,
    commit: labels[LABEL.commit] ?? '',
    replicas: spec.Mode?.Replicated ? (spec.Mode.Replicated.Replicas ?? 1) : undefined,
    networks: attachments
      .map((attachment) => ({ network: networkNames.get(attachment.Target ?? '') ?? attachment.Target ?? '', aliases: [...(attachment.Aliases ?? [])] }))
      .sort((left, right) => (left.network < right.network ? -1 : left.network > right.network ? 1 : 0)),
    update: rolloutSettingsOf(spec.UpdateConfig),
    rollback: rolloutSettingsOf(spec.RollbackConfig),
    constraints: [...(template.Placement?.Constraints ?? [])].sort(),
    secrets: (container.Secrets ?? []).map((secret) => secret.SecretName ?? '').sort(),
    configs: (container.Configs ?? []).map((config) => config.ConfigName ?? '').sort(),
    updateStatus: toUpdateStatus(service.UpdateStatus),
    readyTasks: readyTasks(tasks, configHash, false),
  };
}

/** Swarm leaves out fields at their zero value; these are its defaults. */
function rolloutSettingsOf(config: Docker.UpdateConfig | undefined): RolloutSettings | undefined {
  if (!config) return undefined;
  return {
    parallelism: config.Parallelism ?? 0,
    delayNs: config.Delay ?? 0,
    failureAction: config.FailureAction ?? 'pause',
    monitorNs: config.Monitor ?? 0,
    order: config.Order ?? 'stop-first',
  };
}

/** What each repository file a service mounts is in this commit's checkout: Swarm configs take files only. */
export async function observeRepoFiles(
  desired: DesiredState,
  stat: (path: string) => Promise<{ isDirectory(): boolean; size: number }>,
): Promise<Map<string, RepoFileInfo>> {
  const files = new Map<string, RepoFileInfo>();
  for (const app of desired.apps) {
    for (const service of app.services) {
      for (const mount of service.mounts) {
        if (mount.type !== 'bind' || !mount.repo || files.has(mount.source)) continue;
        const info = await stat(mount.source).catch(() => undefined);
        files.set(mount.source, info ? { kind: info.isDirectory() ? 'folder' : 'file', sizeBytes: info.size } : { kind: 'missing', sizeBytes: 0 });
      }
    }
  }
  return files;
}

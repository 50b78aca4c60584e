import type Docker from 'dockerode';
import { numericUser } from '../../load/normalize/spec.js';
import { LABEL, ownerLabels } from '../../labels.js';
import type { App, Service, PlacementSpec } from '../../model.js';
import type { NetworkLayout } from '../networks.js';
import { isOneShot, updateOf } from '../rollout.js';
import { configName, secretName, swarmServiceName } from './names.js';
import type { DesiredSwarmService, RolloutSettings, ServiceRef, SwarmConfigRef } from './types.js';

export type { DesiredSwarmService } from './types.js';

// Model `Service` → Swarm `ServiceSpec`. Pure, so the planner's comparisons and what Swarm
// receives come from the same function, and golden tests can pin the mapping. Whatever the
// model holds that has no place here is refused before (support.ts), never dropped.

export interface SwarmSpecContext {
  node: string;
  commit: string;
  layout: NetworkLayout;
  /** Keys secret names (names.ts). */
  hashKey: Uint8Array;
}

const MS = 1_000_000;

export function desiredSwarmService(app: App, service: Service, context: SwarmSpecContext): DesiredSwarmService {
  const ref: ServiceRef = { name: swarmServiceName(app.name, service.name), app: app.name, service: service.name };
  const image = service.image;
  const owner = numericUser(service.user) ?? { uid: 0, gid: 0 };
  const secrets = (service.secretFiles ?? []).map((file) => ({
    name: secretName(app.name, service.name, file.target, file.value, context.hashKey),
    target: file.target,
    mode: file.mode,
  }));
  const configs: SwarmConfigRef[] = [];
  const mounts: Docker.MountSettings[] = [];
  const volumes = new Map(app.volumes.map((volume) => [volume.name, volume]));
  for (const mount of service.mounts) {
    if (mount.type === 'volume') {
      const volume = volumes.get(mount.volume);
      // Local driver: the volume lives on whichever node runs the task, created there on first use.
      const labels = { ...(volume?.labels ?? {}), ...ownerLabels(context.node), [LABEL.app]: app.name };
      mounts.push({ Type: 'volume', Source: volume?.dockerName ?? mount.volume, Target: mount.target, ReadOnly: mount.readOnly, VolumeOptions: { Labels: labels, ...(mount.noCopy ? { NoCopy: true } : {}) } as never });
    } else if (mount.type === 'anonymous') {
      continue; // refused by support.ts: a task's anonymous volume is not kept per replica
    } else if (mount.repo) {
      configs.push({ name: configName(app.name, mount.repo.digest), path: mount.repo.path, source: mount.source, target: mount.target });
    } else {
      mounts.push({ Type: 'bind', Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly });
    }
  }
  for (const [target, options] of Object.entries(service.tmpfs ?? {})) {
    const parsed = parseTmpfsOptions(options);
    if (typeof parsed === 'string') continue; // refused by support.ts
    mounts.push({ Type: 'tmpfs', Source: '', Target: target, TmpfsOptions: parsed as never });
  }
  const networks = context.layout.endpoints(app.name, service.name);
  const { update, rollback } = rolloutSettings(app, service);

  const containerSpec: Docker.ContainerSpec = {
    Image: service.image,
    Labels: {
      ...service.labels,
      // Not `capstan.managed`: the containers target must never take a task's container for its own.
      [LABEL.node]: context.node,
      [LABEL.app]: app.name,
      [LABEL.service]: service.name,
      [LABEL.configHash]: service.configHash,
    },
    Env: Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
    Mounts: mounts,
    Secrets: secrets.map((secret) => ({
      SecretName: secret.name,
      // Swarm wants the id beside the name: the executor fills it in (withReferenceIds).
      SecretID: secret.name,
      File: { Name: secret.target, UID: String(owner.uid), GID: String(owner.gid), Mode: secret.mode },
    })),
    Configs: configs.map((config) => ({
      ConfigName: config.name,
      ConfigID: config.name,
      File: { Name: config.target, UID: '0', GID: '0', Mode: 0o444 },
    })),
  };
  if (service.entrypoint) containerSpec.Command = service.entrypoint;
  if (service.command) containerSpec.Args = service.command;
  if (service.healthcheck) {
    containerSpec.HealthCheck = {
      Test: service.healthcheck.test,
      Interval: nanos(service.healthcheck.intervalMs),
      Timeout: nanos(service.healthcheck.timeoutMs),
      Retries: service.healthcheck.retries ?? 0,
      StartPeriod: nanos(service.healthcheck.startPeriodMs),
    };
  }
  if (service.user !== undefined) containerSpec.User = service.user;
  if (service.readOnly) containerSpec.ReadOnly = true;
  if (service.stopSignal !== undefined) containerSpec.StopSignal = service.stopSignal;
  if (service.stopGracePeriodMs !== undefined) containerSpec.StopGracePeriod = service.stopGracePeriodMs * MS;
  if (service.init !== undefined) containerSpec.Init = service.init;
  if (service.capAdd) containerSpec.CapabilityAdd = service.capAdd.map((name) => `CAP_${name}`);
  if (service.capDrop) containerSpec.CapabilityDrop = service.capDrop.map((name) => `CAP_${name}`);
  if (service.ulimits) containerSpec.Ulimits = service.ulimits.map((limit) => ({ Name: limit.name, Soft: limit.soft, Hard: limit.hard }));

  const taskTemplate: Docker.ContainerTaskSpec = {
    ContainerSpec: containerSpec,
    RestartPolicy: { Condition: restartCondition(service), ...(service.restartMaxRetries === undefined ? {} : { MaxAttempts: service.restartMaxRetries }) },
    Networks: networks.map((endpoint) => ({ Target: endpoint.network, Aliases: endpoint.aliases })),
  };
  const resources = resourceRequirements(service);
  if (resources) taskTemplate.Resources = resources;
  const constraints = placementConstraints(service.placement ?? app.placement);
  if (constraints.length > 0) taskTemplate.Placement = { Constraints: constraints };

  const spec: Docker.ServiceSpec = {
    Name: ref.name,
    Labels: {
      ...service.labels,
      ...ownerLabels(context.node),
      [LABEL.app]: app.name,
      [LABEL.service]: service.name,
      [LABEL.configHash]: service.configHash,
      [LABEL.commit]: context.commit,
    },
    TaskTemplate: taskTemplate,
    Mode: { Replicated: { Replicas: service.replicas } },
    UpdateConfig: toUpdateConfig(update),
    RollbackConfig: toUpdateConfig(rollback),
    EndpointSpec: {
      Mode: 'vip',
      Ports: service.ports.map((port) => ({ Protocol: port.protocol, TargetPort: port.containerPort, PublishedPort: port.hostPort, PublishMode: 'ingress' as const })),
    },
  };
  return {
    ref,
    image,
    replicas: service.replicas,
    spec,
    secrets: secrets.map(({ name, target }) => ({ name, target })),
    configs,
    networks,
    update,
    rollback,
  };
}

/** The spec to send: each secret and config named by its id as well (Swarm wants both). */
export function withReferenceIds(spec: Docker.ServiceSpec, ids: { secrets: Map<string, string>; configs: Map<string, string> }): Docker.ServiceSpec {
  const template = spec.TaskTemplate as { ContainerSpec?: Docker.ContainerSpec } | undefined;
  const container = template?.ContainerSpec;
  if (!container) return spec;
  const withIds: Docker.ContainerSpec = {
    ...container,
    Secrets: container.Secrets?.map((secret) => ({ ...secret, SecretID: ids.secrets.get(secret.SecretName ?? '') ?? secret.SecretID })),
    Configs: container.Configs?.map((config) => ({ ...config, ConfigID: ids.configs.get(config.ConfigName ?? '') ?? config.ConfigID })),
  };
  return { ...spec, TaskTemplate: { ...template, ContainerSpec: withIds } as Docker.ServiceSpec['TaskTemplate'] };
}

/**
 * Swarm's update and rollback settings from `update:`. start-first unless a single-writer volume
 * is mounted read-write (two writers, even for seconds, can corrupt a database); unlike on one
 * host, a published port does not force stop-first, since Swarm's ingress publishes it once for
 * the service, not per task. A rollback that fails again pauses: a person must look.
 */
export function rolloutSettings(app: App, service: Service): { update: RolloutSettings; rollback: RolloutSettings } {
  const update = updateOf(service);
  const shared = new Set(app.volumes.filter((volume) => volume.shared).map((volume) => volume.name));
  const singleWriter = service.mounts.some((mount) => mount.type === 'volume' && !mount.readOnly && !shared.has(mount.volume));
  const order = singleWriter ? 'stop-first' : update.order;
  const common = { parallelism: update.parallelism, delayNs: update.delayMs * MS, monitorNs: update.monitorMs * MS, order };
  return { update: { ...common, failureAction: update.failureAction }, rollback: { ...common, failureAction: 'pause' } };
}

function toUpdateConfig(settings: RolloutSettings): Docker.UpdateConfig {
  return {
    Parallelism: settings.parallelism,
    Delay: settings.delayNs,
    FailureAction: settings.failureAction,
    Monitor: settings.monitorNs,
    MaxFailureRatio: 0,
    Order: settings.order,
  };
}

/** Compose's restart policies in Swarm's words; a one-shot that exits 0 is `complete`, not restarted. */
function restartCondition(service: Service): string {
  if (service.restart === 'no') return 'none';
  if (isOneShot(service)) return 'on-failure';
  return 'any';
}

function resourceRequirements(service: Service): Docker.ResourceRequirements | undefined {
  const resources = service.resources;
  if (!resources) return undefined;
  const limits: Docker.ResourceLimits = {};
  if (resources.nanoCpus !== undefined) limits.NanoCPUs = resources.nanoCpus;
  if (resources.memoryBytes !== undefined) limits.MemoryBytes = resources.memoryBytes;
  if (resources.pidsLimit !== undefined) limits.Pids = resources.pidsLimit;
  const requirements: Docker.ResourceRequirements = {};
  if (Object.keys(limits).length > 0) requirements.Limits = limits;
  if (resources.memoryReservationBytes !== undefined) requirements.Reservations = { MemoryBytes: resources.memoryReservationBytes };
  return Object.keys(requirements).length > 0 ? requirements : undefined;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * Docker's tmpfs option string (`size=64m,mode=1777`) as Swarm's TmpfsOptions, which knows only
 * size and mode; anything else is returned as the reason it cannot be honoured.
 */
export function parseTmpfsOptions(options: string): { SizeBytes?: number; Mode?: number } | string {
  const parsed: { SizeBytes?: number; Mode?: number } = {};
  for (const option of options.split(',').filter(Boolean)) {
    const [key, value = ''] = option.split('=');
    const size = /^(\d+)([bkmg]?)$/i.exec(value);
    if (key === 'size' && size) parsed.SizeBytes = Number(size[1]) * SIZE_UNITS[size[2].toLowerCase()];
    else if (key === 'mode' && /^[0-7]{3,4}$/.test(value)) parsed.Mode = parseInt(value, 8);
    else return `tmpfs option '${option}' (Swarm knows only size= and mode=)`;
  }
  return parsed;
}

function nanos(ms: number | undefined): number {
  return ms === undefined ? 0 : ms * MS;
}

/**
 * Fleet placement as Swarm constraints: Swarm ANDs them, so one node name (`node.hostname`) and
 * node labels (`node.labels.*`, set with `docker node update --label-add`). Several node names
 * cannot be said this way; support.ts refuses them.
 */
export function placementConstraints(placement: PlacementSpec | undefined): string[] {
  if (!placement) return [];
  const constraints = (placement.nodes?.length === 1 ? [`node.hostname==${placement.nodes[0]}`] : []).concat(
    Object.entries(placement.labels ?? {}).map(([key, value]) => `node.labels.${key}==${value}`),
  );
  return constraints.sort();
}

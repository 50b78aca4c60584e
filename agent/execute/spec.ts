import type Docker from 'dockerode';
import { LABEL, ownerLabels } from '../labels.js';
import type { App, Service } from '../model.js';
import { anonymousVolumeName, containerName } from '../names.js';
import type { EndpointSpec } from '../plan/networks.js';

/**
 * The Docker create body for one replica. Pure, so it is unit-testable and the planner's
 * config hash and what Docker receives come from the same normalized service.
 * User labels go first so the `capstan.*` labels can never be overridden.
 *
 * Docker 20.10 (API 1.41) creates a container on one network only: `endpoints[0]`, its own
 * app's. The executor connects the others before the first start.
 */
export function containerCreateOptions(
  app: App,
  service: Service,
  replica: number,
  context: { name: string; node: string; commit: string; endpoints: EndpointSpec[] },
): Docker.ContainerCreateOptions {
  const exposedPorts: Record<string, object> = {};
  const portBindings: Record<string, { HostIp?: string; HostPort?: string }[]> = {};
  for (const port of service.ports) {
    const key = `${port.containerPort}/${port.protocol}`;
    exposedPorts[key] = {};
    (portBindings[key] ??= []).push({ HostIp: port.hostIp ?? '', HostPort: port.hostPort === undefined ? '' : String(port.hostPort) });
  }
  const volumeNames = new Map(app.volumes.map((volume) => [volume.name, volume.dockerName]));
  const primary = context.endpoints[0];
  const options: Docker.ContainerCreateOptions = {
    name: context.name,
    Image: service.image,
    Cmd: service.command,
    Entrypoint: service.entrypoint,
    Env: Object.entries(service.environment).map(([key, value]) => `${key}=${value}`),
    Labels: {
      ...service.labels,
      ...ownerLabels(context.node),
      [LABEL.app]: app.name,
      [LABEL.service]: service.name,
      [LABEL.replica]: String(replica),
      [LABEL.configHash]: service.configHash,
      [LABEL.commit]: context.commit,
    },
    ExposedPorts: exposedPorts,
    Healthcheck: service.healthcheck && {
      Test: service.healthcheck.test,
      // Docker wants nanoseconds; 0 means "inherit from the image or Docker's default".
      Interval: msToNs(service.healthcheck.intervalMs),
      Timeout: msToNs(service.healthcheck.timeoutMs),
      Retries: service.healthcheck.retries ?? 0,
      StartPeriod: msToNs(service.healthcheck.startPeriodMs),
    },
    HostConfig: {
      PortBindings: portBindings,
      Mounts: service.mounts.map((mount) => {
        if (mount.type === 'volume') return { Type: 'volume' as const, Source: volumeNames.get(mount.volume) ?? mount.volume, Target: mount.target, ReadOnly: mount.readOnly };
        // The slot's own volume, by name: the replacement of replica n mounts what replica n had.
        if (mount.type === 'anonymous') return { Type: 'volume' as const, Source: anonymousVolumeName(app.name, service.name, replica, mount.target), Target: mount.target, ReadOnly: mount.readOnly };
        return { Type: 'bind' as const, Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly };
      }),
      RestartPolicy: { Name: service.restart === 'no' ? '' : service.restart },
      NetworkMode: networkMode(app, service, replica, primary),
      ...hostConfigExtras(service),
    },
  };
  if (primary) {
    const endpoint = primary.ipv4Address === undefined ? { Aliases: primary.aliases } : { Aliases: primary.aliases, IPAMConfig: { IPv4Address: primary.ipv4Address } };
    options.NetworkingConfig = { EndpointsConfig: { [primary.network]: endpoint } };
  }
  if (service.user !== undefined) options.User = service.user;
  if (service.workingDir !== undefined) options.WorkingDir = service.workingDir;
  if (service.stopSignal !== undefined) options.StopSignal = service.stopSignal;
  if (service.stopGracePeriodMs !== undefined) options.StopTimeout = Math.ceil(service.stopGracePeriodMs / 1000);
  return options;
}

/** A sidecar joins the namespace of its parent's replica with the same number (Docker resolves the name to the id). */
function networkMode(app: App, service: Service, replica: number, primary: EndpointSpec | undefined): string {
  switch (service.networkMode?.kind) {
    case 'host':
    case 'none':
      return service.networkMode.kind;
    case 'service':
      return `container:${containerName(app.name, service.networkMode.service, replica)}`;
    default:
      return primary?.network ?? 'none';
  }
}

/** Only what the manifest sets, so Docker's defaults stay Docker's. */
function hostConfigExtras(service: Service): Docker.HostConfig {
  const extras: Docker.HostConfig = {};
  const resources = service.resources ?? {};
  if (resources.nanoCpus !== undefined) extras.NanoCpus = resources.nanoCpus;
  if (resources.memoryBytes !== undefined) extras.Memory = resources.memoryBytes;
  if (resources.memoryReservationBytes !== undefined) extras.MemoryReservation = resources.memoryReservationBytes;
  if (resources.pidsLimit !== undefined) extras.PidsLimit = resources.pidsLimit;
  if (resources.shmSizeBytes !== undefined) extras.ShmSize = resources.shmSizeBytes;
  if (service.ulimits) extras.Ulimits = service.ulimits.map((limit) => ({ Name: limit.name, Soft: limit.soft, Hard: limit.hard }));
  if (service.readOnly) extras.ReadonlyRootfs = true;
  if (service.tmpfs) extras.Tmpfs = service.tmpfs;
  if (service.capAdd) extras.CapAdd = service.capAdd;
  if (service.capDrop) extras.CapDrop = service.capDrop;
  if (service.init !== undefined) extras.Init = service.init;
  if (service.runtime !== undefined) extras.Runtime = service.runtime;
  if (service.privileged) extras.Privileged = true;
  if (service.pid === 'host') extras.PidMode = 'host';
  if (service.devices) {
    extras.Devices = service.devices.map((device) => ({ PathOnHost: device.host, PathInContainer: device.container, CgroupPermissions: device.permissions }));
  }
  return extras;
}

function msToNs(ms: number | undefined): number {
  return ms === undefined ? 0 : ms * 1_000_000;
}

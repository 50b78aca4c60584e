import type Docker from 'dockerode';
import { LABEL, ownerLabels } from '../labels.js';
import type { App, Service } from '../model.js';
import { appNetworkName } from '../names.js';

/**
 * The Docker create body for one replica. Pure, so it is unit-testable and the planner's
 * config hash and what Docker receives come from the same normalized service.
 * User labels go first so the `capstan.*` labels can never be overridden.
 */
export function containerCreateOptions(
  app: App,
  service: Service,
  replica: number,
  context: { name: string; node: string; commit: string },
): Docker.ContainerCreateOptions {
  const network = appNetworkName(app.name);
  const exposedPorts: Record<string, object> = {};
  const portBindings: Record<string, { HostIp?: string; HostPort?: string }[]> = {};
  for (const port of service.ports) {
    const key = `${port.containerPort}/${port.protocol}`;
    exposedPorts[key] = {};
    (portBindings[key] ??= []).push({ HostIp: port.hostIp ?? '', HostPort: port.hostPort === undefined ? '' : String(port.hostPort) });
  }
  const volumeNames = new Map(app.volumes.map((volume) => [volume.name, volume.dockerName]));
  return {
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
      Mounts: service.mounts.map((mount) =>
        mount.type === 'volume'
          ? { Type: 'volume' as const, Source: volumeNames.get(mount.volume) ?? mount.volume, Target: mount.target, ReadOnly: mount.readOnly }
          : { Type: 'bind' as const, Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly },
      ),
      RestartPolicy: { Name: service.restart === 'no' ? '' : service.restart },
      NetworkMode: network,
    },
    NetworkingConfig: {
      EndpointsConfig: { [network]: { Aliases: [service.name] } },
    },
  };
}

function msToNs(ms: number | undefined): number {
  return ms === undefined ? 0 : ms * 1_000_000;
}

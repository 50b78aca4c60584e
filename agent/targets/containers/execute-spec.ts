import type Docker from 'dockerode';
import { LABEL, ownerLabels } from '../../labels.js';
import type { App, Service } from '../../model.js';
import { anonymousVolumeName, containerName } from '../../names.js';
import type { EndpointSpec } from '../networks.js';

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
      Mounts: service.mounts
        .filter((mount) => mount.type === 'anonymous' || mount.selinux === undefined)
        .map((mount) => {
          if (mount.type === 'volume') {
            return {
              Type: 'volume' as const,
              Source: volumeNames.get(mount.volume) ?? mount.volume,
              Target: mount.target,
              ReadOnly: mount.readOnly,
              // The typings want every VolumeOptions field; Docker takes NoCopy alone.
              ...(mount.noCopy ? { VolumeOptions: { NoCopy: true } as Docker.MountSettings["VolumeOptions"] } : {}),
            };
          }
          // The slot's own volume, by name: the replacement of replica n mounts what replica n had.
          if (mount.type === 'anonymous') return { Type: 'volume' as const, Source: anonymousVolumeName(app.name, service.name, replica, mount.target), Target: mount.target, ReadOnly: mount.readOnly };
          return { Type: 'bind' as const, Source: mount.source, Target: mount.target, ReadOnly: mount.readOnly };
        }),
      // Docker relabels for SELinux only binds given as `Binds` (`SRC:DST:ro,Z`), never `Mounts`.
      ...selinuxBinds(service, volumeNames),
      RestartPolicy: { Name: service.restart === 'no' ? '' : service.restart, ...(service.restartMaxRetries === undefined ? {} : { MaximumRetryCount: service.restartMaxRetries }) },
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
  containerSettings(options, service);
  return options;
}

/** The container's own settings (load/normalize/container.ts), only those the manifest sets. */
function containerSettings(options: Docker.ContainerCreateOptions & { platform?: string }, service: Service): void {
  if (service.hostname !== undefined) options.Hostname = service.hostname;
  if (service.domainname !== undefined) options.Domainname = service.domainname;
  if (service.stdinOpen !== undefined) {
    options.OpenStdin = service.stdinOpen;
    options.AttachStdin = false;
  }
  if (service.tty !== undefined) options.Tty = service.tty;
  if (service.macAddress !== undefined) options.MacAddress = service.macAddress;
  // A query parameter of the create call (docker-modem sends the options as both query and body).
  if (service.platform !== undefined) options.platform = service.platform;
}

function selinuxBinds(service: Service, volumeNames: Map<string, string>): Docker.HostConfig {
  const binds = service.mounts.flatMap((mount) => {
    if (mount.type === 'anonymous' || mount.selinux === undefined) return [];
    const source = mount.type === 'volume' ? (volumeNames.get(mount.volume) ?? mount.volume) : mount.source;
    const options = [mount.readOnly ? 'ro' : 'rw', ...(mount.type === 'volume' && mount.noCopy ? ['nocopy'] : []), mount.selinux];
    return [`${source}:${mount.target}:${options.join(',')}`];
  });
  return binds.length > 0 ? { Binds: binds } : {};
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
  // What `docker run --device vendor.com/class=name` sends for a CDI device, and `--gpus` for GPUs.
  const deviceRequests = [
    ...(service.cdiDevices ? [{ Driver: 'cdi', DeviceIDs: service.cdiDevices, Count: 0, Capabilities: [], Options: {} }] : []),
    ...(service.gpus ?? []).map((gpu) => ({ Driver: gpu.driver, Count: gpu.count, DeviceIDs: gpu.deviceIds, Capabilities: [gpu.capabilities], Options: gpu.options })),
  ];
  if (deviceRequests.length > 0) extras.DeviceRequests = deviceRequests;
  if (service.ipc !== undefined) extras.IpcMode = service.ipc;
  if (service.uts !== undefined) extras.UTSMode = service.uts;
  if (service.usernsMode !== undefined) extras.UsernsMode = service.usernsMode;
  if (service.cgroup !== undefined) (extras as { CgroupnsMode?: string }).CgroupnsMode = service.cgroup;
  if (service.cgroupParent !== undefined) extras.CgroupParent = service.cgroupParent;
  if (service.oomKillDisable !== undefined) extras.OomKillDisable = service.oomKillDisable;
  if (service.storageOpt) extras.StorageOpt = service.storageOpt;
  if (service.deviceCgroupRules) extras.DeviceCgroupRules = service.deviceCgroupRules;
  if (service.cpuRtRuntime !== undefined) extras.CpuRealtimeRuntime = service.cpuRtRuntime;
  if (service.cpuRtPeriod !== undefined) extras.CpuRealtimePeriod = service.cpuRtPeriod;
  const blkio = service.blkio;
  if (blkio?.weight !== undefined) extras.BlkioWeight = blkio.weight;
  if (blkio?.weightDevice) extras.BlkioWeightDevice = blkio.weightDevice.map(({ path, weight }) => ({ Path: path, Weight: weight }));
  if (blkio?.readBps) extras.BlkioDeviceReadBps = blkio.readBps.map(({ path, rate }) => ({ Path: path, Rate: rate }));
  if (blkio?.writeBps) extras.BlkioDeviceWriteBps = blkio.writeBps.map(({ path, rate }) => ({ Path: path, Rate: rate }));
  if (blkio?.readIops) extras.BlkioDeviceReadIOps = blkio.readIops.map(({ path, rate }) => ({ Path: path, Rate: rate }));
  if (blkio?.writeIops) extras.BlkioDeviceWriteIOps = blkio.writeIops.map(({ path, rate }) => ({ Path: path, Rate: rate }));
  if (resources.cpuset !== undefined) extras.CpusetCpus = resources.cpuset;
  if (resources.memorySwapBytes !== undefined) extras.MemorySwap = resources.memorySwapBytes;
  if (resources.memorySwappiness !== undefined) extras.MemorySwappiness = resources.memorySwappiness;
  if (resources.cpuShares !== undefined) extras.CpuShares = resources.cpuShares;
  if (resources.cpuPeriod !== undefined) extras.CpuPeriod = resources.cpuPeriod;
  if (resources.cpuQuota !== undefined) extras.CpuQuota = resources.cpuQuota;
  if (service.groupAdd) extras.GroupAdd = service.groupAdd;
  if (service.extraHosts) extras.ExtraHosts = service.extraHosts;
  if (service.dns) extras.Dns = service.dns;
  if (service.dnsSearch) extras.DnsSearch = service.dnsSearch;
  if (service.dnsOptions) extras.DnsOptions = service.dnsOptions;
  if (service.oomScoreAdj !== undefined) extras.OomScoreAdj = service.oomScoreAdj;
  if (service.logging) extras.LogConfig = { Type: service.logging.driver ?? '', Config: service.logging.options };
  if (service.sysctls) extras.Sysctls = service.sysctls;
  // Docker takes a seccomp profile's content, not a path (load/normalize/normalize.ts read the file).
  if (service.securityOpt) {
    extras.SecurityOpt = service.securityOpt.map((option) =>
      option.startsWith('seccomp=') && option !== 'seccomp=unconfined' && service.seccompProfile !== undefined ? `seccomp=${service.seccompProfile}` : option,
    );
  }
  return extras;
}

function msToNs(ms: number | undefined): number {
  return ms === undefined ? 0 : ms * 1_000_000;
}

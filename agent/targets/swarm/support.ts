import type { App, Service } from '../../model.js';
import { serviceNameProblem, swarmServiceName } from './names.js';
import { parseTmpfsOptions } from './spec.js';
import type { RepoFileInfo, SwarmPlanProblem } from './types.js';

// What a manifest asks that Swarm cannot honour. Each is refused by name (the whole commit is
// not applied), never dropped: a service that silently ran without its `depends_on` order or
// its device would be a different service from the one in the repository.

/** Swarm's limit for a config's data. */
export const CONFIG_MAX_BYTES = 500 * 1024;

/** The app's own fields Swarm cannot honour. */
export function unsupportedAppFields(app: App): SwarmPlanProblem[] {
  if (!app.hooks) return [];
  return [{ code: 'SWARM_UNSUPPORTED', message: `app ${app.name} (${app.source.file}:${app.source.line}): hooks: Capstan runs pre_deploy and post_deploy jobs as containers on this engine, not as Swarm tasks; run this app with the containers target, or leave hooks out` }];
}

export function unsupportedFields(app: App, service: Service, repoFiles: ReadonlyMap<string, RepoFileInfo>): SwarmPlanProblem[] {
  const where = `service ${app.name}/${service.name} (${service.source.file}:${service.source.line})`;
  const refuse = (field: string, why: string): SwarmPlanProblem => ({ code: 'SWARM_UNSUPPORTED', message: `${where}: ${field}: ${why}` });
  const problems: SwarmPlanProblem[] = [];
  const nameProblem = serviceNameProblem(swarmServiceName(app.name, service.name));
  if (nameProblem) problems.push({ code: 'SWARM_NAME_INVALID', message: `${where}: ${nameProblem}; shorten the app or service name` });

  const placement = service.placement ?? app.placement;
  if ((placement?.nodes?.length ?? 0) > 1) {
    problems.push(refuse('placement.nodes', 'Swarm constraints cannot say "any of these nodes"; give those nodes a label (docker node update --label-add) and place by label'));
  }
  if (service.build) problems.push(refuse('build', 'Swarm nodes pull images from a registry; build and push the image in CI and set image: to it'));
  if (service.networkMode?.kind === 'service') problems.push(refuse('network_mode: service:', 'Swarm cannot share one task\'s network namespace with another service; merge the sidecar into the image or run it as its own service'));
  else if (service.networkMode) problems.push(refuse(`network_mode: ${service.networkMode.kind}`, 'Swarm services join overlay networks only'));
  if (service.dependsOn?.length) problems.push(refuse('depends_on', 'Swarm starts services in no order; make the service wait for its dependency itself (retry on start)'));
  if (service.job) problems.push(refuse('schedule', 'scheduled jobs run on the containers target, whose agent starts each run; on Swarm, schedule a replicated-job service from outside (swarm-cronjob) or run this job with --target containers'));
  if (service.updateLock) problems.push(refuse('update_lock', 'the lock folder is on one host and Swarm moves tasks between nodes; use the containers target'));
  if (service.runtime !== undefined) problems.push(refuse('runtime', 'Swarm services cannot choose an OCI runtime'));
  if (service.privileged) problems.push(refuse('privileged', 'Swarm services cannot run privileged; use cap_add for what it needs'));
  if (service.pid === 'host') problems.push(refuse('pid: host', 'Swarm services cannot share the host\'s PID namespace'));
  if (service.devices?.length) problems.push(refuse('devices', 'Swarm services cannot map host devices'));
  for (const [field, set] of containerSettings(service)) {
    if (set) problems.push(refuse(field, 'not carried into Swarm services by Capstan; run this service with the containers target, or leave the key out'));
  }
  if (service.resources?.shmSizeBytes !== undefined) problems.push(refuse('shm_size', 'Swarm services cannot size /dev/shm; mount a tmpfs at /dev/shm instead'));
  for (const [target, options] of Object.entries(service.tmpfs ?? {})) {
    const parsed = parseTmpfsOptions(options);
    if (typeof parsed === 'string') problems.push(refuse(`tmpfs ${target}`, parsed));
  }
  for (const port of service.ports) {
    if (port.hostIp !== undefined) {
      problems.push(refuse(`ports ${port.hostIp}:${port.hostPort ?? ''}:${port.containerPort}`, 'Swarm publishes a port on every node\'s interfaces (ingress); remove the host address, and firewall the port if it must stay private'));
    }
  }
  for (const mount of service.mounts) {
    if (mount.type === 'anonymous') {
      problems.push(refuse(`volumes ${mount.target}`, 'a Swarm task\'s anonymous volume is new with every task, not kept per replica; name the volume and declare it under the top-level volumes'));
      continue;
    }
    if (mount.selinux) problems.push(refuse(`volumes ${mount.target}:${mount.selinux}`, 'Swarm services cannot relabel a bind source for SELinux; label it on the nodes by hand'));
    if (mount.type !== 'bind' || !mount.repo) continue;
    const file = repoFiles.get(mount.source);
    if (file?.kind === 'folder') {
      problems.push(refuse(`volumes ${mount.repo.path}`, 'a folder from the repository cannot become a Swarm config; mount its files one by one'));
    } else if (file && file.sizeBytes > CONFIG_MAX_BYTES) {
      problems.push(refuse(`volumes ${mount.repo.path}`, `${file.sizeBytes} bytes; a Swarm config holds at most ${CONFIG_MAX_BYTES}`));
    }
  }
  return problems;
}

/** Volume settings Swarm cannot carry out: a local volume lives on whichever node ran the task. */
export function unsupportedVolumes(app: App): SwarmPlanProblem[] {
  const networks = (app.networks ?? [])
    .filter((network) => network.external || network.ipam)
    .map((network) => ({
      code: 'SWARM_UNSUPPORTED',
      message: `app ${app.name} (${app.source.file}:${app.source.line}): networks.${network.name}.${network.external ? 'external' : 'ipam'}: Swarm services join the overlay networks Capstan creates, with addresses Swarm assigns`,
    }));
  return networks.concat(app.volumes
    .filter((volume) => volume.remove)
    .map((volume) => ({
      code: 'SWARM_UNSUPPORTED',
      message: `app ${app.name} (${app.source.file}:${app.source.line}): volumes.${volume.name}.remove: Swarm's local volumes live on the nodes that ran the tasks, where Capstan cannot remove them; remove them there by hand`,
    })), app.volumes
    .filter((volume) => volume.external)
    .map((volume) => ({
      code: 'SWARM_UNSUPPORTED',
      message: `app ${app.name} (${app.source.file}:${app.source.line}): volumes.${volume.name}.external: a Swarm task mounts a local volume on whichever node runs it, where Docker creates it when it is missing; use --target containers for an external volume`,
    })), app.volumes
    .filter((volume) => volume.snapshot)
    .map((volume) => ({
      code: 'SWARM_UNSUPPORTED',
      message: `app ${app.name} (${app.source.file}:${app.source.line}): volumes.${volume.name}.snapshot: Swarm moves tasks between nodes itself, where Capstan can neither snapshot nor hand over their local volumes; use fleet mode (--target containers on each node) for volumes that follow their service`,
    })));
}

/** Service settings the Swarm target does not translate (yet): refused by name, never dropped. */
function containerSettings(service: Service): [string, boolean][] {
  return [
    ['hostname', service.hostname !== undefined],
    ['domainname', service.domainname !== undefined],
    ['extra_hosts', service.extraHosts !== undefined],
    ['dns', service.dns !== undefined],
    ['dns_search', service.dnsSearch !== undefined],
    ['dns_opt', service.dnsOptions !== undefined],
    ['stdin_open', service.stdinOpen !== undefined],
    ['tty', service.tty !== undefined],
    ['platform', service.platform !== undefined],
    ['oom_score_adj', service.oomScoreAdj !== undefined],
    ['mac_address', service.macAddress !== undefined],
    ['logging', service.logging !== undefined],
    ['sysctls', service.sysctls !== undefined],
    ['security_opt', service.securityOpt !== undefined],
    ['cpuset', service.resources?.cpuset !== undefined],
    ['memswap_limit', service.resources?.memorySwapBytes !== undefined],
    ['mem_swappiness', service.resources?.memorySwappiness !== undefined],
    ['cpu_shares', service.resources?.cpuShares !== undefined],
    ['cpu_period', service.resources?.cpuPeriod !== undefined],
    ['cpu_quota', service.resources?.cpuQuota !== undefined],
    ['group_add', service.groupAdd !== undefined],
    ['ipc', service.ipc !== undefined],
    ['uts', service.uts !== undefined],
    ['userns_mode', service.usernsMode !== undefined],
    ['cgroup', service.cgroup !== undefined],
    ['oom_kill_disable', service.oomKillDisable !== undefined],
    ['storage_opt', service.storageOpt !== undefined],
    ['gpus', service.gpus !== undefined],
    ['blkio_config', service.blkio !== undefined],
    ['device_cgroup_rules', service.deviceCgroupRules !== undefined],
    ['cgroup_parent', service.cgroupParent !== undefined],
    ['post_start', service.postStart !== undefined],
    ['pre_stop', service.preStop !== undefined],
    ['cpu_rt_runtime', service.cpuRtRuntime !== undefined],
    ['cpu_rt_period', service.cpuRtPeriod !== undefined],
    ['devices (CDI)', service.cdiDevices !== undefined],
  ];
}

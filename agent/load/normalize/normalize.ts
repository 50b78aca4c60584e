// A validated manifest → the app in the model's shape: defaults applied, short syntaxes parsed,
// names resolved. Everything still missing is the config hash, which needs the whole service.
import { posix } from 'node:path';
import { normalizeHealthcheck, normalizeImageUpdate, normalizeUpdate } from './rollout.js';
import type { App, GrantSpec, MountSpec, PortSpec, Service, VolumeSpec } from '../../model.js';
import type { AppDraft, ServiceDraft } from './draft.js';
import { policyRefusals, type HostPolicy } from '../../policy/index.js';
import { normalizeSnapshot } from '../../storage/normalize.js';
import { appProblems } from './app-checks.js';
import { normalizeBuild } from './build.js';
import { normalizeHooks } from './hooks.js';
import { securityOption } from '../../spelling.js';
import { normalizeContainerFields } from './container.js';
import { normalizeLifecycle } from './lifecycle.js';
import { grantText, normalizeSpecFields, parseGrant } from './spec.js';
import type { EnvFiles, EnvFileVariables } from '../variables/env-files.js';
import { parseMount } from './mounts.js';
import { appNetworks, serviceNetworks } from './networks.js';
import { parsePort } from './ports.js';
import type { KeyPath, PathProblem } from '../problems.js';
import { resolveRepoPath, type Checkout } from '../files/repo-files.js';
import type { Manifest, MountManifest, SecretFileManifest, ServiceManifest } from '../schema/schema.js';
import { normalizeSecretFiles, type SecretFileContent } from './secret-files.js';
import { shellSplit } from './shell-split.js';
import { toStringMap } from './string-map.js';
import { envFileEnvironment } from '../variables/variables.js';
import { normalizeJob } from '../../jobs/normalize.js';

/** A published port and where it is written, for the cross-app conflict checks. */
export interface PortSite {
  service: string;
  index: number;
  port: PortSpec;
  replicas: number;
}

export interface NormalizeContext {
  checkout: Checkout;
  /** Manifest path relative to the checkout root, and its folder as an absolute path. */
  file: string;
  manifestDir: string;
  lineOf: (path: KeyPath) => number;
  /** Reads the services' own `env_files`. */
  envFiles: EnvFiles;
  /** What this host lets manifests ask for. */
  policy: HostPolicy;
  /** The agent user's home, for `~` in bind sources. */
  homeDir: string;
}

/** A grant and where it is written, for the cross-app check that its provider exists. */
export interface GrantSite {
  service: string;
  grant: GrantSpec;
  path: KeyPath;
}

export interface Normalized {
  app: AppDraft;
  ports: PortSite[];
  grants: GrantSite[];
  problems: PathProblem[];
}

const DEFAULT_RESTART = 'unless-stopped';
const RESERVED_LABEL_PREFIX = 'capstan.';

export async function normalizeManifest(manifest: Manifest, context: NormalizeContext): Promise<Normalized> {
  const problems: PathProblem[] = [];
  const volumes: VolumeSpec[] = Object.entries(manifest.volumes ?? {}).map(([name, spec]) => {
    const labels = toStringMap(spec?.labels, ['volumes', name, 'labels'], { what: 'label', reservedPrefix: RESERVED_LABEL_PREFIX });
    problems.push(...labels.problems);
    // An external volume is named by its key unless `name` says otherwise, as in Compose.
    const external = spec?.external === true;
    const volume: VolumeSpec = { name, dockerName: spec?.name ?? (external ? name : `${manifest.app}_${name}`), labels: labels.map };
    // Any other name is a volume Capstan may not own: another app's, or one made by hand.
    if ((spec?.name !== undefined || external) && !isOwnVolumeName(manifest.app, name, volume.dockerName) && !context.policy.allowedVolumeNames.includes(volume.dockerName)) {
      const message = `Docker volume '${volume.dockerName}' is not this app's (${manifest.app}_${name}); it may be another app's or one Capstan did not create, so it is refused by host policy; set allowed_volume_names: [${volume.dockerName}] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it`;
      problems.push({ code: 'POLICY_REFUSED', path: ['volumes', name, spec?.name !== undefined ? 'name' : 'external'], message, grant: { allowed_volume_names: [volume.dockerName] } });
    }
    if (external) {
      volume.external = { line: context.lineOf(['volumes', name, 'external']) };
      for (const key of ['labels', 'remove', 'snapshot'] as const) {
        if (spec?.[key] === undefined || spec[key] === false) continue;
        problems.push({ code: 'VOLUME_EXTERNAL_SETTINGS', path: ['volumes', name, key], atKey: true, message: `an external volume is not Capstan's: it is never labelled, snapshotted or deleted by Capstan; remove ${key}` });
      }
    }
    if (spec?.shared) volume.shared = true;
    if (spec?.remove) volume.remove = true;
    if (spec?.snapshot) {
      const normalized = normalizeSnapshot(spec.snapshot, ['volumes', name, 'snapshot'], volume);
      problems.push(...normalized.problems);
      volume.snapshot = normalized.snapshot;
    }
    return volume;
  });
  const declared = new Set(volumes.map((volume) => volume.name));
  const declaredNetworks = appNetworks(manifest, problems, context.lineOf);
  const services: ServiceDraft[] = [];
  const grants: GrantSite[] = [];
  const portIndexes = new Map<string, number[]>();
  for (const [name, spec] of Object.entries(manifest.services)) {
    const result = await normalizeService(manifest.app, name, spec, declared, context);
    problems.push(...result.problems);
    const networks = serviceNetworks(spec, ['services', name], declaredNetworks, problems);
    if (networks) result.service.networks = networks;
    services.push(result.service);
    portIndexes.set(name, result.portIndexes);
    grants.push(...serviceGrants(manifest, name, spec.network_mode === undefined, result.service));
  }
  problems.push(...sidecarReplicas(manifest, services));
  // After sidecarReplicas: a sidecar binds ports as many times as its parent has replicas.
  const ports = services.flatMap((service) =>
    service.ports.map((port, index) => ({ service: service.name, index: portIndexes.get(service.name)![index], port, replicas: service.replicas })),
  );
  const byName = (left: { name: string }, right: { name: string }) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0);
  const app: AppDraft = {
    name: manifest.app,
    source: { file: context.file, line: context.lineOf(['app']) },
    services: services.sort(byName),
    volumes: volumes.sort(byName),
  };
  if (declaredNetworks.length > 0) app.networks = declaredNetworks;
  if (manifest.placement) app.placement = manifest.placement;
  if (manifest.remove_anonymous_volumes === true) app.removeAnonymousVolumes = true;
  const hooks = manifest.hooks && normalizeHooks(manifest.hooks, services, problems);
  if (hooks) app.hooks = hooks;
  problems.push(...appProblems(app, context.lineOf));
  return { app, ports, grants, problems };
}

/**
 * `<app>_<volume>`, or the name Compose gives the volume the converter renamed (`<app>_etc.d`
 * for key `etc-d`, see compose/convert-project.ts): the app's own.
 */
function isOwnVolumeName(app: string, volume: string, dockerName: string): boolean {
  if (!dockerName.startsWith(`${app}_`)) return false;
  const rest = dockerName.slice(app.length + 1);
  return rest === volume || rest.toLowerCase().replace(/[^a-z0-9_-]/g, '-').replace(/^[_-]+/, '').slice(0, 63) === volume;
}

/**
 * The service's own grants and the app-level ones, deduplicated and sorted into the service.
 * App-level grants skip services with a network_mode: they join no network of their own.
 */
function serviceGrants(manifest: Manifest, name: string, networked: boolean, service: ServiceDraft): GrantSite[] {
  const sites: GrantSite[] = [];
  if (networked) (manifest.uses ?? []).forEach((text, index) => sites.push({ service: name, grant: parseGrant(text), path: ['uses', index] }));
  (manifest.services[name].uses ?? []).forEach((text, index) => sites.push({ service: name, grant: parseGrant(text), path: ['services', name, 'uses', index] }));
  const unique = new Map(sites.map((site) => [grantText(site.grant), site.grant]));
  if (unique.size > 0) service.uses = [...unique.entries()].sort(([left], [right]) => (left < right ? -1 : 1)).map(([, grant]) => grant);
  return sites;
}

/** A sidecar runs beside each replica of its parent, so it takes the parent's replica count. */
function sidecarReplicas(manifest: Manifest, services: ServiceDraft[]): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const service of services) {
    if (service.networkMode?.kind !== 'service') continue;
    const parentName = service.networkMode.service;
    const parent = services.find((candidate) => candidate.name === parentName);
    if (!parent) continue;
    const written = manifest.services[service.name].replicas;
    if (written !== undefined && written !== parent.replicas) {
      problems.push({
        code: 'SIDECAR_REPLICAS',
        path: ['services', service.name, 'replicas'],
        message: `a sidecar runs one container per replica of '${parentName}' (${parent.replicas}); leave replicas out`,
      });
    }
    service.replicas = parent.replicas;
  }
  return problems;
}

async function normalizeService(app: string, name: string, spec: ServiceManifest, declared: Set<string>, context: NormalizeContext) {
  const path: KeyPath = ['services', name];
  const problems: PathProblem[] = [];
  const argv = (value: string | string[] | undefined, key: string): string[] | undefined => {
    if (value === undefined || Array.isArray(value)) return value;
    const split = shellSplit(value);
    if ('words' in split) return split.words;
    problems.push({ code: 'COMMAND_INVALID', path: [...path, key], message: split.error });
    return undefined;
  };
  const environment = toStringMap(spec.environment, [...path, 'environment'], { what: 'variable' });
  const labels = toStringMap(spec.labels, [...path, 'labels'], { what: 'label', reservedPrefix: RESERVED_LABEL_PREFIX });
  problems.push(...environment.problems, ...labels.problems);

  const ports: PortSpec[] = [];
  const portIndexes: number[] = [];
  (spec.ports ?? []).forEach((entry, index) => {
    const parsed = parsePort(entry);
    if ('error' in parsed) {
      problems.push({ code: 'PORT_INVALID', path: [...path, 'ports', index], message: parsed.error });
      return;
    }
    ports.push(parsed.port);
    portIndexes.push(index);
  });

  const mounts: MountSpec[] = [];
  const mountIndexes: number[] = [];
  const targets = new Map<string, number>();
  for (const [index, entry] of (spec.volumes ?? []).entries()) {
    const mountPath: KeyPath = [...path, 'volumes', index];
    const mount = await resolveMount(entry, declared, context);
    if ('code' in mount) {
      problems.push({ code: mount.code, path: mountPath, message: mount.message });
      continue;
    }
    const earlier = targets.get(mount.target);
    if (earlier !== undefined) {
      problems.push({ code: 'MOUNT_DUPLICATE_TARGET', path: mountPath, message: `volumes[${earlier}] already mounts on the same container path; Docker refuses two mounts on one target` });
    }
    targets.set(mount.target, index);
    mounts.push(mount);
    mountIndexes.push(index);
  }

  const secretContents = await secretFileContents(spec.secrets, [...path, 'secrets'], context, problems);
  const secrets = normalizeSecretFiles(secretContents, [...path, 'secrets'], mounts);
  problems.push(...secrets.problems);
  const fromFiles = await serviceEnvFiles(spec.env_files, [...path, 'env_files'], context, problems);

  const build = spec.build === undefined ? undefined : await normalizeBuild(spec.build, [...path, 'build'], context, problems);
  if (spec.image === undefined && spec.build === undefined) {
    problems.push({ code: 'IMAGE_MISSING', path, message: 'a service needs image: (to pull) or build: (to build from the repository)', atKey: true });
  }
  if (spec.image !== undefined && spec.build !== undefined) {
    problems.push({ code: 'IMAGE_AND_BUILD', path: [...path, 'image'], message: 'a built image is tagged capstan/<app>-<service>:<digest>; leave image out when the service has build' });
  }
  const service: ServiceDraft = {
    app,
    name,
    // A built image's tag is set once the hash key is at hand (index.ts).
    image: spec.image ?? '',
    environment: { ...envFileEnvironment(fromFiles), ...environment.map },
    ports,
    mounts,
    restart: spec.restart ?? DEFAULT_RESTART,
    labels: labels.map,
    replicas: spec.replicas ?? 1,
    source: { file: context.file, line: context.lineOf(path) },
    ...normalizeSpecFields(spec, path, problems),
    ...normalizeContainerFields(spec, path, problems),
    ...normalizeLifecycle(spec, path, problems),
  };
  if (build !== undefined) service.build = build;
  if (spec.restart_max_retries !== undefined) {
    if (service.restart === 'on-failure') service.restartMaxRetries = spec.restart_max_retries;
    else problems.push({ code: 'RESTART_INVALID', path: [...path, 'restart_max_retries'], atKey: true, message: `Docker limits restarts only with restart: on-failure (this service has ${service.restart}): set restart: on-failure, or remove restart_max_retries` });
  }
  const seccomp = await seccompProfile(spec, path, context, problems);
  if (seccomp !== undefined) service.seccompProfile = seccomp;
  for (const refusal of await policyRefusals(service, context.policy, mountIndexes)) {
    problems.push({ code: 'POLICY_REFUSED', path: [...path, ...writtenKey(spec, refusal.key)], message: refusal.message, grant: refusal.grant });
  }
  const command = argv(spec.command, 'command');
  const entrypoint = argv(spec.entrypoint, 'entrypoint');
  if (secrets.secretFiles.length > 0) service.secretFiles = secrets.secretFiles;
  const healthcheck = normalizeHealthcheck(spec.healthcheck);
  const update = normalizeUpdate(spec.update);
  if (healthcheck !== undefined) service.healthcheck = healthcheck;
  if (update !== undefined) service.update = update;
  const imageUpdate = normalizeImageUpdate(spec.update, spec, path, problems);
  if (imageUpdate !== undefined) service.imageUpdate = imageUpdate;
  if (spec.update_lock === true) service.updateLock = true;
  if (command !== undefined) service.command = command;
  if (entrypoint !== undefined) service.entrypoint = entrypoint;
  if (spec.placement) service.placement = spec.placement;
  const job = normalizeJob(spec, path, problems);
  if (job !== undefined) {
    // No replica: deploys and drift repair never start a job; agent/jobs runs it at its times.
    service.job = job;
    service.replicas = 0;
    service.restart = service.restartMaxRetries !== undefined ? 'on-failure' : 'no';
  }
  return { service, portIndexes, problems };
}

/** `secrets:` with each `file:` source (a SOPS file) read into its decrypted content. */
async function secretFileContents(
  secrets: Record<string, SecretFileManifest> | undefined,
  path: KeyPath,
  context: NormalizeContext,
  problems: PathProblem[],
): Promise<Record<string, SecretFileContent> | undefined> {
  if (secrets === undefined) return undefined;
  const contents: Record<string, SecretFileContent> = {};
  for (const [target, entry] of Object.entries(secrets)) {
    if (typeof entry === 'string') {
      contents[target] = entry;
      continue;
    }
    const mode = entry.mode === undefined ? {} : { mode: entry.mode };
    if ((entry.value === undefined) === (entry.file === undefined)) {
      problems.push({ code: 'SECRET_SOURCE_INVALID', path: [...path, target], atKey: true, message: 'give the file\'s content as `value` or a SOPS file as `file`, exactly one of them' });
      continue;
    }
    if (entry.value !== undefined) {
      contents[target] = { value: entry.value, ...mode };
      continue;
    }
    const read = await context.envFiles.readSecretFile(context.manifestDir, entry.file as string);
    if ('content' in read) contents[target] = { value: read.content, ...mode };
    else if (read.reference) problems.push({ ...read.reference, path: [...path, target, 'file'] });
  }
  return contents;
}

async function serviceEnvFiles(paths: string[] | undefined, path: KeyPath, context: NormalizeContext, problems: PathProblem[]): Promise<EnvFileVariables[]> {
  const reads: EnvFileVariables[] = [];
  for (const [index, entry] of (paths ?? []).entries()) {
    const read = await context.envFiles.read(context.manifestDir, entry);
    if ('variables' in read) reads.push(read.variables);
    else if (read.reference) problems.push({ ...read.reference, path: [...path, index] });
  }
  return reads;
}

async function resolveMount(entry: MountManifest, declared: Set<string>, context: NormalizeContext): Promise<MountSpec | { code: string; message: string }> {
  const parsed = parseMount(entry);
  if ('error' in parsed) return { code: 'MOUNT_INVALID', message: parsed.error };
  const mount = parsed.mount;
  switch (mount.kind) {
    case 'volume':
      if (!declared.has(mount.volume)) {
        return { code: 'VOLUME_UNDECLARED', message: `volume '${mount.volume}' is not declared; add it under the top-level volumes (volumes: {${mount.volume}: {}})` };
      }
      return {
        type: 'volume',
        volume: mount.volume,
        target: mount.target,
        readOnly: mount.readOnly,
        ...(mount.noCopy ? { noCopy: true } : {}),
        ...(mount.selinux ? { selinux: mount.selinux } : {}),
      };
    case 'anonymous':
      return { type: 'anonymous', target: posix.normalize(mount.target).replace(/(.)\/+$/, '$1'), readOnly: mount.readOnly };
    case 'host-bind': {
      // `~` is the home of the user the agent runs as, as a shell (and Compose) would read it.
      const written = mount.source.startsWith('~') ? context.homeDir + mount.source.slice(1) : mount.source;
      // Trailing slashes and `a/../b` would otherwise make equal paths hash differently.
      const source = posix.normalize(written).replace(/(.)\/+$/, '$1');
      return { type: 'bind', source, target: mount.target, readOnly: mount.readOnly, ...(mount.selinux ? { selinux: mount.selinux } : {}) };
    }
    case 'repo-bind': {
      const resolved = await resolveRepoPath(context.checkout, context.manifestDir, mount.relativeSource);
      if ('code' in resolved) return resolved;
      return { type: 'bind', source: resolved.source, target: mount.target, readOnly: mount.readOnly, repo: resolved.repo, ...(mount.selinux ? { selinux: mount.selinux } : {}) };
    }
  }
}

/** A refusal of one security option or sysctl of a list, at the item as written. */
function writtenKey(spec: ServiceManifest, key: (string | number)[]): (string | number)[] {
  const [field, entry] = key;
  if (field === 'security_opt' && typeof entry === 'string') {
    const index = (spec.security_opt ?? []).findIndex((option) => securityOption(option) === entry);
    return index < 0 ? [field] : [field, index];
  }
  if (field === 'sysctls' && typeof entry === 'string' && Array.isArray(spec.sysctls)) {
    const index = spec.sysctls.findIndex((item) => item.slice(0, item.indexOf('=')) === entry);
    return index < 0 ? [field] : [field, index];
  }
  return key;
}

/**
 * `seccomp=<file>`: Compose reads the profile from the file and sends its content, and so does
 * Capstan, from a file of the repository (relative to the manifest's folder).
 */
async function seccompProfile(spec: ServiceManifest, path: KeyPath, context: NormalizeContext, problems: PathProblem[]): Promise<string | undefined> {
  const index = (spec.security_opt ?? []).findIndex((option) => isSeccompFile(securityOption(option)));
  if (index < 0) return undefined;
  const at = [...path, 'security_opt', index];
  const file = securityOption(spec.security_opt![index]).slice('seccomp='.length);
  if (file.startsWith('/') || file.startsWith('~')) {
    problems.push({ code: 'SECCOMP_PROFILE', path: at, message: 'a seccomp profile is read from the repository: commit it and name it relative to this file' });
    return undefined;
  }
  const resolved = await resolveRepoPath(context.checkout, context.manifestDir, file);
  if ('code' in resolved) {
    problems.push({ code: 'SECCOMP_PROFILE', path: at, message: resolved.message.replace('the bind source', 'the seccomp profile') });
    return undefined;
  }
  try {
    return JSON.stringify(JSON.parse((await context.checkout.files.readFile(resolved.source)).toString('utf8')));
  } catch {
    problems.push({ code: 'SECCOMP_PROFILE', path: at, message: 'the seccomp profile is not a JSON file Docker can read' });
    return undefined;
  }
}

export function isSeccompFile(option: string): boolean {
  return option.startsWith('seccomp=') && option !== 'seccomp=unconfined' && !option.startsWith('seccomp={');
}

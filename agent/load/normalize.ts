// A validated manifest → the app in the model's shape: defaults applied, short syntaxes parsed,
// names resolved. Everything still missing is the config hash, which needs the whole service.
import { posix } from 'node:path';
import { normalizeHealthcheck, normalizeUpdate } from './normalize-rollout.js';
import type { App, MountSpec, PortSpec, Service, VolumeSpec } from '../model.js';
import type { EnvFiles, EnvFileVariables } from './env-files.js';
import { parseMount } from './mounts.js';
import { parsePort } from './ports.js';
import type { KeyPath, PathProblem } from './problems.js';
import { resolveRepoPath, type Checkout } from './repo-files.js';
import type { Manifest, MountManifest, ServiceManifest } from './schema.js';
import { normalizeSecretFiles } from './secret-files.js';
import { shellSplit } from './shell-split.js';
import { toStringMap } from './string-map.js';
import { envFileEnvironment } from './variables.js';

export type ServiceDraft = Omit<Service, 'configHash'>;
export type AppDraft = Omit<App, 'services'> & { services: ServiceDraft[] };

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
}

export interface Normalized {
  app: AppDraft;
  ports: PortSite[];
  problems: PathProblem[];
}

const DEFAULT_RESTART = 'unless-stopped';
const RESERVED_LABEL_PREFIX = 'capstan.';

export async function normalizeManifest(manifest: Manifest, context: NormalizeContext): Promise<Normalized> {
  const problems: PathProblem[] = [];
  const volumes: VolumeSpec[] = Object.entries(manifest.volumes ?? {}).map(([name, spec]) => {
    const labels = toStringMap(spec?.labels, ['volumes', name, 'labels'], { what: 'label', reservedPrefix: RESERVED_LABEL_PREFIX });
    problems.push(...labels.problems);
    return { name, dockerName: spec?.name ?? `${manifest.app}_${name}`, labels: labels.map };
  });
  const declared = new Set(volumes.map((volume) => volume.name));
  const ports: PortSite[] = [];
  const services: ServiceDraft[] = [];
  for (const [name, spec] of Object.entries(manifest.services)) {
    const result = await normalizeService(manifest.app, name, spec, declared, context);
    problems.push(...result.problems);
    services.push(result.service);
    result.service.ports.forEach((port, index) => ports.push({ service: name, index: result.portIndexes[index], port, replicas: result.service.replicas }));
  }
  const byName = (left: { name: string }, right: { name: string }) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0);
  const app: AppDraft = {
    name: manifest.app,
    source: { file: context.file, line: context.lineOf(['app']) },
    services: services.sort(byName),
    volumes: volumes.sort(byName),
  };
  return { app, ports, problems };
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
  }

  const secrets = normalizeSecretFiles(spec.secrets, [...path, 'secrets'], mounts);
  problems.push(...secrets.problems);
  const fromFiles = await serviceEnvFiles(spec.env_files, [...path, 'env_files'], context, problems);

  const service: ServiceDraft = {
    app,
    name,
    image: spec.image,
    environment: { ...envFileEnvironment(fromFiles), ...environment.map },
    ports,
    mounts,
    restart: spec.restart ?? DEFAULT_RESTART,
    labels: labels.map,
    replicas: spec.replicas ?? 1,
    source: { file: context.file, line: context.lineOf(path) },
  };
  const command = argv(spec.command, 'command');
  const entrypoint = argv(spec.entrypoint, 'entrypoint');
  if (secrets.secretFiles.length > 0) service.secretFiles = secrets.secretFiles;
  const healthcheck = normalizeHealthcheck(spec.healthcheck);
  const update = normalizeUpdate(spec.update);
  if (healthcheck !== undefined) service.healthcheck = healthcheck;
  if (update !== undefined) service.update = update;
  if (command !== undefined) service.command = command;
  if (entrypoint !== undefined) service.entrypoint = entrypoint;
  return { service, portIndexes, problems };
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
      return { type: 'volume', volume: mount.volume, target: mount.target, readOnly: mount.readOnly };
    case 'host-bind': {
      // Trailing slashes and `a/../b` would otherwise make equal paths hash differently.
      const source = posix.normalize(mount.source).replace(/(.)\/+$/, '$1');
      return { type: 'bind', source, target: mount.target, readOnly: mount.readOnly };
    }
    case 'repo-bind': {
      const resolved = await resolveRepoPath(context.checkout, context.manifestDir, mount.relativeSource);
      if ('code' in resolved) return resolved;
      return { type: 'bind', source: resolved.source, target: mount.target, readOnly: mount.readOnly, repo: resolved.repo };
    }
  }
}

// `deploy`, the legacy resource keys and `build` of one Compose service → native `replicas`,
// `resources`, `update`, `restart` and `build`. A value is copied as written, `${VAR}` and all:
// the native pipeline interpolates it.
import type { KeyPath } from '../problems.js';
import { checkKeys, expectMap, note, peek, refuse, type ConvertContext } from './context.js';
import { BUILD, DEPLOY, RESOURCES, RESTART_POLICY, UPDATE_CONFIG } from './keys.js';
import { asKeyedMap } from './merge.js';
import { entry, text, type LocatedMap, type MapEntry } from './located.js';

/** Compose's own resource keys, outside `deploy`; `deploy.resources` wins over them. */
export const LEGACY_RESOURCES: Record<string, string> = {
  cpus: 'cpus',
  mem_limit: 'memory',
  mem_reservation: 'memory_reservation',
  pids_limit: 'pids_limit',
  shm_size: 'shm_size',
  cpuset: 'cpuset',
  memswap_limit: 'memory_swap',
  mem_swappiness: 'memory_swappiness',
  cpu_shares: 'cpu_shares',
  cpu_period: 'cpu_period',
  cpu_quota: 'cpu_quota',
};

const LIMITS: Record<string, string> = { cpus: 'cpus', memory: 'memory', pids: 'pids_limit' };
/** Compose (not Swarm) passes any other condition on as the restart policy's name (`unless-stopped`). */
const RESTART_CONDITIONS: Record<string, string> = { none: 'no', 'on-failure': 'on-failure', any: 'always', always: 'always', 'unless-stopped': 'unless-stopped', no: 'no' };

export function convertDeploy(context: ConvertContext, path: KeyPath, deployEntry: MapEntry, hasRestart: boolean): void {
  const deploy = expectMap(context, deployEntry.value, 'deploy');
  if (!deploy) return;
  for (const key of checkKeys(context, deploy, DEPLOY)) {
    const field = deploy.entries.get(key)!;
    switch (key) {
      case 'replicas':
        context.doc.copy([...path, 'replicas'], field.value, field.keyAt);
        break;
      case 'mode':
        if (text(field.value) === 'global') refuse(context, field.value.at, DEPLOY.rules.mode.capstan);
        else if (text(field.value) !== 'replicated') refuse(context, field.value.at, `deploy mode '${text(field.value) ?? ''}'`);
        break;
      case 'resources':
        convertResources(context, path, field);
        break;
      case 'update_config':
        convertUpdate(context, path, field);
        break;
      case 'restart_policy':
        convertRestartPolicy(context, path, field, hasRestart);
        break;
    }
  }
}

function convertResources(context: ConvertContext, path: KeyPath, resourcesEntry: MapEntry): void {
  const resources = expectMap(context, resourcesEntry.value, 'deploy.resources');
  if (!resources) return;
  for (const group of checkKeys(context, resources, RESOURCES)) {
    const values = expectMap(context, resources.entries.get(group)!.value, `deploy.resources.${group}`);
    if (!values) continue;
    for (const key of checkKeys(context, values, RESOURCES, `${group}.`)) {
      const field = values.entries.get(key)!;
      const native = group === 'limits' ? LIMITS[key] : 'memory_reservation';
      context.doc.copy([...path, 'resources', native], field.value, field.keyAt);
    }
  }
}

function convertUpdate(context: ConvertContext, path: KeyPath, updateEntry: MapEntry): void {
  const update = expectMap(context, updateEntry.value, 'deploy.update_config');
  if (!update) return;
  context.doc.place([...path, 'update'], { at: update.at, keyAt: updateEntry.keyAt });
  for (const key of checkKeys(context, update, UPDATE_CONFIG)) {
    const field = update.entries.get(key)!;
    if (key === 'failure_action' && text(field.value) === 'continue') {
      refuse(context, field.value.at, 'failure_action: continue; a failed rollout is rolled back (rollback) or left as it is (pause)');
      continue;
    }
    context.doc.copy([...path, 'update', key], field.value, field.keyAt);
  }
}

function convertRestartPolicy(context: ConvertContext, path: KeyPath, policyEntry: MapEntry, hasRestart: boolean): void {
  const policy = expectMap(context, policyEntry.value, 'deploy.restart_policy');
  if (!policy) return;
  let restart: string | undefined;
  for (const key of checkKeys(context, policy, RESTART_POLICY)) {
    const field = policy.entries.get(key)!;
    if (hasRestart) {
      note(context, field.keyAt, 'the service\'s `restart` wins over deploy.restart_policy');
      continue;
    }
    if (key === 'max_attempts') continue;
    const condition = text(field.value);
    restart = condition === undefined ? undefined : RESTART_CONDITIONS[condition];
    if (restart === undefined) refuse(context, field.value.at, 'restart condition; use none, on-failure, any or unless-stopped');
    else context.doc.set([...path, 'restart'], restart, { at: field.value.at, keyAt: field.keyAt });
  }
  // Swarm counts attempts under any condition; Docker's restart policy limits only on-failure.
  const attempts = policy.entries.get('max_attempts');
  if (attempts && !hasRestart) {
    const count = peek(context, attempts.value);
    if (restart !== 'on-failure') note(context, attempts.keyAt, 'Docker limits restarts only with condition: on-failure; max_attempts has no effect here');
    // 0 is Swarm's "no limit", as Docker's.
    else if (count !== undefined && /^[0-9]+$/.test(count) && Number(count) <= MAX_RETRIES) {
      if (Number(count) > 0) context.doc.set([...path, 'restart_max_retries'], Number(count), { at: attempts.value.at, keyAt: attempts.keyAt });
    } else note(context, attempts.value.at, `max_attempts ${String(count).slice(0, 20)} is kept only from 1 to ${MAX_RETRIES}: Docker restarts without a limit here`);
  }
}

/** The most `restart_max_retries` allows (manifests-schema): a larger count loads as no limit, noted. */
const MAX_RETRIES = 1000;

/**
 * `restart:` as Compose writes it: `on-failure:3` is `restart: on-failure` with
 * `restart_max_retries: 3` (Docker's MaximumRetryCount; 0 is Docker's "no limit").
 */
export function convertRestart(context: ConvertContext, path: KeyPath, restartEntry: MapEntry): void {
  const value = peek(context, restartEntry.value);
  const match = value === undefined ? null : /^on-failure:(\d+)$/.exec(value);
  if (match && !text(restartEntry.value)!.includes('$')) {
    const at = { at: restartEntry.value.at, keyAt: restartEntry.keyAt };
    context.doc.set([...path, 'restart'], 'on-failure', at);
    const retries = Number(match[1]);
    if (retries > MAX_RETRIES) note(context, restartEntry.value.at, `on-failure:${match[1]} is kept only up to on-failure:${MAX_RETRIES}: Docker restarts without a limit here`);
    else if (retries > 0) context.doc.set([...path, 'restart_max_retries'], retries, at);
    return;
  }
  context.doc.copy([...path, 'restart'], restartEntry.value, restartEntry.keyAt);
}

export function convertLegacyResource(context: ConvertContext, path: KeyPath, key: string, field: MapEntry): void {
  context.doc.copy([...path, 'resources', LEGACY_RESOURCES[key]], field.value, field.keyAt);
}

/** `build:` a folder, or its long form; with `image` too, Compose tags the build with that name. */
export function convertBuild(context: ConvertContext, path: KeyPath, service: LocatedMap): void {
  const buildEntry = service.entries.get('build')!;
  const image = entry(service, 'image');
  if (image) note(context, image.keyAt, 'with build, the image is tagged capstan/<app>-<service>:<digest>; this name is not used');
  if (buildEntry.value.kind === 'scalar') {
    context.doc.copy([...path, 'build'], buildEntry.value, buildEntry.keyAt);
    return;
  }
  const build = expectMap(context, buildEntry.value, 'build');
  if (!build) return;
  context.doc.set([...path, 'build'], {}, { at: build.at, keyAt: buildEntry.keyAt });
  if (!build.entries.has('context')) context.doc.set([...path, 'build', 'context'], '.', { at: build.at });
  for (const key of checkKeys(context, build, BUILD)) {
    const field = build.entries.get(key)!;
    if (key === 'args') {
      const args = asKeyedMap(field.value);
      context.doc.set([...path, 'build', 'args'], {}, { at: field.value.at, keyAt: field.keyAt });
      for (const [name, arg] of args.entries) {
        const fromEnvironment = arg.value.kind === 'scalar' && arg.value.value === null;
        context.doc.copy([...path, 'build', 'args', name], fromEnvironment ? { kind: 'scalar', value: `\${${name}}`, at: arg.value.at } : arg.value, arg.keyAt);
      }
    } else context.doc.copy([...path, 'build', key], field.value, field.keyAt);
  }
}

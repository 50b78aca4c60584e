// One Compose service → one native service, key by key (the table in keys.ts says which key
// goes where). Keys the native format spells the same way and reads the same way are copied as
// written, so the native schema checks them and its problems point at the Compose lines.
import { parse as parseDotenv } from 'dotenv';
import type { KeyPath } from '../problems.js';
import { checkKeys, expectMap, note, peek, peekBoolean, problem, refuse, serviceKey, type ConvertContext } from './context.js';
import { convertBuild, convertDeploy, convertLegacyResource, convertRestart, LEGACY_RESOURCES } from './convert-deploy.js';
import { convertSecretRefs, convertTmpfs, convertVolumes, type TmpfsMounts } from './convert-mounts.js';
import { containerNameAlias, convertNetworkMode, convertNetworks } from './convert-networks.js';
import { DEPENDENCY, HEALTHCHECK, PORT, SERVICE } from './keys.js';
import { child, text, type Located, type LocatedMap, type MapEntry } from './located.js';
import { asKeyedMap, asNameMap } from './merge.js';

/** Copied as written: the native field has the same name, shape and meaning. */
const SAME_AS_NATIVE = new Set([
  'image',
  'command',
  'entrypoint',
  'user',
  'working_dir',
  'cap_add',
  'cap_drop',
  'read_only',
  'ulimits',
  'init',
  'stop_signal',
  'stop_grace_period',
  'runtime',
  'privileged',
  'pid',
  'devices',
  'group_add',
  'uts',
  'userns_mode',
  'cgroup',
  'oom_kill_disable',
  'storage_opt',
  'gpus',
  'blkio_config',
  'device_cgroup_rules',
  'cpu_rt_runtime',
  'cpu_rt_period',
  'hostname',
  'domainname',
  'extra_hosts',
  'dns',
  'dns_search',
  'dns_opt',
  'stdin_open',
  'tty',
  'platform',
  'oom_score_adj',
  'mac_address',
  'logging',
  'sysctls',
  'security_opt',
  'cgroup_parent',
  'post_start',
  'pre_stop',
]);

/** The order of the native fields in `capstan convert`'s output. */
const FIELD_ORDER = [
  'image', 'build', 'command', 'entrypoint', 'user', 'working_dir', 'environment', 'env_files', 'secrets', 'ports', 'volumes', 'tmpfs', 'networks', 'network_mode',
  'depends_on', 'healthcheck', 'restart', 'replicas', 'update', 'resources', 'ulimits', 'labels', 'cap_add', 'cap_drop', 'read_only', 'init', 'stop_signal',
  'stop_grace_period', 'runtime', 'privileged', 'pid', 'devices', 'group_add', 'hostname', 'domainname', 'extra_hosts', 'dns', 'dns_search', 'dns_opt', 'stdin_open', 'tty',
  'platform', 'oom_score_adj', 'mac_address', 'logging', 'sysctls', 'security_opt', 'ipc', 'uts', 'userns_mode', 'cgroup', 'cgroup_parent', 'oom_kill_disable', 'storage_opt',
  'gpus', 'blkio_config', 'device_cgroup_rules', 'cpu_rt_runtime', 'cpu_rt_period', 'post_start', 'pre_stop', 'uses', 'egress',
];

const VARIABLE_NAME = /^[_A-Za-z][_A-Za-z0-9]*$/;

export interface ProjectParts {
  secrets?: LocatedMap;
  configs?: LocatedMap;
  /** Services that are converted (their profiles are active). */
  active: Set<string>;
  /** Why each left-out service is left out, for depends_on problems. */
  leftOut: Map<string, string>;
}

export function convertService(context: ConvertContext, name: string, serviceEntry: MapEntry, project: ProjectParts): void {
  const path: KeyPath = ['services', serviceKey(context, name)];
  const service = expectMap(context, serviceEntry.value, `service '${name}'`);
  if (!service) return;
  context.doc.set(path, {}, { at: serviceEntry.keyAt, keyAt: serviceEntry.keyAt });
  const accepted = new Set(checkKeys(context, service, SERVICE));
  const field = (key: string) => (accepted.has(key) ? service.entries.get(key) : undefined);
  const tmpfs: TmpfsMounts = { items: [] };

  for (const key of accepted) {
    const entry = service.entries.get(key)!;
    if (SAME_AS_NATIVE.has(key)) {
      if (key !== 'image' || !accepted.has('build')) context.doc.copy([...path, key], entry.value, entry.keyAt);
    } else if (key in LEGACY_RESOURCES) convertLegacyResource(context, path, key, entry);
    else convertField(context, path, name, key, entry, service, project, tmpfs);
  }
  if (!field('restart') && !hasRestartPolicy(service)) {
    // Compose's default; Capstan's own (unless-stopped) would restart a one-shot job forever.
    context.doc.set([...path, 'restart'], 'no', { at: serviceEntry.keyAt });
  }
  const deploy = field('deploy');
  if (deploy) convertDeploy(context, path, deploy, field('restart') !== undefined);
  if (tmpfs.items.length > 0) tmpfs.items.forEach((item, index) => context.doc.set([...path, 'tmpfs', index], item.value, { at: item.at }));
  if (!accepted.has('networks')) containerNameAlias(context, path, service, undefined, composeNameAlias(context, name, serviceEntry));
  if (service.entries.has('links')) convertLinks(context, service.entries.get('links')!);
  if (field('label_file')) labelFiles(context, path, field('label_file')!);
  extension(context, path, service);
  orderFields(context.doc.get(path) as Record<string, unknown>);
}

function convertField(context: ConvertContext, path: KeyPath, name: string, key: string, entry: MapEntry, service: LocatedMap, project: ProjectParts, tmpfs: TmpfsMounts): void {
  switch (key) {
    case 'build':
      return convertBuild(context, path, service);
    case 'environment':
      return convertEnvironment(context, path, entry);
    case 'env_file':
      return convertEnvFile(context, path, entry);
    case 'labels':
      return copyKeyed(context, [...path, 'labels'], entry);
    case 'ports':
      return convertPorts(context, path, entry);
    case 'volumes':
      return convertVolumes(context, path, serviceKey(context, name), entry, tmpfs);
    case 'tmpfs':
      return convertTmpfs(context, entry, tmpfs);
    case 'secrets':
    case 'configs':
      return convertSecretRefs(context, path, key, entry, key === 'secrets' ? project.secrets : project.configs);
    case 'networks':
      return convertNetworks(context, path, entry, service, composeNameAlias(context, name, service.entries.get('networks')!));
    case 'network_mode':
      return convertNetworkMode(context, path, entry);
    case 'volumes_from':
      (context.volumesFrom ??= []).push({ service: serviceKey(context, name), entry });
      return;
    case 'ipc': {
      const mode = peek(context, entry.value);
      if (mode?.startsWith('service:') || mode?.startsWith('container:')) return refuse(context, entry.value.at, 'sharing the IPC namespace of another container; use ipc: shareable with a volume, or one service');
      context.doc.copy([...path, 'ipc'], entry.value, entry.keyAt);
      return;
    }
    case 'depends_on':
      return convertDependsOn(context, path, entry, project);
    case 'healthcheck':
      return convertHealthcheck(context, path, entry);
    case 'restart':
      return convertRestart(context, path, entry);
    case 'scale':
      // deploy.replicas, converted after this, wins.
      context.doc.copy([...path, 'replicas'], entry.value, entry.keyAt);
      return;
    case 'profiles':
    case 'extends':
    case 'deploy':
    case 'container_name':
    case 'label_file':
      // profiles and extends are resolved before conversion; deploy and container_name after the other keys.
      return;
  }
}

/** A service whose Compose name is not its native key answers to that name too (`Web`, `my.app`). */
function composeNameAlias(context: ConvertContext, name: string, entry: MapEntry): Located | undefined {
  return serviceKey(context, name) === name ? undefined : { kind: 'scalar', value: name, at: entry.keyAt };
}

function hasRestartPolicy(service: LocatedMap): boolean {
  const policy = child(child(service, 'deploy'), 'restart_policy');
  return policy?.kind === 'map' && policy.entries.has('condition');
}

/** Map or `KEY=VALUE` list → native map; `- KEY` alone takes `${KEY}` from `.env`, as Compose takes it from the environment. */
function convertEnvironment(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const environment = asKeyedMap(entry.value);
  context.doc.set([...path, 'environment'], {}, { at: entry.value.at, keyAt: entry.keyAt });
  for (const [name, variable] of environment.entries) {
    const unset = variable.value.kind === 'scalar' && variable.value.value === null;
    const value: Located = unset && VARIABLE_NAME.test(name) ? { kind: 'scalar', value: `\${${name}}`, at: variable.value.at } : variable.value;
    context.doc.copy([...path, 'environment', name], value, variable.keyAt);
  }
}

function copyKeyed(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const map = asKeyedMap(entry.value);
  context.doc.set(path, {}, { at: entry.value.at, keyAt: entry.keyAt });
  for (const [key, value] of map.entries) context.doc.copy([...path, key], value.value, value.keyAt);
}

/** `env_file: a.env`, a list, or `{path, required}` items; a missing optional file is left out. */
function convertEnvFile(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const items = entry.value.kind === 'seq' ? entry.value.items : [entry.value];
  context.doc.set([...path, 'env_files'], [], { at: entry.value.at, keyAt: entry.keyAt });
  for (const item of items) {
    let file: Located | undefined = item;
    if (item.kind === 'map') {
      for (const [key, option] of item.entries) {
        if (key === 'format') refuse(context, option.keyAt, 'env files are read as dotenv files');
        else if (key !== 'path' && key !== 'required') problem(context, option.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here`);
      }
      file = item.entries.get('path')?.value;
      const required = peekBoolean(context, item.entries.get('required')?.value);
      const written = peek(context, file);
      if (required === false && written !== undefined && !context.exists(written)) {
        note(context, item.at, 'this optional env file does not exist in the repository; left out');
        continue;
      }
    }
    if (file?.kind !== 'scalar') {
      problem(context, item.at, 'COMPOSE_INVALID', 'an env_file entry is a path or {path, required}');
      continue;
    }
    context.doc.push([...path, 'env_files'], file.value, { at: file.at });
  }
  if ((context.doc.get([...path, 'env_files']) as unknown[]).length === 0) context.doc.delete([...path, 'env_files']);
}

function convertPorts(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  if (entry.value.kind !== 'seq') {
    problem(context, entry.value.at, 'COMPOSE_INVALID', 'ports must be a list');
    return;
  }
  context.doc.set([...path, 'ports'], [], { at: entry.value.at, keyAt: entry.keyAt });
  entry.value.items.forEach((item, index) => {
    if (item.kind !== 'map') {
      context.doc.copy([...path, 'ports', index], item);
      return;
    }
    context.doc.set([...path, 'ports', index], {}, { at: item.at });
    for (const key of checkKeys(context, item, PORT)) {
      const field = item.entries.get(key)!;
      const value = peek(context, field.value);
      if (key === 'published' && value?.includes('-')) {
        refuse(context, field.value.at, 'port ranges; list each port on its own');
        continue;
      }
      // Long syntax allows `published: "8080"`; the native field is a number.
      const written = text(field.value);
      const numeric = (key === 'published' || key === 'target') && written !== undefined && /^\d+$/.test(written);
      context.doc.copy([...path, 'ports', index, key], numeric ? { kind: 'scalar', value: Number(written), at: field.value.at } : field.value, field.keyAt);
    }
  });
}

function convertDependsOn(context: ConvertContext, path: KeyPath, entry: MapEntry, project: ProjectParts): void {
  const dependencies = asNameMap(entry.value);
  const kept: [string, MapEntry, Located | undefined, Located | undefined][] = [];
  for (const [name, dependency] of dependencies.entries) {
    // A service refused for its name has its problem already; depending on it is not another one.
    if (context.refused.services?.has(name)) continue;
    const options = dependency.value.kind === 'map' ? dependency.value : undefined;
    const accepted = options ? checkKeys(context, options, DEPENDENCY) : [];
    const required = accepted.includes('required') ? peekBoolean(context, options!.entries.get('required')!.value) !== false : true;
    if (!project.active.has(name) && project.leftOut.has(name)) {
      if (!required) note(context, dependency.keyAt, `'${name}' is left out (${project.leftOut.get(name)}); this optional dependency is dropped`);
      else problem(context, dependency.keyAt, 'COMPOSE_PROFILE_DEPENDENCY', `'${name}' is left out (${project.leftOut.get(name)}), but this service needs it; add its profile to COMPOSE_PROFILES or mark the dependency required: false`);
      continue;
    }
    const restart = accepted.includes('restart') ? options!.entries.get('restart')!.value : undefined;
    kept.push([name, dependency, accepted.includes('condition') ? options!.entries.get('condition')!.value : undefined, restart]);
  }
  if (kept.length === 0) return;
  const conditional = kept.some(([, , condition, restart]) => condition !== undefined || restart !== undefined);
  context.doc.set([...path, 'depends_on'], conditional ? {} : [], { at: entry.value.at, keyAt: entry.keyAt });
  kept.forEach(([name, dependency, condition, restart], index) => {
    const key = serviceKey(context, name);
    if (!conditional) context.doc.set([...path, 'depends_on', index], key, { at: dependency.keyAt });
    else {
      context.doc.set([...path, 'depends_on', key], {}, { at: dependency.value.at, keyAt: dependency.keyAt });
      if (condition) context.doc.copy([...path, 'depends_on', key, 'condition'], condition);
      if (restart) context.doc.copy([...path, 'depends_on', key, 'restart'], restart);
    }
  });
}

function convertHealthcheck(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const healthcheck = expectMap(context, entry.value, 'healthcheck');
  if (!healthcheck) return;
  context.doc.set([...path, 'healthcheck'], {}, { at: healthcheck.at, keyAt: entry.keyAt });
  for (const key of checkKeys(context, healthcheck, HEALTHCHECK)) {
    const field = healthcheck.entries.get(key)!;
    context.doc.copy([...path, 'healthcheck', key], field.value, field.keyAt);
  }
}

/** `label_file`: labels from `KEY=VALUE` files of the repository, under those `labels` sets itself. */
function labelFiles(context: ConvertContext, path: KeyPath, entry: MapEntry): void {
  const items = entry.value.kind === 'seq' ? entry.value.items : [entry.value];
  for (const item of items) {
    const written = peek(context, item);
    const content = written === undefined ? undefined : context.readText(written);
    if (content === undefined) {
      problem(context, item.at, 'COMPOSE_INVALID', 'the label file does not exist in the repository (paths start from the Compose file\'s folder); commit it or fix the path');
      continue;
    }
    if (typeof content !== 'string') {
      problem(context, item.at, 'COMPOSE_INVALID', `the label file ${written}: ${content.refused}`);
      continue;
    }
    const existing = context.doc.get([...path, 'labels']);
    if (existing === undefined) context.doc.set([...path, 'labels'], {}, { at: item.at, keyAt: entry.keyAt });
    const labels = context.doc.get([...path, 'labels']);
    const asMap = Array.isArray(labels) ? Object.fromEntries(labels.map((label: string) => [label.split('=')[0], label.slice(label.indexOf('=') + 1)])) : (labels as Record<string, unknown>);
    if (Array.isArray(labels)) context.doc.set([...path, 'labels'], asMap, { at: item.at, keyAt: entry.keyAt });
    for (const [key, value] of Object.entries(parseDotenv(content))) {
      if (!(key in asMap)) context.doc.set([...path, 'labels', key], value, { at: item.at });
    }
  }
}

/** `links: [db:database]`: the alias becomes a network alias of the linked service (convert-project.ts adds it). */
function convertLinks(context: ConvertContext, entry: MapEntry): void {
  const links = entry.value.kind === 'seq' ? entry.value.items : [];
  for (const link of links) {
    const [target, alias] = (text(link) ?? '').split(':');
    if (alias === undefined || alias === target) continue;
    context.linkAliases.push({ service: target, alias, at: link.at });
  }
}

/** `x-capstan:` holds native fields that Compose has no key for (`uses`, `egress`, `update.progress_deadline`…); they win. */
function extension(context: ConvertContext, path: KeyPath, service: LocatedMap): void {
  const extension = service.entries.get('x-capstan');
  if (!extension) return;
  const fields = expectMap(context, extension.value, 'x-capstan');
  for (const [key, field] of fields?.entries ?? []) {
    if (key === 'update' && field.value.kind === 'map' && context.doc.get([...path, 'update']) !== undefined) {
      for (const [updateKey, value] of field.value.entries) context.doc.copy([...path, 'update', updateKey], value.value, value.keyAt);
    } else context.doc.copy([...path, key], field.value, field.keyAt);
  }
}

function orderFields(service: Record<string, unknown>): void {
  const entries = Object.entries(service);
  const rank = (key: string) => (FIELD_ORDER.includes(key) ? FIELD_ORDER.indexOf(key) : FIELD_ORDER.length);
  entries.sort(([left], [right]) => rank(left) - rank(right));
  for (const [key] of entries) delete service[key];
  for (const [key, value] of entries) service[key] = value;
}
